"""Tokenizer stats and display pieces on the three real tokenizer families."""

import pytest

from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import compare, pieces, text_stats
from lep_core.tokenizer.vocab import BYTE_LEVEL, METASPACE_BPE, UNIGRAM, shape_of

TEXT = "Привет, как дела? Hello world.\nЭто тест: ёжик и 123 яблока.\n"


@pytest.mark.parametrize(
    "fixture,family",
    [("byte_bpe_tokenizer", BYTE_LEVEL), ("metaspace_bpe_tokenizer", METASPACE_BPE), ("unigram_tokenizer", UNIGRAM)],
)
def test_stats_on_each_family(request, fixture, family):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    assert shape_of(tok).family == family
    stats = text_stats(tok, TEXT)
    assert stats.chars == len(TEXT)  # every code point, newlines included (lep_core.corpus.text)
    assert stats.words == 11
    assert stats.tokens == len(tok.encode(TEXT, add_special_tokens=False))  # the whole text, as `lep eval` reads it
    assert stats.chars_per_token == pytest.approx(stats.chars / stats.tokens)
    if family != UNIGRAM:  # byte-level and byte-fallback tokenizers represent every string exactly
        assert stats.roundtrip_errors == 0
        assert stats.unknown_tokens == 0


def test_unigram_counts_unknown_tokens(unigram_tokenizer):
    tok = load_tokenizer(unigram_tokenizer)
    stats = text_stats(tok, "漢字 and 汉字")
    assert stats.unknown_tokens >= 2
    assert stats.roundtrip_errors == 1


def test_pieces_group_byte_tokens_into_whole_letters(byte_bpe_tokenizer):
    tok = load_tokenizer(byte_bpe_tokenizer)
    segs = pieces(tok, "Привет мир")
    assert "".join(p.text for p in segs) == "Привет мир"
    assert all("\ufffd" not in p.text for p in segs)
    assert any(len(p.ids) > 1 for p in segs), "the demo tokenizer splits 'П' into two byte tokens"
    assert sum(len(p.ids) for p in segs) == len(tok.encode("Привет мир", add_special_tokens=False))


def test_pieces_mark_special_tokens(byte_bpe_tokenizer):
    tok = load_tokenizer(byte_bpe_tokenizer)
    segs = pieces(tok, "<|im_start|>user\nПривет<|im_end|>")
    assert [p.text for p in segs if p.special] == ["<|im_start|>", "<|im_end|>"]


def test_compare_reports_relative_compression(byte_bpe_tokenizer, metaspace_bpe_tokenizer):
    rows = compare({"a": load_tokenizer(byte_bpe_tokenizer), "b": load_tokenizer(metaspace_bpe_tokenizer)}, TEXT)
    assert rows[0]["relative_compression"] == 1.0
    assert rows[1]["relative_compression"] == pytest.approx(rows[1]["chars_per_token"] / rows[0]["chars_per_token"])
