"""The export says which pre-tokenizer llama.cpp will use, where the name came from, and why."""

from __future__ import annotations

import json

from lep_core.export.converter import find_converter
from lep_core.export.pretokenizers import SAME_AS, converter_refs, explain


def test_extended_byte_bpe_takes_the_originals_type_and_says_so(exported_family, export_ws):
    folder, gguf = exported_family("tiny_llama")
    report = json.loads(gguf.with_name(gguf.stem + ".export.json").read_text(encoding="utf-8"))
    decision = report["pre_tokenizer_decision"]
    assert decision["name"] == report["pre_tokenizer"] == "smollm"
    assert decision["source"] == "original" and decision["original"] == str(export_ws / "models" / "tiny_llama")
    assert decision["listed_for"] == "https://huggingface.co/HuggingFaceTB/SmolLM-135M"
    assert "its Russian tokens change the ids" in decision["why"] and "SmolLM-135M" in decision["why"]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"Pre-tokenizer smollm: {decision['why']}." in card


def test_sentencepiece_vocabulary_needs_no_pre_tokenizer(exported_family):
    _, gguf = exported_family("tiny_mistral")
    report = json.loads(gguf.with_name(gguf.stem + ".export.json").read_text(encoding="utf-8"))
    assert report["pre_tokenizer"] is None
    assert report["pre_tokenizer_decision"]["source"] == "sentencepiece"
    assert "no pre-tokenizer type is written" in report["pre_tokenizer_decision"]["why"]


def test_gemma_3_tokenizer_is_written_as_gemma4_and_explained():
    """The converter lists the Gemma 3 tokenizer's hash under an IBM embedding model that ships it
    (`granite-embed-multi-311m`); llama.cpp reads that name exactly as `gemma4`, which the export writes."""
    converter = find_converter()
    refs = converter_refs(str(converter))
    source = (converter / "conversion" / "base.py").read_text(encoding="utf-8")
    listed = source[source.index('res = "granite-embed-multi-311m"') - 200:source.index('res = "granite-embed-multi-311m"')]
    gemma_hash = listed.split('chkhsh == "')[-1].split('"')[0]
    assert "granite-embedding-311m-multilingual" in refs[gemma_hash]
    assert SAME_AS["granite-embed-multi-311m"] == "gemma4"
    decision = explain({"name": "gemma4", "source": "original", "original": "/models/gemma-3-270m",
                        "hash": gemma_hash, "listed_as": "granite-embed-multi-311m"}, str(converter))
    assert decision["name"] == "gemma4" and decision["listed_for"] == refs[gemma_hash]
    assert "/models/gemma-3-270m" in decision["why"] and "reads exactly as 'gemma4'" in decision["why"]
