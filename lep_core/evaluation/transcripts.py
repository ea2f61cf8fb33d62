"""Transcripts of a side-by-side chat, as JSONL (one turn a line, for tools) and Markdown (for people).

A turn is a dict: {"round_id", "prompt", "sampling", "replies": {side: {"model", "role", "text",
"tokens", "seconds", "chars_per_s", ...}}}.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Turn = dict[str, Any]


def to_jsonl(turns: list[Turn]) -> str:
    return "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns)


def to_markdown(turns: list[Turn], title: str = "LEP Studio comparison") -> str:
    lines = [f"# {title}", ""]
    for i, turn in enumerate(turns, 1):
        lines += [f"## Turn {i}", "", "**Prompt:**", "", str(turn.get("prompt", "")), ""]
        for side, reply in sorted(turn.get("replies", {}).items()):
            head = f"### {side}: {reply.get('model', '?')}"
            if reply.get("role"):
                head += f" ({reply['role']})"
            lines += [head, "", reply.get("text", ""), "",
                      f"_{reply.get('tokens', 0)} tokens · {reply.get('seconds', 0):.2f} s · "
                      f"{reply.get('chars_per_s', 0):.1f} chars/s_", ""]
        if turn.get("vote"):
            lines += [f"**Vote:** {turn['vote']}", ""]
    return "\n".join(lines)


def write_transcripts(folder: str | Path, turns: list[Turn], stem: str = "transcript") -> tuple[Path, Path]:
    """Write STEM.jsonl and STEM.md into `folder` (each replaced in one rename)."""
    from lep_core.workspace.atomic import write_text_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix, text in ((".jsonl", to_jsonl(turns)), (".md", to_markdown(turns))):
        out.append(write_text_atomic(folder / f"{stem}{suffix}", text))
    return out[0], out[1]
