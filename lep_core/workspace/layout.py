"""Where the workspace is and which folders it holds: the one place both the store and the locks read it from."""

from __future__ import annotations

import os
from pathlib import Path

KINDS = {  # kind -> sub-folder of the workspace
    "tokenizer": "tokenizers",
    "model": "models",
    "run": "runs",
    "adapted": "adapted",
    "eval": "evals",
    "corpus": "corpora",
    "data": "data",  # chat datasets, e.g. the original model's answers for calibration
}
# every folder an artefact can live in (`W/FOLDER/NAME`): the kinds above, exports and recipe runs
KIND_FOLDERS = (*KINDS.values(), "exports", "recipes")


def workspace_root(explicit: str | os.PathLike | None = None) -> Path:
    """--workspace, else $LEP_WORKSPACE, else ./workspace."""
    root = explicit or os.environ.get("LEP_WORKSPACE") or "workspace"
    return Path(root).expanduser().resolve()


def kind_dir(kind: str, root: str | os.PathLike | None = None) -> Path:
    return workspace_root(root) / KINDS[kind]
