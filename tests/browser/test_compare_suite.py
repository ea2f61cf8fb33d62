"""Compare · Evaluate in a real browser: the suite runs in the background on both picked models, and its
tables and charts show up (and again after a reload, read from workspace/evals/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import JOB_WAIT_MS, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, tiny_mistral) -> Path:
    ws = tmp_path_factory.mktemp("ws_suite")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    shutil.copytree(tiny_mistral, ws / "adapted" / "tiny-mistral")
    suite = ws / "corpora" / "mini-suite"
    suite.mkdir(parents=True)
    pairs = [{"sentence_good": "Кошка спит.", "sentence_bad": "Кошка спят.", "phenomenon": "agreement_number"},
             {"sentence_good": "Мы пили чай.", "sentence_bad": "Мы пил чай.", "phenomenon": "agreement_number"},
             {"sentence_good": "Я иду к врачу.", "sentence_bad": "Я иду у врачу.", "phenomenon": "prepositions"}]
    question = {"question": "Снег зимой обычно", "choices": ["белый", "зелёный", "горячий"], "answer": 0}
    (suite / "pairs.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    (suite / "choice.jsonl").write_text(json.dumps(question, ensure_ascii=False) + "\n", encoding="utf-8")
    (suite / "copy.jsonl").write_text(json.dumps({"kind": "copy", "text": "Утром шёл дождь."}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return ws


def test_suite_runs_in_the_background_and_shows_a_table_and_chart_per_task(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    page.locator("#compare-suite").get_by_text("Evaluate: the Russian suite").click()
    expect(page.locator("#compare-suite-status")).to_contain_text("No evaluation has run")

    suites = page.locator("#compare-suite-suites")
    suites.locator(".remove-all").click()  # not the built-in ru/en: a small suite of our own, typed as a path
    box = suites.locator("input")
    box.fill(str(workspace / "corpora" / "mini-suite"))
    box.press("Enter")
    box.press("Escape")
    page.locator("#compare-suite-run").click()

    status = page.locator("#compare-suite-status")
    expect(status).to_contain_text("Finished", timeout=JOB_WAIT_MS)
    pairs = page.locator("#compare-suite-table-minimal_pairs")
    for text in ("mini-suite/pairs", "agreement_number (n=2)", "prepositions (n=1)", "tiny-llama", "tiny-mistral"):
        expect(pairs).to_contain_text(text)
    expect(page.locator("#compare-suite-table-multiple_choice")).to_contain_text("accuracy_by_total_logprob")
    expect(page.locator("#compare-suite-table-copy")).to_contain_text("chars_per_generated_token")
    expect(page.locator("#compare-suite-plot-minimal_pairs .js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(page.locator("#compare-suite-table-bpc")).to_be_hidden()  # no bits-per-char task in this suite
    shoot(page, screenshots / "compare-suite.png")

    results = sorted((workspace / "evals").glob("suite-*/results.json"))
    assert len(results) == 1
    names = [m["name"] for m in json.loads(results[0].read_text(encoding="utf-8"))["models"]]
    assert names == ["tiny-llama", "tiny-mistral"]

    page.reload()  # results are read back from workspace/evals
    page.get_by_role("tab", name="5 · Compare").click()
    page.locator("#compare-suite").get_by_text("Evaluate: the Russian suite").click()
    expect(page.locator("#compare-suite-table-minimal_pairs")).to_contain_text("agreement_number (n=2)")
    expect(page.locator("#compare-suite-status")).to_contain_text("Finished")
