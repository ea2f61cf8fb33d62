"""Jobs run below the app's priority (issue 29): every thread of a spawned job is JOB_NICE nicer than its starter.

The child starts a thread of its own and writes the niceness of each of its threads, read from /proc (field 19
of /proc/PID/task/TID/stat), so a thread the job creates later is checked, not only its first one.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from lep_core.workspace import jobs

CHILD = """
import json, os, sys, threading, time
done = threading.Event()
threading.Thread(target=done.wait, daemon=True).start()
time.sleep(0.2)
nice = {}
for tid in os.listdir(f"/proc/{os.getpid()}/task"):
    with open(f"/proc/{os.getpid()}/task/{tid}/stat") as f:
        nice[tid] = int(f.read().rsplit(")", 1)[1].split()[16])
open(sys.argv[1], "w").write(json.dumps(nice))
done.set()
"""


def _spawn_and_read(tmp_path) -> dict[str, int]:
    out = tmp_path / "nice.json"
    status = jobs.spawn([sys.executable, "-c", CHILD, str(out)], tmp_path / "job", "job.log")
    deadline = time.monotonic() + 60
    while not out.is_file() or not out.read_text():
        assert time.monotonic() < deadline, (tmp_path / "job" / "job.log").read_text()
        time.sleep(0.05)
    while jobs.pid_alive(status["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(out.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_every_thread_of_a_job_runs_nicer_than_the_app(tmp_path, monkeypatch):
    monkeypatch.delenv("LEP_JOB_NICE", raising=False)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    nice = _spawn_and_read(tmp_path)
    assert len(nice) == 2  # the main thread and the one it started
    assert set(nice.values()) == {min(19, own + jobs.JOB_NICE)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_lep_job_nice_zero_keeps_the_apps_priority(tmp_path, monkeypatch):
    monkeypatch.setenv("LEP_JOB_NICE", "0")
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert set(_spawn_and_read(tmp_path).values()) == {own}
