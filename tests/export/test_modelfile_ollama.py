"""The Ollama Modelfile: valid as Ollama parses it, a raw template for a base model, a stop for every token that
ends a turn (checked against what llama.cpp itself treats as end of generation in the written GGUF)."""

from __future__ import annotations

import pytest

from lep_core.export.modelfile_syntax import modelfile_problems, parse_modelfile, template_problems


def _export(folder, out, type_="f16"):
    from lep_core.export.gguf_export import export_gguf
    from lep_core.export.options import ExportOptions

    return export_gguf(ExportOptions(model=str(folder), out=str(out), type=type_))


def _end_of_generation_texts(gguf) -> set[str]:
    """Every token llama.cpp ends generation on (llama_vocab_is_eog), from llama.cpp's own vocabulary."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return {llm.detokenize([i], special=True).decode("utf-8") for i in range(llm.n_vocab())
            if llama_cpp.llama_vocab_is_eog(vocab, i)}


def test_chat_model_stops_on_every_end_of_turn_token_llama_cpp_knows(exported_family):
    from lep_core.export.modelfile import go_template, template_parts
    from lep_core.sources.loading import load_tokenizer

    folder, gguf = exported_family("tiny_llama")
    text = gguf.with_suffix(".Modelfile").read_text(encoding="utf-8")
    assert modelfile_problems(text) == []
    commands = parse_modelfile(text)
    stops = [value for name, value in commands if name == "stop"]
    assert stops[0] == "<|im_end|>" and set(stops) == {"<|im_end|>", "<|endoftext|>"}  # ChatML's end of turn
    # every stop is a token llama.cpp ends generation on; llama.cpp also ends on the fill-in-the-middle repo-name
    # token of SmolLM2's vocabulary, which no chat turn writes
    assert _end_of_generation_texts(gguf) - set(stops) == {"<reponame>"}
    assert len(stops) == len(set(stops))
    # what Ollama reads back as TEMPLATE is the Go template written, byte for byte (quoting survived)
    assert dict(commands)["template"] == go_template(template_parts(load_tokenizer(folder)))
    assert dict(commands)["model"] == f"./{gguf.name}"


def test_sentencepiece_model_stops(exported_family):
    folder, gguf = exported_family("tiny_mistral")
    commands = parse_modelfile(gguf.with_suffix(".Modelfile").read_text(encoding="utf-8"))
    stops = {value for name, value in commands if name == "stop"}
    # ChatML's end of turn, the model's eos (config: <|im_end|>) and the tokenizer's own eos </s>
    assert stops == {"<|im_end|>", "</s>"}
    assert stops >= _end_of_generation_texts(gguf)


def test_base_model_exports_with_a_raw_template_and_generates_in_llama_cpp(base_llama, tmp_path):
    from llama_cpp import Llama

    from lep_core.export.quality import Reference, prompt_ids
    from lep_core.export.verify import hf_greedy, llama_greedy

    out = tmp_path / "tiny-base-f16.gguf"
    result = _export(base_llama, out)
    assert result["chat_template"] is False and "No chat template" in result["notes"][0]
    text = out.with_suffix(".Modelfile").read_text(encoding="utf-8")
    assert modelfile_problems(text) == []
    commands = parse_modelfile(text)
    assert dict(commands)["template"] == "{{ .Prompt }}"
    assert "system" not in dict(commands)
    assert {value for name, value in commands if name == "stop"} == {"<|im_end|>", "<|endoftext|>"}  # the eos
    assert _end_of_generation_texts(out) - {"<|im_end|>", "<|endoftext|>"} == {"<reponame>"}
    # it generates in llama.cpp: the plain-text prompt continued, the same greedy tokens as transformers
    ref = Reference.load(base_llama)
    prompt = prompt_ids(ref.tokenizer, "Жили-были дед да баба")
    llm = Llama(model_path=str(out), n_ctx=256, verbose=False)
    theirs = llama_greedy(llm, prompt, 8)
    ours, _ = hf_greedy(base_llama, prompt, 8, model=ref.model)
    assert len(theirs) == 8 and theirs == ours


@pytest.mark.parametrize("text, problem", [
    ("TEMPLATE x\n", "no FROM line"),
    ("FROM ./m.gguf\nTEMPLATE \"\"\"{{ .Prompt }}\n", "not closed"),
    ("FROM ./m.gguf\nPARAMETR stop x\n", "unknown instruction"),
    ("FROM ./m.gguf\nPARAMETER stopp \"x\"\n", "unknown PARAMETER 'stopp'"),
    ("FROM ./m.gguf\nPARAMETER num_ctx 2k\n", "takes an integer"),
    ("FROM ./m.gguf\nPARAMETER temperature warm\n", "takes a number"),
    ("FROM ./m.gguf\nMESSAGE bot hello\n", "MESSAGE role"),
    ("FROM ./m.gguf\nTEMPLATE \"\"\"{{ if .System }}{{ .System }}\"\"\"\n", "never closed"),
    ("FROM ./m.gguf\nTEMPLATE \"{{ .Prompt }\"\n", "unclosed"),
])
def test_modelfile_checker_refuses_what_ollama_refuses(text, problem):
    found = modelfile_problems(text)
    assert len(found) == 1 and problem in found[0], found


def test_modelfile_checker_reads_values_as_ollama_does():
    text = ('# comment\nfrom ./m.gguf\nTEMPLATE """line one\n  {{ .Prompt }} "quoted"\n"""\n'
            'PARAMETER stop "<|im_end|>"\nPARAMETER stop <|end|>\nSYSTEM You are  kind.\nMESSAGE user Hi there\n')
    assert parse_modelfile(text) == [("model", "./m.gguf"), ("template", 'line one\n  {{ .Prompt }} "quoted"\n'),
                                     ("stop", "<|im_end|>"), ("stop", "<|end|>"), ("system", "You are  kind."),
                                     ("message", "user: Hi there")]
    assert modelfile_problems(text) == []
    assert template_problems("{{- range .Messages }}{{ if eq .Role \"user\" }}x{{ else }}y{{ end }}{{ end }}") == []
