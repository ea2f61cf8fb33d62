"""Streaming a corpus gives exactly the text (and the lines) of reading it whole, for every format."""

from __future__ import annotations

import json

import pytest

from lep_core.corpus.reading import read_corpus
from lep_core.corpus.stream import stream_corpus, stream_lines
from lep_core.errors import LepInputError

TRICKY = ("\ufeffПервая строка\r\nвторая\u2028та же запись?\n\n   \nдлинная " + "строка без конца " * 20
          + "\nlast line without newline")


def _same(paths, piece_bytes=16):
    """Pieces of ~16 bytes: many pieces, lines longer than a piece, and every piece but the last ends a line."""
    seen = []
    pieces = list(stream_corpus(paths, lambda done, total: seen.append((done, total)), piece_bytes=piece_bytes))
    whole = read_corpus(paths)
    assert len(pieces) > 3
    assert "".join(pieces) == whole
    assert all(p.endswith("\n") for p in pieces[:-1])
    lines = [line for batch in stream_lines(paths, piece_bytes=piece_bytes) for line in batch]
    assert lines == whole.splitlines(keepends=True)
    assert seen and seen[-1][0] == seen[-1][1] > 0  # progress ends at all bytes read
    return pieces


def test_txt_files_stream_as_read_whole(tmp_path, ru_corpus):
    a, b, empty = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "empty.txt"
    a.write_text(TRICKY, encoding="utf-8")
    b.write_text("конец\n", encoding="utf-8")
    empty.write_text("", encoding="utf-8")
    _same([a, empty, b, ru_corpus[0]])
    _same([ru_corpus[0]], piece_bytes=4096)


def test_jsonl_streams_as_read_whole(tmp_path):
    path = tmp_path / "c.jsonl"
    records = [{"text": "запись один\nс переносом"}, {"text": ""}, {"text": "три\r\n"}, {"text": "четыре " * 30}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records * 5) + "\n\n", encoding="utf-8")
    _same([path])


def test_parquet_streams_as_read_whole(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    texts = [f"строка {i}\nещё" if i % 7 else None for i in range(3000)]
    pq.write_table(pa.table({"text": texts, "n": list(range(3000))}), path, row_group_size=500)
    pieces = _same([path], piece_bytes=2000)
    assert len(pieces) > 5


def test_folder_streams_as_read_whole(tmp_path, ru_corpus):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(TRICKY, encoding="utf-8")
    (folder / "sub" / "b.jsonl").write_text('{"text": "из jsonl"}\n{"text": "вторая"}\n', encoding="utf-8")
    (folder / "c.md").write_text(ru_corpus[1].read_text(encoding="utf-8"), encoding="utf-8")
    _same([folder])


def test_bad_input_fails_as_reading_whole_does(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("хорошо\n".encode() * 10 + b"\xff\xfe oops\n")
    with pytest.raises(LepInputError) as whole:
        read_corpus([bad])
    with pytest.raises(LepInputError) as streamed:
        list(stream_corpus([bad], piece_bytes=16))
    assert str(streamed.value) == str(whole.value)  # same message, same byte offset
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(LepInputError, match="empty"):
        list(stream_corpus([blank]))
