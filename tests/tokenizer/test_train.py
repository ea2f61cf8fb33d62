"""Replacement tokenizers keep the special tokens, style and chat template of --like."""

import pytest

from lep_core.errors import LepInputError
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.analysis import text_stats
from lep_core.tokenizer.train import train_tokenizer
from lep_core.tokenizer.vocab import BYTE_LEVEL, METASPACE_BPE, UNIGRAM, shape_of


@pytest.mark.parametrize(
    "like_fixture,algorithm,family",
    [("byte_bpe_tokenizer", "bpe", BYTE_LEVEL), ("metaspace_bpe_tokenizer", "bpe", METASPACE_BPE),
     ("byte_bpe_tokenizer", "unigram", UNIGRAM)],
)
def test_train_like(request, tmp_path, ru_corpus, heldout_ru, like_fixture, algorithm, family):
    like_dir = request.getfixturevalue(like_fixture)
    like = load_tokenizer(like_dir)
    result = train_tokenizer(ru_corpus, 2000, algorithm, tmp_path / "new", like=like_dir)
    tok = load_tokenizer(tmp_path / "new")
    assert shape_of(tok).family == family
    assert result["vocab_size"] == len(tok) <= 2000 + 300
    for special in like.all_special_tokens:
        assert special in tok.get_vocab()
    assert tok.chat_template == like.chat_template
    msgs = [{"role": "user", "content": "Привет"}]
    assert "Привет" in tok.apply_chat_template(msgs, tokenize=False)
    stats = text_stats(tok, heldout_ru.read_text(encoding="utf-8"))
    if algorithm == "bpe":
        assert stats.roundtrip_errors == 0
    assert stats.chars_per_token > text_stats(like, heldout_ru.read_text(encoding="utf-8")).chars_per_token


def test_train_refuses_tiny_corpus(tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("Мало текста.", encoding="utf-8")
    with pytest.raises(LepInputError, match="only 12 characters"):
        train_tokenizer([small], 1000, "bpe", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("algorithm", ["bpe", "unigram"])
def test_replacement_keeps_byte_fallback_as_vocabulary(tmp_path, ru_corpus, heldout_en, metaspace_bpe_tokenizer, algorithm):
    """A LLaMA-2-style source (byte pieces in its vocabulary): the replacement spells any text with byte
    pieces that are ordinary tokens, so skip_special_tokens (generation's decode) keeps them, and has no <unk>."""
    like = load_tokenizer(metaspace_bpe_tokenizer)
    result = train_tokenizer(ru_corpus, 600, algorithm, tmp_path / "new", like=metaspace_bpe_tokenizer)
    tok = load_tokenizer(tmp_path / "new")
    assert shape_of(tok).family == (METASPACE_BPE if algorithm == "bpe" else UNIGRAM)
    assert not [t for t in tok.added_tokens_decoder.values() if t.content.startswith("<0x")]
    for text in ("Ё🙂 ок", "₽ Ψ", "a literal <0x41> stays text"):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == text
        assert tok.unk_token_id not in ids
    assert "<0x41>" not in tok.convert_ids_to_tokens(tok("<0x41>", add_special_tokens=False)["input_ids"])
    english = text_stats(tok, heldout_en.read_text(encoding="utf-8"))
    assert english.unknown_tokens == 0 and english.roundtrip_errors == 0
    # the manifest's round trip covers held-out and multi-script text, as good as the source's
    assert result["wide_unknown_tokens"] == 0
    assert result["wide_roundtrip_errors"] == result["like_wide_roundtrip_errors"]
    assert result["wide_roundtrip_lines"] > 50
    assert text_stats(like, "Ё🙂 ок").unknown_tokens == 0  # the source had no <unk> there either
