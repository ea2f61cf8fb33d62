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
