"""The decomposition matrix M (W x V, sparse): each new token as a weighted set of old tokens.

Design §4 step 1. Row u holds the old tokens that the old tokenizer T produces for u's text, encoded
*in context* (after an anchor character that merges with nothing, so a leading space is encoded as
mid-sentence). Tokens that exist verbatim in T map to their old id. Tokens whose bytes are not
valid UTF-8 map to T's byte tokens. Encoding is one batched call; M is assembled from flat arrays.
Embedding init (mean) and LEP (conversion modes) both use it: new = M @ old.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from lep_core.tokenizer.analysis import ANCHOR  # noqa: F401 (ANCHOR: benches)
from lep_core.tokenizer.analysis import encode_in_context as _encode_in_context
from lep_core.tokenizer.vocab import BYTE_LEVEL, byte_encoder, id_to_piece, piece_bytes, shape_of, token_bytes

WEIGHTINGS = ("mean", "sum", "length", "first", "last")


@dataclass
class Decomposition:
    matrix: torch.Tensor  # sparse CSR (W, V_rows), float32
    lengths: torch.Tensor  # (W,) old tokens per row; 0 = nothing to build the row from
    direct: torch.Tensor  # (W,) bool: the new token is one old token, verbatim

    @property
    def num_new(self) -> int:
        return int(self.matrix.shape[0])

    def new_row_mask(self) -> torch.Tensor:
        """Rows that are not a copy of one old token: the rows extension adds."""
        return ~self.direct


def _direct_ids(new_tok, old_tok, new_pieces: list[str | None], old_vocab: dict[str, int]) -> list[int]:
    """Old id of each new id when the same vocabulary string exists in T (same family), else -1."""
    same_family = shape_of(new_tok).family == shape_of(old_tok).family
    out = [old_vocab.get(piece, -1) if same_family and piece is not None else -1 for piece in new_pieces]
    old_added = {t.content: i for i, t in old_tok.added_tokens_decoder.items()}
    for idx in new_tok.added_tokens_decoder:  # special tokens: by their text, in any family
        if idx < len(out) and new_pieces[idx] is not None:
            out[idx] = old_added.get(new_pieces[idx], old_vocab.get(new_pieces[idx], -1))
    return out


def _new_token_bytes(new_tok, new_pieces: list[str | None], ids: list[int]) -> list[bytes]:
    """Bytes of the given new ids only (an extension has a few thousand, not the whole vocabulary)."""
    family = shape_of(new_tok).family
    added = new_tok.added_tokens_decoder
    return [b"" if new_pieces[i] is None else new_pieces[i].encode("utf-8") if i in added
            else piece_bytes(new_pieces[i], family) for i in ids]


def _byte_rows(old_tok, raws: list[bytes]) -> list[list[int]]:
    """Old ids for bytes that are not valid UTF-8 on their own (pieces of a multi-byte character)."""
    if shape_of(old_tok).family == BYTE_LEVEL:
        table = byte_encoder()
        model = old_tok.backend_tokenizer.model
        return [[t.id for t in model.tokenize("".join(table[b] for b in raw))] for raw in raws]
    vocab = old_tok.get_vocab()
    return [[vocab[f"<0x{b:02X}>"] for b in raw if f"<0x{b:02X}>" in vocab] for raw in raws]


def decomposition_matrix(
    new_tok,
    old_tok,
    weighting: str = "mean",
    overlap_penalty: float = 1.0,
    old_rows: int | None = None,
) -> Decomposition:
    """M with rows = new ids, columns = old embedding rows (sparse CSR, float32).

    mean: 1/k on each of the k old ids; sum: 1; length: by byte length; first / last: 1 on the first / last old id
    only (the head row of the piece that starts / ends the new token's text). Raises ValueError for an unknown
    weighting or an old id beyond the old embeddings.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}: choose one of {WEIGHTINGS}")
    new_pieces = id_to_piece(new_tok)
    old_vocab = old_tok.get_vocab()
    direct_t = torch.tensor(_direct_ids(new_tok, old_tok, new_pieces, old_vocab), dtype=torch.int64)
    undecided = (direct_t < 0).nonzero().flatten().tolist()
    todo_text: list[int] = []
    texts: list[str] = []
    todo_bytes: list[int] = []
    raws: list[bytes] = []
    for idx, raw in zip(undecided, _new_token_bytes(new_tok, new_pieces, undecided)):
        if not raw:
            continue
        try:
            texts.append(raw.decode("utf-8"))
            todo_text.append(idx)
        except UnicodeDecodeError:
            todo_bytes.append(idx)
            raws.append(raw)
    built = _encode_in_context(old_tok, texts) + _byte_rows(old_tok, raws)

    # assemble the CSR arrays: direct rows hold one id, built rows their encoding, the rest nothing
    num_rows = len(new_pieces)
    num_cols = old_rows if old_rows is not None else max(old_vocab.values()) + 1
    built_rows = torch.tensor(todo_text + todo_bytes, dtype=torch.int64)
    built_len = torch.tensor([len(ids) for ids in built], dtype=torch.int64)
    lengths = (direct_t >= 0).to(torch.int64)
    lengths[built_rows] = built_len
    crow = torch.zeros(num_rows + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(lengths, 0)
    cols = torch.empty(int(crow[-1]), dtype=torch.int64)
    direct_rows = (direct_t >= 0).nonzero().flatten()
    cols[crow[direct_rows]] = direct_t[direct_rows]
    offsets = torch.arange(int(built_len.sum())) - torch.repeat_interleave(torch.cumsum(built_len, 0) - built_len, built_len)
    cols[torch.repeat_interleave(crow[built_rows], built_len) + offsets] = torch.tensor(
        [c for ids in built for c in ids], dtype=torch.int64)
    if cols.numel() and int(cols.max()) >= num_cols:
        raise ValueError(f"old tokenizer produced id {int(cols.max())} but the old embeddings have {num_cols} rows")
    row_of = torch.repeat_interleave(torch.arange(num_rows), lengths)
    if weighting == "sum":
        values = torch.ones(cols.numel())
    elif weighting == "length":
        old_bytes, _ = token_bytes(old_tok)
        size = torch.tensor([max(len(b), 1) for b in old_bytes], dtype=torch.float32)
        weight = size[cols]
        totals = torch.zeros(num_rows).index_add_(0, row_of, weight)
        values = weight / totals[row_of]
    elif weighting in ("first", "last"):
        position = torch.arange(cols.numel()) - crow[row_of]  # index of each old id within its row
        chosen = position == 0 if weighting == "first" else position == lengths[row_of] - 1
        values = chosen.to(torch.float32)
    else:
        values = 1.0 / lengths[row_of].to(torch.float32)
    single = lengths[row_of] == 1
    values = torch.where(single, torch.full_like(values, 1.0 / overlap_penalty), values)
    with warnings.catch_warnings():  # "sparse CSR is beta": the operations used here (mm, to_dense) are stable
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(crow, cols, values.to(torch.float32), size=(num_rows, num_cols))
    return Decomposition(matrix=matrix, lengths=lengths, direct=direct_t >= 0)
