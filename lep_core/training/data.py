"""Corpus -> fixed-length token blocks, a held-out split, and a batch order that is a pure function of (seed, step).

Because batch k is computed from the seed and k alone, a resumed run reads exactly the
batches the uninterrupted run would have read.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from lep_core.corpus.reading import read_corpus
from lep_core.errors import LepInputError
from lep_core.tokenizer.plain_text import encode_plain, sequence_start_ids
from lep_core.workspace.atomic import clone_file

_ENCODE_BATCH = 2048


def tokenize_corpus(tokenizer, paths: Iterable[str | os.PathLike]) -> np.ndarray:
    """All corpus tokens in order, documents (lines) encoded in batches; eos between files' texts is not added.

    Text is text (lep_core.tokenizer.plain_text): special-token strings in the corpus are encoded as characters.
    The whole-text reference of the rule that lep_core.corpus.token_cache applies while streaming."""
    return _tokens(tokenizer, read_corpus(paths))


def _tokens(tokenizer, text: str) -> np.ndarray:
    lines = text.splitlines(keepends=True)
    chunks: list[np.ndarray] = []
    for start in range(0, len(lines), _ENCODE_BATCH):
        encoded = encode_plain(tokenizer, lines[start:start + _ENCODE_BATCH])
        chunks.extend(np.asarray(ids, dtype=np.int32) for ids in encoded if ids)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)


def text_blocks(tokenizer, paths: Iterable[str | os.PathLike], seq_len: int, val_fraction: float,
                seed: int, cache: str | os.PathLike | None = None,
                progress: Callable[[int, int], None] | None = None) -> tuple["Blocks", dict[str, Any]]:
    """The run's blocks from a plain-text corpus, each starting with `sequence_start_ids` (the BOS of
    LLaMA/Mistral-style tokenizers), and what the log reports: special-token strings read as text, the corpus
    size, whether the token cache was reused.

    The corpus is tokenized once into the token cache (lep_core.corpus.token_cache, under `cache` or its
    default root) and memory-mapped: the blocks are views on the map, so memory does not grow with the
    corpus, and a later run on the same corpus and tokenizer reads no text. progress(bytes read, bytes total)
    follows the tokenizing."""
    from lep_core.corpus.token_cache import cached_tokens

    entry = cached_tokens(tokenizer, paths, cache, progress)
    start = sequence_start_ids(tokenizer)
    blocks = pack(entry.tokens, seq_len, val_fraction, seed, start)
    return blocks, {"blocks": len(blocks.train) + len(blocks.val), "sequence_start": start,
                    "special_strings_as_text": entry.meta["special_strings_as_text"],
                    "normalised": entry.meta.get("normalised"),  # NFC / LF rewrites (lep_core.corpus.text)
                    "corpus_bytes": entry.meta["bytes"], "corpus_tokens": entry.meta["tokens"],
                    "token_cache": {"key": entry.meta["key"], "reused": entry.reused, "path": str(entry.folder)}}


class TokenRows:
    """Packed blocks as a view on a 1-D token array (a memory map): row r of the view is
    `start` + tokens[b * body:(b + 1) * body] with b = rows[r] and body = seq_len - len(start).

    Indexing (an int array, a slice, an int) returns a numpy array of shape (k, seq_len) (or (seq_len,)), read
    from the map on demand; len() is the number of rows. Behaves like the (n, seq_len) array pack() used to
    build, without holding the corpus in memory."""

    def __init__(self, tokens: np.ndarray, rows: np.ndarray, seq_len: int, start: Sequence[int] = ()):
        self.tokens, self.rows, self.start = tokens, np.asarray(rows, dtype=np.int64), tuple(int(s) for s in start)
        self.body = seq_len - len(self.start)
        self.dtype = tokens.dtype

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.body + len(self.start))

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __getitem__(self, idx) -> np.ndarray:
        single = np.ndim(idx) == 0 and not isinstance(idx, slice)
        blocks = np.atleast_1d(self.rows[idx])
        offsets = blocks[:, None] * self.body + np.arange(self.body)[None, :]
        out = np.asarray(self.tokens[offsets.ravel()]).reshape(len(blocks), self.body)
        if self.start:
            out = np.concatenate([np.tile(np.asarray(self.start, dtype=out.dtype), (len(blocks), 1)), out], axis=1)
        return out[0] if single else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def tolist(self) -> list:
        return self[:].tolist()


@dataclass
class Blocks:
    """Packed blocks split into train and validation, shape (n, seq_len) each: TokenRows views on the token
    cache's memory map for text corpora, int32 arrays for chat data.

    Chat data adds target masks of the same shape (True where the token is scored: the answers);
    text blocks have none, and every next token is scored.
    """

    train: "np.ndarray | TokenRows"
    val: "np.ndarray | TokenRows"
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])


def pack(tokens: np.ndarray, seq_len: int, val_fraction: float, seed: int, start: Sequence[int] = ()) -> Blocks:
    """Cut into blocks of seq_len, each `start` + the next seq_len - len(start) text tokens (the tail shorter
    than a block is dropped); hold out a seeded share. The blocks are TokenRows views on `tokens` (a memory
    map stays on disk); block i of train is the same block, in the same order, as before the cache."""
    body = seq_len - len(start)
    n = len(tokens) // body if body > 0 else 0
    if n < 1:
        raise LepInputError(
            f"the corpus has {len(tokens)} tokens, fewer than one block of --seq-len {seq_len}: "
            "add more text or lower --seq-len"
        )
    train, val = split_order(n, val_fraction, seed)
    return Blocks(train=TokenRows(tokens, train, seq_len, start), val=TokenRows(tokens, val, seq_len, start))


def split_order(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows in seeded order, held-out rows sorted): at least one held out when asked and n >= 2."""
    n_val = int(round(n * val_fraction)) if n >= 2 else 0
    n_val = min(n_val, n - 1)
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return order[n_val:], np.sort(order[:n_val])


