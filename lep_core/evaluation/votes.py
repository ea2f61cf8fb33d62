"""Blind A/B votes: appended to a JSONL file in the workspace, tallied per model pair.

Each vote is one line written with a single write() under an exclusive fcntl lock and fsynced,
so several browsers (threads or processes) voting at once lose nothing and a crash never leaves
half a line that hides the next one. The tally is always recomputed from the file.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Iterable

from lep_core.errors import LepInputError
from lep_core.workspace.store import kind_dir

CHOICES = ("A", "B", "tie", "both_bad")
_NAME = re.compile(r"^[\w.-]{1,100}$")


def votes_path(workspace: str | os.PathLike | None, name: str | None = None) -> Path:
    """evals/<name>/votes.jsonl, or evals/votes.jsonl without a name."""
    folder = kind_dir("eval", workspace)
    if name:
        if not _NAME.match(name) or name in {".", ".."}:
            raise LepInputError(f"bad evaluation name {name!r}: use letters, digits, '.', '-' and '_'")
        folder = folder / name
    return folder / "votes.jsonl"


def new_round_id() -> str:
    return uuid.uuid4().hex[:12]


def make_vote(choice: str, models: dict[str, str], roles: dict[str, str], prompt: Any,
              outputs: dict[str, str], sampling: dict[str, Any], round_id: str | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One vote record. models/roles/outputs are keyed by side ("A", "B"); roles say which side was
    the original and which the adapted model (the side mapping)."""
    if choice not in CHOICES:
        raise LepInputError(f"unknown vote {choice!r}: choose one of {', '.join(CHOICES)}")
    if set(models) != {"A", "B"}:
        raise LepInputError("a vote needs the models of both sides A and B")
    return {
        "ts": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
        "round_id": round_id or new_round_id(),
        "choice": choice,
        "models": dict(models),
        "roles": dict(roles),
        "prompt": prompt,
        "outputs": dict(outputs),
        "sampling": dict(sampling),
        **(extra or {}),
    }


def append_vote(path: str | os.PathLike, vote: dict[str, Any]) -> dict[str, Any]:
    """Append one vote as one line: exclusive lock, single write, fsync."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(vote, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # a previous writer that crashed mid-line would glue our line to its tail: start a fresh line
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        line = b"\n" + line
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write to {path} ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return vote


def read_votes(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete vote in the file (a broken line is skipped, never fatal)."""
    path = Path(path)
    if not path.is_file():
        return []
    votes = []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        lines = f.readlines()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            vote = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(vote, dict) and vote.get("choice") in CHOICES and isinstance(vote.get("models"), dict):
            votes.append(vote)
    return votes


def tally(votes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per unordered model pair: wins of each model, ties, both bad, n (side swaps are folded in)."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for vote in votes:
        a, b = vote["models"].get("A", "?"), vote["models"].get("B", "?")
        first, second = sorted((a, b))
        row = table.setdefault((first, second), {"model_1": first, "model_2": second, "wins_1": 0,
                                                 "wins_2": 0, "ties": 0, "both_bad": 0, "n": 0})
        choice = vote["choice"]
        if choice in ("A", "B"):
            winner = a if choice == "A" else b
            row["wins_1" if winner == first else "wins_2"] += 1
        elif choice == "tie":
            row["ties"] += 1
        else:
            row["both_bad"] += 1
        row["n"] += 1
    return sorted(table.values(), key=lambda r: -r["n"])
