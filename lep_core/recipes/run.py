"""Recipes: a pipeline as a plain YAML file, replayed step by step with `lep run recipe.yaml`.

    name: demo
    steps:
      - extend:    {base: models/smollm2-135m-instruct, corpus: [assets/corpus], tokens: words, add: 4000,
                    out: tokenizers/demo-ru}
      - init:      {model: models/smollm2-135m-instruct, tokenizer: tokenizers/demo-ru, out: models/demo-ru}
      - train:     {model: models/demo-ru, corpus: [assets/corpus], out: runs/demo-ru, steps: 60}
      - propagate: {base: models/smollm2-135m-instruct, instruct: [models/smollm2-135m-instruct],
                    adapted: runs/demo-ru/final, out: adapted/demo-ru}
      - calibrate: {model: adapted/demo-ru, original: models/smollm2-135m-instruct, out: runs/calib-ru, steps: 20}

Outputs (`out`) are relative to the workspace. Inputs are looked up in the workspace first, then relative to
the current folder, then to LEP Studio's own folder (for assets/), else taken as a hub id. The whole recipe is
checked before anything runs (check_recipe), and every problem is reported at once. A step whose output already
exists with the same parameters is skipped and a stopped train step continues from its checkpoint, so a stopped
recipe resumes where it stopped. `report(step_index, fields)` hears each step start, progress and end
(lep_core/recipes/job.py writes it to a status file the app polls).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError, LepJobError
from lep_core.recipes.spec import RUN_KINDS, Recipe, Step, resolved_args
from lep_core.workspace.store import read_manifest, workspace_root

Log = Callable[[str], None]
Report = Callable[[int, dict[str, Any]], None]  # (step index, fields to record for that step)
Progress = Callable[[float, str], None]  # (fraction done, what is happening)


class RecipeStopped(BaseException):
    """SIGTERM during a step without checkpoints of its own: its temporary output is removed, the recipe stops."""


def _already_done(args: dict[str, Any], kind: str) -> bool:
    """A finished output of the same step: skip it (check_recipe has refused one made with other settings)."""
    out = Path(args["out"])
    if kind in RUN_KINDS:
        from lep_core.training.job import read_status

        status = read_status(out)
        return bool(status and status.get("state") == "finished" and (out / "final").is_dir())
    if kind == "export":  # a file, not a folder: check_recipe has refused one of another type
        return out.is_file()
    return read_manifest(out) is not None


def _train(args: dict[str, Any], overwrite: bool, progress: Progress) -> dict[str, Any]:
    """Continue from the last checkpoint when there is one; a run that died before its first checkpoint starts over."""
    from lep_core.training import checkpoint
    from lep_core.training.rundir import fresh_ok
    from lep_core.training.trainer import train

    out = Path(args["out"])
    resume = bool(checkpoint.checkpoints(out)) and not overwrite
    start_over = not resume and out.is_dir() and not fresh_ok(out) and not (out / "final").is_dir()
    given = {**args, "corpus": _as_list(args["corpus"])}
    return train(given, resume=resume, overwrite=overwrite or start_over,
                 progress=lambda done, total: progress(done / max(total, 1), f"step {done}/{total}"))


def _calibrate(args: dict[str, Any], overwrite: bool, progress: Progress) -> dict[str, Any]:
    """Continue a stopped calibration (its answers and checkpoints are kept); else start it."""
    from lep_core.calibration.options import SPEC
    from lep_core.calibration.run import calibrate

    out = Path(args["out"])
    given = {k: v for k, v in args.items() if v not in (None, "", [])}
    if "chat" in given:
        given["chat"] = _as_list(given["chat"])
    resume = (out / SPEC).is_file() and not overwrite
    return calibrate(given, resume=resume, overwrite=overwrite,
                     progress=lambda done, total: progress(done / max(total, 1), f"{done}/{total}"))


def run_step(step: Step, args: dict[str, Any], overwrite: bool, log: Log,
             progress: Progress | None = None) -> dict[str, Any]:
    a = args
    progress = progress or (lambda fraction, message: None)
    if step.kind == "extend":
        from lep_core.tokenizer.extend import extend_tokenizer

        return extend_tokenizer(a["base"], _as_list(a["corpus"]), int(a["add"]), a["out"], a["alphabet"],
                                int(a["min_frequency"]), overwrite,
                                lambda done, total: progress(done / max(total, 1), f"{done}/{total} tokens learned"),
                                unit=a["tokens"])
    if step.kind == "train_tokenizer":
        from lep_core.tokenizer.train import train_tokenizer

        return train_tokenizer(_as_list(a["corpus"]), int(a["vocab_size"]), a["algorithm"], a["out"], a["like"], overwrite)
    if step.kind == "init":
        from lep_core.embeddings.init import init_model

        return init_model(a["model"], a["tokenizer"], a["out"], a["method"], overwrite, int(a["seed"]), progress=progress,
                          head_method=a["head_method"], corpus=_as_list(a["corpus"]) if a["corpus"] else None)
    if step.kind == "train":
        return _train(a, overwrite, progress)
    if step.kind == "calibrate":
        return _calibrate(a, overwrite, progress)
    if step.kind == "export":
        from lep_core.export.step import run_export_step

        return run_export_step(a, overwrite, progress)
    if step.kind == "propagate":
        from lep_core.propagation.options import PropagateOptions
        from lep_core.propagation.propagate import propagate

        fields = {f.name for f in dataclasses.fields(PropagateOptions)}
        opts = PropagateOptions(**{k: v for k, v in a.items() if k in fields and k != "instruct"},
                                instruct=_as_list(a["instruct"]))
        opts.overwrite = overwrite
        return propagate(opts, progress=progress)
    raise LepInputError(f"unknown step kind {step.kind!r}")


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises RecipeStopped, so atomic_dir removes a half-written output (the trainer installs its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RecipeStopped(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_one(number: int, step: Step, args: dict[str, Any], total: int, overwrite: bool, log: Log,
             report: Report) -> dict[str, Any]:
    index = number - 1
    if not overwrite and _already_done(args, step.kind):
        log(f"[{number}/{total}] {step.kind}: {args['out']} already done, skipped")
        report(index, {"state": "skipped", "progress": 1.0, "message": "already done"})
        return {"step": step.kind, "out": args["out"], "skipped": True, "state": "skipped"}
    log(f"[{number}/{total}] {step.kind} -> {args['out']}")
    started = time.perf_counter()
    report(index, {"state": "running", "started": time.time(), "progress": 0.0, "message": "", "error": None})
    try:
        summary = run_step(step, args, overwrite, log, lambda f, m: report(index, {"progress": f, "message": m}))
    except BaseException as exc:
        stopped = isinstance(exc, RecipeStopped)
        report(index, {"state": "stopped" if stopped else "failed", "seconds": round(time.perf_counter() - started, 1),
                       "error": None if stopped else _one_line(exc)})
        raise
    state = "stopped" if summary.get("state") == "stopped" else "done"
    report(index, {"state": state, "seconds": round(time.perf_counter() - started, 1),
                   "progress": 1.0 if state == "done" else None, "message": ""})
    return {"step": step.kind, "out": args["out"], "skipped": False,
            **{k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}, "state": state}


def _one_line(exc: BaseException) -> str:
    from lep_core.sources.loading import first_line

    return str(exc) if isinstance(exc, (LepInputError, LepJobError)) else f"{type(exc).__name__}: {first_line(exc)}"


def run_recipe(recipe: Recipe, workspace: str | os.PathLike | None = None, overwrite: bool = False,
               log: Log = print, report: Report | None = None) -> list[dict[str, Any]]:
    """Check, then run every step in order; returns one summary per step run.

    A stop (SIGTERM) ends the recipe after the current step saved what it could: the last summary then has
    state "stopped" and running the recipe again continues from there.
    """
    from lep_core.recipes.check import check_recipe

    root = workspace_root(workspace)
    problems = check_recipe(recipe, root, overwrite)
    if problems:
        raise LepInputError(f"recipe {recipe.name}: " + "; ".join(problems))
    report = report or (lambda index, fields: None)
    results: list[dict[str, Any]] = []
    with _stop_on_sigterm():
        try:
            for number, step in enumerate(recipe.steps, 1):
                args = resolved_args(step, root)
                results.append(_run_one(number, step, args, len(recipe.steps), overwrite, log, report))
                if results[-1]["state"] == "stopped":
                    break
        except RecipeStopped:
            step = recipe.steps[min(len(results), len(recipe.steps) - 1)]
            results.append({"step": step.kind, "out": resolved_args(step, root)["out"], "skipped": False,
                            "state": "stopped"})
    if results and results[-1]["state"] == "stopped":
        log(f"stopped in step {len(results)} ({results[-1]['step']}): run the recipe again to continue")
    return results
