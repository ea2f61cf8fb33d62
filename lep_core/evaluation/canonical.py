"""Canonical decoding: never emit a token that makes the reply a spelling the model's own tokenizer never produces.

Why: a tokenizer writes each text one way (its canonical encoding), so a model is only ever trained on those
spellings, yet at decode time it may emit another one: an extended model can write a listed whole word as its
old pieces ("Ġпри" + "вет" where the tokenizer writes "Ġпривет"). Vieira et al. (ICML 2025, "Language Models
over Canonical Byte-Pair Encodings") call forcing canonical output *canonicality by conditioning*; Chatzi et
al. (2025, "Canonical Autoregressive Generation") show that, for BPE, each prefix of a canonical sequence is
canonical, so masking at each step the tokens whose addition makes the prefix non-canonical is enough.

How (per row and step): the reply so far plus a candidate token is decoded and encoded again *mid-text*, as the
tokenizer reads a reply inside a conversation (after an anchor, lep_core.tokenizer.analysis.encode_in_context:
a SentencePiece-style tokenizer adds no word-start mark there and its decoder strips no leading space); the
candidate is kept when that gives the same ids. Candidates are tried in the model's order: greedy decoding
stops at the first canonical one, sampling keeps the canonical ones among the `top_k` likeliest (the rest are
masked); when none of those is canonical, the search goes on down the vocabulary. A reply that ends inside a
character (byte tokens of a character not yet complete) is judged on its complete part; its open tail must be
how the tokenizer itself begins some character, and only that character's continuations are tried next. When
no candidate at all is canonical the row is left as the model wrote it and counted in `fallbacks` (whole-word
lookup makes a prefix of an unlisted word that spells a listed one look non-canonical, so dead ends are
possible, if rare).

Costs one decode + encode of the reply per candidate tried: small against a forward pass of the model.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

from lep_core.tokenizer.analysis import ANCHOR, encode_in_context

OPEN = "\ufffd"  # what decoding shows for the bytes of a character not yet complete


class CanonicalChecker:
    """Is a reply's id sequence a prefix the tokenizer would write? (see the module docstring)"""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.anchor = tokenizer(ANCHOR, add_special_tokens=False)["input_ids"]
        self.anchor_text = self._decode(self.anchor)
        self.next_ids = _open_prefixes(tokenizer, self.text)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def text(self, ids: list[int]) -> str:
        """The text of `ids` as it reads mid-text (after the anchor, so no leading space is stripped)."""
        return self._decode(self.anchor + list(ids))[len(self.anchor_text):]

    def open_start(self, ids: list[int]) -> int:
        """k such that ids[k:] spell a character not yet complete (k = len(ids) when the text ends whole)."""
        k = len(ids)
        while k > 0 and self.text(ids[:k]).endswith(OPEN):
            k -= 1
        return k

    def canonical(self, ids: list[int]) -> bool:
        """True when `ids` (specials left out) is the tokenizer's own spelling of its text (mid-text), or is that
        spelling followed by the first pieces of the tokenizer's own spelling of one character not yet complete."""
        k = self.open_start(ids)
        if k == len(ids):
            return encode_in_context(self.tokenizer, [self.text(ids)])[0] == list(ids)
        return tuple(ids[k:]) in self.next_ids and (k == 0 or self.canonical(ids[:k]))

    def continuations(self, ids: list[int]) -> set[int] | None:
        """The ids that may follow a reply ending inside a character (those of the tokenizer's own spellings of
        the characters that begin so), or None when the reply ends whole."""
        k = self.open_start(ids)
        return None if k == len(ids) else set(self.next_ids.get(tuple(ids[k:]), ()))


def _open_prefixes(tokenizer, decode) -> dict[tuple[int, ...], frozenset[int]]:
    """{ids with which the tokenizer itself begins a character it spells in pieces: the ids that follow them in
    such a spelling}. From its mid-text spelling of every character of the Basic Multilingual Plane, alone and
    after a space (one batched call); a prefix counts when it decodes to a character not yet complete."""
    chars = [chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    out: dict[tuple[int, ...], set[int]] = {}
    for ids in encode_in_context(tokenizer, chars + [" " + c for c in chars]):
        for k in range(1, len(ids)):
            prefix = tuple(ids[:k])
            if prefix in out or decode(ids[:k]).endswith(OPEN):
                out.setdefault(prefix, set()).add(ids[k])
    return {prefix: frozenset(after) for prefix, after in out.items()}


@functools.lru_cache(maxsize=4)
def checker_for(tokenizer) -> CanonicalChecker:
    return CanonicalChecker(tokenizer)


class CanonicalDecoding:
    """A factory of logits processors for `generate` (call it with the index where the replies start and the
    end-of-reply ids), and the count of steps where no candidate was canonical."""

    def __init__(self, tokenizer, greedy: bool = True, top_k: int = 64) -> None:
        self.checker = checker_for(tokenizer)
        self.greedy, self.top_k = greedy, top_k
        self.fallbacks = 0

    def __call__(self, start: int, eos: list[int]) -> list[Any]:
        return [_Processor(self, start, set(eos))]


def canonical_processors(tokenizer, greedy: bool = True) -> CanonicalDecoding:
    return CanonicalDecoding(tokenizer, greedy)


def _ordered(checker: CanonicalChecker, reply: list[int], scores) -> Iterator[int]:
    """Candidate ids, likeliest first: inside a character only its possible continuations (no end of reply),
    else the whole vocabulary, sorted in chunks as far as it is read."""
    import torch

    after = checker.continuations(reply)
    if after is not None:
        yield from sorted(after, key=lambda t: -float(scores[t]) if t < scores.shape[0] else float("inf"))
        return
    order = torch.argsort(scores, descending=True)
    for start in range(0, order.shape[0], 256):
        yield from order[start:start + 256].tolist()


def _mask_row(decoding: CanonicalDecoding, reply: list[int], scores, eos: set[int]) -> None:
    """Set every candidate of one row to -inf but the canonical ones kept (in place): greedy keeps the first
    canonical candidate, sampling the canonical ones among the `top_k` likeliest (or, when there are none, the
    first canonical one further down). The end of the reply counts as canonical, other special tokens do not
    (the reply's text would skip them). Counts a fallback when no candidate at all is canonical."""
    checker = decoding.checker
    keep: list[int] = []
    for tried, t in enumerate(_ordered(checker, reply, scores)):
        if keep and (decoding.greedy or tried >= decoding.top_k):
            break
        if t >= scores.shape[0]:
            continue
        if scores[t] == float("-inf"):  # ruled out already (top-p, minimum length), and so is all that follows
            break
        if t in eos or (t not in checker.special and checker.canonical(reply + [t])):
            keep.append(t)
    if not keep:
        decoding.fallbacks += 1
        return
    kept = scores[keep].clone()
    scores.fill_(float("-inf"))
    scores[keep] = kept


class _Processor:
    """transformers LogitsProcessor: (input_ids (batch, length), scores (batch, vocab)) -> scores."""

    def __init__(self, decoding: CanonicalDecoding, start: int, eos: set[int]) -> None:
        self.decoding, self.start, self.eos = decoding, start, eos

    def __call__(self, input_ids, scores):
        for row in range(scores.shape[0]):
            generated = input_ids[row, self.start:].tolist()
            if any(t in self.eos for t in generated):  # this row has ended (end of reply, then padding)
                continue
            _mask_row(self.decoding, generated, scores[row], self.eos)
        return scores
