"""A training run as files: status.json, metrics.jsonl, train.log. Start as a child process, stop by SIGTERM.

The app never holds job state in memory: everything it shows is read back from these files,
so a browser reload or an app restart re-attaches to a running job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.workspace import write_json_atomic

STATES = ("queued", "running", "stopping", "finished", "failed", "stopped")
ACTIVE = ("queued", "running", "stopping")
STATUS, METRICS, LOG, CONFIG = "status.json", "metrics.jsonl", "train.log", "config.json"
_children: dict[str, subprocess.Popen] = {}


def now() -> float:
    return round(time.time(), 3)


def write_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json (atomic rename: readers never see half a file)."""
    status = read_status_raw(run_dir) or {}
    status.update(fields)
    status["updated"] = now()
    write_json_atomic(Path(run_dir) / STATUS, status)
    return status


def read_status_raw(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / STATUS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{int(pid)}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """status.json, with an active state whose process is gone reported as failed."""
    status = read_status_raw(run_dir)
    if status and status.get("state") in ACTIVE and status.get("pid") and not pid_alive(status["pid"]):
        child = _children.get(str(Path(run_dir).resolve()))
        code = child.poll() if child else None
        status = {**status, "state": "failed",
                  "error": status.get("error") or f"the training process {status['pid']} ended without finishing"
                  + (f" (exit code {code})" if code is not None else "") + ": see the log"}
    return status


def is_active(run_dir: Path) -> bool:
    status = read_status(run_dir)
    return bool(status and status.get("state") in ACTIVE)


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
    tmp = Path(run_dir) / f".{METRICS}.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, Path(run_dir) / METRICS)


def log_tail(run_dir: Path, lines: int = 30) -> str:
    path = Path(run_dir) / LOG
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def train_command(options: dict[str, Any], resume: bool = False) -> list[str]:
    """The `lep train` command line for these options (shown in the app, run by start_job)."""
    from lep_core.training.options import TrainOptions

    defaults = TrainOptions().to_dict()
    cmd = [sys.executable, "-m", "lep_core.cli.main", "train"]
    for key, value in options.items():
        if key == "corpus":
            cmd += ["--corpus", *[str(v) for v in value]]
            continue
        if value is None or (value == defaults.get(key) and key not in ("model", "out")):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            cmd += [flag] if value else []
        else:
            cmd += [flag, str(value)]
    return cmd + (["--resume"] if resume else [])


def start_job(options: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Launch `lep train` as a child in its own process group; output goes to train.log (never a pipe)."""
    run_dir = Path(options["out"]).resolve()
    if is_active(run_dir):
        raise LepInputError(f"a job is already running in {run_dir}: stop it first")
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = train_command(options, resume)
    if not resume:
        write_json_atomic(run_dir / CONFIG, options)
    log = open(run_dir / LOG, "ab")
    log.write(f"\n$ {' '.join(cmd)}\n".encode())
    log.flush()
    env = {**os.environ, "LEP_JOB": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=os.getcwd())
    log.close()
    status = write_status(run_dir, state="queued", pid=proc.pid, started=now(), error=None, command=cmd,
                          step=(read_status_raw(run_dir) or {}).get("step", 0) if resume else 0,
                          total=options.get("steps"))
    _children[str(run_dir)] = proc
    threading.Thread(target=_reap, args=(run_dir, proc), daemon=True).start()
    return status


def _reap(run_dir: Path, proc: subprocess.Popen) -> None:
    """Wait for the child (no zombies); record a crash the child could not record itself."""
    code = proc.wait()
    status = read_status_raw(run_dir) or {}
    if status.get("state") in ACTIVE and status.get("pid") == proc.pid:
        write_status(run_dir, state="failed", exit_code=code,
                     error=status.get("error") or f"the training process exited with code {code}: see the log")
    else:
        write_status(run_dir, exit_code=code)


def stop_job(run_dir: Path) -> bool:
    """SIGTERM to the job's process group: it saves a checkpoint and exits with state "stopped"."""
    status = read_status(run_dir)
    if not status or status.get("state") not in ACTIVE:
        return False
    pid = int(status["pid"])
    try:
        os.killpg(os.getpgid(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


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
