"""`--check`: bits-per-char of the GGUF in llama.cpp against transformers on the same ids and windows, and what
a whole-word extension costs when llama.cpp reads prompts with the old pieces (llama.cpp#7049) — closed for a
tokenizer whose llama.cpp pre-tokenizer looks words up first (Llama 3's split)."""

from __future__ import annotations

import json

import pytest

from lep_core.cli.main import main
from lep_core.export.quality import check_gguf
from tests.export.conftest import adapt


def test_f16_bits_per_char_in_llama_cpp_is_transformers_and_lep_eval(exported_family, short_texts, capsys):
    folder, gguf = exported_family("tiny_llama")
    found = check_gguf(folder, gguf, texts=short_texts)
    for label, path in short_texts.items():
        bpc = found["bits_per_char"][label]
        assert bpc["llama_cpp"] == pytest.approx(bpc["transformers"], rel=2e-3), bpc
        assert "llama_cpp_own_tokens" not in bpc  # llama.cpp cuts the text as transformers does
        assert main(["eval", "--model", str(folder), "--text", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["bits_per_char"] == bpc["transformers"]  # `lep eval`'s figure
    lines = [ln for p in short_texts.values() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert found["token_lines"] == {"lines": len(lines), "identical": len(lines), "first_mismatch": None}
    assert found["greedy"]["tokens"] == 32 and found["window"] == 512


def test_whole_word_extension_cost_is_measured_and_said(tiny_llama, export_ws, ru_corpus, short_texts):
    """SmolLM2's pre-tokenizer (smollm) builds words from the old merges: llama.cpp spells a prompt in more
    tokens than transformers, and the export says what that costs in bits-per-char."""
    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions

    folder = adapt(export_ws, tiny_llama, ru_corpus, add=40, tokens="words")
    out = export_ws / "exports" / f"{folder.name}-checked-f16.gguf"
    result = export_gguf(ExportOptions(model=str(folder), out=str(out), type="f16", check=True),
                         check_texts=short_texts)
    ru = result["check"]["bits_per_char"]["ru"]
    assert result["pre_tokenizer"] == "smollm"
    assert ru["llama_cpp_tokens"] > ru["tokens"]  # the old pieces: more tokens for the same text
    assert ru["llama_cpp"] == pytest.approx(ru["transformers"], rel=2e-3)  # on transformers' ids: the same model
    assert ru["own_tokens_ratio"] == pytest.approx(ru["llama_cpp_own_tokens"] / ru["transformers"])
    assert result["check"]["token_lines"]["identical"] < result["check"]["token_lines"]["lines"]
    note = result["note"]
    assert f"{ru['llama_cpp_tokens']:,} tokens instead of {ru['tokens']:,}" in note
    assert f"{ru['llama_cpp_own_tokens']:.4f} bits/char in llama.cpp" in note
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert note in card and "as llama.cpp spells it" in card


def test_whole_words_read_as_transformers_does_under_llama_3s_pre_tokenizer(tiny_llama3_style, export_ws, ru_corpus,
                                                                              heldout_ru):
    """A tokenizer with Llama 3's split: llama.cpp's llama-bpe looks a whole pre-token up first, so the
    whole-word extension reads prompts exactly as transformers does, and no cost note is written."""
    from llama_cpp import Llama

    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions
    from lep_core.export.quality import token_lines
    from lep_core.sources.loading import load_tokenizer
    from tests.export.conftest import held_out_lines

    folder = adapt(export_ws, tiny_llama3_style, ru_corpus, add=40, tokens="words")
    out = export_ws / "exports" / f"{folder.name}-f16.gguf"
    result = export_gguf(ExportOptions(model=str(folder), out=str(out), type="f16"))
    assert result["pre_tokenizer"] == "llama-bpe" and result["pre_tokenizer_decision"]["source"] == "pattern"
    assert "note" not in result
    tok = load_tokenizer(folder)
    lines = held_out_lines(heldout_ru, 120)
    found = token_lines(Llama(model_path=str(out), vocab_only=True, verbose=False), tok, lines)
    assert found["identical"] == len(lines), found["first_mismatch"]
    new_words = set(range(49152, len(tok)))
    used = {i for line in lines for i in tok.encode(line, add_special_tokens=False)} & new_words
    assert used  # the held-out text does use whole-word tokens, so the comparison means something
