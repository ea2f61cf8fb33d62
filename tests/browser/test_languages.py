"""The app in English and Russian (issue 20): the browser's language picks it, the header's switch changes it
and the choice survives a reload. Tab names, a help text and an error message are checked in both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lep_studio.locales import EN, RU
from tests.browser.ui import shoot

pytestmark = pytest.mark.browser

WAIT_MS = 30_000  # a loaded 2-core machine can take seconds to render a page
TAB_KEYS = ("tab.start", "tab.tokenizers", "tab.training", "tab.export", "tab.workspace")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama) -> Path:
    """A model but nothing adapted: the Export tab starts with no model picked."""
    ws = tmp_path_factory.mktemp("ws_languages")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    return ws


def open_in(browser, url: str, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator("#start-status")).not_to_be_empty(timeout=WAIT_MS)  # the page has loaded its data
    return context, page


def check_language(page, table: dict[str, str]) -> None:
    tabs = page.locator("#lep-tabs [role=tab]")
    for key in TAB_KEYS:
        expect(tabs.filter(has_text=table[key])).to_have_count(1, timeout=WAIT_MS)
    page.get_by_role("tab", name=table["tab.training"]).click()
    help_text = table["training.usually_the_model_initialised"]  # an info= text
    expect(page.locator("#train-model")).to_contain_text(help_text, timeout=WAIT_MS)
    page.get_by_role("tab", name=table["tab.export"]).click()
    page.locator("#exp-run").click()  # no model picked: the handler's error, in the page's language
    expect(page.locator(".toast-body").first).to_contain_text(table["export.msg.pick_a_model_first"], timeout=WAIT_MS)


@pytest.mark.parametrize("locale, table", [("en-US", EN), ("ru-RU", RU)], ids=["english", "russian"])
def test_browser_language(app_server, browser, workspace, locale, table, screenshots):
    context, page = open_in(browser, app_server(workspace), locale)
    try:
        expect(page.locator("#lep-lang input:checked")).to_have_value(locale[:2], timeout=WAIT_MS)  # the switch's state
        check_language(page, table)
        if table is RU:
            page.get_by_role("tab", name=RU["tab.start"]).click()
            shoot(page, screenshots / "start_ru.png")
            page.get_by_role("tab", name=RU["tab.training"]).click()
            shoot(page, screenshots / "training_ru.png")
    finally:
        context.close()


def test_switch_persists_across_reloads(app_server, browser, workspace):
    url = app_server(workspace)
    context, page = open_in(browser, url, "en-US")
    try:
        with page.expect_navigation():
            page.locator("#lep-lang").get_by_text("Русский").click()  # stores the choice and reloads
        expect(page.get_by_role("tab", name=RU["tab.tokenizers"])).to_be_visible(timeout=WAIT_MS)
        again = context.new_page()  # a new tab of the same browser remembers it, though the browser says English
        again.goto(url)
        expect(again.get_by_role("tab", name=RU["tab.tokenizers"])).to_be_visible(timeout=WAIT_MS)
        check_language(again, RU)  # the server's messages follow the choice too
        with again.expect_navigation():
            again.locator("#lep-lang").get_by_text("English").click()
        expect(again.get_by_role("tab", name=EN["tab.tokenizers"])).to_be_visible(timeout=WAIT_MS)
    finally:
        context.close()
