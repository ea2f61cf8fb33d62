"""The suite as the app runs it: a child process, progress in status.json, results renamed into place; Stop leaves nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lep_core.errors import LepInputError
from lep_core.evaluation.suite import job
from lep_core.evaluation.suite.run import read_results
from lep_core.workspace.inventory import inventory


def wait(folder: Path, states: tuple[str, ...], timeout: float = 600) -> dict:  # generous: a busy shared CPU
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.read_status(folder) or {}
        if status.get("state") in states:
            return status
        time.sleep(0.5)
    raise AssertionError(f"job in {folder} still {status.get('state')}: {job.LOG} says {job.jobs.log_tail(folder / job.LOG)}")


@pytest.fixture()
def small_suite(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    pair = {"sentence_good": "Кошка спит.", "sentence_bad": "Кошка спят.", "phenomenon": "agreement_number"}
    path.write_text(json.dumps(pair, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_job_runs_reports_progress_and_lands_in_the_workspace(tmp_path, tiny_llama, small_suite):
    ws = tmp_path / "ws"
    folder = job.start(ws, [str(tiny_llama)], [str(small_suite), "en"], name="mine")
    assert folder == job.jobs_root(ws) / "mine" and job.active_job(ws) == folder
    with pytest.raises(LepInputError, match="already running"):
        job.start(ws, [str(tiny_llama)], ["en"])
    status = wait(folder, ("finished", "failed"))
    assert status["state"] == "finished", status.get("error")
    assert status["done"] == status["total"] == 1 + 30 + 20 + 5 + 1
    results = read_results(ws / "evals" / "mine")
    assert {t["name"] for t in results["tasks"]} == {"pairs", "en/minimal_pairs", "en/multiple_choice", "en/copy", "en/bpc"}
    assert job.result_folders(ws) == [ws / "evals" / "mine"]
    listed = [a for a in inventory(ws) if a.kind == "eval"]  # the Workspace tab lists it; the job folder is hidden
    assert [a.name for a in listed] == ["mine"] and listed[0].metrics and listed[0].opens_in == "Compare"


def test_stop_leaves_no_results_and_no_temporary_folder(tmp_path, tiny_llama):
    ws = tmp_path / "ws"
    folder = job.start(ws, [str(tiny_llama)], ["ru"], name="stopped")
    wait(folder, ("running",))
    assert job.stop(folder)
    status = wait(folder, ("stopped", "failed"), timeout=300)
    assert status["state"] == "stopped"
    assert not (ws / "evals" / "stopped").exists()
    assert [p.name for p in (ws / "evals").iterdir()] == [job.JOBS]


def test_bad_picks_are_refused_before_anything_starts(tmp_path, tiny_llama):
    ws = tmp_path / "ws"
    with pytest.raises(LepInputError, match="no suite 'klingon'"):
        job.start(ws, [str(tiny_llama)], ["klingon"])
    with pytest.raises(LepInputError, match="no tokenizer.json"):
        job.start(ws, [str(tmp_path)], ["en"])
    assert not (ws / "evals").exists()
