"""Background jobs as files: a child process in its own process group, a status.json beside its log.

Shared by training runs (lep_core/training/job.py) and recipe runs (lep_core/recipes/job.py). The app keeps
no job state in memory: it reads status.json back, so a reload, a second tab or an app restart re-attaches.

status.json records the job's PID with the process's start time ("pid_start", lep_core.workspace.procs): after a
crash the PID may name an unrelated process, which must neither count as the job nor get its stop signal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from lep_core.workspace import procs
from lep_core.workspace.store import write_json_atomic

ACTIVE = ("queued", "running", "stopping")
STATUS = "status.json"
# Idle OpenMP threads sleep instead of spinning: with other work on the cores (the app generating, another job,
# other users) a spinning torch job ran 3x slower on a 2-core CPU (22 s vs 7 s per demo training step at load 6).
PASSIVE_THREADS = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
# Jobs run this much nicer than the process that starts them, so the app answers while a job trains on every core
# (a second browser tab: see `lep bench app`); alone on the machine a job runs as fast as before. 5 gives the server
# three times a job thread's share of the CPU; 10 (nine times) starved jobs on a machine loaded by other work (a
# nice-0 process gets 9x a nice-10 one's share). LEP_JOB_NICE=0 runs jobs at the app's own priority.
JOB_NICE = 5
_children: dict[str, subprocess.Popen] = {}  # folder -> the child this process started (for its exit code)


def now() -> float:
    return round(time.time(), 3)


def read_status_raw(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / STATUS).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_status(folder: Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json (atomic rename: readers never see half a file). A "pid" is recorded with
    its process's start time ("pid_start"), so a later reader can tell the job from a process that reused it."""
    status = read_status_raw(folder) or {}
    if fields.get("pid") and "pid_start" not in fields and (fields["pid"] != status.get("pid") or "pid_start" not in status):
        fields["pid_start"] = procs.start_ticks(fields["pid"])
    status.update(fields)
    status["updated"] = now()
    write_json_atomic(Path(folder) / STATUS, status)
    return status


def pid_alive(pid: int | None) -> bool:
    """A process with this PID exists (it may not be the job: see job_alive)."""
    return procs.alive(pid)


def job_alive(status: dict[str, Any] | None) -> bool:
    """Is the process recorded in status.json still that process (same PID and start time)?"""
    if not status or not status.get("pid"):
        return False
    return procs.same_process(status["pid"], status.get("pid_start"))


def read_status(folder: Path, what: str = "job") -> dict[str, Any] | None:
    """status.json, with an active state whose process is gone reported as failed."""
    status = read_status_raw(folder)
    if status and status.get("state") in ACTIVE and status.get("pid") and not job_alive(status):
        child = _children.get(str(Path(folder).resolve()))
        code = child.poll() if child else None
        status = {**status, "state": "failed",
                  "error": status.get("error") or f"the {what} process {status['pid']} ended without finishing"
                  + (f" (exit code {code})" if code is not None else "") + ": see the log"}
    return status


def files_stamp(*folders: str | os.PathLike | None) -> tuple:
    """What a live view of these folders depends on: each file's name, size and mtime, each sub-folder's name
    (not recursive), and whether the job in each is alive (a crash changes no file). Equal stamps: nothing new."""
    stamp: list = []
    for folder in folders:
        if not folder:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            stamp.append((str(folder), None))
            continue
        files = []
        for e in entries:
            try:
                st = e.stat()
            except OSError:
                continue
            files.append((e.name, st.st_size, st.st_mtime_ns) if e.is_file() else (e.name,))  # folders: by name
        status = read_status_raw(Path(folder))
        stamp.append((str(folder), tuple(files), job_alive(status)))
    return tuple(stamp)


def is_active(folder: Path) -> bool:
    status = read_status(folder)
    return bool(status and status.get("state") in ACTIVE)


def spawn(cmd: list[str], folder: Path, log_name: str, what: str = "job", env: dict[str, str] | None = None,
          **status: Any) -> dict[str, Any]:
    """Start cmd in its own process group, output appended to folder/log_name (a file: never a pipe that fills).

    Writes status.json (state "queued", pid, command, **status) before returning; a thread reaps the child
    and records a crash the child could not record itself.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / log_name, "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=os.getcwd(),
                                env={**os.environ, "LEP_JOB": "1", "PYTHONUNBUFFERED": "1", **PASSIVE_THREADS, **(env or {})})
    lower_priority(proc.pid)
    written = write_status(folder, state="queued", pid=proc.pid, started=now(), error=None, command=cmd, **status)
    _children[str(folder)] = proc
    threading.Thread(target=_reap, args=(folder, proc, what), daemon=True).start()
    return written


def job_nice() -> int:
    """How much nicer than this process a job runs: LEP_JOB_NICE (0-19), else JOB_NICE."""
    try:
        return max(0, min(19, int(os.environ.get("LEP_JOB_NICE", JOB_NICE))))
    except ValueError:
        return JOB_NICE


def lower_priority(pid: int) -> None:
    """Renice a job just started in its own session: every process and thread of its group (it has not started
    any thread yet, and those it starts inherit the value), job_nice() above this process's own niceness."""
    step = job_nice()
    if not step:
        return
    try:
        os.setpriority(os.PRIO_PGRP, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + step))
    except OSError:  # already gone, or a platform without process groups: it runs at normal priority
        pass


def _reap(folder: Path, proc: subprocess.Popen, what: str) -> None:
    code = proc.wait()
    status = read_status_raw(folder) or {}
    if status.get("state") == "stopping" and status.get("pid") == proc.pid and code < 0:
        # killed by the stop it was sent before it could record it itself (e.g. still importing torch)
        write_status(folder, state="stopped", exit_code=code, finished=now())
    elif status.get("state") in ACTIVE and status.get("pid") == proc.pid:
        write_status(folder, state="failed", exit_code=code,
                     error=status.get("error") or f"the {what} process exited with code {code}: see the log")
    else:
        write_status(folder, exit_code=code)


def stop(folder: Path, mark: bool = False) -> bool:
    """SIGTERM to the job; the job itself records "stopped" when it has saved its work.

    The PID in status.json is signalled only while it is still the job (same start time): a PID reused after a
    crash belongs to someone else, and the job is then marked failed instead. The whole process group gets the
    signal only when the job leads its own group (as `spawn` starts it); a job started in a terminal is
    signalled alone, never the terminal's group. mark: write state "stopping" first (before the signal, so it
    cannot land after the job's final state). Returns whether a signal was sent.
    """
    status = read_status_raw(folder)
    if not status or status.get("state") not in ACTIVE or not status.get("pid"):
        return False
    pid = int(status["pid"])
    if not job_alive(status):
        write_status(folder, state="failed", error=status.get("error") or
                     f"the job's process {pid} ended without finishing (not signalled: that PID is no longer the job)")
        return False
    if mark:
        write_status(folder, state="stopping")
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (reads at most its last 64 KiB)."""
    path = Path(path)
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
