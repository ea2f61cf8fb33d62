"""A training run as files: status.json, metrics.jsonl, train.log. Start as a child process, stop by SIGTERM.

The app never holds job state in memory: everything it shows is read back from these files,
so a browser reload or an app restart re-attaches to a running job.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.training.rundir import CONFIG, LOG, METRICS, check_run_folder  # noqa: F401 (the run folder's files)
from lep_core.workspace import jobs
from lep_core.workspace.jobs import ACTIVE, STATUS, now, pid_alive, read_status_raw, write_status  # noqa: F401 (shared with recipe jobs)
from lep_core.workspace.store import write_json_atomic, write_text_atomic

STATES = ("queued", "running", "stopping", "finished", "failed", "stopped")


def run_logger(run_dir: Path, main: bool) -> logging.Logger:
    """The "lep.train" logger: stderr, plus train.log when run from a terminal (process 0 only)."""
    log = logging.getLogger("lep.train")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    if main:
        # a job started by the app already has its stderr in train.log; the CLI gets both
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if not os.environ.get("LEP_JOB"):
            handlers.append(logging.FileHandler(Path(run_dir) / LOG, encoding="utf-8"))
        for h in handlers:
            h.setFormatter(fmt)
            log.addHandler(h)
    else:
        log.addHandler(logging.NullHandler())
    return log


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """status.json, with an active state whose process is gone reported as failed."""
    return jobs.read_status(run_dir, "training")


def is_active(run_dir: Path) -> bool:
    return jobs.is_active(run_dir)


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete line of metrics.jsonl (a line being written is skipped)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """On resume: drop lines logged after the checkpoint, so the curve continues without duplicates."""
    records = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step]
    write_text_atomic(Path(run_dir) / METRICS, "".join(json.dumps(r) + "\n" for r in records))


def log_tail(run_dir: Path, lines: int = 30) -> str:
    return jobs.log_tail(Path(run_dir) / LOG, lines)


def train_command(options: dict[str, Any], resume: bool = False, command: str = "train") -> list[str]:
    """The `lep train` (or `lep calibrate`) command line for these options (shown in the app, run by start_job)."""
    if command == "calibrate":
        from lep_core.calibration.options import CalibrateOptions as Options

        hidden = {"corpus", "data"}  # calibration fills these in itself
    else:
        from lep_core.training.options import TrainOptions as Options

        hidden = set()
    defaults = Options().to_dict()
    cmd = [sys.executable, "-m", "lep_core.cli.main", command]
    for key, value in options.items():
        if key in hidden or key not in defaults:
            continue
        if isinstance(value, list):
            cmd += ["--" + key.replace("_", "-"), *[str(v) for v in value]] if value or key == "corpus" else []
            continue
        if value is None or (value == defaults.get(key) and key not in ("model", "out")):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            cmd += [flag] if value else []
        else:
            cmd += [flag, str(value)]
    return cmd + (["--resume"] if resume else [])


def start_job(options: dict[str, Any], resume: bool = False, command: str = "train") -> dict[str, Any]:
    """Launch `lep train` (or `lep calibrate`) as a child in its own process group; output goes to train.log (never a pipe).

    The run folder's lock is held while the folder is checked and prepared and the child started; the child
    takes it over (lep_core.training.rundir.open_run waits a moment for it), so a second start, here or in a
    terminal, is refused with one line naming the running job."""
    from lep_core.workspace.locks import hold

    run_dir = Path(options["out"]).resolve()
    if is_active(run_dir):
        raise LepInputError(f"a job is already running in {run_dir}: stop it first")
    with hold(run_dir, wait=15.0):  # a stopped job may still be exiting (it has written "stopped", not yet let go)
        if is_active(run_dir):
            raise LepInputError(f"a job is already running in {run_dir}: stop it first")
        if not resume:
            check_run_folder(run_dir, options.get("model"))
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = train_command(options, resume, command)
        step = (read_status_raw(run_dir) or {}).get("step", 0) if resume else 0
        if not resume:  # status.json first: it is what marks the folder as a run folder LEP made
            write_status(run_dir, state="queued", step=0, total=options.get("steps"), error=None)
            write_json_atomic(run_dir / CONFIG, options)
        return jobs.spawn(cmd, run_dir, LOG, "training", step=step, total=options.get("steps"))


def stop_job(run_dir: Path) -> bool:
    """SIGTERM to the job's process group: it saves a checkpoint and exits with state "stopped"."""
    return jobs.stop(run_dir)


def list_runs(runs_root: Path) -> list[dict[str, Any]]:
    """Runs in a workspace's runs/ folder, newest first, with their status."""
    if not Path(runs_root).is_dir():
        return []
    rows = []
    for run in Path(runs_root).iterdir():
        if run.is_dir() and not run.name.startswith("."):
            status = read_status(run) or {}
            rows.append({"run": run.name, "path": str(run), "state": status.get("state", "?"),
                         "step": status.get("step", 0), "total": status.get("total"),
                         "loss": status.get("loss"), "updated": status.get("updated", run.stat().st_mtime)})
    return sorted(rows, key=lambda r: r["updated"] or 0, reverse=True)


def active_run(runs_root: Path) -> str | None:
    """The newest run whose job is alive: what the app re-attaches to."""
    return next((r["path"] for r in list_runs(runs_root) if r["state"] in ACTIVE), None)
