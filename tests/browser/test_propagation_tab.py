"""The Propagation tab in a real browser: pick base, instruct and adapted models, compare all modes, read the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import pick, shoot
from tests.propagation.conftest import make_world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, ru_corpus) -> Path:
    """models/base (tiny LLaMA, the demo's tokenizer), models/instruct (= base·Q), models/adapted (extended + trained)."""
    from lep_core.tokenizer.extend import extend_tokenizer

    root = tmp_path_factory.mktemp("prop_tab_build")
    extend_tokenizer(tiny_llama, ru_corpus[:2], 100, root / "ext")
    ws = tmp_path_factory.mktemp("ws_propagation")
    models = ws / "models"
    models.mkdir()
    world = make_world(root / "world", tiny_llama, root / "ext")
    for name, src in (("base", world.base), ("instruct", world.instruct), ("adapted", world.adapted)):
        shutil.copytree(src, models / name)
    return ws


def test_compare_all_modes(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="4 · Propagation").click()
    pick(page, "prop-base", "model · base")
    pick(page, "prop-instruct", "model · instruct")
    pick(page, "prop-adapted", "model · adapted")
    page.locator("#prop-compare input").check()
    name = page.locator("#prop-name input, #prop-name textarea").first
    expect(name).to_have_value("instruct-lep-adapted")  # the suggestion lands first; typing after it wins
    name.fill("tab-result")
    page.locator("#prop-run").click()
    status = page.locator("#prop-status")
    expect(status).to_contain_text("adapted/tab-result", timeout=120_000)
    report = page.locator("#prop-report")
    for mode in ("conversion", "straight", "union", "bypass", "sum_conversion"):
        expect(report).to_contain_text(mode)
    expect(page.locator("#prop-result input, #prop-result textarea").first).to_have_value(
        str((workspace / "adapted" / "tab-result").resolve()))
    expect(page.locator("#prop-chart .js-plotly-plot")).to_be_visible()
    assert (workspace / "adapted" / "tab-result" / "lep_report.json").is_file()
    page.wait_for_timeout(1000)
    shoot(page, screenshots / "propagation.png")


def test_missing_input_is_a_readable_message(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="4 · Propagation").click()
    page.locator("#prop-run").click()
    expect(page.get_by_text("pick a base model").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
