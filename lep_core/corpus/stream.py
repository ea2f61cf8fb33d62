"""Read a corpus in pieces: the same text as `reading.read_corpus`, never held as one string.

The pieces of a corpus, concatenated, are exactly `read_corpus(paths)`: files joined by a newline, .jsonl
records and .parquet rows joined by a newline, .txt files as they are (a leading UTF-8 BOM dropped). Every
piece but the last ends with a newline, so splitting each piece into lines (``str.splitlines`` or
``split("\\n")``) gives the same lines as splitting the whole text: a line never straddles two pieces.
Each piece is in the form of lep_core.corpus.text (LF line ends, NFC), normalized as `read_corpus` does: a
.txt piece whole (pieces end at a newline, across which NFC never composes), .jsonl and .parquet texts each.

Files are read a piece at a time: .txt in fixed-size binary reads cut after the last newline (a UTF-8
character never spans a newline byte), .jsonl line by line, .parquet with pyarrow's ``iter_batches``.
Memory is one piece (about PIECE_BYTES, or one line when a line is longer), whatever the corpus size.
Progress is reported in bytes of the files read: ``progress(bytes_done, bytes_total)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from lep_core.corpus.reading import decode_text, expand, json_record, not_parquet, parquet_texts, record_text
from lep_core.corpus.text import TextChanges, normalize
from lep_core.errors import LepInputError

PIECE_BYTES = 8 * 2**20  # a piece of text is about this many bytes of file (more when one line is longer)
ByteProgress = Callable[[int, int], None]  # (bytes read, bytes in all files)


def corpus_bytes(files: Iterable[Path]) -> int:
    """Total size in bytes of the (already expanded) corpus files: the denominator of read progress."""
    return sum(Path(f).stat().st_size for f in files)


class _Meter:
    """Bytes read so far over all files, reported to an optional progress callback."""

    def __init__(self, total: int, progress: ByteProgress | None):
        self.done, self.total, self.progress = 0, total, progress

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def _txt_pieces(path: Path, meter: _Meter, piece_bytes: int, changes: TextChanges | None = None,
                normal: bool = True) -> Iterator[str]:
    """The file's text in pieces cut after a newline (the last piece may end anywhere); normalized unless
    `normal` is False (the lines of a .jsonl file, whose records' texts are normalized instead)."""
    offset, first, parts = 0, True, []

    def text(data: bytes) -> str:
        decoded = decode_text(path, data, offset, first, changes)
        return normalize(decoded, changes) if normal else decoded

    with open(path, "rb") as f:
        while True:
            block = f.read(piece_bytes)
            meter.add(len(block))
            if not block:
                data = b"".join(parts)
                if data or first:
                    yield text(data)
                return
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # no newline in this block: a line longer than a piece, keep reading
                parts.append(block)
                continue
            data = b"".join(parts) + block[:cut]
            yield text(data)
            offset += len(data)
            first, parts = False, [block[cut:]]


def _lines(path: Path, meter: _Meter, piece_bytes: int, changes: TextChanges | None) -> Iterator[str]:
    """Lines of a .jsonl file as `str.splitlines` cuts them, read a piece at a time (decoded only)."""
    for piece in _txt_pieces(path, meter, piece_bytes, changes, normal=False):
        yield from piece.splitlines()


def _joined(parts: Iterable[str], piece_chars: int) -> Iterator[str]:
    """"\\n".join(parts) in pieces of about piece_chars characters, each piece but the last ending in "\\n"."""
    batch: list[str] = []
    size = 0
    started = False
    for part in parts:
        if started:
            batch.append("\n")
            size += 1
        started = True
        if size >= piece_chars:
            yield "".join(batch)
            batch, size = [], 0
        batch.append(part)
        size += len(part)
    if batch:
        yield "".join(batch)


def _jsonl_texts(path: Path, meter: _Meter, piece_bytes: int, changes: TextChanges | None) -> Iterator[str]:
    for number, line in enumerate(_lines(path, meter, piece_bytes, changes), 1):
        if line.strip():
            yield record_text(path, number, json_record(path, number, line), changes)


def _parquet_texts(path: Path, meter: _Meter, changes: TextChanges | None, rows: int = 4096) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for a file that is not parquet
        raise LepInputError(not_parquet(path, exc)) from None
    names = file.schema_arrow.names
    if "text" not in names:
        raise LepInputError(f"{path} has no \"text\" column (columns: {', '.join(names)})")
    size, total_rows = path.stat().st_size, max(1, file.metadata.num_rows)
    for batch in file.iter_batches(batch_size=rows, columns=["text"]):
        yield from parquet_texts(batch.column(0).to_pylist(), changes)
        meter.add(size * batch.num_rows // total_rows)  # bytes of file, pro rata by rows


def _file_pieces(path: Path, meter: _Meter, piece_bytes: int, changes: TextChanges | None) -> Iterator[str]:
    if path.suffix == ".jsonl":
        return _joined(_jsonl_texts(path, meter, piece_bytes, changes), piece_bytes // 2)
    if path.suffix == ".parquet":
        return _joined(_parquet_texts(path, meter, changes), piece_bytes // 2)
    return _txt_pieces(path, meter, piece_bytes, changes)


def stream_corpus(paths: Iterable[str | os.PathLike], progress: ByteProgress | None = None,
                  piece_bytes: int = PIECE_BYTES, changes: TextChanges | None = None) -> Iterator[str]:
    """Pieces of the corpus text; concatenated they are exactly `read_corpus(paths)`.

    Each piece but the last ends with "\\n" and holds about `piece_bytes` bytes of file (one whole line when a
    line is longer). Raises LepInputError as `read_corpus` does (missing files, not UTF-8, bad JSON lines, no
    text column), for a file when the reader reaches it, and at the end for a corpus with no text in it.
    `changes` (optional) counts what normalization rewrote, as `read_corpus` counts it."""
    files = expand(paths)
    meter = _Meter(corpus_bytes(files), progress)
    blank = True
    for k, path in enumerate(files):
        last = k == len(files) - 1
        pending: str | None = None
        for piece in _file_pieces(path, meter, piece_bytes, changes):
            if pending is not None:
                yield pending
            pending = piece
            blank = blank and (not piece or piece.isspace())
        tail = (pending or "") + ("" if last else "\n")  # read_corpus joins files with a newline
        if tail:
            yield tail
    if blank:
        raise LepInputError("the corpus is empty: pass files with text in them")


def stream_lines(paths: Iterable[str | os.PathLike], progress: ByteProgress | None = None,
                 piece_bytes: int = PIECE_BYTES, changes: TextChanges | None = None) -> Iterator[list[str]]:
    """The corpus as lists of lines (``str.splitlines(keepends=True)`` of each piece): together exactly the
    lines of `read_corpus(paths).splitlines(keepends=True)`, one piece's worth at a time."""
    for piece in stream_corpus(paths, progress, piece_bytes, changes):
        yield piece.splitlines(keepends=True)
