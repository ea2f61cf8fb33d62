"""The solver pieces on small random data: row mixing, Gram vs exact least squares, ridge, residuals."""

from __future__ import annotations

import pytest
import torch

from lep_core.errors import LepInputError
from lep_core.propagation.fit import apply_projection, fit_projection
from lep_core.propagation.modes import Mode, parse_mode
from lep_core.propagation.rows import RowMix
from lep_core.propagation.solve import Gram, gram_residual, solve_exact, solve_gram


def random_mix(seed: int, rows: int = 40, cols: int = 12) -> RowMix:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 4, (rows,), generator=g)
    crow = torch.zeros(rows + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(lengths, 0)
    nnz = int(crow[-1])
    return RowMix(crow, torch.randint(0, cols, (nnz,), generator=g), torch.rand(nnz, dtype=torch.float64, generator=g), cols)


@pytest.mark.parametrize("seed", range(5))
def test_rowmix_chunks_and_selection_match_dense(seed):
    mix = random_mix(seed)
    table = torch.randn(12, 5, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)
    dense = mix.to_dense() @ table.double()
    for lo in range(0, 40, 7):
        for hi in range(lo + 1, 41, 9):
            assert torch.allclose(mix.apply(table, lo, hi), dense[lo:hi])
    pieces = [mix.apply(table, lo, hi) for lo, hi in mix.chunks(5)]
    assert torch.allclose(torch.cat(pieces), dense)
    rows = torch.tensor([3, 0, 17, 39, 17])
    assert torch.allclose(mix.select(rows).apply(table, 0, 5), dense[rows])


def test_gram_equals_exact_lstsq_and_residual():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 16, generator=g, dtype=torch.float64)
    y = x @ torch.randn(16, 16, generator=g, dtype=torch.float64) + 0.1 * torch.randn(500, 16, generator=g, dtype=torch.float64)
    gram = Gram(16)
    for lo in range(0, 500, 64):
        gram.add(x[lo:lo + 64], y[lo:lo + 64])
    p_gram, p_exact = solve_gram(gram), solve_exact(x, y)
    assert torch.allclose(p_gram, p_exact, atol=1e-10)
    direct = float(torch.linalg.norm(x @ p_gram - y) / torch.linalg.norm(y))
    assert gram_residual(gram, p_gram) == pytest.approx(direct, rel=1e-8)


def test_ridge_pulls_toward_identity_in_both_solvers():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 8, generator=g, dtype=torch.float64)
    y = x @ (3 * torch.randn(8, 8, generator=g, dtype=torch.float64))
    gram = Gram(8)
    gram.add(x, y)
    eye = torch.eye(8, dtype=torch.float64)
    dist = [float(torch.linalg.norm(solve_gram(gram, r) - eye)) for r in (0.0, 1.0, 1e6)]
    assert dist[0] > dist[1] > dist[2] and dist[2] < 1e-4
    assert torch.allclose(solve_gram(gram, 1.0), solve_exact(x, y, 1.0), atol=1e-8)


def test_singular_problem_still_solves():
    x = torch.zeros(50, 4, dtype=torch.float64)
    x[:, 0] = torch.arange(50.0)
    gram = Gram(4)
    gram.add(x, 2 * x)
    p = solve_gram(gram)
    assert torch.allclose(x @ p, 2 * x, atol=1e-8)


def test_fit_projection_reports_and_apply():
    g = torch.Generator().manual_seed(2)
    src = torch.randn(300, 10, generator=g)
    q = torch.randn(10, 10, generator=g)
    dst = src @ q
    mix = RowMix.selection(torch.arange(300), 300)
    fit = fit_projection(mix, src, dst)
    assert fit.report.fit_rows == 300 and fit.report.heldout_rows == 30
    assert fit.report.heldout_rel_error < 1e-5 and fit.report.heldout_cosine > 0.99999
    assert torch.allclose(apply_projection(src, fit.p), dst, atol=1e-4)
    same = fit_projection(mix, src, dst, fit=False)  # straight: P = identity, scored as is
    assert torch.equal(same.p, torch.eye(10, dtype=torch.float64)) and same.report.fit_residual > 0.5
    direct = float(torch.linalg.norm(src.double() - dst.double()) / torch.linalg.norm(dst.double()))
    assert same.report.fit_residual == pytest.approx(direct, rel=1e-6)  # from the Gram sums, no second pass
    assert fit_projection(mix, src, dst, solver="lstsq", fit=False).report.fit_residual == pytest.approx(direct, rel=1e-6)
    exact = fit_projection(mix, src, dst, solver="lstsq")
    assert torch.allclose(exact.p, fit.p, atol=1e-6)


