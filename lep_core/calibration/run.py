"""One calibration run: (answers from the original model ->) the trainer on chat data -> a scored final model.

The run folder is a training run (status.json, metrics.jsonl, checkpoints/, final/) plus calibration.json,
the full spec, so `--resume` knows the original model and prompts. Stopping while the original model
answers keeps every finished answer; resuming answers the rest, then trains.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lep_core.calibration.answers import CONVERSATIONS, answer_prompts
from lep_core.calibration.options import OWN, SPEC, CalibrateOptions
from lep_core.calibration.prompts import DEMO_PROMPTS, load_prompts
from lep_core.calibration.score import answer_bpc
from lep_core.errors import LepInputError
from lep_core.training import checkpoint as ckpt
from lep_core.training import job
from lep_core.training.rundir import RunPlace, check_fresh, check_run_folder, open_run
from lep_core.workspace.locks import holding
from lep_core.workspace.store import KINDS, describe_input, workspace_root, write_json_atomic

Progress = Callable[[int, int], None]


def _resolve(given: dict[str, Any], resume: bool, overwrite: bool, workspace: str | None) -> tuple[CalibrateOptions, Path]:
    if not given.get("out"):
        raise LepInputError("no --out folder given")
    run_dir = Path(given["out"]).expanduser().resolve()
    if resume:
        spec = run_dir / SPEC
        if not spec.is_file():
            raise LepInputError(f"nothing to resume in {run_dir}: no {SPEC} there (start a new run without --resume)")
        stored = json.loads(spec.read_text(encoding="utf-8"))
        for key in OWN:  # what the answers were made from cannot change under a resume
            if given.get(key) not in (None, "", []) and given[key] != stored.get(key):
                raise LepInputError(f"--{key.replace('_', '-')} cannot change on --resume (run has {stored.get(key)!r})")
        options = CalibrateOptions.from_dict({**stored, **{k: v for k, v in given.items() if v is not None and k not in OWN}})
    else:
        options = CalibrateOptions.from_dict({k: v for k, v in given.items() if v is not None})
        check_run_folder(run_dir, options.model)
        check_fresh(run_dir, overwrite)
    options.out = str(run_dir)
    options.validate()
    if options.original and not options.answers:
        root = run_dir.parent.parent if run_dir.parent.name == KINDS["run"] else workspace_root(workspace)
        options.answers = str(root / KINDS["data"] / f"{run_dir.name}-answers")
    for name in ("original", "prompts", "heldout_prompts"):
        value = getattr(options, name)
        if value and Path(value).expanduser().exists():
            setattr(options, name, str(Path(value).expanduser().resolve()))
    options.chat = [str(Path(c).expanduser().resolve()) for c in options.chat]
    return options, run_dir


def _logger(run_dir: Path) -> Callable[[str], None]:
    """Lines on stderr; a CLI run also appends them to train.log (a job's stderr already goes there)."""
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if not os.environ.get("LEP_JOB"):
            with open(run_dir / job.LOG, "a", encoding="utf-8") as f:
                f.write(line + "\n")
    return log


class _StopFlag:
    """SIGTERM/SIGINT while the original model answers: finish the current answer, keep it, stop."""

    def __init__(self) -> None:
        self.set = False

    def __enter__(self) -> "_StopFlag":  # noqa: PYI034, UP037
        self.previous = {s: signal.signal(s, self._on) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def _on(self, signum, frame) -> None:
        self.set = True

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def heldout_dir(options: CalibrateOptions) -> Path:
    return Path(f"{options.answers}-heldout")


def _answers(options: CalibrateOptions, run_dir: Path, log: Callable[[str], None], progress: Progress | None,
             heldout: bool = False) -> dict:
    prompts_file = options.heldout_prompts if heldout else options.prompts
    folder = heldout_dir(options) if heldout else Path(options.answers)
    prompts = load_prompts(prompts_file or None)
    job.write_status(run_dir, state="running", phase="answers", pid=os.getpid(), answered=0, prompts=len(prompts),
                     step=0, total=options.steps, error=None, started=job.now())
    log(f"the original model {Path(options.original).name} answers {len(prompts)} prompts into {folder}")

    def tick(done: int, total: int) -> None:
        job.write_status(run_dir, answered=done, prompts=total)
        if progress:
            progress(done, total)

    with _StopFlag() as stop:
        result = answer_prompts(options.original, prompts, folder, options.max_new_tokens, tick,
                                lambda: stop.set, log, prompts_file or str(DEMO_PROMPTS))
    if result["state"] == "stopped":
        job.write_status(run_dir, state="stopped", answered=result["answered"])
        log(f"stopped after {result['answered']} answers; continue with --resume")
    return result


def calibrate(given: dict[str, Any], resume: bool = False, overwrite: bool = False, progress: Progress | None = None,
              workspace: str | None = None, score: bool = True) -> dict[str, Any]:
    """Run (or resume) a calibration; returns the trainer's summary plus the answers and bits-per-char before/after.

    The run folder and the answers folders are locked for the whole run (lep_core.training.rundir.open_run);
    --overwrite keeps the previous run until this one has finished, as `lep train --overwrite` does."""
    options, run_dir = _resolve(given, resume, overwrite, workspace)
    if (run_dir / "final").is_dir() and resume and (job.read_status(run_dir) or {}).get("state") == "finished":
        raise LepInputError(f"{run_dir.name} has finished; to train longer start a new run from its final model")
    answers_dirs = [options.answers, str(heldout_dir(options)) if options.heldout_prompts else None] \
        if options.original else []
    reads = [options.original, options.prompts, options.heldout_prompts, *options.chat]
    with open_run(run_dir, resume, overwrite, options.model, reads) as place, holding(answers_dirs):
        return _calibrate_in(place, options, resume, progress, score)


def _calibrate_in(place: RunPlace, options: CalibrateOptions, resume: bool, progress: Progress | None,
                  score: bool) -> dict[str, Any]:
    from lep_core.training.trainer import train

    work = place.work
    work.mkdir(parents=True, exist_ok=True)
    job.write_status(work, state="running", pid=os.getpid(), error=None)  # first: what marks a run folder LEP made
    write_json_atomic(work / SPEC, options.to_dict())
    log = _logger(work)
    answers = None
    if options.original:
        try:
            answers = _answers(options, work, log, progress)
            if answers["state"] != "stopped" and options.heldout_prompts:
                heldout = _answers(options, work, log, progress, heldout=True)
                answers = heldout if heldout["state"] == "stopped" else answers
        except Exception as exc:  # recorded for the app, then reported as usual
            job.write_status(work, state="failed", error=str(exc) if isinstance(exc, LepInputError)
                             else f"{type(exc).__name__}: {exc}")
            raise
        if answers["state"] == "stopped":
            return {"state": "stopped", "out": str(place.out), "phase": "answers", **answers}
        corpus = [str(Path(options.answers) / CONVERSATIONS)]
    else:
        corpus = options.chat
    job.write_status(work, phase="train")
    origin = {"operation": "calibrate",
              "inputs": {"original": describe_input(options.original)} if options.original else {},
              "params": {"mode": "self" if options.original else "chat", "max_new_tokens": options.max_new_tokens,
                         "prompts": options.prompts or (str(DEMO_PROMPTS) if options.original else None),
                         "answers": options.answers or None, "heldout_prompts": options.heldout_prompts or None}}
    if options.original:
        origin["inputs"]["answers"] = describe_input(corpus[0])
    result = train(options.train_dict(corpus), resume=resume and bool(ckpt.checkpoints(work)),
                   overwrite=False, progress=progress, origin=origin, place=place)
    if answers:
        result["answers"] = {k: v for k, v in answers.items() if k != "state"}
    final = work / "final"  # where it is until a staged run lands in place.out
    if result.get("state") == "finished" and score:
        log("scoring bits-per-char of the answers before and after")
        result["answer_bpc"] = {"before": answer_bpc(options.model, corpus),
                                "after": answer_bpc(str(final), corpus)}
        if options.original:  # the reference: the model that wrote the answers, reading them
            result["answer_bpc"]["original"] = answer_bpc(options.original, corpus)
        if options.heldout_prompts:  # answers of prompts never trained on
            held = [str(heldout_dir(options) / CONVERSATIONS)]
            result["answer_bpc_heldout"] = {"before": answer_bpc(options.model, held),
                                            "after": answer_bpc(str(final), held),
                                            "original": answer_bpc(options.original, held)}
        _add_to_manifests(work, {k: result[k] for k in ("answer_bpc", "answer_bpc_heldout") if k in result})
        log(f"answer bits-per-char: before {result['answer_bpc']['before']['bits_per_char']:.4f}, "
            f"after {result['answer_bpc']['after']['bits_per_char']:.4f}")
    return result


def _add_to_manifests(run_dir: Path, metrics: dict[str, Any]) -> None:
    for folder in (run_dir, run_dir / "final"):
        path = folder / "lep.json"
        if path.is_file():
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest.setdefault("metrics", {}).update(metrics)
            write_json_atomic(path, manifest)
