"""What is in the workspace: every artefact with its manifest, size on disk and the tab that uses it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.workspace import KINDS, inside, list_artifacts, read_manifest, workspace_root

OPENS_IN = {"tokenizer": "Tokenizers", "model": "Vocabulary", "run": "Training", "adapted": "Compare",
            "eval": "Compare", "corpus": "Training"}


@dataclass
class Artifact:
    kind: str
    name: str
    path: Path
    size_bytes: int
    created: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    state: str | None = None  # runs: queued/running/finished/failed/stopped

    @property
    def opens_in(self) -> str:
        return OPENS_IN[self.kind]

    def row(self) -> dict[str, Any]:
        headline = {k: v for k, v in self.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        return {"kind": self.kind, "name": self.name, "size": human_size(self.size_bytes),
                "created": self.created or "", "state": self.state or "",
                "summary": ", ".join(f"{k}={_short(v)}" for k, v in list(headline.items())[:4]),
                "opens_in": self.opens_in, "path": str(self.path)}


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)[:40]


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def inventory(workspace: str | os.PathLike | None = None) -> list[Artifact]:
    out: list[Artifact] = []
    for kind in KINDS:
        for path in list_artifacts(kind, workspace):
            manifest = read_manifest(path) or read_manifest(path / "final") or {}
            state = None
            if kind == "run":
                from lep_core.training.job import read_status

                state = (read_status(path) or {}).get("state")
            out.append(Artifact(kind, path.name, path, folder_size(path), manifest.get("created"),
                                manifest.get("params", {}), manifest.get("metrics", {}), manifest.get("inputs", {}), state))
    return out


def delete_artifact(path: str | os.PathLike, workspace: str | os.PathLike | None = None) -> None:
    """Delete one artefact folder; refuses anything that is not a complete artefact inside the workspace."""
    root = workspace_root(workspace)
    target = inside(path, root)
    if target.parent.parent != root or target.parent.name not in KINDS.values():
        raise LepInputError(f"{target} is not an artefact folder of the workspace {root}: nothing deleted")
    if target.parent.name == KINDS["run"]:
        from lep_core.training.job import is_active

        if is_active(target):
            raise LepInputError(f"run {target.name} is still running: stop it first")
    # rename first, then delete: a crash mid-delete never leaves a half-deleted artefact that looks whole
    trash = target.parent / f".{target.name}.deleting"
    os.replace(target, trash)
    shutil.rmtree(trash, ignore_errors=True)
