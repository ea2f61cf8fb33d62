"""Recipe jobs: start as a child process, attach instead of starting twice, stop, resume; checks up front."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lep_core.errors import LepInputError
from lep_core.recipes import job as recipe_job
from lep_core.recipes.check import check_recipe
from lep_core.recipes.run import run_recipe
from lep_core.recipes.spec import parse_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ru_corpus) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(ru_corpus[0], folder)
    return folder


def _recipe(tiny_llama: Path, corpus: Path, name: str = "tiny", steps: int = 3) -> dict:
    return {
        "name": name,
        "steps": [
            {"extend": {"base": str(tiny_llama), "corpus": [str(corpus)], "add": 60, "out": "tokenizers/t"}},
            {"init": {"model": str(tiny_llama), "tokenizer": "tokenizers/t", "out": "models/m"}},
            {"train": {"model": "models/m", "corpus": [str(corpus)], "out": "runs/r", "steps": steps, "batch_size": 2,
                       "seq_len": 32, "eval_every": 0, "save_every": 0, "seed": 1, "device": "cpu", "precision": "fp32"}},
            {"propagate": {"base": str(tiny_llama), "instruct": [str(tiny_llama)], "adapted": "runs/r/final",
                           "out": "adapted/a"}},
        ],
    }


def _wait(ws: Path, name: str, until, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = recipe_job.read_status(ws, name) or {}
        if until(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"timed out; status {recipe_job.read_status(ws, name)}; log:\n{recipe_job.log_tail(ws, name, 40)}")


def _train_step(status: dict) -> int:
    steps = status.get("steps") or []
    run = Path(steps[2]["run_dir"]) if len(steps) > 2 else None
    if not run or not (run / "status.json").is_file():
        return 0
    return json.loads((run / "status.json").read_text()).get("step") or 0


def test_start_attach_stop_resume(tmp_path, tiny_llama, corpus):
    ws = tmp_path / "ws"
    data = _recipe(tiny_llama, corpus, steps=400)
    text = yaml.safe_dump(data)
    recipe = parse_recipe(text)
    first, attached = recipe_job.start(recipe, text, ws)
    assert not attached and first["state"] == "queued"
    again, attached = recipe_job.start(recipe, text, ws)  # a second browser tab: attach, no second process
    assert attached and again["pid"] == first["pid"]

    running = _wait(ws, "tiny", lambda s: s.get("state") == "running" and _train_step(s) >= 2)
    assert [s["state"] for s in running["steps"][:3]] == ["done", "done", "running"]
    assert running["steps"][0]["seconds"] > 0 and running["steps"][0]["progress"] == 1.0
    # a second `lep run` of the same recipe in the same workspace is refused while this one runs
    spec = ws / "recipes" / "tiny" / "recipe.yaml"
    second = subprocess.run([sys.executable, "-m", "lep_core.cli.main", "run", str(spec), "--workspace", str(ws)],
                            check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert second.returncode == 2 and "already running" in second.stderr

    assert recipe_job.stop(ws, "tiny")
    stopped = _wait(ws, "tiny", lambda s: s.get("state") not in ("queued", "running", "stopping"))
    assert stopped["state"] == "stopped", recipe_job.log_tail(ws, "tiny", 40)
    assert [s["state"] for s in stopped["steps"]] == ["done", "done", "stopped", "pending"]
    assert list((ws / "runs/r/checkpoints").iterdir()) and not (ws / "adapted/a").exists()
    at_stop = _train_step(stopped)
    assert 2 <= at_stop < 400

    # resume: finished steps are skipped (shown as done earlier), training continues from its checkpoint
    shorter = yaml.safe_dump(_recipe(tiny_llama, corpus, steps=at_stop + 3))  # steps may change on resume
    _, attached = recipe_job.start(parse_recipe(shorter), shorter, ws)
    assert not attached
    done = _wait(ws, "tiny", lambda s: s.get("state") not in ("queued", "running", "stopping"))
    assert done["state"] == "finished", recipe_job.log_tail(ws, "tiny", 40)
    assert [s["state"] for s in done["steps"]] == ["done"] * 4
    assert done["steps"][0]["message"] == "done in an earlier run"
    metrics = [json.loads(line)["step"] for line in (ws / "runs/r/metrics.jsonl").read_text().splitlines()]
    assert metrics == list(range(1, at_stop + 4))  # one curve, no restart, no duplicates
    assert (ws / "adapted/a/lep_report.json").is_file()


def test_stop_mid_step_leaves_nothing_half_written(tmp_path, tiny_llama, corpus):
    """SIGTERM while propagation writes: its temporary folder is removed and the recipe reports "stopped"."""
    ws = tmp_path / "ws"
    recipe = parse_recipe(yaml.safe_dump(_recipe(tiny_llama, corpus)))
    handler = signal.getsignal(signal.SIGTERM)

    def report(index: int, fields: dict) -> None:
        if index == 3 and "state" not in fields and fields.get("message") not in (None, "", "done"):  # mid-write
            os.kill(os.getpid(), signal.SIGTERM)

    results = run_recipe(recipe, ws, log=lambda _: None, report=report)
    assert [r["state"] for r in results] == ["done", "done", "done", "stopped"]
    assert not (ws / "adapted" / "a").exists()
    assert not [p.name for p in (ws / "adapted").iterdir()]  # no temporary folder left behind
    assert signal.getsignal(signal.SIGTERM) == handler  # the recipe's own handler is gone again
    again = run_recipe(recipe, ws, log=lambda _: None)
    assert [r["state"] for r in again] == ["skipped", "skipped", "skipped", "done"]


def test_failed_step_is_recorded(tmp_path, tiny_llama, corpus):
    data = _recipe(tiny_llama, corpus)
    data["steps"][0]["extend"]["add"] = 10**6  # more tokens than the corpus can give
    recipe = parse_recipe(yaml.safe_dump(data))
    with pytest.raises(LepInputError):
        recipe_job.run_tracked(recipe, tmp_path, log=lambda _: None)
    status = recipe_job.read_status(tmp_path, "tiny")
    assert status["state"] == "failed" and "new cyrillic tokens" in status["error"]
    assert status["steps"][0]["state"] == "failed" and status["steps"][0]["error"] == status["error"]
    assert [s["state"] for s in status["steps"][1:]] == ["pending"] * 3


def test_check_reports_every_problem(tmp_path):
    bad = parse_recipe("""name: bad
