"""The Workspace tab in a real browser: list, details, open in the tab that uses it, export a recipe, delete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.ui import pick, shoot
from tests.recipes.pipeline import build_pipeline

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, ru_corpus) -> Path:
    return build_pipeline(tmp_path_factory.mktemp("ws_workspace_tab"), tiny_llama, ru_corpus)


def open_workspace(page, url: str, theme: str = "light") -> None:
    page.goto(url + ("/?__theme=dark" if theme == "dark" else "/?__theme=light"))
    page.get_by_role("tab", name="Workspace").click()
    expect(page.locator("#ws-table")).to_contain_text("chat-ru")
    page.wait_for_timeout(1500)  # the refresh on tab select redraws the table: click rows after it


def test_list_open_export_delete(app_server, page, workspace, screenshots):
    url = app_server(workspace)
    open_workspace(page, url)
    listing = page.locator("#ws-table")
    for name in ("tok-ru", "init-ru", "run-ru", "chat-ru", "ru.txt"):
        expect(listing).to_contain_text(name)
    expect(listing).to_contain_text("finished")  # the run's state

    # a row click picks the artefact; the manifest reads as inputs, parameters and figures
    listing.get_by_text("chat-ru", exact=True).last.click()
    detail = page.locator("#ws-detail")
    expect(detail).to_contain_text("Made by propagate")
    expect(detail).to_contain_text("runs/run-ru/final")  # an input, relative to the workspace
    expect(detail).to_contain_text("heldout rel error")
    shoot(page, screenshots / "workspace.png")

    # export: the recipe of the whole chain lands in workspace/recipes/ and is offered for download
    page.locator("#ws-export").click()
    expect(page.locator("#ws-status")).to_contain_text("Wrote recipes/chat-ru.yaml", timeout=30_000)
    recipe = yaml.safe_load((workspace / "recipes" / "chat-ru.yaml").read_text(encoding="utf-8"))
    assert [next(iter(s)) for s in recipe["steps"]] == ["extend", "init", "train", "propagate"]
    expect(page.locator("#ws-recipe-file a").first).to_have_attribute("href", re.compile(r"chat-ru\.yaml$"))
    page.locator("#ws-export").click()  # a second export never replaces the first
    expect(page.locator("#ws-status")).to_contain_text("Wrote recipes/chat-ru-2.yaml", timeout=30_000)

    # open: the adapted model goes to Compare, pre-selected
    page.locator("#ws-open").click()
    expect(page.get_by_role("tab", name="5 · Compare")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#compare-adapted input")).to_have_value("adapted · chat-ru")

    # a model with new rows opens in Training, to train them next
    page.get_by_role("tab", name="Workspace").click()
    pick(page, "ws-picked", "model · init-ru")
    page.locator("#ws-open").click()
    expect(page.get_by_role("tab", name="3 · Training")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#train-model input")).to_have_value("model · init-ru")

    # a run opens in Training as the run shown
    page.get_by_role("tab", name="Workspace").click()
    pick(page, "ws-picked", "run · run-ru")
    page.locator("#ws-open").click()
    expect(page.get_by_role("tab", name="3 · Training")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#train-run input")).to_have_value("run-ru")
    expect(page.locator("#train-status")).to_contain_text("finished", timeout=15_000)

    # delete takes two clicks; cancel keeps the artefact
    page.get_by_role("tab", name="Workspace").click()
    pick(page, "ws-picked", "tokenizer · tok-ru")
    page.locator("#ws-delete").click()
    expect(page.locator("#ws-confirm-text")).to_contain_text("Delete tokenizers/tok-ru")
    page.locator("#ws-cancel").click()
    expect(page.locator("#ws-confirm-delete")).to_be_hidden()
    assert (workspace / "tokenizers" / "tok-ru" / "tokenizer.json").is_file()
    page.locator("#ws-delete").click()
    page.locator("#ws-confirm-delete").click()
    expect(page.locator("#ws-status")).to_contain_text("Deleted tokenizer · tok-ru")
    expect(listing).not_to_contain_text("tok-ru")
    assert not (workspace / "tokenizers" / "tok-ru").exists()
    assert not [p for p in (workspace / "tokenizers").iterdir()]  # no half-deleted leftovers

    # a typed path outside the workspace: a readable message, nothing written or deleted
    before = sorted(str(p) for p in workspace.rglob("*"))
    box = page.locator("#ws-picked input")
    box.fill("../../etc")
    box.press("Enter")
    page.locator("#ws-delete").click()
    expect(page.get_by_text("outside the workspace").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    assert sorted(str(p) for p in workspace.rglob("*")) == before


def test_dark_theme_screenshot(app_server, page, workspace, screenshots):
    open_workspace(page, app_server(workspace), "dark")
    page.locator("#ws-table").get_by_text("init-ru", exact=True).last.click()
    expect(page.locator("#ws-detail")).to_contain_text("Made by init")
    assert "dark" in (page.locator("body").get_attribute("class") or "") + page.evaluate(
        "document.documentElement.className + document.body.className")
    shoot(page, screenshots / "workspace-dark.png")
