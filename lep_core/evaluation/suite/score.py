"""Score one task on one model: a summary (score, n, per phenomenon) and one record per item.

minimal pairs: correct when log p(good) > log p(bad), both whole sentences from the start token (BLiMP);
multiple choice: the choice with the highest log p(" " + choice | question) per character wins
(lm-evaluation-harness's acc_norm by characters, so a shorter choice gains nothing from being short);
copy: exact match and characters per generated token; bpc: Σ −log2 p / characters over the task's texts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable

from lep_core.evaluation.bpc import score_text
from lep_core.evaluation.logprob import continuation_logprobs
from lep_core.evaluation.suite.copying import copy_replies
from lep_core.evaluation.suite.items import METRIC, Kind, Task

Progress = Callable[[int, int], None]
Scored = tuple[dict[str, Any], list[dict[str, Any]]]


def _rate(hits: list[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


def choice_context(question: str) -> tuple[str, str]:
    """(context, separator): the question, and a space before each choice unless the question ends a line."""
    return question, "" if question.endswith(("\n", " ")) else " "


def minimal_pairs(model, tokenizer, task: Task, batch_tokens: int, progress: Progress | None) -> Scored:
    texts = [t for it in task.items for t in (it["sentence_good"], it["sentence_bad"])]
    scores = continuation_logprobs(model, tokenizer, [("", t) for t in texts], batch_tokens,
                                   progress and (lambda d, n: progress(d // 2, len(task.items))))
    records, by_phenomenon = [], defaultdict(list)
    for k, item in enumerate(task.items):
        good, bad = scores[2 * k][0], scores[2 * k + 1][0]
        records.append({"phenomenon": item["phenomenon"], "logprob_good": good, "logprob_bad": bad,
                        "correct": good > bad})
        by_phenomenon[item["phenomenon"]].append(good > bad)
    per = {p: {"n": len(h), "accuracy": _rate(h)} for p, h in sorted(by_phenomenon.items())}
    return {"score": _rate([r["correct"] for r in records]), "per_phenomenon": per}, records


def multiple_choice(model, tokenizer, task: Task, batch_tokens: int, progress: Progress | None) -> Scored:
    requests, owner = [], []
    for k, item in enumerate(task.items):
        context, sep = choice_context(item["question"])
        for choice in item["choices"]:
            requests.append((context, sep + choice))
            owner.append(k)
    total = len(requests)
    scores = continuation_logprobs(model, tokenizer, requests, batch_tokens,
                                   progress and (lambda d, n: progress(d * len(task.items) // total, len(task.items))))
    records, at = [], 0
    for item in task.items:
        n = len(item["choices"])
        mine = scores[at: at + n]
        per_char = [lp / len(requests[at + j][1]) for j, (lp, _) in enumerate(mine)]
        at += n
        picked = max(range(n), key=per_char.__getitem__)
        picked_total = max(range(n), key=lambda j: mine[j][0])
        records.append({"category": item["category"], "answer": item["answer"], "picked": picked,
                        "correct": picked == item["answer"], "logprob_per_char": per_char,
                        "correct_by_total": picked_total == item["answer"]})
    return {"score": _rate([r["correct"] for r in records]),
            "accuracy_by_total_logprob": _rate([r["correct_by_total"] for r in records])}, records


def copy(model, tokenizer, task: Task, batch_size: int, progress: Progress | None) -> Scored:
    replies = copy_replies(model, tokenizer, task.items, batch_size=batch_size, progress=progress)
    chars = sum(len(r["reply"]) for r in replies)
    tokens = sum(r["tokens"] for r in replies)
    return {"score": _rate([r["exact"] for r in replies]),
            "similarity": sum(r["similarity"] for r in replies) / len(replies),
            "chars_per_generated_token": chars / tokens if tokens else 0.0, "generated_tokens": tokens}, replies


def bits_per_char(model, tokenizer, task: Task, progress: Progress | None) -> Scored:
    records = []
    for k, item in enumerate(task.items):
        s = score_text(model, tokenizer, item["text"], measure_speed=False)
        records.append({"chars": s.chars, "tokens": s.tokens, "nll_nats": s.nll_nats,
                        "bits_per_char": s.bits_per_char, **({"file": item["file"]} if "file" in item else {})})
        if progress:
            progress(k + 1, len(task.items))
    chars, tokens = sum(r["chars"] for r in records), sum(r["tokens"] for r in records)
    nll = sum(r["nll_nats"] for r in records)
    return {"score": nll / math.log(2) / chars, "chars_per_token": chars / tokens, "chars": chars}, records


def score_task(model, tokenizer, task: Task, batch_tokens: int = 2048, copy_batch: int = 32,
               progress: Progress | None = None) -> Scored:
    """(summary, per-item records); the summary holds kind, metric, n and score (+ kind-specific figures)."""
    if task.kind == Kind.MINIMAL_PAIRS:
        summary, records = minimal_pairs(model, tokenizer, task, batch_tokens, progress)
    elif task.kind == Kind.MULTIPLE_CHOICE:
        summary, records = multiple_choice(model, tokenizer, task, batch_tokens, progress)
    elif task.kind == Kind.COPY:
        summary, records = copy(model, tokenizer, task, copy_batch, progress)
    else:
        summary, records = bits_per_char(model, tokenizer, task, progress)
    return {"kind": task.kind.value, "metric": METRIC[task.kind], "n": len(task.items), **summary}, records
