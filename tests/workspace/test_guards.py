"""Issue 26 faults 4, 5 and 7: prepare-demo, the Workspace tab's delete, and Stop, each against real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lep_core.errors import LepInputError
from lep_core.workspace import jobs, procs
from lep_core.workspace.inventory import clean_leftovers, delete_artifact, inventory, list_leftovers
from tests.workspace.helpers import ROOT, holder, wait_gone


def test_fault_4_prepare_demo_never_replaces_a_folder_it_did_not_make(tmp_path):
    from lep_core.sources.demo import DEMO_MODEL_NAME, prepare_demo

    mine = tmp_path / "models" / DEMO_MODEL_NAME
    mine.mkdir(parents=True)
    (mine / "config.json").write_text('{"model_type": "llama"}', encoding="utf-8")  # the user's own download
    with pytest.raises(LepInputError, match="did not make .*not replaced"):
        prepare_demo(tmp_path)
    assert sorted(p.name for p in mine.iterdir()) == ["config.json"]
    result = subprocess.run([sys.executable, "-m", "lep_core.cli.main", "prepare-demo", "--workspace", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert (mine / "config.json").read_text(encoding="utf-8") == '{"model_type": "llama"}'


@pytest.fixture
def busy_ws(tmp_path, tiny_llama, small_corpus_file):
    """A workspace where a real training job (started as the app starts it) reads models/base and corpora/ru.txt."""
    from lep_core.training import job

    ws = tmp_path / "ws"
    shutil.copytree(tiny_llama, ws / "models" / "base")
    (ws / "corpora").mkdir()
    shutil.copy(small_corpus_file, ws / "corpora" / "ru.txt")
    run = ws / "runs" / "r"
    job.start_job({"model": str(ws / "models/base"), "corpus": [str(ws / "corpora/ru.txt")], "out": str(run),
                   "steps": 100000, "batch_size": 2, "seq_len": 32, "device": "cpu", "precision": "fp32",
                   "save_every": 0, "eval_every": 0})
    deadline = time.monotonic() + 300
    while (job.read_status(run) or {}).get("state") != "running":
        assert time.monotonic() < deadline and (job.read_status(run) or {}).get("state") != "failed", job.log_tail(run)
        time.sleep(0.2)
    yield ws, run
    job.stop_job(run)
    deadline = time.monotonic() + 120
    while job.is_active(run) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture(scope="session")
def small_corpus_file() -> Path:
    return ROOT / "assets" / "corpus" / "01_dialogues.txt"


def test_fault_5_delete_refuses_what_a_running_job_reads_or_writes(busy_ws):
    ws, run = busy_ws
    pid = jobs.read_status_raw(run)["pid"]
    for target in (ws / "models/base", ws / "corpora/ru.txt", run):
        with pytest.raises(LepInputError) as err:
            delete_artifact(target, ws)
        assert f"pid {pid}" in str(err.value) and "\n" not in str(err.value), str(err.value)
        assert target.exists()
    answers = ws / "data" / "calib-answers"  # calibration answers, written by a running `lep calibrate`
    answers.mkdir(parents=True)
    (answers / "answers.partial.jsonl").write_text("{}\n", encoding="utf-8")
    writer = holder(answers, "write")
    try:
        with pytest.raises(LepInputError, match=f"pid {writer.pid}"):
            delete_artifact(answers, ws)
    finally:
        wait_gone(writer)
    delete_artifact(answers, ws)  # nothing holds it any more
    assert not answers.exists() and list_leftovers(ws) == []


DELETE_AS_NOBODY = """
import os, sys
from lep_core.errors import LepInputError
from lep_core.workspace.inventory import delete_artifact
if os.geteuid() == 0:  # root may remove anything: the delete itself runs as `nobody`, as a user's would
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    delete_artifact(sys.argv[1], sys.argv[2])
except LepInputError as exc:
    print(exc)
    sys.exit(2)
"""


@pytest.fixture
def open_tmp():
    """A folder a second user can reach (pytest's tmp_path sits in a folder only its owner may enter)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lep-delete-"))
    yield folder
    for p in folder.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def test_fault_5_a_delete_that_fails_is_reported_not_left_silently(open_tmp):
    tmp_path = open_tmp
    ws = tmp_path / "ws"
    model = ws / "models" / "m"
    (model / "locked").mkdir(parents=True)
    (model / "locked" / "weights.bin").write_bytes(b"x" * 100)
    (model / "config.json").write_text("{}", encoding="utf-8")
    if os.geteuid() == 0:  # the workspace belongs to `nobody`, who runs the delete (DELETE_AS_NOBODY)
        for p in [tmp_path, *(x for x in tmp_path.rglob("*"))]:
            os.chown(p, 65534, 65534)
    (model / "locked").chmod(0o555)  # its file cannot be removed
    try:
        result = subprocess.run([sys.executable, "-c", DELETE_AS_NOBODY, str(model), str(ws)], capture_output=True,
                                text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 2, result.stderr
        assert "could not be removed" in result.stdout and "Clean" in result.stdout
        assert not model.exists() and [a.name for a in inventory(ws)] == []  # not listed as an artefact
        rows = list_leftovers(ws)
        assert [r.state for r in rows] == ["failed delete"] and rows[0].size_bytes >= 100
    finally:
        for p in ws.rglob("locked"):
            p.chmod(0o755)
    removed, problems = clean_leftovers(ws)
    assert len(removed) == 1 and problems == [] and list_leftovers(ws) == []


def test_fault_7_stop_never_signals_a_process_that_reused_the_pid(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        folder = tmp_path / "job"
        folder.mkdir()
        # the job that crashed had this PID but started at another time: the PID now names the stranger
        recorded = procs.start_ticks(stranger.pid) - 1
        (folder / "status.json").write_text(json.dumps({"state": "running", "pid": stranger.pid,
                                                        "pid_start": recorded}), encoding="utf-8")
        assert jobs.read_status(folder)["state"] == "failed"  # shown as dead, not as running
        assert jobs.stop(folder) is False
        time.sleep(0.3)
        assert stranger.poll() is None  # not signalled
        status = jobs.read_status_raw(folder)
        assert status["state"] == "failed" and "no longer the job" in status["error"]
    finally:
        stranger.kill()
        stranger.wait()


def test_fault_7_status_records_the_start_time_and_stop_reaches_the_real_job(tmp_path):
    folder = tmp_path / "job"
    written = jobs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], folder, "job.log")
    assert written["pid_start"] == procs.start_ticks(written["pid"])
    assert jobs.stop(folder) is True
    deadline = time.monotonic() + 30
    while procs.alive(written["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procs.alive(written["pid"])
