r"""llama.cpp pre-tokenizer types by the split pattern a tokenizer.json carries: the last resort of convert_child.

llama.cpp names a BPE pre-tokenizer by hashing the ids of a check text; an extended vocabulary changes the ids,
and a model whose original tokenizer is not at hand (or, as in the tests' Qwen2-style model, a vocabulary no
published model has) leaves no hash to look up. The split pattern decides what llama.cpp's pre-tokenizer does,
so a tokenizer whose pattern is one of these gets that type. Patterns as the models' tokenizer.json write them
(llama.cpp's src/llama-vocab.cpp lists the same per type).
"""

from __future__ import annotations

import json
from typing import Any

BY_PATTERN = {
    # Qwen2 / Qwen2.5 / Qwen3
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",
    # Llama 3 / 3.1 / 3.2
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "llama-bpe",
    # Qwen3.5
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen35",
}


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]["Regex"]] if node.get("type") == "Split" and "Regex" in node.get("pattern", {}) else []
        return found + [p for child in node.get("pretokenizers", []) for p in _patterns(child)]
    return []


def by_pattern(backend_json: str) -> str | None:
    """The llama.cpp pre-tokenizer type of a tokenizer (its backend's to_str()), or None when not in the table."""
    state = json.loads(backend_json)
    names = {BY_PATTERN[p] for p in _patterns(state.get("pre_tokenizer")) if p in BY_PATTERN}
    return names.pop() if len(names) == 1 else None


# Names llama.cpp's src/llama-vocab.cpp reads with the very same pre-tokenizer (one branch, the same flags): the
# converter lists the Gemma 3 tokenizer's hash under an embedding model that ships it, so a Gemma-family model
# would carry that model's name; the name a reader recognises is written instead, with nothing else changed.
SAME_AS = {"granite-embed-multi-311m": "gemma4"}

# llama.cpp pre-tokenizers that look a whole pre-token up in the vocabulary before merging (`ignore_merges` in
# llama-vocab.cpp), as `lep tokenizer extend --tokens words` needs: with any other, llama.cpp builds a word from
# the old merges, which never reach a whole-word token (llama.cpp#7049).
LOOKS_WORDS_UP = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                  "jina-v5-nano", "minicpm5", "youtu", "glm4", "glm5", "tekken", "granite-embed-multi-97m"}

HOW = {
    "own": "llama.cpp's converter recognised the exported tokenizer itself (by the hash of its ids on a check text)",
    "original": "the exported tokenizer's hash is new (its Russian tokens change the ids), so the type of the "
                "original it was extended from ({original}) was taken, after checking that both split text the "
                "same way (same normalizer and pre-tokenizer)",
    "pattern": "neither the exported tokenizer nor an original is known to llama.cpp's converter, so the type was "
               "chosen by the tokenizer's split pattern, which is that type's",
    "sentencepiece": "a SentencePiece-style vocabulary: llama.cpp splits text itself (spaces as ▁, byte fallback), "
                     "no pre-tokenizer type is written",
}


def converter_refs(converter: str) -> dict[str, str]:
    """hash -> the model llama.cpp's converter names as the source of that hash (its `# ref:` comments)."""
    import re
    from pathlib import Path

    refs: dict[str, str] = {}
    for name in ("conversion/base.py", "convert_hf_to_gguf.py"):
        path = Path(converter) / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            refs.update(re.findall(r'chkhsh == "([0-9a-f]{64})":\s*\n\s*# ref: (\S+)', text))
    return refs


def explain(decision: dict[str, Any], converter: str | None = None) -> dict[str, Any]:
    """The pre-tokenizer decision in words: {"name", "source", "why", ...} from what convert_child recorded
    ({"name", "source", "original", "hash", "listed_as"})."""
    source = decision.get("source") or "sentencepiece"
    out = {k: v for k, v in decision.items() if v is not None}
    out["source"] = source
    why = HOW[source].format(original=decision.get("original"))
    ref = converter_refs(converter).get(decision.get("hash") or "") if converter and decision.get("hash") else None
    if ref:
        out["listed_for"] = ref
        why += f"; the converter lists that hash for {ref}"
    if decision.get("listed_as"):
        why += (f"; it names it {decision['listed_as']!r}, which llama.cpp reads exactly as {decision['name']!r}, "
                f"the name written")
    out["why"] = why
    return out
