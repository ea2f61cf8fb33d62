"""Every mode on one tiny world: occ_conversion's corpus weights, sum_conversion, the mode comparison, the exact solver."""

from __future__ import annotations

import torch

from lep_core.corpus.reading import read_corpus
from lep_core.propagation.embeddings_io import open_model
from lep_core.propagation.fitting_rows import FittingRows
from lep_core.propagation.modes import Mode
from lep_core.propagation.occurrence import occurrence_counts
from lep_core.propagation.options import PropagateOptions
from lep_core.propagation.propagate import propagate
from lep_core.sources.loading import load_tokenizer
from tests.propagation.kit import rel_error


def test_occurrence_counts_follow_the_corpus(extended_byte, byte_bpe_tokenizer, ru_corpus):
    new, old = load_tokenizer(extended_byte), load_tokenizer(byte_bpe_tokenizer)
    lines = [ln for ln in read_corpus(ru_corpus[:1]).split("\n") if ln.strip()][:300]
    # only the new tokens' rows, densified: the whole (49k x 49k) matrix in float64 took 19 GB
    counts_all = occurrence_counts(new, old, lines, len(new), len(old))
    counts_all = counts_all if counts_all.layout == torch.sparse_coo else counts_all.to_sparse_coo()
    new_counts = counts_all.index_select(0, torch.arange(len(old), len(new))).to_dense()
    rows = FittingRows(new, old, len(old), lines)
    conv, occ = rows.for_mode(Mode.conversion), rows.for_mode(Mode.occ_conversion)
    assert rows.occ_rows_used > 20
    # a new token seen in the corpus: its weights are its normalised counts, over the old tokens under its spans
    seen = [u for u in range(len(old), len(new)) if new_counts[u - len(old)].sum() > 0]
    u = seen[0]
    dense = occ.select(torch.tensor([u])).to_dense()[0]
    row = new_counts[u - len(old)]
    assert torch.allclose(dense, (row / row.sum()).to(dense.dtype))
    # rows of old tokens (verbatim) are untouched, and every row still sums to 1
    assert torch.equal(occ.select(torch.arange(100)).to_dense(), conv.select(torch.arange(100)).to_dense())
    sums = torch.zeros(occ.num_rows, dtype=torch.float64).index_add_(0, torch.repeat_interleave(torch.arange(occ.num_rows), occ.lengths), occ.vals)
    assert torch.allclose(sums[occ.lengths > 0], torch.ones(int((occ.lengths > 0).sum()), dtype=torch.float64))
    # sum_conversion: the same entries, weight 1 each
    summed = rows.for_mode(Mode.sum_conversion)
    assert torch.equal(summed.cols, conv.cols) and bool((summed.vals == 1).all())


def test_occ_conversion_with_comparison_and_exact_solver(llama_world, tmp_path, ru_corpus):
    report = propagate(PropagateOptions(
        base=str(llama_world.base), instruct=[str(llama_world.instruct)], adapted=str(llama_world.adapted),
        out=str(tmp_path / "out"), mode=Mode.occ_conversion, corpus=[str(p) for p in ru_corpus[:1]],
        compare_modes=True, solver="lstsq"))
    assert report["mode"] == "occ_conversion" and report["occ_rows"] > 20
    modes = {r["mode"] for r in report["mode_comparison"]}
    assert modes == {m.value for m in Mode}
    by_mode = {r["mode"]: r for r in report["mode_comparison"]}
    for mode in ("conversion", "union", "bypass", "sum_conversion", "occ_conversion"):
        assert by_mode[mode]["heldout_rel_error"] < 1e-3, mode
    assert by_mode["straight"]["heldout_rel_error"] > 0.05  # no fit: instruct differs from base by Q
    got = open_model(tmp_path / "out").read("input")[100:]
    expected = open_model(llama_world.adapted).read("input")[100:].double() @ llama_world.q.double()
    assert rel_error(got, expected) < 1e-3
