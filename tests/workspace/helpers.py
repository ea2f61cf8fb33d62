"""A second real process that holds a lock or writes an artefact, for the lock and leftover tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from lep_core.workspace.locks import hold
with hold(sys.argv[1], write=sys.argv[2] == "write"):
    print("held", flush=True)
    time.sleep(120)
"""


def holder(path: Path, mode: str = "write") -> subprocess.Popen:
    """A process holding PATH's lock (write or read) until killed; returns once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def killed_at(point: str, code: str, *args: str) -> int:
    """Run `code` in a fresh process that SIGKILLs itself at the write-path POINT; its exit code (-9 when killed)."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "LEP_TEST_KILL_AT": point})
    return proc.returncode


def wait_gone(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)
    time.sleep(0.05)
