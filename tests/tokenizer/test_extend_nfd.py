"""Issue 27: a decomposed (NFD) corpus, as macOS and PDF extraction write it, extends a tokenizer exactly as its
NFC form does (before, й and ё never formed a token: they were и/е plus a combining mark)."""

from __future__ import annotations

import json
import unicodedata

from lep_core.tokenizer.extend import extend_tokenizer


def test_extension_on_an_nfd_corpus_learns_the_nfc_tokens(tmp_path, byte_bpe_tokenizer, ru_corpus):
    nfc_files, nfd_files = [], []
    for i, src in enumerate(ru_corpus[:2]):
        text = src.read_text(encoding="utf-8")
        nfc_files.append(tmp_path / f"nfc{i}.txt")
        nfc_files[-1].write_text(text, encoding="utf-8")
        nfd_files.append(tmp_path / f"nfd{i}.txt")
        nfd_files[-1].write_bytes(unicodedata.normalize("NFD", text).replace("\n", "\r\n").encode())
    composed = sum(1 for f in nfc_files for ch in f.read_text(encoding="utf-8")
                   if unicodedata.decomposition(ch) and not unicodedata.decomposition(ch).startswith("<"))
    lines = sum(f.read_text(encoding="utf-8").count("\n") for f in nfc_files)
    a = extend_tokenizer(byte_bpe_tokenizer, nfc_files, 200, tmp_path / "from-nfc")
    b = extend_tokenizer(byte_bpe_tokenizer, nfd_files, 200, tmp_path / "from-nfd")
    tokens_a = json.loads((tmp_path / "from-nfc" / "new_tokens.json").read_text(encoding="utf-8"))
    tokens_b = json.loads((tmp_path / "from-nfd" / "new_tokens.json").read_text(encoding="utf-8"))
    assert [t["text"] for t in tokens_b] == [t["text"] for t in tokens_a]
    assert any(ch in t["text"] for t in tokens_a for ch in "йё")  # the letters NFD used to break apart
    assert a["normalised"] == {"nfc": 0, "line_ends": 0, "bom": 0}
    assert b["normalised"] == {"nfc": composed, "line_ends": lines, "bom": 0} and composed > 100
    assert b["corpus_chars"] == a["corpus_chars"]
    assert b["corpus_chars_per_token_after"] == a["corpus_chars_per_token_after"]
