"""Batched log-probabilities of text continuations: the scoring primitive of the evaluation suite.

log p(continuation | context) = Σ log p(token | previous tokens) over the continuation's tokens, the way
lm-evaluation-harness scores loglikelihood requests: the context and context+continuation are encoded,
and the continuation's tokens are the tail of the whole encoding past the context's tokens (so a word
split differently at the boundary is still the same text). Every sequence starts as bits-per-char scoring
starts one (lep_core.evaluation.bpc.scoring_ids, the plain-text rule of tokenizer/plain_text.py): with the
tokenizer's BOS the first token is scored too; a tokenizer that adds none (SmolLM2, Qwen) makes it context only.

Sequences are sorted by length and padded (right) into batches of at most `batch_tokens` padded tokens:
one forward pass per batch, log-softmax taken as logit − logsumexp so no (B, L, V) float64 copy is made.
"""

from __future__ import annotations

from typing import Callable

from lep_core.evaluation.bpc import scoring_ids
from lep_core.evaluation.generation import context_window

Progress = Callable[[int, int], None]


def encode_request(tokenizer, context: str, continuation: str, window: int) -> tuple[list[int], int]:
    """(ids, first scored position): ids = start + tokens of context+continuation, left-truncated to `window`."""
    whole = scoring_ids(tokenizer, context + continuation)[0]
    n_ctx = len(scoring_ids(tokenizer, context)[0]) if context else 1
    n_ctx = min(n_ctx, len(whole) - 1)  # a boundary merge can swallow the continuation's first token: score ≥ 1
    if len(whole) > window:  # keep the end (the continuation), as the harness does
        cut = len(whole) - window
        whole, n_ctx = whole[cut:], max(1, n_ctx - cut)
    return whole, n_ctx


def batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped longest first so that rows × longest row ≤ batch_tokens (at least one row each)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and (len(out[-1]) + 1) * lengths[out[-1][0]] <= batch_tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def continuation_logprobs(model, tokenizer, requests: list[tuple[str, str]], batch_tokens: int = 4096,
                          progress: Progress | None = None) -> list[tuple[float, int]]:
    """(Σ log p in nats, tokens scored) of each continuation given its context, in request order.

    requests: (context, continuation) pairs; context "" scores the whole text from the start token.
    Cost: one forward per batch of (B, L) tokens, logits (B, L, V) in the model's dtype, reduced in float32
    (float64 for float64 models) and summed in float64. Raises LepInputError (from scoring_ids) on an empty continuation.
    """
    import torch

    window = context_window(model, tokenizer)
    encoded = [encode_request(tokenizer, ctx, cont, window) for ctx, cont in requests]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results: list[tuple[float, int]] = [(0.0, 0)] * len(requests)
    groups = batches([len(ids) for ids, _ in encoded], batch_tokens)
    done = 0
    with torch.inference_mode():
        for group in groups:
            longest = len(encoded[group[0]][0])
            ids = torch.full((len(group), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(group), longest), dtype=torch.long)
            scored = torch.zeros((len(group), longest - 1), dtype=torch.bool)  # position t predicts token t+1
            for row, i in enumerate(group):
                seq, first = encoded[i]
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
                scored[row, first - 1: len(seq) - 1] = True
            ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]  # (B, L-1, V)
            if logits.dtype != torch.float64:  # bf16/fp16 reduced in float32; float64 models keep their precision
                logits = logits.float()
            target = logits.gather(-1, ids[:, 1:, None])[..., 0]  # (B, L-1)
            logp = (target - torch.logsumexp(logits, dim=-1)).double() * scored
            totals, counts = logp.sum(dim=1).tolist(), scored.sum(dim=1).tolist()
            for row, i in enumerate(group):
                results[i] = (totals[row], int(counts[row]))
            done += len(group)
            if progress:
                progress(done, len(requests))
    return results
