"""Calibration fixtures: the demo model answers a few prompts once per session; tiny models learn them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lep_core.calibration.answers import CONVERSATIONS, answer_prompts
from lep_core.calibration.prompts import load_prompts

PROMPTS = ["What is the capital of France?", "Name three colours.", "Переведи на английский: «доброе утро».",
           "How many legs does a spider have?"]
MAX_NEW = 16


@pytest.fixture(scope="session")
def prompt_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def answers(tmp_path_factory, demo_model, prompt_file) -> Path:
    """workspace/data/answers made by the real demo model (greedy, short answers)."""
    folder = tmp_path_factory.mktemp("ws") / "data" / "answers"
    answer_prompts(str(demo_model), load_prompts(prompt_file), folder, MAX_NEW, prompts_file=str(prompt_file))
    return folder


def conversations(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / CONVERSATIONS).read_text(encoding="utf-8").splitlines()]


def calib_options(model: Path, out: Path, **overrides) -> dict:
    """A calibration of a few seconds on CPU: tiny rows, fp32, deterministic."""
    options = {"model": str(model), "out": str(out), "steps": 10, "batch_size": 2, "seq_len": 256, "lr": 1e-2,
               "warmup": 1, "eval_every": 5, "eval_batches": 2, "save_every": 5, "device": "cpu", "precision": "fp32",
               "seed": 0, "val_fraction": 0.2}
    options.update(overrides)
    return options
