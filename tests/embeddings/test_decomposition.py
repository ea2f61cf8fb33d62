"""The decomposition matrix: verbatim tokens map to themselves, new ones to their old sub-tokens in context."""

import pytest
import torch

from lep_core.embeddings.decomposition import decomposition_matrix
from lep_core.sources.loading import load_tokenizer
from lep_core.tokenizer.extend import build_extended_tokenizer, learn_extension


@pytest.fixture(scope="module", params=["byte_bpe_tokenizer", "metaspace_bpe_tokenizer", "unigram_tokenizer"])
def pair(request, ru_corpus):
    from lep_core.corpus.reading import read_corpus

    base = load_tokenizer(request.getfixturevalue(request.param))
    ext = learn_extension(base, read_corpus(ru_corpus[:2]), 150)
    return base, build_extended_tokenizer(base, ext), ext


def _row(matrix, i: int) -> tuple[list[int], list[float]]:
    """Columns and values of one CSR row (the whole matrix densified is 52k x 49k floats: 10 GB)."""
    crow = matrix.crow_indices()
    a, b = int(crow[i]), int(crow[i + 1])
    return matrix.col_indices()[a:b].tolist(), matrix.values()[a:b].tolist()


def test_old_tokens_are_identity_rows(pair):
    base, new, _ = pair
    dec = decomposition_matrix(new, base)
    n_old = len(base)
    assert dec.direct[:n_old].all()
    crow, cols, values = dec.matrix.crow_indices(), dec.matrix.col_indices(), dec.matrix.values()
    assert torch.equal(crow[: n_old + 1], torch.arange(n_old + 1))  # one entry per old row ...
    assert torch.equal(cols[:n_old], torch.arange(n_old)) and bool((values[:n_old] == 1).all())  # ... on the diagonal
    assert not dec.direct[n_old:].any()


def test_new_rows_are_means_of_in_context_encoding(pair):
    base, new, ext = pair
    dec = decomposition_matrix(new, base)
    for row in ext.table()[:40]:
        # encoded mid-sentence: after a word, so a leading space is a real space, not a text start
        ids = base.encode("\n" + row["text"], add_special_tokens=False)
        anchor = base.encode("\n", add_special_tokens=False)
        expected = ids[len(anchor):]
        if ids[:len(anchor)] != anchor or not expected:  # the anchor fused with the text (e.g. two <unk>)
            expected = base.encode(row["text"], add_special_tokens=False)
        cols, values = _row(dec.matrix, row["id"])
        merged: dict[int, float] = {}
        for c, v in zip(cols, values):
            merged[c] = merged.get(c, 0.0) + v
        assert sorted(set(expected)) == sorted(c for c, v in merged.items() if v)
        assert sum(values) == pytest.approx(1.0)
        assert dec.lengths[row["id"]] == len(expected)


def test_sum_weighting_and_partial_bytes(byte_bpe_tokenizer):
    base = load_tokenizer(byte_bpe_tokenizer)
    dec = decomposition_matrix(base, base, weighting="sum")
    assert dec.direct.all()  # the same tokenizer: every row is its own id
    assert torch.equal(dec.lengths, torch.ones_like(dec.lengths))
