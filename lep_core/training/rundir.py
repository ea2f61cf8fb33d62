"""The run folder before training starts: is it free, is it a run folder at all, which options does a resume keep,
and where this run writes.

A fresh run needs a new or empty folder, or a run folder LEP Studio made (status.json or a run manifest): any
other folder (a model, a tokenizer, the --model itself) is refused before anything is written, even with
--overwrite. --resume reads the stored job spec and lets only RESUMABLE options change. --overwrite never
deletes first: when the folder holds a previous run's final/ or checkpoints, the new run is written into a
temporary sibling (`.NAME.tmp-...`) and replaces the old folder by rename only once it has finished; a stopped
or failed new run leaves the previous run as it was. Every writer holds the folder's lock (lep_core.workspace.
locks) for its whole run, so a second start is refused with one line naming the running job.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.training import checkpoint as ckpt
from lep_core.training.options import RESUMABLE, TrainOptions
from lep_core.workspace import atomic, locks
from lep_core.workspace.jobs import ACTIVE, STATUS, job_alive, read_status_raw
from lep_core.workspace.store import MANIFEST, read_manifest

METRICS, LOG, CONFIG = "metrics.jsonl", "train.log", "config.json"  # a run folder's files, beside status.json

DATA_DIR = "data"
HANDOFF_S = 15.0  # how long a job the app started waits for the app to let go of the folder's lock


def has_results(run_dir: Path) -> bool:
    """Something a user may still want: a final model or a checkpoint to resume from."""
    return (run_dir / "final").is_dir() or bool(ckpt.checkpoints(run_dir))


def fresh_ok(run_dir: Path) -> bool:
    """A new run may start here without --overwrite: the folder holds no results (a folder start_job prepared,
    or the records of a run killed before its first checkpoint, which nothing can resume or load)."""
    return not has_results(run_dir)


def is_run_folder(folder: Path) -> bool:
    """A folder LEP Studio made as a run: it holds status.json, or a manifest of kind "run". A new or empty
    folder (hidden lock and temporary entries aside) may become one."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    if not any(not p.name.startswith(".") for p in folder.iterdir()):
        return True
    if (folder / STATUS).is_file():
        return True
    try:
        return (read_manifest(folder) or {}).get("kind") == "run"
    except ValueError:
        return False


def check_run_folder(run_dir: Path, model: str | None) -> None:
    """Refuse --out when it is not a run folder, or is (or holds, or sits inside) the model being trained."""
    if model:
        src = Path(model).expanduser()
        if src.exists():
            src = src.resolve()
            if src == run_dir or run_dir in src.parents or src in run_dir.parents:
                raise LepInputError(f"--out {run_dir} is the model folder {src} or inside it: choose a new folder "
                                    "for the run (e.g. runs/NAME)")
    if run_dir.exists() and not run_dir.is_dir():
        raise LepInputError(f"--out {run_dir} is a file: choose a folder")
    if not is_run_folder(run_dir):
        raise LepInputError(f"--out {run_dir} holds files LEP Studio did not make as a run (no status.json): "
                            "it is not replaced, not even with --overwrite; choose a new or empty folder")


def own_run(run_dir: Path) -> None:
    status = read_status_raw(run_dir) or {}
    if status.get("state") in ACTIVE and status.get("pid") not in (None, os.getpid()) and job_alive(status):
        raise LepInputError(f"a job (pid {status['pid']}) is already running in {run_dir}: stop it first")


def resolve_options(given: dict[str, Any], resume: bool, overwrite: bool, check: bool = True) -> tuple[TrainOptions, Path]:
    """Fresh: the given options. Resume: the run's config.json, with only RESUMABLE options changed.
    check=False: the caller has opened the run folder already (open_run checks it under the lock)."""
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
        if check:
            check_run_folder(run_dir, options.model)
            check_fresh(run_dir, overwrite)
    options.validate()
    return options, run_dir


def check_fresh(run_dir: Path, overwrite: bool) -> None:
    if run_dir.is_dir() and not fresh_ok(run_dir) and not overwrite:
        raise LepInputError(f"run folder {run_dir} already holds a run: pass --resume to continue it, "
                            "--overwrite to start over, or choose another --out")


def _differs(key: str, given: Any, stored: Any) -> bool:
    if key in ("model",):
        return str(Path(given).expanduser().resolve()) != str(Path(stored).expanduser().resolve()) and given != stored
    if key == "corpus":
        norm = lambda xs: sorted(str(Path(x).expanduser().resolve()) for x in xs)  # noqa: E731
        return norm(given) != norm(stored)
    return given != stored


def _read_config(run_dir: Path) -> TrainOptions:
    path = run_dir / CONFIG
    if not path.is_file() or not ckpt.checkpoints(run_dir):
        raise LepInputError(f"nothing to resume in {run_dir}: no config.json and checkpoint there "
                            "(start a new run without --resume)")
    return TrainOptions.from_dict(json.loads(path.read_text(encoding="utf-8")))


def clear_records(run_dir: Path) -> None:
    """Start afresh in a folder without results (no final/, no checkpoint): an earlier run's token copy, metrics
    and manifest go; they are job records, not artefacts (nothing can be resumed or loaded from them)."""
    for name in (METRICS, MANIFEST):
        (run_dir / name).unlink(missing_ok=True)
    if (run_dir / DATA_DIR).is_dir():
        atomic.remove(run_dir / DATA_DIR)


def stored_hash(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / CONFIG).read_text(encoding="utf-8")).get("model_hash")
    except (OSError, ValueError):
        return None


@dataclass
class RunPlace:
    """Where a run writes. `work` is the run folder itself, or the temporary sibling of an --overwrite that keeps
    the previous run until this one has finished; `out` is the folder the run ends up in."""

    out: Path
    work: Path
    staged: bool = False
    finished: bool = False


def is_main_process() -> bool:
    """Rank 0 of a data-parallel run (or a plain run): the one process that writes the run folder."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def open_run(run_dir: Path, resume: bool, overwrite: bool, model: str | None,
             reads: list[str | None]) -> Iterator[RunPlace]:
    """Lock the run folder (and read-lock the inputs that are workspace artefacts), check it again under the
    lock, clean up killed writes, and yield where to write. With --overwrite over a run that has results,
    the new run goes to a temporary sibling that replaces the folder when the block ends with place.finished
    set; otherwise (stopped, failed) the sibling is removed and the previous run stays."""
    if not is_main_process():  # other ranks write nothing; rank 0 holds the lock
        yield RunPlace(run_dir, run_dir)
        return
    wait = HANDOFF_S if os.environ.get("LEP_JOB") else 0.0
    with locks.holding([run_dir], [model, *reads], wait=wait):
        atomic.recover(run_dir)
        if run_dir.is_dir():
            own_run(run_dir)
            atomic.clean(atomic.leftovers(run_dir))
            atomic.clean(atomic.leftovers(run_dir / ckpt.CKPT_DIR))
        if not resume:
            check_run_folder(run_dir, model)
            check_fresh(run_dir, overwrite)
        if resume or not has_results(run_dir):  # the folder itself is made by the first write (none on bad input)
            if not resume and run_dir.is_dir():
                clear_records(run_dir)
            yield RunPlace(run_dir, run_dir)
            return
        stage = atomic.temp_path(run_dir)
        stage.mkdir()
        place = RunPlace(run_dir, stage, staged=True)
        try:
            yield place
        except BaseException:
            with contextlib.suppress(OSError):
                atomic.remove(stage)
            raise
        if place.finished:
            atomic.replace_into_place(stage, run_dir)
        else:
            atomic.remove(stage)
