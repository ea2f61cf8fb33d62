"""The Training tab in a real browser: start a short run on a tiny model, watch the chart, stop, resume, reload."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import JOB_WAIT_MS, fill, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama) -> Path:
    ws = tmp_path_factory.mktemp("ws_training")
    shutil.copytree(tiny_llama, ws / "models" / "tiny")
    return ws


def _points(page) -> int:
    """Points drawn in the loss chart's first trace."""
    return page.evaluate("() => { const p = document.querySelector('#train-loss .js-plotly-plot');"
                         " return p && p.data && p.data[0] ? p.data[0].x.length : 0 }")


def test_memory_estimate_before_start_warns_when_it_does_not_fit(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="3 · Training").click()
    memory = page.locator("#train-memory")
    expect(memory).to_contain_text(re.compile(r"Memory estimate: ≈ [\d.]+ GB of [\d.]+ GB on cpu \(fp32\): fits"),
                                   timeout=30_000)
    fill(page, "train-batch", "1000000")
    expect(memory).to_contain_text("does NOT fit", timeout=30_000)
    expect(memory).to_contain_text("⚠")
    expect(memory).to_contain_text("--gradient-checkpointing")
    fill(page, "train-batch", "2")
    expect(memory).to_contain_text("fits", timeout=30_000)
    expect(memory).not_to_contain_text("NOT")


def test_start_watch_stop_resume(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="3 · Training").click()
    fill(page, "train-steps", "400")
    fill(page, "train-seq", "32")
    page.locator("#train-name input, #train-name textarea").first.fill("tab-run")
    page.locator("#train-start").click()
    status = page.locator("#train-status")
    expect(status).to_contain_text("running", timeout=JOB_WAIT_MS)
    expect(status).to_contain_text(re.compile(r"step [1-9]\d*/400"), timeout=JOB_WAIT_MS)
    page.wait_for_function("() => { const p = document.querySelector('#train-loss .js-plotly-plot');"
                           " return p && p.data && p.data[0] && p.data[0].x.length >= 2 }", timeout=60_000)
    first = _points(page)
    page.wait_for_function(f"() => document.querySelector('#train-loss .js-plotly-plot').data[0].x.length > {first}",
                           timeout=60_000)  # the chart keeps updating from the files
    # a second Start while the job runs gets a one-line message
    page.locator("#train-start").click()
    expect(page.get_by_text("already running").first).to_be_visible(timeout=30_000)

    # a reload re-attaches to the running job
    page.reload()
    page.get_by_role("tab", name="3 · Training").click()
    expect(page.locator("#train-status")).to_contain_text("tab-run", timeout=30_000)
    expect(page.locator("#train-status")).to_contain_text("running", timeout=30_000)

    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=JOB_WAIT_MS)
    run = workspace / "runs" / "tab-run"
    assert any((run / "checkpoints").iterdir())
    stopped_points = _points(page)

    page.locator("#train-resume").click()
    expect(page.locator("#train-status")).to_contain_text("running", timeout=JOB_WAIT_MS)
    page.wait_for_function(
        f"() => document.querySelector('#train-loss .js-plotly-plot').data[0].x.length > {stopped_points}", timeout=JOB_WAIT_MS)
    expect(page.locator("#train-runs")).to_contain_text("tab-run")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.wait_for_timeout(500)
    shoot(page, screenshots / "training.png")
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=JOB_WAIT_MS)
