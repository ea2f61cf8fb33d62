"""The Replace step's status (the real handler of the real app): the round trip beyond the corpus.

The figures the status shows are worked out here with plain transformers on the same texts (the held-out files
and the multi-script sample), not read back from the manifest the handler just wrote.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

from lep_core.tokenizer.analysis import WIDE_SAMPLE
from tests.studio.test_bad_input import app, handler, outcome  # noqa: F401 (app is a fixture)

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def round_trip(folder: str | Path) -> tuple[int, int, int]:
    """(lines that do not decode back to themselves, lines, <unk> tokens) over the held-out texts and WIDE_SAMPLE."""
    tok = AutoTokenizer.from_pretrained(folder)
    texts = [(ASSETS / name).read_text(encoding="utf-8") for name in ("heldout_ru.txt", "heldout_en.txt")]
    lines = [line for text in texts + WIDE_SAMPLE for line in text.split("\n") if line]
    ids = [tok(line, add_special_tokens=False, split_special_tokens=True)["input_ids"] for line in lines]
    wrong = sum(tok.decode(x, skip_special_tokens=False, clean_up_tokenization_spaces=False) != line
                for x, line in zip(ids, lines))
    unknown = sum(x.count(tok.unk_token_id) for x in ids) if tok.unk_token_id is not None else 0
    return wrong, len(lines), unknown


def test_replace_status_shows_the_round_trip_beyond_the_corpus(app, monkeypatch):  # noqa: F811
    ctx, demo = app
    corpus = [str(ctx.workspace / "corpora" / "mine.txt")]
    like = str(ctx.workspace / "models" / "tiny")
    status = outcome(handler(demo, "rep-train"), [corpus, 400, "bpe", like, "wide", False], monkeypatch)
    wrong, lines, unknown = round_trip(ctx.workspace / "tokenizers" / "wide")
    like_wrong, like_lines, _ = round_trip(like)
    assert lines == like_lines > 50
    assert unknown == 0  # a replacement keeps the source's byte-level guarantee: every character is spelled
    assert (f"**{wrong} of {lines} lines** of held-out and multi-script text (the source: {like_wrong}), "
            f"{unknown} unknown tokens there") in status
