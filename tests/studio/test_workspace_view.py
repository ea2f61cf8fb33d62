"""The Workspace tab's data and text: corpus files and unfinished runs are listed, manifests read as text."""

from __future__ import annotations

import json
import shutil

import pytest

from lep_core.errors import LepInputError
from lep_core.workspace.inventory import delete_artifact, find_artifact, inventory
from lep_studio.tabs.workspace import details, table


@pytest.fixture
def ws(tmp_path, tiny_llama):
    root = tmp_path / "ws"
    shutil.copytree(tiny_llama, root / "models" / "tiny")
    (root / "corpora").mkdir()
    (root / "corpora" / "mine.txt").write_text("Привет\n", encoding="utf-8")
    run = root / "runs" / "half"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": str(root / "models" / "tiny"), "corpus": [
        str(root / "corpora" / "mine.txt")], "out": str(run), "steps": 9, "seed": 4}), encoding="utf-8")
    (run / "status.json").write_text(json.dumps({"state": "stopped", "step": 3, "total": 9, "loss": 2.5}),
                                     encoding="utf-8")
    return root


def test_corpus_files_and_unfinished_runs_are_listed(ws):
    items = {a.name: a for a in inventory(ws)}
    assert set(items) == {"tiny", "mine.txt", "half"}
    assert items["mine.txt"].kind == "corpus" and items["mine.txt"].size_bytes == len("Привет\n".encode())
    run = items["half"]
    assert run.state == "stopped" and run.params["steps"] == 9 and run.metrics["step"] == 3
    frame = table(list(items.values()), "run")
    assert list(frame["name"]) == ["half"] and "loss=2.5" in frame.iloc[0]["headline figures"]
    text = details(run, ws)
    assert "Made by **train**" in text and "`models/tiny`" in text and "`corpora/mine.txt`" in text
    assert "No manifest" in details(items["tiny"], ws)


def test_delete_a_corpus_file_and_refuse_the_rest(ws):
    delete_artifact(ws / "corpora" / "mine.txt", ws)
    assert find_artifact(ws / "corpora" / "mine.txt", ws) is None and not list((ws / "corpora").iterdir())
    with pytest.raises(LepInputError, match="not in the workspace any more"):
        delete_artifact(ws / "corpora" / "mine.txt", ws)
    (ws / "models" / "stray.txt").write_text("x", encoding="utf-8")
    with pytest.raises(LepInputError, match="not an artefact folder"):
        delete_artifact(ws / "models" / "stray.txt", ws)
    assert (ws / "models" / "stray.txt").exists()


def test_open_sends_a_calibration_run_to_the_calibration_tab_and_a_training_run_to_training(ws):
    from lep_studio.context import AppContext
    from lep_studio.tabs.workspace import open_target

    calib = ws / "runs" / "calib"
    calib.mkdir()
    (calib / "calibration.json").write_text(json.dumps({"model": str(ws / "models" / "tiny"), "out": str(calib),
                                                        "original": str(ws / "models" / "tiny")}), encoding="utf-8")
    ctx = AppContext.create(str(ws))
    assert open_target(ctx, find_artifact(calib, ws)) == ("calibration", "calibration.current", str(calib))
    assert open_target(ctx, find_artifact(ws / "runs" / "half", ws))[:2] == ("training", "training.current")
