"""The Compare tab in a real browser: two tiny models, one prompt, both answers, a blind vote, the tally."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lep_core.sources.loading import load_tokenizer
from tests import builders
from tests.browser.ui import pick, set_number, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, tiny_mistral, byte_bpe_tokenizer, ru_corpus) -> Path:
    ws = tmp_path_factory.mktemp("ws_compare")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    shutil.copytree(tiny_mistral, ws / "adapted" / "tiny-mistral")
    shutil.copytree(tiny_llama, ws / "adapted" / "tiny-same-body")  # the same body (sorts after tiny-mistral)
    extended = builders.adapted_tiny(tiny_llama, byte_bpe_tokenizer, ru_corpus[:2], tmp_path_factory.mktemp("ext"))
    shutil.copytree(extended, ws / "adapted" / "tiny-words")  # 150 whole Russian words more than tiny-llama
    _prefer_a_new_word(ws / "adapted" / "tiny-words")
    return ws


def _prefer_a_new_word(folder: Path) -> None:
    """The random tiny model greedily writes line breaks (id 198); the first new word's (tied) row becomes twice
    that row, so greedy decoding writes the new word instead and the view has new tokens to shade."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    rows = model.get_input_embeddings().weight
    with torch.no_grad():
        rows[49152] = 2 * rows[198]  # 49152: the first id an extension of SmolLM2's tokenizer adds
    model.save_pretrained(folder)


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
    set_number(page, "compare-adapt-lines", "2")  # the copy and continuation tasks on two held-out lines
    page.locator("#compare-adapt-run").click()
    table = page.locator("#compare-adapt-table")
    expect(table).to_contain_text("new_vocab_share", timeout=120_000)
    expect(table).to_contain_text("bits_per_char_ru")
    expect(table).to_contain_text("copy_copy_recall")
    expect(table).to_contain_text("continue_original_tokens_over_emitted")
    expect(page.locator("#compare-adapt-plot .js-plotly-plot")).to_be_visible()


def _spans(page, side: str) -> list[dict]:
    return page.locator(f"#compare-tokens-{side} .lep-tok-text .lep-tok").evaluate_all(
        "els => els.map(e => ({text: e.textContent, title: e.title, cls: e.className}))")


def test_token_view_shades_new_tokens(app_server, page, workspace, screenshots, byte_bpe_tokenizer):
    """Issue 25: under each reply its tokens, new-vocabulary ones shaded apart, with ids on hover and the steps
    the original tokenizer would need; hidden in blind mode until the vote."""
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    pick(page, "compare-adapted", "adapted · tiny-words")
    page.locator("#compare-examples input").click()  # the demo prompts say what the demo model can do
    expect(page.locator("#compare-examples").get_by_role("option").first).to_contain_text("✓ · Повтори")
    page.locator("#compare-examples input").press("Escape")
    page.locator("#compare-sampling").get_by_text("Sampling").click()
    set_number(page, "compare-max-new", "24")
    page.locator("#compare-blind input").uncheck()
    page.locator("#compare-prompt textarea").fill("Повтори: Сегодня утром над рекой стоял туман.")
    page.locator("#compare-send").click()
    line = page.locator("#compare-tokens-b .lep-tok-line")
    expect(line).to_contain_text("the original tokenizer would need", timeout=90_000)
    expect(page.locator("#compare-tokens-a .lep-tok-line")).to_contain_text("(0 new)")  # A: the original model

    original_vocab = 49152  # SmolLM2's tokenizer, the tiny models' own; an extension adds ids after it
    original = load_tokenizer(byte_bpe_tokenizer)
    for side in ("a", "b"):
        spans = _spans(page, side)
        reply = page.locator(f"#compare-chat-{side} .message-row").last.inner_text()
        text = "".join(s["title"].split(" · «", 1)[1].rsplit("» · ", 1)[0] for s in spans)
        text = text.replace("␣", " ").replace("↵", "\n")  # the hover's marks for a space and a line break
        assert spans and text.split() == reply.split()  # the chat shows the same words (markdown drops line breaks)
        ids = [[int(i) for i in s["title"].split(" · ")[0].removeprefix("id ").split()] for s in spans]
        for span, span_ids in zip(spans, ids):  # shaded new exactly when an id is past the original vocabulary
            assert ("lep-tok-new" in span["cls"]) == any(i >= original_vocab for i in span_ids), span
        written = sum(len(i) for i in ids)
        needed = len(original(text, add_special_tokens=False)["input_ids"])  # SmolLM2 adds no sequence start
        assert page.locator(f"#compare-tokens-{side} .lep-tok-line").inner_text().startswith(
            f"{written} tokens ({sum(i >= original_vocab for i in sum(ids, []))} new); "
            f"the original tokenizer would need {needed} (×{needed / written:.2f})")
    new_spans = [s for s in _spans(page, "b") if "lep-tok-new" in s["cls"]]
    assert new_spans, "the adapted tiny model wrote no new token: pick another prompt for this test"
    shoot(page, screenshots / "compare-tokens.png")

    page.locator("#compare-blind input").check()  # blind: the shading would name the adapted side
    page.locator("#compare-prompt textarea").fill("Повтори: Сегодня утром над рекой стоял туман.")
    page.locator("#compare-send").click()
    expect(page.locator("#compare-vote-A")).to_be_enabled(timeout=90_000)
    assert _spans(page, "a") == [] and _spans(page, "b") == []
    page.locator("#compare-vote-tie").click()
    expect(page.locator("#compare-tokens-a .lep-tok-line")).to_contain_text("the original tokenizer would need")


@pytest.mark.skipif(not os.environ.get("LEP_DEMO_WORKSPACE"),
                    reason="set LEP_DEMO_WORKSPACE to a workspace where `lep run assets/recipes/demo.yaml` ran")
def test_demo_compare_real(app_server, page, screenshots):
    """The README's picture (demo-compare-real.png): the real demo models repeat a demo prompt side by side, with
    the token view under each reply. Needs the demo recipe's models, so it runs only when asked."""
    workspace = Path(os.environ["LEP_DEMO_WORKSPACE"])
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="5 · Compare").click()
    pick(page, "compare-original", "model · smollm2-135m-instruct")
    pick(page, "compare-adapted", "adapted · demo-ru")
    page.locator("#compare-blind input").uncheck()
    page.locator("#compare-examples input").click()
    page.locator("#compare-examples").get_by_role("option").first.click()  # the first ✓ repeat prompt
    expect(page.locator("#compare-prompt textarea")).not_to_be_empty()
    page.locator("#compare-send").click()
    expect(page.locator("#compare-tokens-b .lep-tok-line")).to_contain_text("would need", timeout=300_000)
    assert page.locator("#compare-tokens-b .lep-tok-new").count() > 1  # the legend's swatch and new tokens
    page.locator("#compare-tokens-b").scroll_into_view_if_needed()
    shoot(page, screenshots / "demo-compare-real.png")
