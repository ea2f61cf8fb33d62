"""The decomposition matrix: verbatim tokens map to themselves, new ones to their old sub-tokens in context."""

import pytest
import torch

from lep_core.embeddings.decomposition import decomposition_matrix
from lep_core.sources import load_tokenizer
from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension


@pytest.fixture(scope="module", params=["byte_bpe_tokenizer", "metaspace_bpe_tokenizer", "unigram_tokenizer"])
def pair(request, ru_corpus):
    from lep_core.corpus import read_corpus

    base = load_tokenizer(request.getfixturevalue(request.param))
    ext = learn_extension(base, read_corpus(ru_corpus[:2]), 150)
    return base, build_extended_tokenizer(base, ext), ext


def test_old_tokens_are_identity_rows(pair):
    base, new, _ = pair
    dec = decomposition_matrix(new, base)
    dense = dec.matrix.to_dense()
    n_old = len(base)
    assert dec.direct[:n_old].all()
    assert torch.equal(dense[:n_old, :n_old], torch.eye(n_old))
    assert not dec.direct[n_old:].any()


def test_new_rows_are_means_of_in_context_encoding(pair):
    base, new, ext = pair
    dec = decomposition_matrix(new, base)
    dense = dec.matrix.to_dense()
    for row in ext.table()[:40]:
        # encoded mid-sentence: after a word, so a leading space is a real space, not a text start
        ids = base.encode("\n" + row["text"], add_special_tokens=False)
        anchor = base.encode("\n", add_special_tokens=False)
        expected = ids[len(anchor):]
        if ids[:len(anchor)] != anchor or not expected:  # the anchor fused with the text (e.g. two <unk>)
            expected = base.encode(row["text"], add_special_tokens=False)
        got = dense[row["id"]].nonzero().flatten().tolist()
        assert sorted(set(expected)) == got
        assert dense[row["id"]].sum().item() == pytest.approx(1.0)
        assert dec.lengths[row["id"]] == len(expected)


def test_sum_weighting_and_partial_bytes(byte_bpe_tokenizer):
    base = load_tokenizer(byte_bpe_tokenizer)
    dec = decomposition_matrix(base, base, weighting="sum")
    assert dec.direct.all()  # the same tokenizer: every row is its own id
    assert torch.equal(dec.lengths, torch.ones_like(dec.lengths))