def test_modes_enum_feeds_choices():
    assert [m.value for m in Mode] == ["conversion", "straight", "union", "bypass", "sum_conversion", "occ_conversion"]
    assert all(m.help for m in Mode)
    with pytest.raises(LepInputError, match="choose one of"):
        parse_mode("nope")


def test_float32_gram_matches_float64_and_exact_solvers_on_a_near_identity_pair():
    """The default solver multiplies float32 chunks; against float64 and exact QR it must agree to 1e-5,
    and its residual (kept for Z = Y - X) must match a direct computation even when it is tiny."""
    g = torch.Generator().manual_seed(3)
    mix = RowMix.selection(torch.arange(3000), 3000)
    src = torch.randn(3000, 48, generator=g)
    q = torch.eye(48) + 0.05 * torch.randn(48, 48, generator=g)
    dst = src @ q + 1e-4 * torch.randn(3000, 48, generator=g)
    fits = {s: fit_projection(mix, src, dst, solver=s) for s in ("gram", "gram64", "lstsq")}
    for s in ("gram", "gram64"):
        rel = torch.linalg.norm(fits[s].p - fits["lstsq"].p) / torch.linalg.norm(fits["lstsq"].p)
        assert rel < 1e-5, (s, float(rel))
    direct = float(torch.linalg.norm(src.double() @ fits["gram"].p - dst.double()) / torch.linalg.norm(dst.double()))
    assert direct < 1e-3
    assert fits["gram"].report.fit_residual == pytest.approx(direct, rel=0.02)
    same = fit_projection(mix, src, src.clone())
    assert torch.equal(same.p, torch.eye(48, dtype=torch.float64)) and same.report.fit_residual == 0.0


def test_joint_accumulation_with_symmetric_blocks_equals_plain_products():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(200, 37, generator=g, dtype=torch.float64), torch.randn(200, 37, generator=g, dtype=torch.float64)
    gram = Gram(37)
    gram.add(x[:120], y[:120])
    gram.add(x[120:], y[120:])
    assert torch.allclose(gram.xtx, x.T @ x, atol=1e-10) and torch.allclose(gram.xtz, x.T @ (y - x), atol=1e-10)
    assert gram.yty == pytest.approx(float((y * y).sum()), rel=1e-12)


def test_modes_sharing_a_prefix_cache_get_the_same_fits_and_compute_the_prefix_once():
    """conversion (old rows then mixed new rows) and bypass (old rows only) share their old-row sums."""
    g = torch.Generator().manual_seed(3)
    old, new, d = 300, 40, 16
    src = torch.randn(old, d, generator=g)
    dst = src @ (torch.eye(d) + 0.05 * torch.randn(d, d, generator=g)) + 1e-3 * torch.randn(old, d, generator=g)
    mixed = random_mix(4, rows=new, cols=old)
    crow = torch.cat([torch.arange(old), old + mixed.crow])
    conversion = RowMix(crow, torch.cat([torch.arange(old), mixed.cols]),
                        torch.cat([torch.ones(old, dtype=torch.float64), mixed.vals]), old)
    bypass = RowMix.selection(torch.arange(old), old)
    assert conversion.identity_prefix() == old and bypass.identity_prefix() == old
    cache: dict = {}
    for mix in (conversion, bypass, conversion):
        shared, alone = fit_projection(mix, src, dst, prefix_cache=cache), fit_projection(mix, src, dst)
        assert torch.equal(shared.p, alone.p)
        assert shared.report.heldout_rel_error == alone.report.heldout_rel_error
    assert len(cache) == 1  # computed by the first fit, reused (and left unchanged) by the others
