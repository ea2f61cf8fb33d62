"""What is in the workspace: every artefact with its manifest, size on disk and the tab that uses it."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.workspace.atomic import Leftover, clean, leftovers, remove, temp_path
from lep_core.workspace.locks import hold, is_free
from lep_core.workspace.store import KINDS, inside, list_artifacts, read_manifest, workspace_root

HEADLINE = {  # the figures a table row shows first, per kind
    "tokenizer": ("added", "vocab_size_after", "vocab_size", "corpus_chars_per_token_after", "corpus_chars_per_token",
                  "roundtrip_errors"),
    "model": ("new_vocab", "initialised_rows", "vocab_size", "parameters"),
    "run": ("step", "steps", "loss", "val_loss", "tokens"),
    "adapted": ("mode", "new_vocab_size", "heldout_rel_error", "heldout_cosine"),
}
OPENS_IN = {"tokenizer": "Tokenizers", "model": "Vocabulary", "run": "Training", "adapted": "Compare",
            "eval": "Compare", "corpus": "Training",
            "data": "Calibration"}


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
        return OPENS_IN.get(self.kind, "Workspace")

    def row(self) -> dict[str, Any]:
        scalars = {k: v for k, v in self.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        picked = {k: scalars[k] for k in HEADLINE.get(self.kind, ()) if k in scalars}
        headline = picked or scalars
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


def _run_facts(path: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A run without lep.json yet (running, stopped, failed): its job spec and status stand in."""
    from lep_core.training.job import CONFIG, read_status

    status = read_status(path) or {}
    if not manifest.get("params") and (path / CONFIG).is_file():
        try:
            config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        manifest = {"created": manifest.get("created") or _mtime(path), "inputs": {
            "model": {"path": config.pop("model", "")}, "corpus": [{"path": c} for c in config.pop("corpus", [])]},
            "params": {"operation": "train", **{k: v for k, v in config.items() if k not in ("out", "model_hash")}},
            "metrics": {k: status[k] for k in ("step", "total", "loss", "val_loss") if status.get(k) is not None}}
    return manifest, status.get("state")


def _mtime(path: Path) -> str:
    return _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")


def _entries(kind: str, workspace: str | os.PathLike | None) -> list[Path]:
    """Artefact folders of a kind; corpora are files (uploads) as well as folders."""
    if kind != "corpus":
        return list_artifacts(kind, workspace)
    folder = workspace_root(workspace) / KINDS["corpus"]
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def inventory(workspace: str | os.PathLike | None = None) -> list[Artifact]:
    out: list[Artifact] = []
    for kind in KINDS:
        for path in _entries(kind, workspace):
            if path.is_file():
                out.append(Artifact(kind, path.name, path, path.stat().st_size, _mtime(path)))
                continue
            manifest = read_manifest(path) or read_manifest(path / "final") or {}
            state = None
            if kind == "run":
                manifest, state = _run_facts(path, manifest)
            out.append(Artifact(kind, path.name, path, folder_size(path), manifest.get("created"),
                                manifest.get("params", {}), manifest.get("metrics", {}), manifest.get("inputs", {}), state))
    return out


def find_artifact(path: str | os.PathLike, workspace: str | os.PathLike | None = None) -> Artifact | None:
    """The listed artefact at `path`, or None when it is gone."""
    target = Path(path).resolve()
    return next((a for a in inventory(workspace) if a.path.resolve() == target), None)


def delete_artifact(path: str | os.PathLike, workspace: str | os.PathLike | None = None) -> None:
    """Delete one artefact; refuses anything that is not a complete artefact inside the workspace, and anything a
    running job reads or writes (it holds the artefact's lock, lep_core.workspace.locks).

    The artefact is renamed aside first (`.NAME.deleting-...`), so a crash mid-delete never leaves a half-deleted
    artefact that looks whole; a delete that fails after that is reported (LepInputError), and the Workspace
    tab's leftovers list shows what is left to clean."""
    root = workspace_root(workspace)
    target = inside(path, root)
    if not target.exists():
        raise LepInputError(f"{target.name} is not in the workspace any more (deleted already?): refresh the list")
    if target.parent.parent != root or target.parent.name not in KINDS.values():
        raise LepInputError(f"{target} is not an artefact folder of the workspace {root}: nothing deleted")
    if target.is_file() and target.parent.name != KINDS["corpus"]:
        raise LepInputError(f"{target} is not an artefact folder of the workspace {root}: nothing deleted")
    with hold(target, write=True, what="a delete in the Workspace tab"):
        if target.parent.name == KINDS["run"]:
            from lep_core.training.job import is_active

            if is_active(target):  # a job of an older version (no lock) still running there
                raise LepInputError(f"run {target.name} is still running: stop it first")
        trash = temp_path(target, "deleting")
        os.replace(target, trash)
        try:
            remove(trash)
        except OSError as exc:
            raise LepInputError(f"{target.name} is no longer listed, but {trash.name} could not be removed "
                                f"({exc.strerror or type(exc).__name__}: {exc.filename or trash}): fix that, then "
                                "press Clean under Leftovers") from None


# ---------------------------------------------------------------- leftovers of killed writes and failed deletes

LEFTOVER_FOLDERS = (*KINDS.values(), "exports", "recipes", "cache/tokens")


@dataclass
class LeftoverRow:
    path: Path
    size_bytes: int
    state: str  # "writing", "writer gone", "unknown writer", "failed delete"

    def cleanable(self) -> bool:
        return self.state != "writing"


def _state(lo: Leftover) -> str:
    if lo.kind == "deleting" and (lo.pid is None or lo.pid == os.getpid() or lo.dead):
        return "failed delete"
    return {True: "writer gone", False: "writing", None: "unknown writer"}[lo.dead]


def list_leftovers(workspace: str | os.PathLike | None = None) -> list[LeftoverRow]:
    """Temporary entries of unfinished writes in the workspace's folders, each with its size and whether its
    writer still runs (lep_core.workspace.atomic names them with the writer's PID)."""
    root = workspace_root(workspace)
    rows = []
    for sub in LEFTOVER_FOLDERS:
        for lo in leftovers(root / sub):
            size = folder_size(lo.path) if lo.path.is_dir() else lo.path.stat().st_size if lo.path.exists() else 0
            rows.append(LeftoverRow(lo.path, size, _state(lo)))
    return rows


def clean_leftovers(workspace: str | os.PathLike | None = None) -> tuple[list[Path], list[str]]:
    """Remove the leftovers no running writer owns: those of dead writers, failed deletes, and an older
    version's (writer unknown) when no job holds their artefact's lock. Returns (removed, problems)."""
    root = workspace_root(workspace)
    removed, problems = [], []
    for sub in LEFTOVER_FOLDERS:
        for lo in leftovers(root / sub):
            state = _state(lo)
            if state == "writing" or (state == "unknown writer" and not is_free(lo.path.parent / lo.name)):
                continue
            try:
                if state == "failed delete":
                    remove(lo.path)
                    removed.append(lo.path)
                else:
                    removed += clean([lo], legacy=True)
            except OSError as exc:
                problems.append(f"{lo.path.name}: {exc.strerror or type(exc).__name__}")
    return removed, problems
