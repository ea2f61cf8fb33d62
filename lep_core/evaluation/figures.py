"""The figures of generated text, defined once (issue 25): how much of a given line a reply reproduced, and
how many generation steps the reply took against what the original tokenizer would need for it.

Used by the adaptation bench (chat answers, copy and continuation tasks), the Compare tab's token view and
`lep compare`. Definitions, for one reply `out` (the decoded text of the ids the model emitted, end-of-turn and
other special tokens left out) to a line `line`:

- **copy recall** = LCS(line, out) / len(line): the longest common subsequence of *characters* of the two
  texts (both stripped of leading and trailing whitespace), over the line's length. It is the share of the
  line's characters that the reply reproduces in order; text the reply adds (a preamble, quotes, a second
  copy) costs nothing, a dropped or changed word costs its characters. 1.0 = every character, in order.
- **exact copy**: the stripped line occurs verbatim in the reply.
- **tokens emitted** (`generated_tokens`): the ids the model wrote = its generation steps (one id per step).
- **new-vocabulary share** (`new_vocab_share`): emitted ids that the original tokenizer's vocabulary lacks,
  over tokens emitted.
- **generation steps saved** (`original_tokens_over_emitted`): the ids the *original* tokenizer needs for the
  same texts (encoded as plain text, lep_core.tokenizer.plain_text) over the tokens emitted. The body is
  the same, so a step costs the same: this is the gain in steps for the same characters. The original model
  scores 1.0 when it writes as its tokenizer spells.
- **written ÷ canonical** (`emitted_over_canonical`): tokens emitted over the ids the model's *own*
  tokenizer uses for the same texts; 1.0 = it writes the spelling its tokenizer produces, above 1 = it spells
  with smaller pieces than its tokenizer would.
- **generated chars/s**: characters of the replies over the wall seconds of the `generate` calls.

Sums are taken over all replies before dividing (a long reply weighs more than a short one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

from lep_core.tokenizer.plain_text import encode_plain


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence of characters of `a` and `b`, O(len(a) * len(b) / 64).

    Bit-parallel: one bit per character of `a`, one big-integer step per character of `b` (Allison & Dix 1986,
    in the form of Hyyrö 2004: U = V & M[c]; V = (V + U) | (V - U); the LCS is the number of zero bits of V).
    """
    if not a or not b:
        return 0
    mask = (1 << len(a)) - 1
    match: dict[str, int] = {}
    for i, ch in enumerate(a):
        match[ch] = match.get(ch, 0) | (1 << i)
    v = mask
    for ch in b:
        u = v & match.get(ch, 0)
        v = ((v + u) | (v - u)) & mask
    return len(a) - v.bit_count()


def copy_recall(line: str, out: str) -> float:
    """LCS(line, out) / len(line), both stripped; 0.0 for an empty line (see the module docstring)."""
    line, out = line.strip(), out.strip()
    return lcs_length(line, out) / len(line) if line else 0.0


def exact_copy(line: str, out: str) -> bool:
    """The stripped line occurs verbatim in the reply."""
    return bool(line.strip()) and line.strip() in out


@dataclass
class Written:
    """Replies of one model: their texts, the ids it emitted for each (specials left out) and the seconds."""

    texts: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0


@functools.lru_cache(maxsize=8)
def new_vocabulary(tokenizer, original_tokenizer) -> frozenset[int]:
    """Ids of `tokenizer` whose vocabulary string the original tokenizer does not have (all of one set).

    Remembered per pair of loaded tokenizers (the cache holds them, so a pair is never confused with a later one
    that reuses their memory): Compare asks for every reply, and a vocabulary is tens of thousands of strings."""
    old = set(original_tokenizer.get_vocab())
    return frozenset(i for piece, i in tokenizer.get_vocab().items() if piece not in old)


def token_figures(written: Written, tokenizer, original_tokenizer, new_ids: Collection[int]) -> dict[str, Any]:
    """tokens emitted, new-vocabulary share, steps saved and written ÷ canonical of `written` (module docstring).

    tokenizer: the writing model's own; original_tokenizer: the original model's; new_ids: ids of `tokenizer`
    the original lacks (empty for the original model). The two ratios are None when nothing was emitted."""
    emitted = sum(len(ids) for ids in written.ids)
    texts = [t for t in written.texts if t]
    canonical = sum(len(ids) for ids in encode_plain(tokenizer, texts)) if texts else 0
    original = sum(len(ids) for ids in encode_plain(original_tokenizer, texts)) if texts else 0
    return {
        "generated_tokens": emitted,
        "new_vocab_share": sum(1 for ids in written.ids for t in ids if t in new_ids) / emitted if emitted else 0.0,
        "original_tokens": original,
        "original_tokens_over_emitted": original / emitted if emitted else None,
        "emitted_over_canonical": emitted / canonical if canonical else None,
    }


def speed_figures(written: Written) -> dict[str, Any]:
    """generated chars, chars per emitted token and chars/s of `written`."""
    emitted = sum(len(ids) for ids in written.ids)
    chars = sum(len(t) for t in written.texts)
    return {"generated_chars": chars, "seconds": round(written.seconds, 3),
            "chars_per_generated_token": chars / emitted if emitted else 0.0,
            "generated_chars_per_s": chars / written.seconds if written.seconds else 0.0,
            "generated_tokens_per_s": emitted / written.seconds if written.seconds else 0.0}


def copy_figures(lines: Sequence[str], written: Written) -> dict[str, Any]:
    """Copy recall over all lines (sum of LCS / sum of line lengths) and the number of exact copies of the
    replies `written.texts` to `lines` (same order)."""
    pairs = [(line.strip(), out.strip()) for line, out in zip(lines, written.texts)]
    chars = sum(len(line) for line, _ in pairs)
    return {"lines": len(pairs), "copy_recall": sum(lcs_length(line, out) for line, out in pairs) / chars if chars else 0.0,
            "exact_copies": sum(exact_copy(line, out) for line, out in pairs)}


def reply_steps(reply, tokenizer, original_tokenizer, new_ids: Collection[int] | None = None) -> dict[str, Any]:
    """One chat reply's token figures (what Compare shows under each reply and `lep compare` prints): the ids it
    emitted, the ids the original tokenizer needs for its text, their ratio, and how many ids are new.
    new_ids: `new_vocabulary(tokenizer, original_tokenizer)` when the caller has it already (else computed)."""
    if new_ids is None:
        new_ids = new_vocabulary(tokenizer, original_tokenizer)
    figures = token_figures(Written([reply.text], [list(reply.ids)], reply.seconds), tokenizer, original_tokenizer,
                            new_ids)
    return {"emitted_tokens": figures["generated_tokens"], "original_tokens": figures["original_tokens"],
            "new_tokens": round(figures["new_vocab_share"] * figures["generated_tokens"]),
            "original_tokens_over_emitted": figures["original_tokens_over_emitted"]}
