"""Stop and resume a calibration: the same curve and the same final loss as a straight run."""

from __future__ import annotations

import json
import os
import signal

from lep_core.calibration.answers import CONVERSATIONS
from lep_core.calibration.run import calibrate
from tests.calibration.conftest import calib_options


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_stop_then_resume_matches_straight_run(tiny_llama, answers, tmp_path):
    chat = [str(answers / CONVERSATIONS)]
    opts = {"chat": chat, "steps": 8, "save_every": 0, "eval_every": 4}
    straight = tmp_path / "straight"
    calibrate(calib_options(tiny_llama, straight, **opts), score=False)

    run = tmp_path / "stopped"

    def stop_at_3(done: int, total: int) -> None:
        if done == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # what the app's Stop sends; the trainer saves and stops

    stopped = calibrate(calib_options(tiny_llama, run, **opts), progress=stop_at_3, score=False)
    assert stopped["state"] == "stopped" and (run / "checkpoints" / f"step-{stopped['steps']:06d}").is_dir()
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    done = calibrate({"out": str(run)}, resume=True, score=False)
    assert done["state"] == "finished"
    a, b = _metrics(straight), _metrics(run)
    assert [m["step"] for m in b] == list(range(1, 9))
    assert abs(a[-1]["loss"] - b[-1]["loss"]) <= 1e-5 * abs(a[-1]["loss"])
    assert abs(a[-1]["val_loss"] - b[-1]["val_loss"]) <= 1e-5 * abs(a[-1]["val_loss"])
    assert done["answer_loss_before"] == json.loads((straight / "final" / "lep.json").read_text())["metrics"]["answer_loss_before"]
