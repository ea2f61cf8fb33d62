"""The copy task: the model is asked (through its chat template) to repeat a paragraph word for word.

Greedy replies are generated in left-padded batches (lep_core.evaluation.generation.greedy_batch). Scores: exact match
(the reply, stripped, equals the paragraph) and characters per generated token: a model whose tokenizer
writes Russian in fewer tokens copies the same paragraph in fewer steps (the point of LEP).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from lep_core.evaluation.generation import context_window, greedy_batch, prompt_ids
from lep_core.tokenizer.plain_text import encode_plain

INSTRUCTION = "Повтори дословно следующий текст, ничего не добавляя и не меняя:"


def copy_prompt(item: dict[str, Any]) -> str:
    return f"{item.get('instruction', INSTRUCTION)}\n\n{item['text']}"


def similarity(reply: str, text: str) -> float:
    """difflib's ratio of matching characters, 0..1: partial credit where exact match gives none."""
    return difflib.SequenceMatcher(None, reply.strip(), text.strip(), autojunk=False).ratio()


def copy_replies(model, tokenizer, items: list[dict[str, Any]], batch_size: int = 32,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Per item: {"reply", "tokens" (generated, up to and without EOS), "exact", "similarity"}.

    max new tokens per item: 1.25 × the paragraph's own token count + 8, so a model that copies never gets
    cut and one that rambles stops soon after; a model without a chat template continues the plain prompt.
    Generated in batches (generation.greedy_batch): several times faster on a CPU.
    """
    window = context_window(model, tokenizer)
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": copy_prompt(it)}], window)[0] for it in items]
    own = [len(ids) for ids in encode_plain(tokenizer, [it["text"] for it in items])]
    emitted, _ = greedy_batch(model, tokenizer, prompts, [int(1.25 * n) + 8 for n in own], batch_size,
                              progress=progress)
    out = []
    for item, ids in zip(items, emitted):
        reply = tokenizer.decode(ids, skip_special_tokens=True)
        out.append({"reply": reply, "tokens": len(ids), "exact": reply.strip() == item["text"].strip(),
                    "similarity": similarity(reply, item["text"])})
    return out
