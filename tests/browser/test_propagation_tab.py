"""The Propagation tab in a real browser: pick base, instruct and adapted models, compare all modes, read the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lep_core.recipes.spec import load_recipe
from tests.browser.ui import JOB_WAIT_MS, pick, shoot
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
    # the picks suggest a name as the placeholder (used when the box stays empty); what the user types wins
    expect(name).to_have_attribute("placeholder", "instruct-lep-adapted")
    name.fill("tab-result")
    page.locator("#prop-run").click()
    status = page.locator("#prop-status")
    # a background job: its step row shows up while it runs, the report once it has finished
    expect(page.locator("#prop-step-1")).to_be_visible(timeout=30_000)
    expect(status).to_contain_text("Wrote adapted/tab-result", timeout=JOB_WAIT_MS)
    expect(page.locator("#prop-step-1")).to_have_attribute("data-state", "done")

    def shows_the_report() -> None:
        report = page.locator("#prop-report")
        for mode in ("conversion", "straight", "union", "bypass", "sum_conversion"):
            expect(report).to_contain_text(mode)
        expect(page.locator("#prop-result input, #prop-result textarea").first).to_have_value(
            str((workspace / "adapted" / "tab-result").resolve()))
        expect(page.locator("#prop-chart .js-plotly-plot")).to_be_visible()

    shows_the_report()
    assert (workspace / "adapted" / "tab-result" / "lep_report.json").is_file()
    page.wait_for_timeout(1000)
    shoot(page, screenshots / "propagation.png")
    # the job left a recipe that replays it, with the workspace's models written relative to it
    recipe = load_recipe(workspace / "recipes" / "propagate-tab-result" / "recipe.yaml")
    assert recipe.steps[0].args == {"base": "models/base", "instruct": ["models/instruct"], "adapted": "models/adapted",
                                    "out": "adapted/tab-result", "mode": "conversion", "ridge": 0.0,
                                    "compare_modes": True}
    page.reload()  # a new page re-attaches to the last propagation and shows its report again
    page.get_by_role("tab", name="4 · Propagation").click()
    expect(status).to_contain_text("Wrote adapted/tab-result", timeout=30_000)
    shows_the_report()


def test_a_wrong_pick_is_refused_before_any_job_starts(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="4 · Propagation").click()
    pick(page, "prop-base", "model · adapted")  # the adapted model as the base: the instruct model is not its child
    pick(page, "prop-instruct", "model · instruct")
    pick(page, "prop-adapted", "model · adapted")
    page.locator("#prop-name input, #prop-name textarea").first.fill("wrong-pick")
    page.locator("#prop-run").click()
    expect(page.get_by_text("is it fine-tuned from this base").first).to_be_visible(timeout=30_000)
    assert not (workspace / "adapted" / "wrong-pick").exists()
    assert not (workspace / "recipes" / "propagate-wrong-pick").exists()


def test_missing_input_is_a_readable_message(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="4 · Propagation").click()
    page.locator("#prop-run").click()
    expect(page.get_by_text("pick a base model").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
