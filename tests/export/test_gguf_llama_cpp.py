"""GGUF exports run in llama.cpp (llama-cpp-python): same token ids as the Hugging Face tokenizer, same greedy text.

One adapted tiny model per tokenizer family (extended by Russian tokens, so llama.cpp's converter no longer
recognises the byte-level BPE pre-tokenizer by its hash), plus the demo model adapted with 3,000 tokens.
"""

from __future__ import annotations

import json

import pytest

from lep_core.export.verify import verify_gguf
from tests.export.conftest import FAMILIES, adapt, held_out_lines

QUESTION = "Привет! Расскажи коротко, что такое осень."


@pytest.mark.parametrize("family", FAMILIES)
def test_family_runs_in_llama_cpp(family, exported_family, heldout_ru, heldout_en):
    folder, gguf = exported_family(family)
    lines = held_out_lines(heldout_ru, 60) + held_out_lines(heldout_en, 30)
    found = verify_gguf(folder, gguf, lines, QUESTION, new_tokens=32)
    assert found["tokens"]["identical"] == len(lines), found["tokens"]["first_mismatch"]
    # a random tiny model's logits are nearly flat: where two tokens tie within 1e-3 f16 may pick either, and the
    # free-running texts part there; step by step, llama.cpp picks transformers' token everywhere else
    steps = found["stepwise"]
    assert steps["steps"] == 32 and steps["different"] == 0 and steps["tied"] <= 3, steps
    agree = steps["steps"] if steps["first_tie"] is None else steps["first_tie"]  # every step, when none tied
    assert found["greedy_llama_cpp"][:agree] == found["greedy_hf"][:agree], (agree, found["greedy_hf"], found["greedy_llama_cpp"])


def test_extended_byte_bpe_is_mapped_to_the_original_pre_tokenizer(exported_family):
    """The extended SmolLM2 tokenizer's own hash is unknown to llama.cpp; the export writes the original's type."""
    from gguf import GGUFReader

    folder, gguf = exported_family("tiny_llama")
    field = GGUFReader(gguf).fields["tokenizer.ggml.pre"]
    assert bytes(field.parts[field.data[0]]).decode() == "smollm"
    manifest = json.loads((folder / "lep.json").read_text(encoding="utf-8"))
    assert manifest["exports"][-1]["pre_tokenizer"] == "smollm"


def test_padded_rows_are_dropped_from_the_gguf_and_suppressed_in_the_folder(exported_family):
    from gguf import GGUFReader

    from lep_core.sources.loading import load_tokenizer

    folder, gguf = exported_family("tiny_qwen2")
    tokens = len(load_tokenizer(folder))
    rows = json.loads((folder / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    assert rows > tokens  # the 60 new tokens took 60 of the 64 spare rows; the rest stay padding
    reader = GGUFReader(gguf)
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == tokens
    for name in ("token_embd.weight", "output.weight"):
        tensor = next(t for t in reader.tensors if t.name == name)
        assert max(int(x) for x in tensor.shape) == tokens, name
    generation = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["suppress_tokens"] == list(range(tokens, rows))


def test_padded_rows_are_never_generated_by_transformers(adapted_family):
    """Even with the padded head rows made the most likely, generate() never picks them."""
    import torch
    from transformers import AutoModelForCausalLM

    from lep_core.sources.loading import load_tokenizer

    folder = adapted_family("tiny_qwen2")
    tokens = len(load_tokenizer(folder))
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.lm_head.weight[tokens:] = model.lm_head.weight[:tokens].abs().max() * 50
    out = model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=8, do_sample=False)
    assert int(out[0, 3:].max()) < tokens
    model.generation_config.suppress_tokens = None  # the same call without the guard picks a padded row
    out = model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=8, do_sample=False)
    assert int(out[0, 3:].max()) >= tokens


@pytest.mark.slow
def test_demo_adapted_model_runs_in_llama_cpp(demo_model, ru_corpus, heldout_ru, heldout_en, tmp_path_factory):
    """The demo model with 3,000 Russian tokens (extend -> init -> propagate; no training, which changes no
    token id): 200 held-out Russian pieces tokenize identically and the f16 greedy answer matches for 32 tokens."""
    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions

    ws = tmp_path_factory.mktemp("demo_export")
    folder = adapt(ws, demo_model, ru_corpus, add=3000)
    result = export_gguf(ExportOptions(model=str(folder), out=str(ws / "demo-ru.gguf"), type="f16"))
    assert result["pre_tokenizer"] == "smollm"
    lines = held_out_lines(heldout_ru, 200)
    found = verify_gguf(folder, ws / "demo-ru.gguf", lines + held_out_lines(heldout_en, 50), QUESTION)
    print(f"demo f16: {result['bytes']} bytes in {result['seconds']} s; identical lines "
          f"{found['tokens']['identical']}/{found['tokens']['lines']}; greedy equal {found['greedy_equal']}")
    assert found["tokens"]["identical"] == found["tokens"]["lines"], found["tokens"]["first_mismatch"]
    assert found["greedy_equal"], (found["greedy_hf"], found["greedy_llama_cpp"])
    assert found["stepwise"]["same"] == 32, found["stepwise"]


def test_whole_word_tokens_are_written_and_the_export_says_how_llama_cpp_reads_them(tiny_llama, export_ws, ru_corpus):
    """`--tokens words` looks whole words up before merging (tokenizers' ignore_merges); llama.cpp does that only
    for Llama 3's pre-tokenizer, so SmolLM2's reads prompts with the old pieces. The export says so, in its result
    and the model card; decoding the whole-word ids gives the same text in llama.cpp as in transformers."""
    from llama_cpp import Llama

    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions
    from lep_core.sources.loading import load_tokenizer

    folder = adapt(export_ws, tiny_llama, ru_corpus, add=40, tokens="words")
    out = export_ws / "exports" / f"{folder.name}-f16.gguf"
    result = export_gguf(ExportOptions(model=str(folder), out=str(out), type="f16"))
    assert result["pre_tokenizer"] == "smollm" and "reads prompts with the old pieces" in result["note"]
    assert "reads prompts with the old pieces" in (folder / "README.md").read_text(encoding="utf-8")
    tok = load_tokenizer(folder)
    new_ids = list(range(49152, 49152 + 40))
    llm = Llama(model_path=str(out), vocab_only=True, verbose=False)
    assert llm.detokenize(new_ids).decode("utf-8") == tok.decode(new_ids)
