from __future__ import annotations

import json

from lep_core.evaluation.transcripts import to_markdown, write_transcripts

TURNS = [{"round_id": "r1", "prompt": "Привет", "sampling": {"greedy": True},
          "replies": {"A": {"model": "orig", "role": "original", "text": "Здравствуйте!", "tokens": 5,
                            "seconds": 0.5, "chars_per_s": 26.0},
                      "B": {"model": "adapted", "role": "adapted", "text": "Привет!", "tokens": 2,
                            "seconds": 0.2, "chars_per_s": 35.0}}}]


def test_jsonl_and_markdown(tmp_path):
    jsonl, md = write_transcripts(tmp_path / "evals" / "x", TURNS)
    assert [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()] == TURNS
    text = md.read_text(encoding="utf-8")
    assert "Привет" in text and "### A: orig (original)" in text and "5 tokens" in text
    assert to_markdown([]).startswith("# ")
