"""Issue 26 faults 3, 9, 11, 12, 13, 14 on real runs of the tiny LLaMA: the run folder is the user's, and a kill,
a second start, an edit or an --overwrite never costs them what they had."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lep_core.errors import LepInputError, LepJobError
from lep_core.training.trainer import train
from lep_core.workspace.atomic import leftovers
from tests.training.conftest import metrics, small_options, status

ROOT = Path(__file__).resolve().parents[2]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def lep(*args, env: dict | None = None, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lep_core.cli.main", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **popen)


def cli_args(options: dict) -> list[str]:
    from lep_core.training.job import train_command

    return train_command(options)[4:]


def test_fault_11_out_into_another_models_folder_is_refused_before_anything_is_written(tiny_llama, small_corpus,
                                                                                         tmp_path):
    victim = tmp_path / "victim"
    import shutil

    shutil.copytree(tiny_llama, victim)
    before = digest(victim)
    for overwrite in (False, True):  # not even --overwrite replaces a folder LEP did not make as a run
        with pytest.raises(LepInputError, match="did not make as a run"):
            train(small_options(tiny_llama, small_corpus, victim, steps=1), overwrite=overwrite)
    with pytest.raises(LepInputError, match="is the model folder"):
        train(small_options(victim, small_corpus, victim, steps=1))  # --out equal to --model
    assert digest(victim) == before and sorted(p.name for p in tmp_path.iterdir()) == ["victim"]
    result = lep("train", *cli_args(small_options(tiny_llama, small_corpus, victim, steps=1)), "--overwrite")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert digest(victim) == before


def test_fault_3_overwrite_keeps_the_previous_run_until_the_new_one_has_finished(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    train(small_options(tiny_llama, small_corpus, run, steps=2, save_every=1))
    before = digest(run)
    # an --overwrite run SIGKILLed while it writes its second checkpoint ...
    killed = lep("train", *cli_args(small_options(tiny_llama, small_corpus, run, steps=6, save_every=1)), "--overwrite",
                 env={"LEP_TEST_KILL_AT": "tmp-written#2"})
    assert killed.returncode == -9
    assert digest(run) == before  # ... and one that fails (the loss explodes) leave the old run as it was
    with pytest.raises(LepJobError, match="became"):
        train(small_options(tiny_llama, small_corpus, run, steps=4, lr=1e38, warmup=0, max_grad_norm=0.0),
              overwrite=True)
    assert digest(run) == before
    assert [lo.kind for lo in leftovers(tmp_path, "run")] == []  # the failed run's folder is gone, the killed one's
    # was cleaned when the failed run started; a finished --overwrite then replaces the run in one rename
    summary = train(small_options(tiny_llama, small_corpus, run, steps=3, save_every=0), overwrite=True)
    assert summary["state"] == "finished" and summary["out"] == str(run) and summary["final"] == str(run / "final")
    assert [m["step"] for m in metrics(run)][-1] == 3 and status(run)["total"] == 3
    assert json.loads((run / "config.json").read_text())["steps"] == 3
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_fault_12_two_runs_started_at_once_on_one_folder_one_is_refused(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    cmds = [[sys.executable, "-m", "lep_core.cli.main", "train",
             *cli_args(small_options(tiny_llama, small_corpus, run, steps=steps, lr=lr))] for steps, lr in ((6, 1e-2), (4, 2e-2))]
    procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for c in cmds]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refusal = next(err for code, err in outcomes if code == 2).strip().splitlines()
    assert len(refusal) == 1 and "in use by a running job (pid" in refusal[0] and "lep train" in refusal[0]
    winner = next(i for i, (code, _) in enumerate(outcomes) if code == 0)
    steps, lr = ((6, 1e-2), (4, 2e-2))[winner]
    config, manifest, state = (json.loads((run / f).read_text()) for f in ("config.json", "lep.json", "status.json"))
    assert (config["steps"], config["lr"], manifest["params"]["lr"]) == (steps, lr, lr)
    assert (state["state"], state["step"], state["total"]) == ("finished", steps, steps)
    assert [m["step"] for m in metrics(run)] == list(range(1, steps + 1))


def test_fault_13_a_run_has_its_own_copy_of_the_tokens_and_a_damaged_cache_entry_is_rebuilt(tiny_llama, small_corpus,
                                                                                             tmp_path):
    first = tmp_path / "first"
    train(small_options(tiny_llama, small_corpus, first, steps=1))
    entry = Path(status(first)["data"]["token_cache"]["path"])
    own, cached = first / "data" / "tokens.bin", entry / "tokens.bin"
    assert own.stat().st_ino != cached.stat().st_ino and own.read_bytes() == cached.read_bytes()
    good = cached.read_bytes()
    with open(own, "r+b") as f:  # a user truncates the run's copy: the cache entry does not change
        f.truncate(100)
    assert cached.read_bytes() == good
    with pytest.raises(LepInputError, match="the run's data was changed"):  # and the run says so, in one line
        train({"out": str(first)}, resume=True)
    for damage in ("truncate", "edit"):  # the entry itself cut short, or one id changed: rebuilt, never read
        with open(cached, "r+b") as f:
            if damage == "truncate":
                f.truncate(100)
            else:
                f.seek(10)
                f.write(bytes([good[10] ^ 0xFF]))
        run = tmp_path / damage
        summary = train(small_options(tiny_llama, small_corpus, run, steps=1))
        assert summary["state"] == "finished"
        assert status(run)["data"]["token_cache"]["reused"] is False
        assert cached.read_bytes() == good


def test_fault_9_allow_pickle_is_a_real_flag_of_the_resume_it_is_named_in(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    options = small_options(tiny_llama, small_corpus, run, steps=4, save_every=2)
    stopped = lep("train", *cli_args(options), env={"LEP_TEST_KILL_AT": "tmp-begun#2"})  # killed after step-2
    assert stopped.returncode == -9
    state = run / "checkpoints" / "step-000002" / "state.pt"
    saved = torch.load(state, weights_only=True)
    saved["note"] = argparse_namespace()  # an object only the full unpickler rebuilds (as older checkpoints held)
    torch.save(saved, state)
    refused = lep("train", "--out", run, "--resume")
    assert refused.returncode == 2, refused.stderr
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("lep: error")]  # after the run's log lines
    assert len(errors) == 1 and "--allow-pickle" in errors[0] and "state.pt" in errors[0], refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.strip().splitlines()[-1] == errors[0]
    done = lep("train", "--out", run, "--resume", "--allow-pickle", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "finished" and status(run)["step"] == 4


def argparse_namespace():
    import argparse

    return argparse.Namespace(saved_by="an older tool")


def test_fault_14_a_killed_write_leaves_no_leftover_after_the_next_start(tiny_llama, small_corpus, tmp_path):
    from tests.workspace.helpers import killed_at

    tok = tmp_path / "tokenizers" / "ru"
    code = ("import sys\nfrom lep_core.tokenizer.extend import extend_tokenizer\n"
            "extend_tokenizer(sys.argv[1], [sys.argv[2]], 30, sys.argv[3])")
    assert killed_at("tmp-written", code, str(tiny_llama), str(small_corpus), str(tok)) == -9
    left = leftovers(tok.parent, "ru")
    assert len(left) == 1 and left[0].dead and left[0].path.is_dir() and not tok.exists()
    from lep_core.workspace.inventory import list_leftovers

    assert [r.state for r in list_leftovers(tmp_path)] == ["writer gone"]  # the Workspace tab lists it
    from lep_core.tokenizer.extend import extend_tokenizer

    extend_tokenizer(str(tiny_llama), [str(small_corpus)], 30, tok)  # the same command again, no --overwrite
    assert leftovers(tok.parent) == [] and (tok / "lep.json").is_file()
