"""Helpers for the training tests: small, deterministic runs on the tiny models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="session")
def small_corpus() -> Path:
    return ASSETS / "corpus" / "01_dialogues.txt"


def small_options(model: Path, corpus: Path, out: Path, **overrides) -> dict:
    """A run of a few seconds on CPU: tiny blocks, fp32, deterministic."""
    options = {"model": str(model), "corpus": [str(corpus)], "out": str(out), "steps": 12, "batch_size": 2,
               "seq_len": 32, "lr": 1e-2, "warmup": 2, "eval_every": 6, "eval_batches": 2, "save_every": 6,
               "device": "cpu", "precision": "fp32", "seed": 0}
    options.update(overrides)
    return options


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def wait_for(run: Path, until, timeout: float = 240.0) -> dict:
    """Poll the run's status.json until `until(status)` holds; on timeout fail with the status and the log tail."""
    from lep_core.training import job

    end = time.time() + timeout
    while time.time() < end:
        state = job.read_status(run) or {}
        if until(state):
            return state
        time.sleep(0.05)
    raise AssertionError(f"timed out; status {job.read_status(run)}; log:\n{job.log_tail(run)}")
