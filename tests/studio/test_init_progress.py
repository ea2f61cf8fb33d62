"""The Vocabulary tab's "Initialise" progress bar moves: init_model reports each stage."""

from __future__ import annotations

from lep_core.embeddings.init import init_model
from lep_core.tokenizer.extend import extend_tokenizer


def test_init_model_reports_progress(tmp_path, tiny_llama, ru_corpus):
    tok = tmp_path / "tok"
    extend_tokenizer(tiny_llama, [ru_corpus[0]], 10, tok)
    seen: list[tuple[float, str]] = []
    init_model(tiny_llama, tok, tmp_path / "model", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions) and len(seen) >= 4
    assert any("saving" in m for _, m in seen) and (tmp_path / "model" / "lep.json").is_file()
