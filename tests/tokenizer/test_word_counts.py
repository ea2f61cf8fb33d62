"""Counting pre-tokens while streaming (in worker processes) learns exactly what learning on the whole text did."""

from __future__ import annotations

from lep_core.corpus.reading import read_corpus
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.extend import learn_extension
from lep_core.tokenizer.learn import ALPHABET_RULES, _readable, split_words
from lep_core.tokenizer.vocab import TokenizerShape, tokenizer_state
from lep_core.tokenizer.word_counts import count_words


def test_streamed_counts_learn_the_same_tokens(byte_bpe_tokenizer, metaspace_bpe_tokenizer, ru_corpus):
    text = read_corpus(ru_corpus)
    for source in (byte_bpe_tokenizer, metaspace_bpe_tokenizer):
        tok = load_tokenizer(source)
        words = count_words(tok, ru_corpus, workers=2, piece_bytes=20_000)  # several pieces, two processes
        assert words.workers == 2 and words.sample == text and not words.sampled
        family = TokenizerShape.of(tokenizer_state(tok)).family
        whole = split_words(tok.backend_tokenizer, text, family)
        learnable = [(w, c) for w, c in whole.items() if not ALPHABET_RULES["cyrillic"].keeps(_readable(w, family))]
        assert list(words.counts.items()) == learnable and 1000 < len(learnable) < len(whole)
        before = learn_extension(tok, text, 300)
        after = learn_extension(tok, words.counts, 300)
        assert after.learned.tokens == before.learned.tokens and after.learned.merges == before.learned.merges
        assert len(after.new_tokens) > 250


def test_a_large_corpus_is_sampled_for_stats_and_says_so(byte_bpe_tokenizer, ru_corpus, monkeypatch):
    from lep_core.tokenizer import word_counts

    monkeypatch.setattr(word_counts, "STATS_SAMPLE_BYTES", 20_000)  # the demo corpus stands in for a large one
    words = count_words(load_tokenizer(byte_bpe_tokenizer), ru_corpus, piece_bytes=10_000, workers=1)
    assert words.sampled and 0 < words.sample_chars < words.corpus_chars
    assert words.corpus_bytes == sum(p.stat().st_size for p in ru_corpus)
