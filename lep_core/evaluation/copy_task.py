"""The copy and continuation tasks of the adaptation bench (issue 25): what a small English model *can* do in
Russian is repeat and continue the text it is given, so that is where "the same model, fewer generation steps"
is measured.

Items are held-out Russian lines: the text is cut into sentences (`heldout_lines`), and those of 40 to 200
characters are used, in order. Both models get the same prompt through their own chat template, greedy
decoding, and the same budget per line (`token_budget`: from the *original* tokenizer's length of the message
and the line, so the original can always finish it). The figures are defined in lep_core/evaluation/figures.py.

- copy: the suite's copy instruction (evaluation/suite/copying.py) followed by the line;
- continue: an instruction to continue, followed by the line's first half (cut at a space near the middle).
  The reply is free text: only the token figures apply (steps saved, new-vocabulary share, ...), and the
  recall of the line's first half says how much of the given text it repeats before going on.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from lep_core.evaluation.figures import Written, copy_figures, speed_figures, token_figures
from lep_core.evaluation.generation import context_window, greedy_batch, prompt_ids
from lep_core.evaluation.suite.copying import copy_prompt
from lep_core.tokenizer.plain_text import encode_plain

MIN_CHARS, MAX_CHARS = 40, 200
CONTINUE_INSTRUCTION = "Продолжи текст:"
BUDGET_MARGIN = 16
TASKS = ("copy", "continue")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(\w—–-])")

Progress = Callable[[float, str], None]


def heldout_lines(text: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[str]:
    """The text's sentences of min_chars..max_chars characters, in order (paragraphs are cut at . ! ? …
    followed by a space: a held-out paragraph is hundreds of characters, longer than a copy request)."""
    out = []
    for paragraph in text.splitlines():
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            if min_chars <= len(sentence.strip()) <= max_chars:
                out.append(sentence.strip())
    return out


def spread(items: list[str], limit: int | None) -> list[str]:
    """At most `limit` items taken evenly over the list (all of them when limit is None or larger)."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def first_half(line: str) -> str:
    """The line up to the space nearest its middle (the whole line when it has no space)."""
    spaces = [i for i, ch in enumerate(line) if ch == " "]
    if not spaces:
        return line
    return line[:min(spaces, key=lambda i: abs(i - len(line) / 2))]


def token_budget(original_tokenizer, task: str, lines: list[str]) -> list[int]:
    """Max new tokens per line, the same for both models: the original tokenizer's ids for the user message and
    for the line, + 16. So the original can write the line even after echoing the whole message first (the demo
    model often repeats the instruction before the text)."""
    messages = encode_plain(original_tokenizer, [task_prompt(task, line) for line in lines])
    return [len(m) + len(ids) + BUDGET_MARGIN for m, ids in zip(messages, encode_plain(original_tokenizer, lines))]


def task_prompt(task: str, line: str) -> str:
    """The user message of one item of `task` (copy or continue)."""
    if task == "copy":
        return copy_prompt({"text": line})
    return f"{CONTINUE_INSTRUCTION}\n\n{first_half(line)}"


def run_task(model, tokenizer, task: str, lines: list[str], budgets: list[int], batch_size: int = 8,
             processors=None, progress: Callable[[int, int], None] | None = None) -> Written:
    """Greedy replies of one model to every line of `task`, with the ids it emitted and the seconds."""
    window = context_window(model, tokenizer)
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": task_prompt(task, line)}], window)[0]
               for line in lines]
    ids, seconds = greedy_batch(model, tokenizer, prompts, budgets, batch_size, processors, progress)
    return Written(texts=[tokenizer.decode(i, skip_special_tokens=True) for i in ids], ids=ids, seconds=seconds)


def task_figures(task: str, lines: list[str], written: Written, tokenizer, original_tokenizer,
                 new_ids: set[int]) -> dict[str, Any]:
    """Every figure of one model on one task; for `continue`, recall is of the given first halves."""
    targets = lines if task == "copy" else [first_half(line) for line in lines]
    return {**copy_figures(targets, written), **token_figures(written, tokenizer, original_tokenizer, new_ids),
            **speed_figures(written), "samples": written.texts[:3]}