def split(rows: np.ndarray, mask: np.ndarray | None, val_fraction: float, seed: int) -> Blocks:
    """Hold out a seeded share of the rows (at least one when asked and there are two or more)."""
    train, val = split_order(len(rows), val_fraction, seed)
    if mask is None:
        return Blocks(train=rows[train], val=rows[val])
    return Blocks(train=rows[train], val=rows[val], train_mask=mask[train], val_mask=mask[val])


_FILES = {"train": "train_blocks.npy", "val": "val_blocks.npy", "train_mask": "train_mask.npy", "val_mask": "val_mask.npy"}


_VIEW, _VIEW_TOKENS = "token_rows.json", "tokens.bin"


def save_blocks(blocks: Blocks, folder: Path) -> None:
    """Keep the packed data in the run so --resume trains on exactly the same blocks, reading no text.

    Views on the token cache keep their row order (train_rows.npy, val_rows.npy) and a copy of the token file
    (a reflink where the filesystem has them): never a hard link, so editing the run's copy cannot corrupt the
    shared cache entry, and the run survives a cleared cache."""
    if isinstance(blocks.train, TokenRows):
        view = blocks.train
        source = Path(view.tokens.filename) if isinstance(view.tokens, np.memmap) else None
        target = folder / _VIEW_TOKENS
        target.unlink(missing_ok=True)
        if source is not None:
            clone_file(source, target)
        else:
            np.asarray(view.tokens).tofile(target)
        np.save(folder / "train_rows.npy", view.rows, allow_pickle=False)
        np.save(folder / "val_rows.npy", blocks.val.rows, allow_pickle=False)
        meta = {"dtype": view.dtype.name, "tokens": len(view.tokens), "seq_len": view.shape[1], "start": list(view.start)}
        (folder / _VIEW).write_text(json.dumps(meta), encoding="utf-8")  # last: the view is complete once it exists
        return
    for name, file in _FILES.items():
        if getattr(blocks, name) is not None:
            np.save(folder / file, getattr(blocks, name), allow_pickle=False)


def load_blocks(folder: Path) -> Blocks:
    """The run's packed data back (--resume). A token file whose size is not what token_rows.json says (cut short
    or edited) is refused in one line, never memory-mapped."""
    if (folder / _VIEW).is_file():
        meta = json.loads((folder / _VIEW).read_text(encoding="utf-8"))
        n, dtype = int(meta["tokens"]), np.dtype(meta["dtype"])
        size = (folder / _VIEW_TOKENS).stat().st_size if (folder / _VIEW_TOKENS).is_file() else 0
        if size != n * dtype.itemsize:
            raise LepInputError(f"{folder / _VIEW_TOKENS} has {size} bytes, the run recorded {n} tokens "
                                f"({n * dtype.itemsize} bytes): the run's data was changed; start a new run")
        tokens = np.memmap(folder / _VIEW_TOKENS, dtype=dtype, mode="r", shape=(n,))
        rows = {name: np.load(folder / f"{name}_rows.npy", allow_pickle=False) for name in ("train", "val")}
        return Blocks(**{name: TokenRows(tokens, r, meta["seq_len"], meta["start"]) for name, r in rows.items()})
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
