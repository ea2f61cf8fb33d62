"""Data parallel for real: two CPU processes under `accelerate launch` (gloo) on a tiny model.

`accelerate launch --cpu --num_processes 2` starts one process in accelerate 1.x (several CPU processes need
MPI there); `--multi_gpu --num_processes 2` starts two through torch.distributed, and `--device cpu` makes
each an Accelerator(cpu=True): a multi-CPU run with the gloo backend, the same code path as several GPUs.

Two processes with batch 2 each read the same samples as one process with batch 4 (the global batch), so
the runs must end at the same loss up to float summation order: TOLERANCE (relative) on the final loss.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lep_core.training import job
from lep_core.training.trainer import train
from tests.training.conftest import metrics, small_options, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # relative, final training and validation loss, 2 x batch 2 against 1 x batch 4
OPTS = dict(steps=16, batch_size=2, eval_every=8, eval_batches=2, save_every=0, lr=5e-3, warmup=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(options: dict, resume: bool = False) -> subprocess.Popen:
    """Two CPU processes under accelerate, in their own process group (stopped like the app stops a job)."""
    cmd = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "lep_core.cli.main", "train"]
    cmd += job.train_command(options, resume)[4:] + ["--json"]  # the flags `lep train` gets from the app
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=400)
    return proc.returncode, out, err


def _sha(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.float().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


@pytest.fixture(scope="module")
def two_process_run(tiny_mistral, small_corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ddp") / "run"
    code, out, err = _finish(_launch(small_options(tiny_mistral, small_corpus, run, **OPTS)))
    assert code == 0, err[-3000:]
    assert len(out.strip().splitlines()) == 1  # process 0 prints the summary, process 1 nothing
    assert json.loads(out)["state"] == "finished"
    return run


def test_two_processes_finish_write_once_and_hold_the_same_rows(two_process_run, tiny_mistral):
    run = two_process_run
    records = metrics(run)
    assert [m["step"] for m in records] == list(range(1, 17))  # one writer: no line twice
    assert records[-1]["tokens"] == 16 * 2 * 2 * 32  # steps x batch x processes x seq-len
    log = (run / "train.log").read_text()
    assert log.count("finished:") == 1 and log.count("training ") == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000016"]
    assert not [p for p in run.rglob("*") if p.name.startswith(".") or "tmp" in p.name]  # no stray temporaries
    status = json.loads((run / "status.json").read_text())
    ranks = status["rank_digests"]  # sha256 of each process's trained tensors, gathered at the end
    assert len(ranks) == 2 and ranks[0] == ranks[1]
    final = load_file(str(run / "final" / "model.safetensors"))
    assert ranks[0] == [_sha(final["model.embed_tokens.weight"]), _sha(final["lm_head.weight"])]  # what rank 0 wrote
    assert not torch.equal(final["lm_head.weight"], load_file(str(tiny_mistral / "model.safetensors"))["lm_head.weight"])


def test_two_processes_match_one_process_with_the_same_global_batch(two_process_run, tiny_mistral, small_corpus,
                                                                   tmp_path):
    one = tmp_path / "one"
    # the same global batch, and the same 4 validation rows (eval_batches x batch_size)
    train(small_options(tiny_mistral, small_corpus, one, **{**OPTS, "batch_size": 4, "eval_batches": 1}))
    a, b = metrics(one)[-1], metrics(two_process_run)[-1]
    print(f"final loss: one process (batch 4) {a['loss']:.6f}, two processes (2 x batch 2) {b['loss']:.6f}; "
          f"val {a['val_loss']:.6f} vs {b['val_loss']:.6f}")
    assert b["loss"] == pytest.approx(a["loss"], rel=TOLERANCE)
    assert b["val_loss"] == pytest.approx(a["val_loss"], rel=TOLERANCE)


def test_stop_and_resume_under_two_processes(two_process_run, tiny_mistral, small_corpus, tmp_path):
    run = tmp_path / "run"
    options = small_options(tiny_mistral, small_corpus, run, **OPTS)
    proc = _launch(options)
    wait_for(run, lambda s: (s.get("step") or 0) >= 5 or s.get("state") in ("failed", "finished"), timeout=300)
    os.killpg(proc.pid, signal.SIGTERM)  # every process of the group, as the app's Stop does
    _finish(proc)
    stopped = wait_for(run, lambda s: s.get("state") not in job.ACTIVE)
    assert stopped["state"] == "stopped", job.log_tail(run)
    k = stopped["step"]
    assert 5 <= k < 16 and (run / "checkpoints" / f"step-{k:06d}").is_dir()
    code, out, err = _finish(_launch(options, resume=True))
    assert code == 0, err[-3000:]
    assert [m["step"] for m in metrics(run)] == list(range(1, 17))
    a, b = metrics(two_process_run)[-1], metrics(run)[-1]
    print(f"two processes stopped at step {k}: straight {a['loss']:.6f} vs resumed {b['loss']:.6f}")
    assert b["loss"] == pytest.approx(a["loss"], rel=TOLERANCE)
    assert json.loads((run / "status.json").read_text())["rank_digests"][0] == \
        json.loads((two_process_run / "status.json").read_text())["rank_digests"][0]  # the same rows, bit for bit
