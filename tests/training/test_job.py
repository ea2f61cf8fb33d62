"""The job as a child process: stop by SIGTERM and resume, the files the app reads, OS-level failures."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

from lep_core.training import job
from lep_core.training.trainer import train
from tests.training.conftest import metrics, small_options, status
from tests.training.conftest import wait_for as _wait

ROOT = Path(__file__).resolve().parents[2]


def test_stop_and_resume_matches_straight_run(tiny_llama, small_corpus, tmp_path):
    opts = dict(steps=40, batch_size=2, seq_len=32, save_every=0, eval_every=0, lr=5e-3, warmup=4)
    straight = tmp_path / "straight"
    train(small_options(tiny_llama, small_corpus, straight, **opts))

    run = tmp_path / "stopped"
    options = small_options(tiny_llama, small_corpus, run, **opts)
    job.start_job(options)
    assert job.is_active(run)
    _wait(run, lambda s: (s.get("step") or 0) >= 20 or s.get("state") in ("failed", "finished"))
    assert job.stop_job(run)
    stopped = _wait(run, lambda s: s.get("state") not in job.ACTIVE)
    assert stopped["state"] == "stopped", stopped
    k = stopped["step"]
    assert 20 <= k < 40 and (run / "checkpoints" / f"step-{k:06d}").is_dir()

    job.start_job(options, resume=True)
    done = _wait(run, lambda s: s.get("state") not in job.ACTIVE)
    assert done["state"] == "finished", job.log_tail(run)
    a, b = metrics(straight), metrics(run)
    assert [m["step"] for m in b] == list(range(1, 41))  # the curve continues without gaps or duplicates
    assert abs(a[-1]["loss"] - b[-1]["loss"]) <= 1e-4 * abs(a[-1]["loss"])
    assert abs(a[-1]["val_loss"] - b[-1]["val_loss"]) <= 1e-4 * abs(a[-1]["val_loss"])
    print(f"stop at step {k}: straight {a[-1]['loss']:.6f} vs resumed {b[-1]['loss']:.6f}")


def _cli(args: list[str], limits: dict | None = None) -> subprocess.CompletedProcess:
    def apply_limits():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write then fails with EFBIG instead of killing
        for kind, value in (limits or {}).items():
            resource.setrlimit(kind, (value, value))

    return subprocess.run([sys.executable, "-m", "lep_core.cli.main", "train", *args], capture_output=True, text=True,
                          cwd=ROOT, preexec_fn=apply_limits, timeout=300)


def _args(options: dict) -> list[str]:
    return job.train_command(options)[4:]


def test_a_write_that_fails_keeps_the_last_checkpoint(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    options = small_options(tiny_llama, small_corpus, run, steps=4, save_every=2, eval_every=0)
    train(options)
    # resume for more steps with files capped at 1 MB: the next checkpoint (12 MB of embeddings) cannot be written
    result = _cli(["--out", str(run), "--steps", "8", "--resume"], {resource.RLIMIT_FSIZE: 2**20})
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "could not write checkpoint step-6" in last and "step-000004 is kept" in last and "--resume" in last
    assert status(run)["state"] == "failed"
    assert (run / "checkpoints" / "step-000004" / "meta.json").is_file()
    assert not (run / "checkpoints" / "step-000006").exists()
    assert not any(p.name.startswith(".") for p in (run / "checkpoints").iterdir())  # no half-written checkpoint
    # and the run resumes fine once the disk is fine again
    done = train({"out": str(run), "steps": 8}, resume=True)
    assert done["state"] == "finished"


def test_out_of_memory_gives_advice(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    options = small_options(tiny_llama, small_corpus, run, steps=2, batch_size=2**20, seq_len=8, eval_every=0)
    result = _cli(_args(options), {resource.RLIMIT_AS: 5 * 2**30})
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "out of memory on cpu at step 0" in last and "--batch-size" in last and "--gradient-checkpointing" in last
    assert status(run)["state"] == "failed"


def test_accelerate_launch_single_cpu_process(tiny_llama, small_corpus, tmp_path):
    run = tmp_path / "run"
    options = small_options(tiny_llama, small_corpus, run, steps=3, eval_every=0)
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "lep_core.cli.main", "train", *_args(options), "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["state"] == "finished" and summary["steps"] == 3
    assert (run / "final" / "model.safetensors").is_file()
