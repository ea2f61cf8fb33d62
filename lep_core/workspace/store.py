"""The workspace: every artefact is a plain folder with a lep.json manifest, written atomically.

Writing goes through lep_core.workspace.atomic (re-exported here: atomic_dir, atomic_file, write_json_atomic);
every path a user gives the app goes through `inside` (the workspace, or a root the user picked).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lep_core import __version__
from lep_core.errors import LepInputError
from lep_core.workspace.atomic import (  # noqa: F401 (the one "write an artefact" helper, re-exported here)
    atomic_dir,
    atomic_file,
    check_output_free,
    write_json_atomic,
    write_text_atomic,
)
from lep_core.workspace.fields import check_field
from lep_core.workspace.layout import KINDS, kind_dir, workspace_root  # noqa: F401 (re-exported: where artefacts go)

MANIFEST = "lep.json"
_FULL_HASH_LIMIT = 64 * 2**20  # bigger files get a fingerprint (size + head + tail), not a full hash


def list_artifacts(kind: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Complete artefacts of one kind (temporary folders of unfinished writes are skipped)."""
    folder = kind_dir(kind, root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def inside(path: str | os.PathLike, root: str | os.PathLike, *also: str | os.PathLike) -> Path:
    """Resolve `path` (relative paths against `root`) and refuse it when it escapes `root` and every root in
    `also` (folders the user picked, the bundled assets): `..`, absolute paths elsewhere and symlinks pointing
    out are all caught, since the check is on the fully resolved path. Raises LepInputError (one line)."""
    root_r = Path(root).resolve()
    candidate = Path(check_field(path, "path")).expanduser()
    if not candidate.is_absolute():
        candidate = root_r / candidate
    resolved = candidate.resolve()
    for allowed in (root_r, *(Path(a).resolve() for a in also)):
        if resolved == allowed or allowed in resolved.parents:
            return resolved
    raise LepInputError(f"path {path} is outside the workspace {root_r}: pick a file inside it")


def file_hash(path: Path) -> str:
    """sha256 of a file; files over 64 MiB get a fingerprint of size, head and tail (fast for 16 GB weights)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
            return "sha256:" + h.hexdigest()
        h.update(str(size).encode())
        h.update(f.read(2**20))
        f.seek(-(2**20), os.SEEK_END)
        h.update(f.read(2**20))
    return "fingerprint:" + h.hexdigest()


def content_hash(path: str | os.PathLike) -> str | None:
    """Hash of a file, or of a folder's files (names + hashes); None for hub ids."""
    p = Path(path)
    if p.is_file():
        return file_hash(p)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file() and x.name not in (MANIFEST, "README.md")):
        h.update(str(f.relative_to(p)).encode())
        h.update(file_hash(f).encode())
    return "sha256:" + h.hexdigest()


def describe_input(path: str | os.PathLike) -> dict[str, Any]:
    return {"path": str(path), "hash": content_hash(path)}


def write_manifest(
    folder: Path,
    kind: str,
    inputs: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    manifest = {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "lep_studio_version": __version__,
        "inputs": inputs,
        "params": params,
        "metrics": metrics or {},
    }
    write_json_atomic(Path(folder) / MANIFEST, manifest)
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
