"""What a tokenizer's vocabulary strings mean as bytes, for the three families LEP Studio supports.

- byte-level BPE (GPT-2, LLaMA-3, Qwen, SmolLM2): each character of a token stands for one byte;
- Metaspace BPE with byte fallback (LLaMA-2, Mistral): "▁" is a space, "<0xNN>" is one raw byte;
- Unigram (T5, XLM-R, SentencePiece unigram): as Metaspace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

BYTE_LEVEL = "byte_level_bpe"
METASPACE_BPE = "metaspace_bpe"
UNIGRAM = "unigram"
SPACE_MARK = "▁"
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """The GPT-2 byte <-> printable character table, inverted (character -> byte)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


@lru_cache(maxsize=1)
def byte_encoder() -> dict[int, str]:
    return {b: c for c, b in byte_decoder().items()}


def _contains(component: Any, kind: str) -> bool:
    if not component:
        return False
    if component.get("type") == kind:
        return True
    return any(_contains(c, kind) for c in component.get("pretokenizers", []) + component.get("decoders", []))


@dataclass(frozen=True)
class TokenizerShape:
    """The facts about a tokenizer.json that extension and decomposition depend on."""

    family: str
    model_type: str  # BPE | Unigram | WordPiece | WordLevel
    byte_fallback: bool

    @classmethod
    def of(cls, state: dict[str, Any]) -> "TokenizerShape":
        model = state["model"]
        model_type = model.get("type") or ("Unigram" if isinstance(model.get("vocab"), list) else "BPE")
        byte_level = _contains(state.get("pre_tokenizer"), "ByteLevel") or _contains(state.get("decoder"), "ByteLevel")
        if model_type == "BPE" and byte_level:
            family = BYTE_LEVEL
        elif model_type == "BPE":
            family = METASPACE_BPE
        elif model_type == "Unigram":
            family = UNIGRAM
        else:
            family = model_type.lower()
        return cls(family=family, model_type=model_type, byte_fallback=bool(model.get("byte_fallback")))


def tokenizer_state(tokenizer) -> dict[str, Any]:
    """The tokenizer.json of an HF fast tokenizer (or a tokenizers.Tokenizer) as a dict."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return json.loads(backend.to_str())


def shape_of(tokenizer) -> TokenizerShape:
    """Cheap version of TokenizerShape.of for a live tokenizer (no full JSON round trip of the vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    model_type = type(backend.model).__name__
    byte_level = "ByteLevel" in repr(backend.pre_tokenizer) or "ByteLevel" in repr(backend.decoder)
    state = {"model": {"type": model_type, "byte_fallback": getattr(backend.model, "byte_fallback", False)},
             "pre_tokenizer": {"type": "ByteLevel"} if byte_level else None, "decoder": None}
    return TokenizerShape.of(state)


@lru_cache(maxsize=1)
def _byte_translation() -> dict[int, str]:
    """str.translate table: byte-level symbol -> the latin-1 character of its byte; any other
    character below 256 -> U+FFFF, so that encoding to latin-1 fails for pieces that are not byte-level."""
    table = {c: "\uffff" for c in range(256)}
    table.update({ord(ch): chr(b) for ch, b in byte_decoder().items()})
    return table


def piece_bytes(piece: str, family: str) -> bytes:
    """The bytes a vocabulary string stands for (special tokens excluded: see token_bytes)."""
    if family == BYTE_LEVEL:
        try:  # translate + latin-1 runs in C: this is called for every token of a 128k vocabulary
            return piece.translate(_byte_translation()).encode("latin-1")
        except UnicodeEncodeError:  # not a byte-level symbol (an added token stored verbatim)
            return piece.encode("utf-8")
    match = _BYTE_PIECE.match(piece)
    if match:
        return bytes([int(match.group(1), 16)])
    return piece.replace(SPACE_MARK, " ").encode("utf-8")


def id_to_piece(tokenizer) -> list[str | None]:
    """Vocabulary string of every id 0..max_id (None where an id is unused)."""
    vocab = tokenizer.get_vocab()
    pieces: list[str | None] = [None] * (max(vocab.values()) + 1)
    for piece, idx in vocab.items():
        pieces[idx] = piece
    return pieces


def token_bytes(tokenizer, pieces: list[str | None] | None = None) -> tuple[list[bytes], list[bool]]:
    """Bytes of every id and whether it is an added/special token (whose text is taken verbatim).

    pieces: id_to_piece(tokenizer) when the caller has it already (it costs a full vocabulary copy)."""
    family = shape_of(tokenizer).family
    pieces = id_to_piece(tokenizer) if pieces is None else pieces
    added = set(tokenizer.added_tokens_decoder)
    is_added = [idx in added for idx in range(len(pieces))]
    out = [b"" if piece is None else piece.encode("utf-8") if special else piece_bytes(piece, family)
           for piece, special in zip(pieces, is_added)]
    return out, [special and piece is not None for piece, special in zip(pieces, is_added)]
