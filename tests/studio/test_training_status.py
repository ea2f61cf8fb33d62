"""The Training tab's status line shows the corpus being read and whether the token cache was reused."""

from __future__ import annotations

from pathlib import Path

from lep_studio.tabs.training import status_text


def test_status_shows_reading_progress_and_the_cache():
    run = Path("run")
    reading = status_text(run, {"state": "running", "step": 0, "total": 5, "reading": {"done": 3 * 2**20, "total": 12 * 2**20}})
    assert "3 / 12 MB" in reading
    data = {"corpus_bytes": 5 * 2**20, "corpus_tokens": 1234567, "token_cache": {"reused": True}}
    reused = status_text(run, {"state": "running", "step": 1, "total": 5, "data": data})
    built = status_text(run, {"state": "running", "step": 1, "total": 5,
                              "data": {**data, "token_cache": {"reused": False}}})
    assert "5.0 MB" in reused and "1,234,567" in reused and "MB" not in status_text(run, {"state": "running"})
    assert reused != built and "reused" in reused
