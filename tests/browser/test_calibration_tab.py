"""The Calibration tab in a real browser: self-calibrate a tiny adapted model on the demo model's answers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import JOB_WAIT_MS, fill, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_mistral, demo_model) -> Path:
    ws = tmp_path_factory.mktemp("ws_calibration")
    shutil.copytree(tiny_mistral, ws / "adapted" / "tiny-adapted")
    (ws / "models").mkdir()
    (ws / "models" / "smollm2-135m-instruct").symlink_to(Path(demo_model).resolve())
    return ws


def test_self_calibration_shows_answers_then_the_loss_chart(app_server, page, workspace, tmp_path, screenshots):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is the capital of France?\nName three colours.\n", encoding="utf-8")
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="4b · Calibration").click()
    expect(page.locator("#calib-model input")).to_have_value("adapted · tiny-adapted")
    page.locator("#calib-prompts input[type=file]").set_input_files(str(prompts))
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("Name a planet.\n", encoding="utf-8")
    page.locator("#calib-more").get_by_text("More options").click()
    page.locator("#calib-heldout input[type=file]").set_input_files(str(heldout))
    fill(page, "calib-steps", "6")
    fill(page, "calib-max-new", "8")
    fill(page, "calib-seq", "256")
    page.locator("#calib-name input, #calib-name textarea").first.fill("tab-calib")
    page.locator("#calib-start").click()
    status = page.locator("#calib-status")
    expect(status).to_contain_text("tab-calib", timeout=60_000)
    expect(page.locator("#calib-command textarea")).to_have_value(
        re.compile(r"lep calibrate .*--original .*--max-new-tokens 8.*--heldout-prompts \S+heldout"))
    expect(status).to_contain_text("finished", timeout=JOB_WAIT_MS)
    page.wait_for_function("() => { const p = document.querySelector('#calib-loss .js-plotly-plot');"
                           " return p && p.data && p.data[0] && p.data[0].x.length >= 6 }", timeout=60_000)
    expect(status).to_contain_text("loss on the answers: before")
    expect(status).to_contain_text("bits per char of held-out prompts' answers: before", timeout=60_000)
    expect(status).to_contain_text("5 · Compare")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    run = workspace / "runs" / "tab-calib"
    manifest = json.loads((run / "final" / "lep.json").read_text())
    assert manifest["params"]["operation"] == "calibrate"
    assert (workspace / "data" / "tab-calib-answers" / "conversations.jsonl").is_file()
    shoot(page, screenshots / "calibration.png")
    # the calibrated model is offered in Compare after a reload
    page.reload()
    page.get_by_role("tab", name="5 · Compare").click()
    page.locator("#compare-adapted input").click()
    expect(page.get_by_role("option", name="run · tab-calib")).to_be_visible(timeout=30_000)
