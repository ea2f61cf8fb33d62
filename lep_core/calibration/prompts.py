"""Prompt sets for self-calibration: the demo prompts, or a user's file.

Accepted files: .json (a list of strings or of {"prompt": ...} objects, as assets/demo_prompts.json),
.txt (one prompt per line) and .jsonl (one {"prompt": ...} or {"messages": [...]} per line; a
`messages` list ends with the user's turn and may carry a system prompt or earlier turns).
Blank prompts and repeats are dropped; a file with none left is an error. An object with a "kind" other than
"chat" is left out: the demo prompts also hold repeat and continue prompts, which the adaptation bench measures
apart and which are not questions whose answers teach the adapted model to chat. Prompts are put in the one text
form of lep_core.corpus.text (NFC, LF line ends), as every text LEP Studio reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from lep_core.corpus.reading import read_decoded
from lep_core.corpus.text import normalize_json
from lep_core.errors import LepInputError
from lep_core.workspace.fields import check_field

DEMO_PROMPTS = Path(__file__).resolve().parents[2] / "assets" / "demo_prompts.json"
Messages = list[dict[str, str]]


def _from_item(item, where: str) -> Messages | None:
    """One prompt as messages, None for a blank one; a malformed item is an error naming where it is."""
    if isinstance(item, str):
        return [{"role": "user", "content": item}] if item.strip() else None
    if isinstance(item, dict) and isinstance(item.get("prompt"), str):
        return [{"role": "user", "content": item["prompt"]}] if item["prompt"].strip() else None
    if isinstance(item, dict) and isinstance(item.get("messages"), list):
        msgs = item["messages"]
        ok = all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                 and isinstance(m.get("content"), str) for m in msgs)
        if not ok:
            raise LepInputError(f'{where}: each message needs "role" (system, user, assistant) and a string "content"')
        if not msgs or msgs[-1]["role"] != "user":
            raise LepInputError(f'{where}: "messages" must end with the user\'s turn (the prompt to answer)')
        return [{"role": m["role"], "content": m["content"]} for m in msgs] if msgs[-1]["content"].strip() else None
    raise LepInputError(f'{where}: expected a string, {{"prompt": "..."}} or {{"messages": [...]}}')


def _items(path: Path) -> list[tuple[object, str]]:
    text = read_decoded(path)
    if path.suffix == ".txt":
        return [(line, f"{path.name} line {n}") for n, line in enumerate(text.splitlines(), 1)]
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LepInputError(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, list):
            raise LepInputError(f"{path.name}: expected a JSON list of prompts")
        return [(item, f"{path.name} item {n}") for n, item in enumerate(data, 1)]
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append((json.loads(line), f"{path.name} line {n}"))
            except json.JSONDecodeError as exc:
                raise LepInputError(f"{path.name} line {n}: not valid JSON ({exc.msg}): fix or remove the line") from None
        return out
    raise LepInputError(f"prompt file {path.name}: use .txt (one per line), .json (a list) or .jsonl")


def load_prompts(path: str | Path | None = None) -> list[Messages]:
    """The prompts of a file (the demo prompts when None), as chat messages, without blanks or repeats."""
    path = Path(check_field(path, "prompt file")) if path else DEMO_PROMPTS
    if not path.is_file():
        raise LepInputError(f"prompt file not found: {path}")
    prompts, seen = [], set()
    for item, where in _items(path):
        if isinstance(item, dict) and item.get("kind", "chat") != "chat":
            continue
        messages = _from_item(normalize_json(item), where)
        key = json.dumps(messages, ensure_ascii=False) if messages else None
        if messages and key not in seen:
            seen.add(key)
            prompts.append(messages)
    if not prompts:
        raise LepInputError(f"{path.name} has no usable prompts (all blank or empty): add one prompt per line (.txt) "
                            'or {"prompt": "..."} objects (.json, .jsonl)')
    return prompts
