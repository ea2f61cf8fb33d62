"""Repeat blocks (issue 25): a share of training and head-fitting blocks repeat their first half, so the new rows
also learn where the body copies given text; the choice is a pure function of (seed, sample), as resuming needs."""

import numpy as np
import torch

from lep_core.embeddings.head_fit import HeadFitOptions, corpus_blocks
from lep_core.sources.loading import load_tokenizer
from lep_core.training.data import Blocks, micro_rows, repeat_halves, repeats


def test_rows_repeat_their_first_half_after_the_sequence_start():
    ids = torch.arange(2 * 11).reshape(2, 11)
    out = repeat_halves(ids, np.array([True, False]), skip=1)
    assert out[0].tolist() == [0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]  # start id, 5 tokens, the same 5 again
    assert torch.equal(out[1], ids[1]) and ids[0, 6] == 6  # the other row and the input are untouched


def test_the_choice_depends_on_seed_and_sample_only():
    first = repeats(3, 100, 400, 0.5)
    assert np.array_equal(first, repeats(3, 100, 400, 0.5))
    assert np.array_equal(first[10:20], repeats(3, 110, 10, 0.5))  # sample 110 is sample 110, whatever the batch
    assert 150 < first.sum() < 250 and not np.array_equal(first, repeats(4, 100, 400, 0.5))
    assert not repeats(3, 0, 50, 0.0).any() and repeats(3, 0, 50, 1.0).all()


def test_training_batches_repeat_the_share_asked():
    rows = np.arange(40 * 16, dtype=np.int32).reshape(40, 16)
    blocks = Blocks(train=rows, val=rows[:2])
    plain, _ = micro_rows(blocks, 0, 5, 0, 1, 8)
    mixed, _ = micro_rows(blocks, 0, 5, 0, 1, 8, repeat_share=0.5)
    which = repeats(0, 5 * 8, 8, 0.5)
    assert which.any() and not which.all()
    for row in range(8):
        expected = torch.cat([plain[row, :8], plain[row, :8]]) if which[row] else plain[row]
        assert torch.equal(mixed[row], expected)


def test_head_fit_blocks_repeat_when_asked(byte_bpe_tokenizer, ru_corpus):
    tok = load_tokenizer(byte_bpe_tokenizer)
    text = ru_corpus[0].read_text(encoding="utf-8")
    plain = corpus_blocks(tok, text, HeadFitOptions(max_tokens=4096, block=64))
    doubled = corpus_blocks(tok, text, HeadFitOptions(max_tokens=4096, block=64, repeat_share=1.0))
    assert doubled.shape == plain.shape and torch.equal(doubled[:, :32], plain[:, :32])
    assert torch.equal(doubled[:, 32:], plain[:, :32])  # SmolLM2 adds no sequence start: halves of 32
