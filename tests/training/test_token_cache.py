"""The token cache: the same ids as tokenizing the whole text, the same batches as before, invalidated by any
change of the corpus or the tokenizer, reused (no text read) otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from lep_core.corpus import token_cache
from lep_core.corpus.token_cache import cache_key, cached_tokens, tokenize_to_file
from lep_core.sources.loading import load_tokenizer
from lep_core.training import data


@pytest.fixture()
def corpus(tmp_path, ru_corpus):
    """Two files: Russian text with control-token strings, \\r\\n and a line without its newline at the end."""
    a = tmp_path / "a.txt"
    a.write_text(ru_corpus[0].read_text(encoding="utf-8") + "\r\nцитата <|im_end|> и <s> в тексте\nбез конца",
                 encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text(ru_corpus[1].read_text(encoding="utf-8"), encoding="utf-8")
    return [a, b]


@pytest.mark.parametrize("fixture", ["byte_bpe_tokenizer", "metaspace_bpe_tokenizer"])
def test_cached_tokens_equal_a_straight_tokenization(request, fixture, corpus, tmp_path):
    tok = load_tokenizer(request.getfixturevalue(fixture))
    straight = data.tokenize_corpus(tok, corpus)
    assert len(straight) > 1000
    facts = tokenize_to_file(tok, corpus, tmp_path / "t.bin", piece_bytes=300)  # many pieces
    small = np.fromfile(tmp_path / "t.bin", dtype=facts["dtype"])
    entry = cached_tokens(tok, corpus, tmp_path / "cache")
    assert facts["dtype"] == "uint16" and facts["tokens"] == len(straight)
    assert np.array_equal(small, straight) and np.array_equal(entry.tokens, straight)
    assert not entry.reused and isinstance(entry.tokens, np.memmap)
    assert facts["special_strings_as_text"] == entry.meta["special_strings_as_text"] >= 1


def test_one_character_or_the_tokenizer_changes_the_key(corpus, tmp_path, byte_bpe_tokenizer, metaspace_bpe_tokenizer,
                                                        monkeypatch):
    tok = load_tokenizer(byte_bpe_tokenizer)
    root = tmp_path / "cache"
    first = cached_tokens(tok, corpus, root)
    key = cache_key(tok, corpus)

    def no_reading(*args, **kwargs):  # a reused entry must not read the corpus
        raise AssertionError("the corpus was read")

    monkeypatch.setattr(token_cache, "stream_corpus", no_reading)
    again = cached_tokens(tok, corpus, root)
    assert again.reused and again.folder == first.folder
    monkeypatch.undo()

    text = corpus[1].read_text(encoding="utf-8")
    middle = len(text) // 2
    corpus[1].write_text(text[:middle] + ("я" if text[middle] != "я" else "ю") + text[middle + 1:], encoding="utf-8")
    assert cache_key(tok, corpus) != key
    changed = cached_tokens(tok, corpus, root)
    assert not changed.reused and changed.folder != first.folder
    assert np.array_equal(changed.tokens, data.tokenize_corpus(tok, corpus))
    assert not np.array_equal(changed.tokens, first.tokens)

    corpus[1].write_text(text, encoding="utf-8")  # back to the original text: the first entry again
    assert cache_key(tok, corpus) == key
    assert cache_key(load_tokenizer(metaspace_bpe_tokenizer), corpus) != key
    state = tok.backend_tokenizer
    state.add_tokens(["новоеслово"])  # one more token in the same tokenizer: another key
    assert cache_key(tok, corpus) != key
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(
        [first.folder.name, changed.folder.name])  # whole entries only: no temporary folder left


def test_same_blocks_and_batches_as_packing_the_whole_text(corpus, tmp_path, byte_bpe_tokenizer):
    """The batches for a seed are the ones the in-memory packing gave: rows cut from the straight tokens,
    held out and ordered by the same seeded permutation."""
    import torch

    tok = load_tokenizer(byte_bpe_tokenizer)
    seq_len, seed = 32, 3
    blocks, info = data.text_blocks(tok, corpus, seq_len, 0.1, seed, tmp_path / "cache")
    straight = data.tokenize_corpus(tok, corpus)
    n = len(straight) // seq_len
    rows = straight[: n * seq_len].reshape(n, seq_len)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_val = int(round(n * 0.1))
    assert np.array_equal(np.asarray(blocks.train), rows[order[n_val:]])
    assert np.array_equal(np.asarray(blocks.val), rows[np.sort(order[:n_val])])
    for step in range(3):
        got = data.micro_batch(blocks, seed, step, 0, 1, 4)
        idx = data.sample_indices(n - n_val, seed, step * 4, 4)
        assert torch.equal(got, torch.from_numpy(rows[order[n_val:]][idx].astype(np.int64)))
    assert info["corpus_tokens"] == len(straight) and not info["token_cache"]["reused"]
    saved = tmp_path / "run_data"
    saved.mkdir()
    data.save_blocks(blocks, saved)  # the run's copy: a link to the token file plus the row order
    again = data.load_blocks(saved)
    assert np.array_equal(np.asarray(again.train), np.asarray(blocks.train))
    assert data.text_blocks(tok, corpus, seq_len, 0.1, seed, tmp_path / "cache")[1]["token_cache"]["reused"]


def test_an_nfd_corpus_gives_the_ids_of_its_nfc_form(tmp_path, ru_corpus, byte_bpe_tokenizer):
    """Issue 27: a decomposed (NFD) copy of the corpus is read in NFC, so training sees the same ids; the entry
    says how many characters were composed, and the rule's version is in the key."""
    import unicodedata

    text = ru_corpus[0].read_text(encoding="utf-8")[:6000]
    nfc, nfd = tmp_path / "nfc.txt", tmp_path / "nfd.txt"
    nfc.write_text(text, encoding="utf-8")
    nfd.write_text(unicodedata.normalize("NFD", text), encoding="utf-8")
    tok = load_tokenizer(byte_bpe_tokenizer)
    a, b = cached_tokens(tok, [nfc], tmp_path / "cache"), cached_tokens(tok, [nfd], tmp_path / "cache")
    assert a.folder != b.folder  # different files, different entries
    assert np.array_equal(a.tokens, b.tokens)
    composed = sum(1 for ch in text if ch in "йЙёЁ")
    assert composed > 10
    assert a.meta["normalised"]["nfc"] == 0 and b.meta["normalised"]["nfc"] == composed
    assert a.meta["rule"] == token_cache.READING_RULE and "NFC" in token_cache.READING_RULE
