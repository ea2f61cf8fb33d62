"""One rule for what a character is: NFC, LF line ends, no BOM, whatever form the file had (issue 27)."""

from __future__ import annotations

import json
import unicodedata

import pytest

from lep_core.corpus.reading import read_corpus, read_text_file
from lep_core.corpus.stream import stream_corpus
from lep_core.corpus.text import TextChanges, count_chars, normalize, prepared

RU = "Йошкар-Ола и ёж: зимой ёлка, в мае — сирень.\nВторая строка, без й.\n\nЧетвёртая.\n"


def decomposable(text: str) -> int:
    """Characters with a canonical decomposition (й, ё, Й, Ё...): what NFD splits and NFC rebuilds, one each."""
    return sum(1 for ch in text if unicodedata.decomposition(ch) and not unicodedata.decomposition(ch).startswith("<"))


def forms(text: str) -> dict[str, bytes]:
    """The same text as files come from the wild: NFC, NFD (macOS, PDFs), with a BOM, with CRLF and CR line ends."""
    return {"nfc": text.encode(), "nfd": unicodedata.normalize("NFD", text).encode(),
            "bom": b"\xef\xbb\xbf" + text.encode(), "crlf": text.replace("\n", "\r\n").encode(),
            "cr": text.replace("\n", "\r").encode(),
            "all": b"\xef\xbb\xbf" + unicodedata.normalize("NFD", text).replace("\n", "\r\n").encode()}


def test_every_form_reads_as_one_text_with_one_length(tmp_path):
    assert decomposable(RU) == 6  # Й, ё, й, ё, й, ё: the test text has some
    expected_nfd = len(unicodedata.normalize("NFD", RU)) - len(RU)
    assert expected_nfd == decomposable(RU)
    for name, data in forms(RU).items():
        path = tmp_path / f"{name}.txt"
        path.write_bytes(data)
        changes = TextChanges()
        text = read_corpus([path], changes=changes)
        assert text == RU, name
        assert count_chars(text) == len(RU) == 79, name
        assert changes.nfc == (decomposable(RU) if name in ("nfd", "all") else 0), name
        assert changes.line_ends == (RU.count("\n") if name in ("crlf", "cr", "all") else 0), name
        assert changes.bom == (1 if name in ("bom", "all") else 0), name
        streamed = TextChanges()
        assert "".join(stream_corpus([path], piece_bytes=16, changes=streamed)) == RU, name
        assert streamed == changes, name


def test_the_count_is_of_characters_as_read_not_of_code_points_removed():
    korean = unicodedata.normalize("NFD", "한국어 텍스트")  # Hangul syllables split into 2-3 jamo each (macOS names)
    changes = TextChanges()
    assert normalize(korean, changes) == "한국어 텍스트"
    assert changes.nfc == 6  # six syllables rebuilt, though 10 code points went away
    reordered = "a\u0301\u0327"  # acute before cedilla: NFC reorders the marks and composes
    changes = TextChanges()
    assert normalize(reordered, changes) == unicodedata.normalize("NFC", reordered)
    assert changes.nfc == 1
    singleton = "5 \u2126"  # OHM SIGN -> GREEK CAPITAL OMEGA: same length, still a change
    changes = TextChanges()
    assert normalize(singleton, changes) == "5 \u03a9" and changes.nfc == 1


def test_jsonl_records_are_normalised_and_their_file_line_ends_are_not_counted(tmp_path):
    path = tmp_path / "c.jsonl"
    records = [{"text": unicodedata.normalize("NFD", "ёж\r\nи йод")}, {"text": "plain"}]
    lines = [json.dumps(r) for r in records]  # ASCII escapes: the decomposition is inside \\u escapes
    assert "\\u0306" in lines[0] and "\\u0308" in lines[0]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    changes = TextChanges()
    assert read_corpus([path], changes=changes) == "ёж\nи йод\nplain"
    assert changes.as_dict() == {"nfc": 2, "line_ends": 1, "bom": 0}  # the record's CRLF, not the file's two
    streamed = TextChanges()
    assert "".join(stream_corpus([path], piece_bytes=8, changes=streamed)) == "ёж\nи йод\nplain"
    assert streamed == changes


def test_typed_text_and_single_files_follow_the_rule(tmp_path):
    text, changes = prepared("\ufeff" + unicodedata.normalize("NFD", "Йод\r\n"))
    assert text == "Йод\n" and changes.as_dict() == {"nfc": 1, "line_ends": 1, "bom": 1}
    assert changes.line() == ("text normalised: 1 characters in decomposed form (NFD) composed to NFC; "
                              "1 CRLF/CR line ends read as LF; 1 byte order mark dropped")
    assert TextChanges().line() == "" and not TextChanges()
    path = tmp_path / "p.txt"
    path.write_bytes(unicodedata.normalize("NFD", "ёлка").encode())
    assert read_text_file(path) == "ёлка"


@pytest.mark.parametrize("text", ["", "plain ASCII\n", "уже NFC: ёлка\n"])
def test_text_already_in_form_is_returned_unchanged(text):
    changes = TextChanges()
    assert normalize(text, changes) is text or normalize(text, changes) == text
    assert not changes


def test_prompt_and_chat_files_are_read_in_the_one_form(tmp_path):
    """Calibration prompts, the adaptation bench's prompts and chat data: BOM dropped, strings composed."""
    from lep_core.calibration.prompts import load_prompts
    from lep_core.evaluation.adaptation import read_prompts
    from lep_core.training.chat import read_conversations

    nfd = unicodedata.normalize("NFD", "Как пройти к ёлке?")
    txt = tmp_path / "p.txt"
    txt.write_bytes(b"\xef\xbb\xbf" + (nfd + "\r\n").encode())
    assert load_prompts(txt) == [[{"role": "user", "content": "Как пройти к ёлке?"}]]
    assert read_prompts(txt) == ["Как пройти к ёлке?"]
    listed = tmp_path / "p.json"
    listed.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"lang": "ru", "prompt": nfd}]).encode())
    assert read_prompts(listed) == ["Как пройти к ёлке?"]
    chat = tmp_path / "c.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": nfd},
                                             {"role": "assistant", "content": unicodedata.normalize("NFD", "Йод")}]})
                    + "\n", encoding="utf-8")
    (conversation,) = read_conversations([chat])
    assert [m["content"] for m in conversation["messages"]] == ["Как пройти к ёлке?", "Йод"]
