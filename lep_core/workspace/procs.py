"""Facts about a process, read from /proc: is it alive, when did it start, what is its command line.

A PID alone does not name a process: after a crash or an OOM kill the number is handed to the next process
that starts. A job therefore records its PID together with the process's start time (field 22 of
/proc/PID/stat, clock ticks since boot, see proc(5)); a PID whose start time differs is another process.
Off Linux (no /proc) start times are unknown and only liveness (signal 0) is checked.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def alive(pid: int | None) -> bool:
    """True when a process with this PID exists and is not a zombie (exited, not yet reaped)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        return _stat_fields(int(pid))[0] != "Z"
    except OSError:
        return True


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses): field 3 (state) first."""
    text = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    return text.rsplit(")", 1)[1].split()


def start_ticks(pid: int | None) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None when unknown."""
    if not pid:
        return None
    try:
        return int(_stat_fields(int(pid))[19])  # fields after ")" start at field 3: field 22 is index 19
    except (OSError, IndexError, ValueError):
        return None


def _boot_time() -> float | None:
    try:
        for line in (_PROC / "stat").read_text(encoding="utf-8").splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def started_at(pid: int | None) -> float | None:
    """The process's start as a Unix time in seconds (boot time + start ticks / ticks per second); None if unknown."""
    ticks, boot = start_ticks(pid), _boot_time()
    if ticks is None or boot is None:
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def same_process(pid: int | None, ticks: int | None) -> bool:
    """Is PID still the process that was recorded with start time `ticks`? Without a recorded time: alive(pid)."""
    if not alive(pid):
        return False
    if ticks is None:
        return True
    now = start_ticks(pid)
    return now is None or now == int(ticks)


def command_line(pid: int | None, limit: int = 160) -> str:
    """The process's command line as one string (arguments joined by spaces), cut at `limit` characters."""
    if not pid:
        return ""
    try:
        raw = (_PROC / str(int(pid)) / "cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 1] + "…"
