"""Bits-per-character and chars/token on a held-out text: a tokenizer-independent score.

Perplexity per token cannot compare models whose tokenizers cut text differently; the summed
log-likelihood of the whole text can. bits/char = -Σ log2 p(token | context) / characters.
Long texts are scored with a sliding window over the model's context: each window re-reads
the tail of the previous one as context and scores only its new tokens, so every token is
scored exactly once.

The text is read as training reads it (lep_core.tokenizer.plain_text): special-token strings are text, and
every window starts with `sequence_start_ids` (the BOS of LLaMA/Mistral-style tokenizers). A tokenizer that
adds nothing before a text (SmolLM2, Qwen) leaves the first token as context only: bits-per-char then
counts the characters after it.

Characters are counted by the one rule of lep_core.corpus.text (code points of the NFC text with LF line ends,
newlines included); callers pass text from the readers (lep_core.corpus.reading), which put it in that form, so
`lep eval`, `lep tokenizer stats`, the adaptation bench, the suite and the app divide by the same number.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from lep_core.corpus.text import count_chars, normalize
from lep_core.errors import LepInputError
from lep_core.evaluation.generation import context_window
from lep_core.tokenizer.plain_text import encode_plain_offsets, sequence_start_ids


@dataclass
class TextScore:
    chars: int
    tokens: int  # tokens of the text itself (no special tokens)
    scored_tokens: int
    nll_nats: float  # summed negative log-likelihood of the scored tokens
    prefill_seconds: float | None = None
    scored_chars: int | None = None  # characters of the scored tokens (all, when a BOS starts the text)

    @property
    def bits_per_char(self) -> float:
        return self.nll_nats / math.log(2) / (self.scored_chars or self.chars)

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens

    @property
    def prefill_chars_per_s(self) -> float | None:
        return self.chars / self.prefill_seconds if self.prefill_seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {"bits_per_char": self.bits_per_char, "chars_per_token": self.chars_per_token,
                "prefill_chars_per_s": self.prefill_chars_per_s, "tokens": self.tokens, "chars": self.chars,
                "scored_tokens": self.scored_tokens, "scored_chars": self.scored_chars or self.chars,
                "nll_nats": self.nll_nats}


def scoring_ids(tokenizer, text: str) -> tuple[list[int], int, int]:
    """Ids to feed (`sequence_start_ids` + the text's own ids, special-token strings read as text), how many
    of them are the text's own tokens, and how many characters the scored tokens cover (all of the text with a
    BOS; without one, the first token is context only)."""
    if not text:
        raise LepInputError("the text is empty: pass a file with text in it")
    ids, offsets = encode_plain_offsets(tokenizer, text)
    start = sequence_start_ids(tokenizer)
    scored_chars = count_chars(text) if start or len(ids) < 2 else count_chars(text[offsets[1][0]:])
    return start + ids, len(ids), scored_chars


def windows(n: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first_target) spans: feed ids[begin:end], score positions first_target..end-1."""
    spans, scored_until, begin = [], 1, 0
    while scored_until < n:
        end = min(begin + window, n)
        spans.append((begin, end, scored_until))
        scored_until = end
        begin = max(0, end - (window - stride))
    return spans


def summed_nll(model, ids: list[int], window: int, stride: int, start: list[int] | None = None) -> tuple[float, int]:
    """Σ -log p over ids[1:] (nats, float64) and how many tokens were scored.

    ids begin with `start` (the sequence-start ids); every later window is fed after them too, so each window
    begins as the text does (and as training blocks do). window counts them."""
    import torch

    start = start or []
    device = next(model.parameters()).device
    total, scored = 0.0, 0
    with torch.inference_mode():
        for begin, end, first in windows(len(ids), window - len(start), stride):
            head = start if begin > 0 else []
            chunk = torch.tensor([head + ids[begin:end]], device=device)
            logits = model(input_ids=chunk).logits[0].double()  # (L, V)
            logp = torch.log_softmax(logits, dim=-1)
            shift = len(head) - begin  # position in chunk = position in ids + shift
            targets = chunk[0, first + shift:]
            picked = logp[first + shift - 1: end + shift - 1].gather(1, targets[:, None])
            total -= float(picked.sum())
            scored += targets.numel()
    return total, scored


def prefill_seconds(model, ids: list[int], window: int) -> float:
    """Time to read the text once, in disjoint blocks of `window` tokens (what prompt processing costs)."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        model(input_ids=torch.tensor([ids[: min(len(ids), 8)]], device=device))  # warm-up
        start = time.perf_counter()
        for begin in range(0, len(ids), window):
            model(input_ids=torch.tensor([ids[begin: begin + window]], device=device))
        if device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def score_text(model, tokenizer, text: str, window: int | None = None, stride: int | None = None,
               measure_speed: bool = True) -> TextScore:
    """Bits-per-char, chars/token and prefill chars/s of `text` under the model. The text is put in the one
    form first (lep_core.corpus.text.normalize; the readers have done it already, and then this costs a check)."""
    text = normalize(text)
    ctx = context_window(model, tokenizer)
    window = min(window or 1024, ctx)
    stride = stride or max(1, window // 2)
    if window < 2 or not 0 < stride <= window - 1:
        raise LepInputError(f"bad window {window} / stride {stride}: the stride must be between 1 and window - 1")
    ids, n_text, scored_chars = scoring_ids(tokenizer, text)
    if n_text == 0 or len(ids) < 2:
        raise LepInputError("the text has too few tokens to score: pass a file with more text in it")
    nll, scored = summed_nll(model, ids, window, stride, sequence_start_ids(tokenizer))
    seconds = prefill_seconds(model, ids, window) if measure_speed else None
    return TextScore(chars=count_chars(text), tokens=n_text, scored_tokens=scored, nll_nats=nll, prefill_seconds=seconds,
                     scored_chars=scored_chars)
