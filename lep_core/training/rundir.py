"""The run folder before training starts: is it free, is it ours, which options does a resume keep.

A fresh run needs an empty folder (or one start_job prepared); --resume reads the stored job spec and
lets only RESUMABLE options change; --overwrite clears a previous run's outputs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.training import checkpoint as ckpt
from lep_core.training import job
from lep_core.training.options import RESUMABLE, TrainOptions

DATA_DIR = "data"


def fresh_ok(run_dir: Path) -> bool:
    """A folder start_job prepared (config/status/log only) counts as fresh."""
    return not any((run_dir / n).exists() for n in (job.METRICS, ckpt.CKPT_DIR, "final", DATA_DIR))


def own_run(run_dir: Path) -> None:
    status = job.read_status_raw(run_dir) or {}
    if status.get("state") in job.ACTIVE and status.get("pid") not in (None, os.getpid()) and job.pid_alive(status["pid"]):
        raise LepInputError(f"a job (pid {status['pid']}) is already running in {run_dir}: stop it first")


def resolve_options(given: dict[str, Any], resume: bool, overwrite: bool) -> tuple[TrainOptions, Path]:
    """Fresh: the given options. Resume: the run's config.json, with only RESUMABLE options changed."""
    if not given.get("out"):
        raise LepInputError("no --out folder given")
    run_dir = Path(given["out"]).expanduser().resolve()
    if resume:
        stored = _read_config(run_dir)
        base = stored.to_dict()
        for key, value in given.items():
            if value is None or key == "out":
                continue
            if key in RESUMABLE:
                base[key] = value
            elif _differs(key, value, base.get(key)):
                raise LepInputError(f"--{key.replace('_', '-')} cannot change on --resume (run has {base.get(key)!r}, given {value!r})")
        options = TrainOptions.from_dict({**base, "out": str(run_dir)})
    else:
        options = TrainOptions.from_dict({k: v for k, v in given.items() if v is not None})
        options.out = str(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise LepInputError(f"--out {run_dir} is a file: choose a folder")
        if run_dir.is_dir() and not fresh_ok(run_dir) and not overwrite:
            raise LepInputError(f"run folder {run_dir} already holds a run: pass --resume to continue it, "
                                "--overwrite to start over, or choose another --out")
    options.validate()
    return options, run_dir


def _differs(key: str, given: Any, stored: Any) -> bool:
    if key in ("model",):
        return str(Path(given).expanduser().resolve()) != str(Path(stored).expanduser().resolve()) and given != stored
    if key == "corpus":
        norm = lambda xs: sorted(str(Path(x).expanduser().resolve()) for x in xs)  # noqa: E731
        return norm(given) != norm(stored)
    return given != stored


def _read_config(run_dir: Path) -> TrainOptions:
    path = run_dir / job.CONFIG
    if not path.is_file() or not ckpt.checkpoints(run_dir):
        raise LepInputError(f"nothing to resume in {run_dir}: no config.json and checkpoint there "
                            "(start a new run without --resume)")
    return TrainOptions.from_dict(json.loads(path.read_text(encoding="utf-8")))


def clear_run(run_dir: Path) -> None:
    for name in (ckpt.CKPT_DIR, "final", DATA_DIR):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in (job.METRICS, "lep.json"):
        (run_dir / name).unlink(missing_ok=True)


def stored_hash(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / job.CONFIG).read_text(encoding="utf-8")).get("model_hash")
    except (OSError, ValueError):
        return None