steps:
  - extend: {base: models/nope, corpus: [nowhere.txt], add: -3, out: tokenizers/t, alphabett: x, tokens: letters}
  - init: {model: org/name, tokenizer: tokenizers/t, out: /etc/m, method: meen}
  - train: {model: models/m, corpus: [assets/corpus], out: runs/r, lr: fast}
  - propagate: {base: org/name, instruct: [org/name], adapted: runs/r/final, out: tokenizers/t, mode: nope}
""")
    problems = check_recipe(bad, tmp_path)
    text = "\n".join(problems)
    for expected in ("step 1 (extend): unknown setting alphabett", "step 1 (extend): add must be a whole number",
                     "step 1 (extend): tokens must be one of subwords, words (got 'letters')",
                     "step 1 (extend): base models/nope not found", "step 1 (extend): corpus nowhere.txt not found",
                     "step 2 (init): method must be one of", "step 2 (init): out /etc/m is outside the workspace",
                     "step 3 (train): lr must be a number", "step 3 (train): model models/m not found",
                     "step 4 (propagate): unknown mode 'nope'", "step 4 (propagate): out tokenizers/t is also written"):
        assert expected in text, text
    assert "org/name" not in text  # a hub id is a valid source
    with pytest.raises(LepInputError, match="outside the workspace"):
        recipe_job.start(bad, "", tmp_path)
    assert not (tmp_path / "recipes").exists()  # nothing started, nothing written


def test_existing_output_with_other_settings_is_refused(tmp_path, tiny_llama, corpus):
    data = _recipe(tiny_llama, corpus)
    data["steps"] = data["steps"][:1]
    run_recipe(parse_recipe(yaml.safe_dump(data)), tmp_path, log=lambda _: None)
    data["steps"][0]["extend"]["add"] = 50
    problems = check_recipe(parse_recipe(yaml.safe_dump(data)), tmp_path)
    assert problems == [("step 1 (extend): out tokenizers/t already exists, made with other settings "
                        "(add 60 there, 50 here): pick another out or delete it (Workspace tab)")]


def test_cli_check_exits_2_with_every_problem(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - init: {model: models/x, tokenizer: tokenizers/y, out: models/z, method: meen}\n")
    out = subprocess.run([sys.executable, "-m", "lep_core.cli.main", "run", str(recipe), "--check", "--workspace",
                          str(tmp_path)], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "method must be one of" in out.stderr and "models/x not found" in out.stderr


def test_a_stop_that_kills_the_job_before_it_records_it_reads_stopped(tmp_path):
    """Stopped while still starting up (no handler yet, e.g. importing torch): "stopped", not "failed"."""
    from lep_core.workspace import jobs

    folder = tmp_path / "job"
    jobs.spawn([sys.executable, "-c", "import time; time.sleep(60)"], folder, "job.log")
    jobs.write_status(folder, state="running")
    assert jobs.stop(folder, mark=True)
    deadline = time.time() + 30
    while jobs.read_status_raw(folder).get("state") == "stopping" and time.time() < deadline:
        time.sleep(0.1)
    status = jobs.read_status(folder)
    assert status["state"] == "stopped" and status["exit_code"] < 0


def test_runs_are_listed_per_origin_and_overwrite_reaches_lep_run(tmp_path, tiny_llama, corpus):
    """The Propagation tab's one-step jobs do not show up as the Start tab's recipes, and the other way round."""
    ws = tmp_path / "ws"
    data = _recipe(tiny_llama, corpus)
    data["steps"] = data["steps"][:1]
    text = yaml.safe_dump(data)
    status, _ = recipe_job.start(parse_recipe(text), text, ws, origin="propagation")
    _wait(ws, "tiny", lambda s: s.get("state") not in ("queued", "running", "stopping"))
    assert [r["name"] for r in recipe_job.recipe_runs(ws, "propagation")] == ["tiny"]
    assert recipe_job.recipe_runs(ws) == []  # the Start tab's list
    assert "--overwrite" not in status["command"]
    again, _ = recipe_job.start(parse_recipe(text), text, ws, overwrite=True, origin="propagation")
    assert again["command"][-1] == "--overwrite"
    done = _wait(ws, "tiny", lambda s: s.get("state") not in ("queued", "running", "stopping"))
    assert done["state"] == "finished" and done["steps"][0]["state"] == "done", recipe_job.log_tail(ws, "tiny", 20)
