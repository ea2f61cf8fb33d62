"""occ_conversion weights: how often the old tokenizer produced each old token on a new token's spans.

Both tokenizers encode the same corpus lines (batched, with character offsets). Every occurrence of a
new token u covers a character span; the old tokens overlapping that span are counted for row u. Rows
are the counts normalised to sum 1. Tokens that are one old token verbatim, and tokens never seen in
the corpus, keep their decomposition row. Everything after the two batched encodings is array work
(searchsorted + repeat_interleave + one coalesce), never a loop over tokens.
"""

from __future__ import annotations

import torch

from lep_core.propagation.rows import RowMix


def _flat_encoding(tok, lines: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids, start, end of every token of every line, offsets made global by each line's position."""
    encodings = tok.backend_tokenizer.encode_batch(lines, add_special_tokens=False)
    line_start = 0
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    bases: list[int] = []
    for line, enc in zip(lines, encodings):
        ids.extend(enc.ids)
        spans.extend(enc.offsets)
        bases.extend([line_start] * len(enc.ids))
        line_start += len(line) + 1
    span = torch.tensor(spans, dtype=torch.int64).reshape(-1, 2) + torch.tensor(bases, dtype=torch.int64).unsqueeze(1)
    return torch.tensor(ids, dtype=torch.int64), span[:, 0], span[:, 1]


def occurrence_counts(new_tok, old_tok, lines: list[str], num_new: int, num_old: int) -> torch.Tensor:
    """(W, V) sparse COO float64 of counts: row u, col v = times old token v overlapped a span of u."""
    new_ids, new_start, new_end = _flat_encoding(new_tok, lines)
    old_ids, old_start, old_end = _flat_encoding(old_tok, lines)
    keep = new_end > new_start
    new_ids, new_start, new_end = new_ids[keep], new_start[keep], new_end[keep]
    # old tokens i with old_end[i] > start and old_start[i] < end; both arrays are non-decreasing
    lo = torch.searchsorted(torch.cummax(old_end, 0).values.contiguous(), new_start.contiguous(), right=True)
    hi = torch.searchsorted(old_start.contiguous(), new_end.contiguous(), right=False)
    counts = (hi - lo).clamp(min=0)
    rows = torch.repeat_interleave(new_ids, counts)
    offsets = torch.cumsum(counts, 0) - counts
    within = torch.arange(int(counts.sum())) - torch.repeat_interleave(offsets, counts)
    cols = old_ids[torch.repeat_interleave(lo, counts) + within]
    ok = (rows < num_new) & (cols < num_old)
    values = torch.ones(int(ok.sum()), dtype=torch.float64)
    return torch.sparse_coo_tensor(torch.stack([rows[ok], cols[ok]]), values, (num_new, num_old)).coalesce()


def occurrence_mix(fallback: RowMix, direct: torch.Tensor, new_tok, old_tok, lines: list[str]) -> tuple[RowMix, int]:
    """RowMix for occ_conversion and how many rows took corpus weights (the rest keep `fallback`)."""
    num_new, num_old = fallback.num_rows, fallback.num_cols
    counts = occurrence_counts(new_tok, old_tok, lines, num_new, num_old)
    rows, cols = counts.indices()
    values = counts.values()
    totals = torch.zeros(num_new, dtype=torch.float64).index_add_(0, rows, values)
    use_occ = (totals > 0) & ~direct
    take = use_occ[rows]
    occ_rows, occ_cols, occ_vals = rows[take], cols[take], values[take] / totals[rows[take]]
    fb_rows = torch.repeat_interleave(torch.arange(num_new), fallback.lengths)
    keep = ~use_occ[fb_rows]
    all_rows = torch.cat([occ_rows, fb_rows[keep]])
    all_cols = torch.cat([occ_cols, fallback.cols[keep]])
    all_vals = torch.cat([occ_vals, fallback.vals[keep]])
    order = torch.argsort(all_rows * num_old + all_cols)
    all_rows, all_cols, all_vals = all_rows[order], all_cols[order], all_vals[order]
    crow = torch.zeros(num_new + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(all_rows, minlength=num_new), 0)
    return RowMix(crow, all_cols, all_vals, num_old), int(use_occ.sum())
