"""The Vocabulary tab in a real browser: preview an extension, create it, initialise a tiny model with it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.ui import JOB_WAIT_MS, shoot

pytestmark = pytest.mark.browser

ADD = 4000  # the default: whole words (issue 14); learning them on the demo corpus takes a few seconds


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama) -> Path:
    ws = tmp_path_factory.mktemp("ws_vocabulary")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    return ws


def test_extend_create_and_initialise(app_server, page, workspace, screenshots, tmp_path):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="2 · Vocabulary").click()

    # an uploaded file is copied into workspace/corpora and joins the corpus
    mine = tmp_path / "мой_текст.txt"
    mine.write_text("Добрый вечер! Как прошёл ваш день?\n" * 20, encoding="utf-8")
    with page.expect_file_chooser() as chooser:
        page.locator("#ext-upload").click()
    chooser.value.set_files(str(mine))
    expect(page.locator("#ext-corpus")).to_contain_text("workspace · мой_текст.txt")
    assert (workspace / "corpora" / "мой_текст.txt").read_text(encoding="utf-8") == mine.read_text(encoding="utf-8")

    expect(page.locator("#ext-add input")).to_have_value(str(ADD))
    expect(page.locator("#ext-name textarea, #ext-name input").first).to_have_value(f"tiny-llama-ru{ADD}")

    page.locator("#ext-preview").click()
    status = page.locator("#ext-status")
    expect(status).to_contain_text(f"{ADD:,} new tokens", timeout=60_000)
    expect(status).to_contain_text("Nothing is written yet")
    assert not (workspace / "tokenizers" / f"tiny-llama-ru{ADD}").exists()  # preview writes nothing
    samples = page.locator("#ext-samples")
    expect(samples).to_contain_text("count in corpus")
    new_ids = [int(x) for x in re.findall(r"\b\d{5}\b", samples.inner_text()) if int(x) >= 49152]
    assert len(new_ids) >= 10  # rows of new tokens, ids after the old vocabulary
    compare = page.locator("#ext-compare")
    expect(compare).to_contain_text("after")

    page.locator("#ext-create").click()
    expect(status).to_contain_text(f"Created tokenizers/tiny-llama-ru{ADD}", timeout=60_000)
    expect(page.locator("#tok-table")).to_contain_text(f"tiny-llama-ru{ADD}")
    made = workspace / "tokenizers" / f"tiny-llama-ru{ADD}"
    manifest = json.loads((made / "lep.json").read_text(encoding="utf-8"))
    assert manifest["metrics"]["added"] == ADD and manifest["metrics"]["roundtrip_errors"] == 0
    assert manifest["params"]["tokens"] == "words"  # the tab's default unit
    shoot(page, screenshots / "vocabulary.png")

    # a second Create with the same name is refused, not silently overwritten
    page.locator("#ext-create").click()
    expect(page.get_by_text("already exists").first).to_be_visible(timeout=30_000)

    page.get_by_role("tab", name="Initialise a model").click()
    expect(page.locator("#init-name textarea, #init-name input").first).to_have_value(f"tiny-llama-tiny-llama-ru{ADD}")
    page.locator("#init-run").click()
    expect(page.locator("#init-status")).to_contain_text(f"Created models/tiny-llama-tiny-llama-ru{ADD}", timeout=JOB_WAIT_MS)
    expect(page.locator("#model-table")).to_contain_text(f"tiny-llama-tiny-llama-ru{ADD}")
    model_dir = workspace / "models" / f"tiny-llama-tiny-llama-ru{ADD}"
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == 49152 + ADD
    # the recommended head init: fitted on the demo corpus, which unties the tied tiny llama (issue 14)
    init_manifest = json.loads((model_dir / "lep.json").read_text(encoding="utf-8"))
    assert init_manifest["params"]["head_method"] == "fitted" and config["tie_word_embeddings"] is False
    assert init_manifest["metrics"]["head_fit"]["heldout_loss_after"] <= init_manifest["metrics"]["head_fit"]["heldout_loss_before"]


def test_replace_shows_the_round_trip_beyond_the_corpus(app_server, page, workspace):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="2 · Vocabulary").click()
    page.get_by_role("tab", name="Replace").click()
    page.locator("#rep-train").click()
    status = page.locator("#rep-status")
    expect(status).to_contain_text("Created tokenizers/ru-bpe-8000", timeout=JOB_WAIT_MS)
    manifest = json.loads((workspace / "tokenizers" / "ru-bpe-8000" / "lep.json").read_text(encoding="utf-8"))
    m = manifest["metrics"]
    expect(status).to_contain_text(f"{m['wide_roundtrip_errors']} of {m['wide_roundtrip_lines']} lines of held-out "
                                   f"and multi-script text (the source: {m['like_wide_roundtrip_errors']})")
    expect(status).to_contain_text(f"{m['wide_unknown_tokens']} unknown tokens there")
