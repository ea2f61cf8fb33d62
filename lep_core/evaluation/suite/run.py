"""Run suite tasks on one or more models and store the results under workspace/evals/<name>/.

Everything the user gave is checked first (every suite line, every model's tokenizer), so bad input fails
in a second with one line and nothing written. The output folder is built beside its destination and
renamed into place when complete (lep_core.workspace.store.atomic_dir):

    evals/<name>/results.json   the stable summary (schema below; model cards and the app read it)
    evals/<name>/items.jsonl    one record per model, task and item (what was picked, log-probabilities)
    evals/<name>/lep.json       the manifest (inputs with hashes, parameters, headline scores)

results.json: {"schema": "lep-eval-suite/1", "created", "seconds", "device", "suites": [...],
  "tasks": [{"name", "kind", "n", "path"}],
  "models": [{"model": SRC, "name", "seconds", "tasks": {TASK: {"kind", "metric", "n", "score", "seconds", ...}}}]}
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import Any, Callable

from lep_core.evaluation.suite.items import Task
from lep_core.evaluation.suite.score import score_task

SCHEMA = "lep-eval-suite/1"
RESULTS = "results.json"
ITEMS = "items.jsonl"
Progress = Callable[[int, int, str], None]  # (items done, items in all, what is running)


def model_label(src: str) -> str:
    """A short name: the folder, with its parent when the folder is a run's final/ or an adapted sub-model."""
    path = Path(src)
    if path.name in ("final", "") or (path.parent.parent.name == "adapted" and path.parent.name):
        return f"{path.parent.name}/{path.name}".strip("/")
    return path.name or src


def check_models(models: list[str]) -> None:
    """Every model names a loadable source with a tokenizer (cheap: no weights are read)."""
    from lep_core.errors import LepInputError
    from lep_core.sources.loading import load_tokenizer

    if not models:
        raise LepInputError("no model given: pass --model SRC (a folder, .gguf file or hub id)")
    if len(set(models)) != len(models):
        raise LepInputError("the same model is given twice: pass each --model once")
    for src in models:
        load_tokenizer(src)


def default_name() -> str:
    return "suite-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def run_suite(models: list[str], tasks: list[Task], device: str | None = None, batch_tokens: int = 2048,
              copy_batch: int = 32, progress: Progress | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(results, per-item records) for every model on every task; models are loaded one at a time."""
    from lep_core.evaluation.models import ModelCache, pick_device

    device = device or pick_device()
    cache = ModelCache(capacity=1, device=device)
    total = len(models) * sum(len(t.items) for t in tasks)
    start, done, out_models, records = time.perf_counter(), 0, [], []
    for src in models:
        label = model_label(src)
        if progress:
            progress(done, total, f"loading {label}")
        model_start = time.perf_counter()
        model, tokenizer = cache.get(src)
        scores: dict[str, Any] = {}
        for task in tasks:
            base = done

            def step(d: int, n: int, base: int = base, task: Task = task) -> None:
                if progress:
                    progress(base + d, total, f"{label}: {task.name}")

            step(0, len(task.items))
            t0 = time.perf_counter()
            summary, items = score_task(model, tokenizer, task, batch_tokens, copy_batch, step)
            scores[task.name] = {**summary, "seconds": round(time.perf_counter() - t0, 2)}
            records += [{"model": src, "task": task.name, "item": k, **r} for k, r in enumerate(items)]
            done = base + len(task.items)
        out_models.append({"model": src, "name": label, "seconds": round(time.perf_counter() - model_start, 2),
                           "tasks": scores})
        cache.drop(src)
    if progress:
        progress(total, total, "done")
    results = {"schema": SCHEMA, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "seconds": round(time.perf_counter() - start, 2), "device": device,
               "suites": sorted({t.name.split("/")[0] for t in tasks}),
               "tasks": [t.describe() for t in tasks], "models": out_models}
    return results, records


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """Flat figures for the manifest and the Workspace table: '<model> <task>' -> score."""
    return {f"{m['name']} {name}": round(t["score"], 4) for m in results["models"] for name, t in m["tasks"].items()}


def write_results(out: Path, results: dict[str, Any], records: list[dict[str, Any]], overwrite: bool = False) -> Path:
    """results.json, items.jsonl and lep.json into OUT, atomically (OUT appears complete or not at all)."""
    from lep_core.workspace.store import atomic_dir, describe_input, write_json_atomic, write_manifest

    with atomic_dir(out, overwrite) as tmp:
        write_json_atomic(tmp / RESULTS, results)
        with open(tmp / ITEMS, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        write_manifest(tmp, "eval", {"models": [describe_input(m["model"]) for m in results["models"]],
                                     "suites": [describe_input(t["path"]) for t in results["tasks"]]},
                       {"operation": "eval suite", "suites": results["suites"], "device": results["device"],
                        "seconds": results["seconds"]}, headline(results))
    return Path(out)


def read_results(folder: str | Path) -> dict[str, Any] | None:
    """results.json of an eval folder, or None when it has none (another kind of eval, or unreadable)."""
    try:
        data = json.loads((Path(folder) / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None
