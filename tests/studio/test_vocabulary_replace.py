"""The Replace step's status (the real handler of the real app): the round trip beyond the corpus."""

from __future__ import annotations

import json

from tests.studio.test_bad_input import app, handler, outcome  # noqa: F401 (app is a fixture)


def test_replace_status_shows_the_round_trip_beyond_the_corpus(app, monkeypatch):  # noqa: F811
    ctx, demo = app
    corpus = [str(ctx.workspace / "corpora" / "mine.txt")]
    like = str(ctx.workspace / "models" / "tiny")
    status = outcome(handler(demo, "rep-train"), [corpus, 400, "bpe", like, "wide", False], monkeypatch)
    m = json.loads((ctx.workspace / "tokenizers" / "wide" / "lep.json").read_text(encoding="utf-8"))["metrics"]
    assert m["wide_roundtrip_lines"] > 50 and m["wide_unknown_tokens"] == 0
    assert (f"**{m['wide_roundtrip_errors']} of {m['wide_roundtrip_lines']} lines** of held-out and multi-script "
            f"text (the source: {m['like_wide_roundtrip_errors']})") in status
