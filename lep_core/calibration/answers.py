"""The original model answers the prompts; the answers become a chat dataset in the workspace.

data/<name>/ holds conversations.jsonl (one {"messages": [...], "truncated": bool} per line, the common
role/content format) and lep.json. While answering, each finished answer is appended to
answers.partial.jsonl, so a stopped or crashed run resumes where it was; conversations.jsonl and
lep.json appear only when every prompt is answered, so a dataset that looks whole is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from lep_core.errors import LepInputError
from lep_core.workspace.store import describe_input, read_manifest, write_manifest, write_text_atomic

CONVERSATIONS, PARTIAL = "conversations.jsonl", "answers.partial.jsonl"
Progress = Callable[[int, int], None]


def prompt_key(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def set_key(original_hash: str | None, prompts: list, max_new_tokens: int) -> str:
    """What makes two answer sets the same: the model, the prompts and the length limit."""
    text = json.dumps([original_hash, [prompt_key(p) for p in prompts], max_new_tokens])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_partial(path: Path) -> dict[str, dict]:
    """Answers written so far by key; a line cut short by a crash is ignored (it is answered again)."""
    done = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[row["key"]] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def dataset_ready(folder: Path, key: str) -> bool:
    manifest = read_manifest(folder) if folder.is_dir() else None
    return bool(manifest and manifest.get("params", {}).get("set_key") == key and (folder / CONVERSATIONS).is_file())


def answer_prompts(original: str, prompts: list[list[dict[str, str]]], folder: Path, max_new_tokens: int = 128,
                   progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False,
                   log: Callable[[str], None] = lambda _: None, prompts_file: str | None = None) -> dict:
    """Answer every prompt with greedy decoding (skipping those already answered); returns the dataset summary.

    A dataset folder made from other inputs is refused rather than mixed in. Returns state "stopped"
    when should_stop() turned true before the last prompt.
    """
    from lep_core.evaluation.generation import Sampling, generate_reply
    from lep_core.evaluation.models import ModelCache
    from lep_core.workspace.store import content_hash

    original_hash = content_hash(original)
    key = set_key(original_hash, prompts, max_new_tokens)
    if dataset_ready(folder, key):
        log(f"answers already in {folder}: reusing them")
        return {"state": "finished", **read_manifest(folder)["metrics"], "dataset": str(folder)}
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest and manifest.get("params", {}).get("set_key") != key:
        raise LepInputError(f"{folder} holds answers of another model or prompt set: choose another answers folder "
                            "or delete that one in the Workspace tab")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / PARTIAL
    done = {k: v for k, v in _read_partial(partial).items() if v.get("set_key") == key}
    todo = [p for p in prompts if prompt_key(p) not in done]
    if done:
        log(f"{len(done)} of {len(prompts)} prompts already answered: answering the other {len(todo)}")
    model, tokenizer = ModelCache(capacity=1).get(original)
    sampling = Sampling(max_new_tokens=max_new_tokens, greedy=True)
    with open(partial, "a", encoding="utf-8") as out:
        for messages in todo:
            if should_stop():
                return {"state": "stopped", "answered": len(done), "prompts": len(prompts), "dataset": str(folder)}
            k = prompt_key(messages)
            try:
                reply = generate_reply(model, tokenizer, messages, sampling, allow_plain=False)
                row = {"key": k, "set_key": key, "messages": [*messages, {"role": "assistant", "content": reply.text.strip()}],
                       "truncated": reply.tokens >= max_new_tokens, "tokens": reply.tokens}
            except LepInputError as exc:  # e.g. a prompt longer than the context window: counted, not fatal
                if "no chat template" in str(exc):
                    raise
                row = {"key": k, "set_key": key, "skipped": str(exc)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            done[k] = row
            log(f"answered {len(done)}/{len(prompts)}" + (f" (skipped: {row['skipped']})" if "skipped" in row else
                                                         f" ({row['tokens']} tokens)"))
            if progress:
                progress(len(done), len(prompts))
    return _finish(folder, original, prompts, done, key, max_new_tokens, prompts_file)


def _finish(folder: Path, original: str, prompts: list, done: dict[str, dict], key: str, max_new_tokens: int,
            prompts_file: str | None) -> dict:
    rows = [done[prompt_key(p)] for p in prompts]
    kept = [r for r in rows if "skipped" not in r and r["messages"][-1]["content"]]
    if not kept:
        reasons = sorted({r.get("skipped", "empty answer") for r in rows})
        raise LepInputError(f"the original model answered none of the {len(prompts)} prompts: {'; '.join(reasons)}")
    write_text_atomic(folder / CONVERSATIONS, "".join(json.dumps({"messages": r["messages"], "truncated": r["truncated"]},
                                                             ensure_ascii=False) + "\n" for r in kept))
    metrics = {"conversations": len(kept), "prompts": len(prompts), "skipped": len(rows) - len(kept),
               "truncated": sum(r["truncated"] for r in kept), "answer_tokens": sum(r["tokens"] for r in kept),
               "answer_chars": sum(len(r["messages"][-1]["content"]) for r in kept)}
    inputs = {"original": describe_input(original)}
    if prompts_file:
        inputs["prompts"] = describe_input(prompts_file)
    write_manifest(folder, kind="data", inputs=inputs,
                   params={"operation": "answers", "max_new_tokens": max_new_tokens, "greedy": True, "set_key": key},
                   metrics=metrics)
    (folder / PARTIAL).unlink(missing_ok=True)
    return {"state": "finished", **metrics, "dataset": str(folder)}
