"""Which rows each mode fits P on, built once per (base tokenizer, new tokenizer) pair.

conversion / sum_conversion / occ_conversion: X = M·B, one row per new token (M: the decomposition);
union: the old rows of tokens whose text is in both vocabularies; bypass: every old row;
straight: no fit, but scored on the conversion rows so it can be compared with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lep_core.embeddings.decomposition import Decomposition, decomposition_matrix
from lep_core.propagation.modes import Mode
from lep_core.propagation.occurrence import occurrence_mix
from lep_core.propagation.rows import RowMix
from lep_core.tokenizer.vocab import token_bytes


def _union_ids(dec: Decomposition, mean: RowMix, new_tok, old_tok, old_rows: int) -> torch.Tensor:
    """Old ids of tokens present in both vocabularies: verbatim pieces, or (across families) the same bytes."""
    direct_rows = dec.direct.nonzero().flatten()
    ids = [mean.cols[mean.crow[direct_rows]]]
    new_bytes, new_added = token_bytes(new_tok)
    old_bytes, old_added = token_bytes(old_tok)
    by_bytes = {b: i for i, (b, a) in enumerate(zip(old_bytes, old_added)) if b and not a and i < old_rows}
    matched = [by_bytes[b] for b, a in zip(new_bytes, new_added) if b and not a and b in by_bytes]
    ids.append(torch.tensor(matched, dtype=torch.int64))
    return torch.unique(torch.cat(ids))


@dataclass
class FittingRows:
    """Lazily built RowMix per mode; the decomposition is computed once and shared."""

    new_tok: object
    old_tok: object
    old_rows: int  # rows of the base embedding matrix (columns of M)
    corpus_lines: list[str] | None = None
    occ_rows_used: int = 0
    _dec: Decomposition | None = None
    _cache: dict[Mode, RowMix] = field(default_factory=dict)

    @property
    def decomposition(self) -> Decomposition:
        if self._dec is None:
            self._dec = decomposition_matrix(self.new_tok, self.old_tok, weighting="mean", old_rows=self.old_rows)
        return self._dec

    def for_mode(self, mode: Mode) -> RowMix:
        if mode in self._cache:
            return self._cache[mode]
        if mode in (Mode.conversion, Mode.straight):
            mix = RowMix.from_csr(self.decomposition.matrix)
        elif mode is Mode.sum_conversion:
            mean = self.for_mode(Mode.conversion)
            per_entry = torch.repeat_interleave(mean.lengths, mean.lengths)
            mix = RowMix(mean.crow, mean.cols, torch.where(per_entry > 1, 1.0, mean.vals), mean.num_cols)
        elif mode is Mode.union:
            ids = _union_ids(self.decomposition, self.for_mode(Mode.conversion), self.new_tok, self.old_tok, self.old_rows)
            mix = RowMix.selection(ids, self.old_rows)
        elif mode is Mode.bypass:
            mix = RowMix.selection(torch.arange(min(len(self.old_tok), self.old_rows)), self.old_rows)
        else:
            if not self.corpus_lines:
                raise ValueError("occ_conversion needs corpus lines")
            mix, self.occ_rows_used = occurrence_mix(
                self.for_mode(Mode.conversion), self.decomposition.direct, self.new_tok, self.old_tok, self.corpus_lines
            )
        self._cache[mode] = mix
        return mix
