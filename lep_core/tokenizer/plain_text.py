"""How plain text (a corpus, a held-out file) becomes the ids a model reads: one rule for every stage.

Training blocks, bits-per-char windows, calibration rows, generation prompts and the benches all read text
through these functions, so the model is trained on the same kind of input it is scored and used on.

1. **Text is text.** A special-token string inside a plain text (``<|im_end|>``, ``<s>``, ``<|endoftext|>``)
   is encoded as the characters it is made of, never as the control token: a corpus that quotes chat markers
   must not teach the model to emit end-of-turn mid-sentence. Chat data is different: its markers come from
   the chat template (training/chat.py), and are parsed there.
2. **A sequence starts the way the tokenizer starts one** (`sequence_start_ids`): with the ids its
   post-processor puts before a single text by default. That is the BOS of LLaMA-, Mistral- and Gemma-style
   tokenizers, and nothing for GPT-2-, Qwen- and SmolLM2-style ones (whose `bos_token`, when set, is not
   added). Every training block, every scoring window and every chat row begins with these ids; when there
   are none, the first token of a text is context only and is not scored.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator, Sequence

_PROBE = "a"
_UNIGRAM_CLONES: dict[int, tuple[object, object]] = {}  # id(backend) -> (backend, clone); a few at most


def _backend(tokenizer):
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def sequence_start_ids(tokenizer) -> list[int]:
    """The ids every sequence the model reads begins with: what the tokenizer itself puts before one text
    (``tokenizer(text)`` with its default ``add_special_tokens=True``), e.g. ``[bos_id]`` for LLaMA/Mistral,
    ``[]`` for SmolLM2/Qwen. Works for an HF fast tokenizer or a ``tokenizers.Tokenizer``."""
    backend = _backend(tokenizer)
    plain = backend.encode(_PROBE, add_special_tokens=False).ids
    full = backend.encode(_PROBE, add_special_tokens=True).ids
    for k in range(len(full) - len(plain) + 1):
        if full[k:k + len(plain)] == plain:
            return list(full[:k])
    return []


def _unigram_clone(backend):
    """A Unigram tokenizer keeps its special tokens as pieces too, so its Viterbi search matches `</s>` in
    text even with the added-token pass off: a copy whose special pieces are renamed to strings no text
    contains reads them as text. Same ids for everything else; built once per tokenizer."""
    cached = _UNIGRAM_CLONES.get(id(backend))
    if cached is not None and cached[0] is backend:
        return cached[1]
    from tokenizers import Tokenizer

    state = json.loads(backend.to_str())
    specials = {t["content"] for t in state.get("added_tokens", []) if t.get("special")}
    vocab = state["model"]["vocab"]
    if state["model"].get("unk_id") is not None:  # the unknown piece is never matched in text anyway
        specials.discard(vocab[state["model"]["unk_id"]][0])
    clone = backend
    if any(piece in specials for piece, _ in vocab):
        state["model"]["vocab"] = [[f"\uffff{i}\uffff" if p in specials else p, s] for i, (p, s) in enumerate(vocab)]
        clone = Tokenizer.from_str(json.dumps(state))
    if len(_UNIGRAM_CLONES) >= 4:
        _UNIGRAM_CLONES.clear()
    _UNIGRAM_CLONES[id(backend)] = (backend, clone)
    return clone


def with_sequence_start(tokenizer, ids: Sequence[int]) -> list[int]:
    """`ids` (a rendered chat, a prompt) with `sequence_start_ids` in front unless they already begin with them
    (a chat template that writes `{{ bos_token }}` itself)."""
    head = sequence_start_ids(tokenizer)
    ids = list(ids)
    return ids if ids[:len(head)] == head else head + ids


@contextmanager
def _specials_as_text(backend) -> Iterator:
    """Encode special-token strings as ordinary text for the duration (restores the tokenizer's setting:
    transformers leaves `encode_special_tokens` as its last call set it)."""
    if type(backend.model).__name__ == "Unigram":
        backend = _unigram_clone(backend)
    before = backend.encode_special_tokens
    backend.encode_special_tokens = True
    try:
        yield backend
    finally:
        backend.encode_special_tokens = before


def encode_plain(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Ids of each text, special-token strings encoded as text, nothing added (one batched call).

    Added tokens that are not special (some tokenizers add ordinary words that way) still match, as they would
    in any text the tokenizer reads."""
    with _specials_as_text(_backend(tokenizer)) as backend:
        return [e.ids for e in backend.encode_batch(list(texts), add_special_tokens=False)]


def encode_plain_offsets(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids of one text as `encode_plain`, with each token's (start, end) character offsets."""
    with _specials_as_text(_backend(tokenizer)) as backend:
        enc = backend.encode(text, add_special_tokens=False)
    return enc.ids, enc.offsets


def special_strings(tokenizer) -> list[str]:
    """The texts of the tokenizer's special (control) tokens."""
    decoder = getattr(tokenizer, "added_tokens_decoder", None)
    if decoder is None:  # a bare tokenizers.Tokenizer
        decoder = _backend(tokenizer).get_added_tokens_decoder()
    return [t.content for t in decoder.values() if t.special and t.content]


def count_special_strings(tokenizer, text: str) -> int:
    """How many special-token strings occur in `text` (what the logs report: they were read as text)."""
    return sum(text.count(s) for s in special_strings(tokenizer) if s in text)
