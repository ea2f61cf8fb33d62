"""RowMix: the sparse matrix S whose rows say which old embedding rows make up each fitting row.

Every fitting mode is X = S·B_e, Y = S·I_e for some S: the decomposition matrix M (conversion
modes), a selection of old ids (union, bypass). Rows are produced in chunks, each computed in
the working dtype (float32 or float64) straight from the stored (maybe bf16) rows, so no full
float64 copy of a 128k x 4096 matrix is ever made.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class RowMix:
    crow: torch.Tensor  # (R + 1,) int64: row r holds entries crow[r]:crow[r+1]
    cols: torch.Tensor  # (nnz,) int64 old row ids
    vals: torch.Tensor  # (nnz,) float64 weights
    num_cols: int

    @property
    def num_rows(self) -> int:
        return int(self.crow.numel() - 1)

    @property
    def lengths(self) -> torch.Tensor:
        return self.crow[1:] - self.crow[:-1]

    @classmethod
    def from_csr(cls, matrix: torch.Tensor) -> "RowMix":
        return cls(
            matrix.crow_indices().to(torch.int64),
            matrix.col_indices().to(torch.int64),
            matrix.values().to(torch.float64),
            int(matrix.shape[1]),
        )

    @classmethod
    def selection(cls, ids: torch.Tensor, num_cols: int) -> "RowMix":
        """One row per id, weight 1: X = B[ids]."""
        ids = ids.to(torch.int64)
        return cls(torch.arange(ids.numel() + 1), ids, torch.ones(ids.numel(), dtype=torch.float64), num_cols)

    def select(self, rows: torch.Tensor) -> "RowMix":
        """The sub-matrix of the given rows (vectorised: no loop over rows)."""
        rows = rows.to(torch.int64)
        lengths = self.lengths[rows]
        starts = self.crow[rows]
        crow = torch.zeros(rows.numel() + 1, dtype=torch.int64)
        crow[1:] = torch.cumsum(lengths, 0)
        within = torch.arange(int(crow[-1])) - torch.repeat_interleave(crow[:-1], lengths)
        take = torch.repeat_interleave(starts, lengths) + within
        return RowMix(crow, self.cols[take], self.vals[take], self.num_cols)

    def identity_prefix(self) -> int:
        """How many leading rows are exactly e_r (row r = old row r, weight 1): an extended tokenizer's
        old tokens. Those rows of S·table are table[:k] itself, so they need no gathering at all."""
        n = min(self.num_rows, self.num_cols)
        if n == 0:
            return 0
        starts = self.crow[:n].clamp(max=max(self.cols.numel() - 1, 0))
        ok = (self.lengths[:n] == 1) & (self.cols[starts] == torch.arange(n)) & (self.vals[starts] == 1)
        bad = (~ok).nonzero()
        return int(bad[0]) if bad.numel() else n

    def nonempty(self) -> torch.Tensor:
        """Ids of rows with at least one entry (empty rows carry no information to fit on)."""
        return (self.lengths > 0).nonzero().flatten()

    def chunks(self, max_nnz: int) -> Iterator[tuple[int, int]]:
        """[start, end) row ranges with at most max_nnz entries each (at least one row)."""
        start, n = 0, self.num_rows
        while start < n:
            limit = int(self.crow[start]) + max_nnz
            end = int(torch.searchsorted(self.crow, limit, right=True)) - 1
            end = min(max(end, start + 1), n)
            yield start, end
            start = end

    def apply(self, table: torch.Tensor, start: int, end: int, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """(end - start, d) rows of S·table for one chunk, in dtype.

        When table is already in dtype on device, one sparse CSR product does it; otherwise the rows
        are gathered and cast chunk by chunk (so a bf16 table never needs a whole float64 copy)."""
        lo, hi = int(self.crow[start]), int(self.crow[end])
        if table.dtype == dtype and table.device == torch.device(device):
            with warnings.catch_warnings():  # "sparse CSR is beta": CSR @ dense is stable
                warnings.simplefilter("ignore", UserWarning)
                chunk = torch.sparse_csr_tensor(
                    (self.crow[start : end + 1] - lo).to(table.device), self.cols[lo:hi].to(table.device),
                    self.vals[lo:hi].to(device=table.device, dtype=dtype), size=(end - start, table.shape[0]))
                return chunk @ table
        cols = self.cols[lo:hi]
        gathered = table[cols.to(table.device)].to(device=device, dtype=dtype)
        weights = self.vals[lo:hi]
        if not bool((weights == 1).all()):  # selections (union, bypass) and single-token rows need no scaling
            gathered *= weights.to(device=device, dtype=dtype).unsqueeze(1)
        lengths = self.crow[start + 1 : end + 1] - self.crow[start:end]
        if hi - lo == end - start and bool((lengths == 1).all()):  # one old row per fitting row: nothing to sum
            return gathered
        # each row's first entry by indexing, the few further entries (multi-token rows) added on top
        first = (self.crow[start:end] - lo).clamp(max=max(hi - lo - 1, 0))
        out = gathered[first.to(device)] if hi > lo else torch.zeros(end - start, table.shape[1], dtype=dtype, device=device)
        out[(lengths == 0).to(device)] = 0.0
        is_first = torch.zeros(hi - lo, dtype=torch.bool)
        is_first[first[lengths > 0]] = True
        rest = (~is_first).nonzero().flatten()
        if rest.numel():
            owner = torch.repeat_interleave(torch.arange(end - start), lengths)[rest]
            out.index_add_(0, owner.to(device), gathered[rest.to(device)])
        return out

    def to_dense(self) -> torch.Tensor:
        """For tests on tiny matrices only."""
        owner = torch.repeat_interleave(torch.arange(self.num_rows), self.lengths)
        out = torch.zeros(self.num_rows, self.num_cols, dtype=torch.float64)
        return out.index_put_((owner, self.cols), self.vals, accumulate=True)
