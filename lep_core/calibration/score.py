"""Bits-per-character of the answers in a chat dataset, each read in its conversation, under one model.

Per-token loss cannot compare models whose tokenizers differ; the summed log-likelihood of the answer
tokens (end-of-turn marker included) over the answers' characters can. Every conversation is written
in the scored model's own chat template, so the original and the adapted model read the same text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from lep_core.evaluation.generation import context_window
from lep_core.training.chat import encode_conversations, read_conversations

LIMIT = 64  # conversations scored: enough for a stable figure, cheap on big datasets


def answer_bpc(model_src: str, paths: Iterable[str | os.PathLike], limit: int = LIMIT,
               model=None, tokenizer=None) -> dict[str, Any]:
    """{"bits_per_char", "answer_chars", "answer_tokens", "conversations"} over the first `limit` conversations."""
    import torch

    from lep_core.evaluation.models import pick_device
    from lep_core.sources.loading import load_model, load_tokenizer

    if model is None:
        tokenizer = load_tokenizer(model_src)
        model = load_model(model_src, dtype=torch.float32, device=pick_device())
    model.eval()
    conversations = read_conversations(paths)[:limit]
    rows = encode_conversations(tokenizer, conversations, context_window(model, tokenizer))
    device = next(model.parameters()).device
    nll, chars = 0.0, 0
    with torch.inference_mode():
        for ids, mask, n in zip(rows.ids, rows.mask, rows.index):
            end = int(mask.nonzero()[0][-1]) + 1  # the padding after the last answer is not read
            x = torch.from_numpy(ids[:end].astype("int64"))[None].to(device)
            scored = torch.from_numpy(mask[1:end]).to(device)
            logits = model(input_ids=x).logits[0, :-1][scored].float()  # (answer tokens, V): only what is scored
            targets = x[0, 1:][scored]
            picked = logits.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)
            nll -= float(picked.double().sum())
            chars += sum(len(m["content"]) for m in conversations[n]["messages"] if m["role"] == "assistant")
    return {"bits_per_char": nll / math.log(2) / max(chars, 1), "answer_chars": chars,
            "answer_tokens": rows.answer_tokens, "conversations": rows.kept}
