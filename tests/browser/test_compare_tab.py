"""The Compare tab in a real browser: two tiny models, one prompt, both answers, a blind vote, the tally."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import pick, set_number, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, tiny_mistral) -> Path:
    ws = tmp_path_factory.mktemp("ws_compare")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    shutil.copytree(tiny_mistral, ws / "adapted" / "tiny-mistral")
    shutil.copytree(tiny_llama, ws / "adapted" / "tiny-same-body")  # the same body (sorts after tiny-mistral)
    return ws


def test_blind_round_vote_and_tally(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    votes = page.locator("#compare-vote-A")
    expect(votes).to_be_disabled()

    page.locator("#compare-send").click()  # empty prompt: a readable message, nothing sent
    expect(page.get_by_text("The prompt is empty").first).to_be_visible()

    page.locator("#compare-sampling").get_by_text("Sampling").click()
    set_number(page, "compare-max-new", "16")  # tiny random models only babble: a short reply keeps the test fast
    page.locator("#compare-prompt textarea").fill("Привет! Расскажи о пчёлах.")
    page.locator("#compare-send").click()
    expect(votes).to_be_enabled(timeout=90_000)  # enabled only once both answers are in
    for side in ("a", "b"):
        chat = page.locator(f"#compare-chat-{side}")
        expect(chat).to_contain_text("Привет! Расскажи о пчёлах.")
        expect(page.locator(f"#compare-stats-{side}")).to_contain_text("chars/s")
        expect(page.locator(f"#compare-stats-{side}")).to_contain_text("done")
        assert int(page.locator(f"#compare-stats-{side}").inner_text().split(" tokens")[0]) <= 16
    expect(page.locator("#compare-chat-a")).to_contain_text("Model A")  # names hidden before the vote

    votes.click()
    status = page.locator("#compare-vote-status")
    expect(status).to_contain_text("Vote recorded")
    expect(status).to_contain_text("original model")  # names revealed after the vote
    expect(votes).to_be_disabled()
    tally = page.locator("#compare-tally")
    expect(tally).to_contain_text("adapted/tiny-mistral")
    expect(tally).to_contain_text("models/tiny-llama")
    shoot(page, screenshots / "compare.png")

    lines = (workspace / "evals" / "votes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    vote = json.loads(lines[0])
    assert vote["choice"] == "A" and sorted(vote["roles"].values()) == ["adapted", "original"]
    assert vote["prompt"] == "Привет! Расскажи о пчёлах." and set(vote["outputs"]) == {"A", "B"}

    page.get_by_role("button", name="Export transcript (JSONL + Markdown)").click()
    expect(page.get_by_text(".md").first).to_be_visible()
    exported = sorted((workspace / "evals" / "transcripts").glob("*"))
    assert [p.suffix for p in exported] == [".jsonl", ".md"]
    assert "Привет! Расскажи о пчёлах." in exported[1].read_text(encoding="utf-8")

    page.reload()  # the tally is read from the vote file on every page load
    page.get_by_role("tab", name="5 · Compare").click()
    expect(page.locator("#compare-tally")).to_contain_text("adapted/tiny-mistral")


def test_evaluate_panel_scores_both_models(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    page.locator("#compare-eval").get_by_text("Evaluate: bits-per-char").click()
    page.locator("#compare-eval-run").click()
    table = page.locator("#compare-eval-table")
    expect(table).to_contain_text("adapted/tiny-mistral", timeout=90_000)
    expect(table).to_contain_text("models/tiny-llama")
    expect(page.locator("#compare-eval-plot .js-plotly-plot")).to_be_visible()


def test_adaptation_bench_in_the_evaluate_panel(app_server, page, workspace):
    """Issue 14: the adaptation bench as a table and a chart; a pair that shares no body gets one readable line."""
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    page.locator("#compare-eval").get_by_text("Evaluate: bits-per-char").click()
    set_number(page, "compare-adapt-max-new", "8")
    page.locator("#compare-adapt-run").click()  # tiny-llama vs tiny-mistral: not the same body
    expect(page.get_by_text("does not share the original's body").first).to_be_visible(timeout=60_000)
    pick(page, "compare-adapted", "adapted · tiny-same-body")
    page.locator("#compare-adapt-run").click()
    table = page.locator("#compare-adapt-table")
    expect(table).to_contain_text("new_vocab_share", timeout=120_000)
    expect(table).to_contain_text("bits_per_char_ru")
    expect(page.locator("#compare-adapt-plot .js-plotly-plot")).to_be_visible()
