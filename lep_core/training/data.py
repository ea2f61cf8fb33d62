"""Corpus -> fixed-length token blocks, a held-out split, and a batch order that is a pure function of (seed, step).

Because batch k is computed from the seed and k alone, a resumed run reads exactly the
batches the uninterrupted run would have read.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from lep_core.corpus.reading import read_corpus
from lep_core.errors import LepInputError
from lep_core.tokenizer.plain_text import count_special_strings, encode_plain, sequence_start_ids

_ENCODE_BATCH = 2048


def tokenize_corpus(tokenizer, paths: Iterable[str | os.PathLike]) -> np.ndarray:
    """All corpus tokens in order, documents (lines) encoded in batches; eos between files' texts is not added.

    Text is text (lep_core.tokenizer.plain_text): special-token strings in the corpus are encoded as characters."""
    return _tokens(tokenizer, read_corpus(paths))


def _tokens(tokenizer, text: str) -> np.ndarray:
    lines = text.splitlines(keepends=True)
    chunks: list[np.ndarray] = []
    for start in range(0, len(lines), _ENCODE_BATCH):
        encoded = encode_plain(tokenizer, lines[start:start + _ENCODE_BATCH])
        chunks.extend(np.asarray(ids, dtype=np.int32) for ids in encoded if ids)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)


def text_blocks(tokenizer, paths: Iterable[str | os.PathLike], seq_len: int, val_fraction: float,
                seed: int) -> tuple["Blocks", dict[str, Any]]:
    """The run's blocks from a plain-text corpus, each starting with `sequence_start_ids` (the BOS of
    LLaMA/Mistral-style tokenizers), and what the log reports: special-token strings read as text."""
    text = read_corpus(paths)
    start = sequence_start_ids(tokenizer)
    blocks = pack(_tokens(tokenizer, text), seq_len, val_fraction, seed, start)
    return blocks, {"blocks": len(blocks.train) + len(blocks.val), "sequence_start": start,
                    "special_strings_as_text": count_special_strings(tokenizer, text)}


@dataclass
class Blocks:
    """Packed blocks split into train and validation, shape (n, seq_len) int32 each.

    Chat data adds target masks of the same shape (True where the token is scored: the answers);
    text blocks have none, and every next token is scored.
    """

    train: np.ndarray
    val: np.ndarray
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])


def pack(tokens: np.ndarray, seq_len: int, val_fraction: float, seed: int, start: Sequence[int] = ()) -> Blocks:
    """Cut into blocks of seq_len, each `start` + the next seq_len - len(start) text tokens (the tail shorter
    than a block is dropped); hold out a seeded share."""
    body = seq_len - len(start)
    n = len(tokens) // body if body > 0 else 0
    if n < 1:
        raise LepInputError(
            f"the corpus has {len(tokens)} tokens, fewer than one block of --seq-len {seq_len}: "
            "add more text or lower --seq-len"
        )
    rows = tokens[: n * body].reshape(n, body)
    if start:
        rows = np.concatenate([np.tile(np.asarray(start, dtype=rows.dtype), (n, 1)), rows], axis=1)
    return split(rows, None, val_fraction, seed)


def split(rows: np.ndarray, mask: np.ndarray | None, val_fraction: float, seed: int) -> Blocks:
    """Hold out a seeded share of the rows (at least one when asked and there are two or more)."""
    n = len(rows)
    n_val = int(round(n * val_fraction)) if n >= 2 else 0
    n_val = min(n_val, n - 1)
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    train, val = order[n_val:], np.sort(order[:n_val])
    if mask is None:
        return Blocks(train=rows[train], val=rows[val])
    return Blocks(train=rows[train], val=rows[val], train_mask=mask[train], val_mask=mask[val])


_FILES = {"train": "train_blocks.npy", "val": "val_blocks.npy", "train_mask": "train_mask.npy", "val_mask": "val_mask.npy"}


def save_blocks(blocks: Blocks, folder: Path) -> None:
    """Cache the packed data in the run so --resume trains on exactly the same blocks."""
    for name, file in _FILES.items():
        if getattr(blocks, name) is not None:
            np.save(folder / file, getattr(blocks, name), allow_pickle=False)


def load_blocks(folder: Path) -> Blocks:
    found = {name: np.load(folder / file, allow_pickle=False) for name, file in _FILES.items() if (folder / file).is_file()}
    return Blocks(**found)


@functools.lru_cache(maxsize=4)
def _epoch_order(n_train: int, seed: int, epoch: int) -> np.ndarray:
    return torch.randperm(n_train, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).numpy()


def sample_indices(n_train: int, seed: int, start: int, count: int) -> np.ndarray:
    """Indices of global samples start..start+count-1: a fresh seeded permutation per epoch."""
    out = np.empty(count, dtype=np.int64)
    pos = 0
    while pos < count:
        k = start + pos
        epoch, offset = divmod(k, n_train)
        perm = _epoch_order(n_train, seed, epoch)
        take = min(count - pos, n_train - offset)
        out[pos:pos + take] = perm[offset:offset + take]
        pos += take
    return out


Batch = tuple[torch.Tensor, torch.Tensor | None]  # (ids (B, L) int64, target mask (B, L) bool or None)


def _rows(ids: np.ndarray, mask: np.ndarray | None, idx) -> Batch:
    return torch.from_numpy(ids[idx].astype(np.int64)), None if mask is None else torch.from_numpy(mask[idx])


def micro_rows(blocks: Blocks, seed: int, step: int, micro: int, grad_accum: int, batch_size: int,
               rank: int = 0, world: int = 1) -> Batch:
    """Ids (and target mask) of one micro-batch of one process at one optimizer step."""
    start = ((step * grad_accum + micro) * world + rank) * batch_size
    idx = sample_indices(len(blocks.train), seed, start, batch_size)
    return _rows(blocks.train, blocks.train_mask, idx)


def micro_batch(blocks: Blocks, seed: int, step: int, micro: int, grad_accum: int, batch_size: int,
                rank: int = 0, world: int = 1) -> torch.Tensor:
    """(batch_size, seq_len) int64 ids of one micro-batch of one process at one optimizer step."""
    return micro_rows(blocks, seed, step, micro, grad_accum, batch_size, rank, world)[0]


def val_batches(blocks: Blocks, batch_size: int, limit: int, train: bool = False) -> list[Batch]:
    """The first `limit` validation micro-batches (or training rows, in order), always the same ones."""
    ids, mask = (blocks.train, blocks.train_mask) if train else (blocks.val, blocks.val_mask)
    return [_rows(ids, mask, slice(i, i + batch_size)) for i in range(0, min(len(ids), batch_size * limit), batch_size)]
