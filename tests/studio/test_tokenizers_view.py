"""What the Tokenizers tab computes, without a browser: labels, grouping, stats and speed."""

from __future__ import annotations

import shutil
import time

import pytest

from lep_studio.context import AppContext
from lep_studio.tabs.tokenizers import COLORS, analyse, default_text, highlighted
from lep_studio.widgets import cached_tokenizer

RU = "Привет, мир! Съешь же ещё этих мягких французских булок.\nВторая строка."


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, byte_bpe_tokenizer, metaspace_bpe_tokenizer) -> AppContext:
    root = tmp_path_factory.mktemp("ws_studio")
    for name, src in (("byte-bpe", byte_bpe_tokenizer), ("metaspace", metaspace_bpe_tokenizer)):
        dest = root / "tokenizers" / name
        dest.mkdir(parents=True)
        for f in src.glob("tokenizer*"):
            shutil.copy(f, dest / f.name)
        for f in src.glob("*.jinja"):
            shutil.copy(f, dest / f.name)
    return AppContext.create(str(root))


def test_labels_alternate_and_pieces_rebuild_the_text(ctx):
    tok = cached_tokenizer(str(ctx.workspace / "tokenizers" / "byte-bpe"))
    segments = highlighted(tok, RU, show_ids=False, show_space=False)
    assert "".join(s for s, _ in segments) == RU
    labels = [label for _, label in segments]
    assert all(a != b for a, b in zip(labels, labels[1:]))  # neighbours never merge
    assert all("\ufffd" not in s for s, _ in segments)  # byte tokens of one letter are grouped


def test_byte_fallback_letters_are_grouped(ctx):
    tok = cached_tokenizer(str(ctx.workspace / "tokenizers" / "metaspace"))
    segments = highlighted(tok, "Ёжик щёлкнул ъ", show_ids=True, show_space=False)
    assert all("\ufffd" not in s and "<0x" not in s for s, _ in segments)
    assert all(label.replace(" ", "").isdigit() for _, label in segments)  # ids as labels


def test_whitespace_glyphs_on_request(ctx):
    tok = cached_tokenizer(str(ctx.workspace / "tokenizers" / "byte-bpe"))
    shown = "".join(s for s, _ in highlighted(tok, "a b\nc", show_ids=False, show_space=True))
    assert shown == "a·b↵\nc"


def test_analyse_compares_and_reports_bad_entries(ctx):
    paths = [str(ctx.workspace / "tokenizers" / n) for n in ("byte-bpe", "metaspace")] + ["/no/such/tokenizer"]
    status, table, fig, *boxes = analyse(ctx, paths, RU, False, False)
    assert list(table["tokenizer"]) == ["byte-bpe", "metaspace"]
    assert table["× first"].iloc[0] == 1.0
    assert "not found" in status  # the third entry is named, the others still shown
    assert [b.visible for b in boxes] == [True, True, False, False]
    assert fig.data[0].y[0] == pytest.approx(table["chars/token"].iloc[0], rel=1e-3)


def test_analyse_2000_chars_under_half_a_second(ctx):
    """The tab redraws on every keystroke: a warm tokenizer must answer fast."""
    paths = [str(ctx.workspace / "tokenizers" / "byte-bpe")]
    text = (default_text() * 2)[:2000]
    analyse(ctx, paths, text, False, False)  # warm the cache
    start = time.perf_counter()
    analyse(ctx, paths, text + "ы", False, False)
    assert time.perf_counter() - start < 0.5


def test_special_tokens_are_marked(ctx):
    tok = cached_tokenizer(str(ctx.workspace / "tokenizers" / "byte-bpe"))
    special = tok.all_special_tokens[0]
    segments = highlighted(tok, f"{special}Привет", show_ids=False, show_space=False)
    assert segments[0] == (special, "special")
    assert "special" in COLORS
