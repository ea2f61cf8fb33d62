"""The Tokenizers tab in a real browser: type Russian text, see coloured pieces and the stats table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lep_core.tokenizer.extend import extend_tokenizer
from tests.browser.ui import shoot

pytestmark = pytest.mark.browser

RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю. Проверка токенизатора!"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_llama, ru_corpus) -> Path:
    """A copy of the tiny LLaMA model (the demo's real tokenizer) and that tokenizer extended by 1,000 tokens."""
    ws = tmp_path_factory.mktemp("ws_tokenizers")
    shutil.copytree(tiny_llama, ws / "models" / "tiny-llama")
    extend_tokenizer(tiny_llama, ru_corpus, 1000, ws / "tokenizers" / "tiny-llama-ru1000")
    return ws


def spaced(text: str) -> re.Pattern:
    """The text as the pieces show it: any whitespace may separate the coloured spans."""
    return re.compile(r"\s*".join(re.escape(c) for c in text if not c.isspace()))


def test_pieces_and_stats(app_server, page, workspace, screenshots):
    page.goto(app_server(workspace))
    page.get_by_role("tab", name="1 · Tokenizers").click()  # Start is the first tab
    box = page.locator("#tok-text textarea")
    pieces = page.locator("#tok-pieces-0")
    # the page's first analysis (of the sample text) is in: on a busy machine it could land after the typed text's
    expect(pieces).to_contain_text("pieces")
    box.fill(RUSSIAN)
    # the pieces re-render for the new text, one coloured span per segment
    expect(pieces).to_contain_text(spaced("булок, да выпей чаю."), timeout=30_000)
    segments = pieces.locator(".token-container")
    assert segments.count() > 20  # byte-level BPE splits Russian into many pieces
    stats = page.locator("#tok-stats")
    expect(stats).to_contain_text(str(len(RUSSIAN)))  # chars of the typed text
    text = stats.inner_text()
    assert "tiny-llama" in text and "chars/token" in text and "round-trip errors" in text
    # both tokenizers side by side: the extended one needs fewer pieces for the same text
    second = page.locator("#tok-pieces-1")
    expect(second).to_contain_text(spaced("булок, да выпей чаю."))
    assert second.locator(".token-container").count() < segments.count()
    expect(stats).to_contain_text("tiny-llama-ru1000")
    page.get_by_label("show ids").check()
    page.wait_for_timeout(1500)
    shoot(page, screenshots / "tokenizers.png")
