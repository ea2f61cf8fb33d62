"""The copy task: the model is asked (through its chat template) to repeat a paragraph word for word.

Greedy replies are generated in left-padded batches (one `generate` call per batch). Scores: exact match
(the reply, stripped, equals the paragraph) and characters per generated token: a model whose tokenizer
writes Russian in fewer tokens copies the same paragraph in fewer steps (the point of LEP).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from lep_core.evaluation.generation import _eos_ids, context_window, prompt_ids

INSTRUCTION = "Повтори дословно следующий текст, ничего не добавляя и не меняя:"


def copy_prompt(item: dict[str, Any]) -> str:
    return f"{item.get('instruction', INSTRUCTION)}\n\n{item['text']}"


def similarity(reply: str, text: str) -> float:
    """difflib's ratio of matching characters, 0..1: partial credit where exact match gives none."""
    return difflib.SequenceMatcher(None, reply.strip(), text.strip(), autojunk=False).ratio()


def copy_replies(model, tokenizer, items: list[dict[str, Any]], batch_size: int = 32,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Per item: {"reply", "tokens" (generated, up to and without EOS), "exact", "similarity"}.

    max new tokens per batch: 1.25 × the longest paragraph's own token count + 8, so a model that copies
    never gets cut and one that rambles stops soon after; a model without a chat template continues the
    plain prompt. On a CPU a decoding step costs about the same for 1 or 32 rows (reading the weights
    dominates), so big batches make the task several times faster.
    """
    import torch

    window = context_window(model, tokenizer)
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    device = next(model.parameters()).device
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": copy_prompt(it)}], window)[0] for it in items]
    own = [len(tokenizer(it["text"], add_special_tokens=False)["input_ids"]) for it in items]
    order = sorted(range(len(items)), key=lambda i: -len(prompts[i]))
    out: list[dict[str, Any]] = [{}] * len(items)
    for start in range(0, len(order), batch_size):
        group = order[start: start + batch_size]
        longest = max(len(prompts[i]) for i in group)
        ids = torch.full((len(group), longest), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(group):  # left padding: every prompt ends where generation starts
            ids[row, longest - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, longest - len(prompts[i]):] = 1
        max_new = min(int(1.25 * max(own[i] for i in group)) + 8, max(1, window - longest))
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                       max_new_tokens=max_new, eos_token_id=eos or None, pad_token_id=pad,
                                       temperature=None, top_p=None, top_k=None)[:, longest:].tolist()
        for row, i in enumerate(group):
            seq = generated[row]
            end = next((k for k, t in enumerate(seq) if t in eos), len(seq))
            reply = tokenizer.decode(seq[:end], skip_special_tokens=True)
            text = items[i]["text"]
            out[i] = {"reply": reply, "tokens": end, "exact": reply.strip() == text.strip(),
                      "similarity": similarity(reply, text)}
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return out
