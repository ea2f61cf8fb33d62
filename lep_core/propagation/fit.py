"""Fit P for one embedding matrix (input or head) and score it: fit residual, held-out error and cosine.

The fitting rows are split 90/10 with a fixed seed: P_heldout is fitted on 90% and scored on the
other 10% (how well P generalises to tokens it has not seen, i.e. to the new ones); the P that is
used is fitted on all rows. With the gram solver both fits come from the same single pass.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from lep_core.propagation.rows import RowMix
from lep_core.propagation.solve import (
    Gram,
    Solver,
    gram_residual,
    solve_exact,
    solve_gram,
)

HELDOUT_FRACTION = 0.1
# ||XP - Y||² from the Gram sums is exact to ~1e-7 of ||Y - X||² with float32 chunk products, so a residual
# under this share of ||Y - X|| / ||Y|| is measured by a direct pass over the rows instead
RESIDUAL_FLOOR = 3e-3
CHUNK_BYTES = 256 * 2**20  # rows gathered per chunk (as float64)
PrefixCache = dict[tuple, Gram]  # Gram sums of the leading rows of (src, dst), shared by the modes of one side


@dataclass
class FitReport:
    fit_rows: int
    fit_residual: float  # ||X·P - Y|| / ||Y|| on every fitting row
    heldout_rows: int
    heldout_rel_error: float  # same, P fitted without the held-out rows
    heldout_cosine: float  # mean cosine between predicted and true held-out rows
    seconds: float

    def as_dict(self) -> dict:
        return {k: (round(v, 8) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class Fit:
    p: torch.Tensor  # (d, d) float64
    report: FitReport


def heldout_split(n: int, fraction: float = HELDOUT_FRACTION, seed: int = 0) -> torch.Tensor:
    """(n,) bool mask of held-out rows: a fixed random 10% (none when there are too few rows to spare)."""
    mask = torch.zeros(n, dtype=torch.bool)
    k = int(n * fraction)
    if k >= 1 and n - k >= 2:
        mask[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]] = True
    return mask


def _max_nnz(d: int) -> int:
    return max(1024, CHUNK_BYTES // (8 * d))


def _score(mix: RowMix, src: torch.Tensor, dst: torch.Tensor, p: torch.Tensor, device,
           dtype: torch.dtype = torch.float64) -> tuple[float, float]:
    """Relative error and mean cosine of X·P against Y over the rows of mix (a second, small pass)."""
    err = norm = cos_sum = 0.0
    p = p.to(dtype)
    for start, end in mix.chunks(_max_nnz(src.shape[1])):
        x = mix.apply(src, start, end, device, dtype)
        y = mix.apply(dst, start, end, device, dtype)
        pred = x @ p
        err += float(((pred - y) ** 2).sum())
        norm += float((y * y).sum())
        dots = (pred * y).sum(1)
        cos_sum += float((dots / (pred.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-12)).sum())
    if mix.num_rows == 0:
        return float("nan"), float("nan")
    return (err / norm) ** 0.5 if norm > 0 else 0.0, cos_sum / mix.num_rows


def fit_projection(
    mix: RowMix,
    src: torch.Tensor,
    dst: torch.Tensor,
    ridge: float = 0.0,
    solver: Solver | str = Solver.gram,
    device: str | torch.device = "cpu",
    fit: bool = True,
    progress: Callable[[int, int], None] | None = None,
    prefix_cache: PrefixCache | None = None,
) -> Fit:
    """P with src·P ≈ dst on the rows of mix (src = base rows (V, d), dst = instruct rows (>= V, d)).

    fit=False scores P = identity (straight mode) on the same rows. prefix_cache, shared by fits of several
    modes on the same src and dst, computes the Gram sums of the old-token rows they have in common once.
    """
    start_t = time.perf_counter()
    solver = Solver(solver)
    work = solver.work_dtype
    d = src.shape[1]
    nonempty = mix.nonempty()
    held_ids = nonempty[heldout_split(nonempty.numel())]
    held_mix = mix.select(held_ids)
    eye = torch.eye(d, dtype=torch.float64, device=device)
    if not fit and solver is not Solver.lstsq:  # ||X - Y|| / ||Y|| is ztz / yty of the Gram sums (cached prefix)
        p_full = p_train = eye
        full_err = gram_residual(_accumulate(mix, src, dst, work, device, progress, prefix_cache), eye)
    elif not fit:
        p_full = p_train = eye
        full_err, _ = _score(mix.select(nonempty), src, dst, eye, device, work)
    elif solver is Solver.lstsq:
        held = torch.zeros(mix.num_rows, dtype=torch.bool)
        held[held_ids] = True
        p_full, p_train, full_err = _fit_exact(mix.select(nonempty), held[nonempty], src, dst, ridge, device)
    else:
        # every row once, then the held-out rows again: the 90% training Gram is all - held
        everything = _accumulate(mix, src, dst, work, device, progress, prefix_cache)
        held_gram = _accumulate(held_mix, src, dst, work, device)
        train_gram = everything - held_gram
        p_full = solve_gram(everything, ridge)
        p_train = solve_gram(train_gram, ridge) if held_ids.numel() else p_full
        full_err = gram_residual(everything, p_full)
        floor = RESIDUAL_FLOOR * (everything.ztz / max(everything.yty, 1e-300)) ** 0.5
        if 0 < full_err < floor:  # below the precision of the Gram formula: measure it directly instead
            full_err, _ = _score(mix.select(nonempty), src, dst, p_full, device, work)
    held = held_ids.numel() > 0
    held_err, held_cos = _score(held_mix, src, dst, p_train, device, work) if held else (float("nan"), float("nan"))
    report = FitReport(
        fit_rows=int(nonempty.numel()),
        fit_residual=full_err,
        heldout_rows=held_mix.num_rows,
        heldout_rel_error=held_err,
        heldout_cosine=held_cos,
        seconds=time.perf_counter() - start_t,
    )
    return Fit(p_full.cpu(), report)


def _prefix_gram(src: torch.Tensor, dst: torch.Tensor, k: int, work: torch.dtype, device,
                 progress: Callable[[int, int], None] | None, total: int, cache: PrefixCache | None) -> Gram:
    """Gram sums of src[:k], dst[:k], read straight from the tables (no gathering)."""
    key = (src.data_ptr(), dst.data_ptr(), tuple(src.shape), tuple(dst.shape), k, work, str(device))
    if cache is not None and key in cache:
        return cache[key]
    gram = Gram(src.shape[1], device)
    step = _max_nnz(src.shape[1])
    for lo in range(0, k, step):
        hi = min(lo + step, k)
        gram.add(src[lo:hi].to(device=device, dtype=work), dst[lo:hi].to(device=device, dtype=work))
        if progress:
            progress(hi, total)
    if cache is not None:
        cache[key] = gram
    return gram


def _accumulate(mix: RowMix, src: torch.Tensor, dst: torch.Tensor, work: torch.dtype, device,
                progress: Callable[[int, int], None] | None = None, cache: PrefixCache | None = None) -> Gram:
    """The Gram sums of X = S·src, Y = S·dst. The identity prefix (an extension's old tokens, ~all rows)
    is read straight from the tables; the other rows are mixed chunk by chunk."""
    d = src.shape[1]
    prefix = mix.identity_prefix()
    gram = Gram(d, device)
    if prefix:
        gram = gram + _prefix_gram(src, dst, prefix, work, device, progress, mix.num_rows, cache)  # a copy: the cached sums stay as they are
    rest = mix.select(torch.arange(prefix, mix.num_rows)) if prefix else mix
    for lo, hi in rest.chunks(_max_nnz(d)):
        gram.add(rest.apply(src, lo, hi, device, work), rest.apply(dst, lo, hi, device, work))
        if progress:
            progress(prefix + hi, mix.num_rows)
    gram.rows = int(mix.nonempty().numel())
    return gram


def _fit_exact(mix, held, src, dst, ridge, device) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The exact solver: materialise X and Y in float64 (small d only)."""
    x = mix.apply(src, 0, mix.num_rows, device)
    y = mix.apply(dst, 0, mix.num_rows, device)
    p_full = solve_exact(x, y, ridge)
    p_train = solve_exact(x[~held.to(device)], y[~held.to(device)], ridge) if held.any() else p_full
    full_err = float(torch.linalg.norm(x @ p_full - y) / torch.linalg.norm(y)) if y.abs().sum() > 0 else 0.0
    return p_full, p_train, full_err


def apply_projection(table: torch.Tensor, p: torch.Tensor, rows: int | None = None, chunk: int = 16384) -> torch.Tensor:
    """table[:rows]·P in chunks, computed in float32 (float64 when the table is), cast back to table's dtype."""
    rows = table.shape[0] if rows is None else rows
    work = torch.float64 if table.dtype == torch.float64 else torch.float32
    p_w = p.to(device=table.device, dtype=work)
    if table.dtype == work:  # no cast needed: one product, written straight into the result
        return torch.matmul(table[:rows], p_w)
    out = torch.empty(rows, table.shape[1], dtype=table.dtype, device=table.device)
    for lo in range(0, rows, chunk):
        hi = min(lo + chunk, rows)
        out[lo:hi] = (table[lo:hi].to(work) @ p_w).to(table.dtype)
    return out
