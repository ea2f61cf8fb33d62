"""A recipe's steps as data: the kinds of step, their settings and defaults, parsing a recipe file, and where each
step's inputs and output resolve (the workspace first, then the current folder, then LEP Studio's own folder)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from lep_core.errors import LepInputError
from lep_core.workspace.store import KINDS

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds assets/ (the demo corpus)

# step kind -> (required keys, optional keys with their defaults, keys that name input sources)
STEP_SPECS: dict[str, tuple[tuple[str, ...], dict[str, Any], tuple[str, ...]]] = {
    "extend": (("base", "corpus", "add", "out"), {"alphabet": "cyrillic", "min_frequency": 2, "tokens": "subwords"}, ("base", "corpus")),
    "train_tokenizer": (("corpus", "vocab_size", "out"), {"algorithm": "bpe", "like": None}, ("corpus", "like")),
    "init": (("model", "tokenizer", "out"), {"method": "mean", "head_method": "same", "corpus": None, "seed": 0},
             ("model", "tokenizer", "corpus")),
    "train": (("model", "corpus", "out"), {}, ("model", "corpus")),
    "propagate": (("base", "instruct", "adapted", "out"), {"mode": "conversion", "ridge": 0.0}, ("base", "instruct", "adapted")),
    "calibrate": (("model", "out"), {}, ("model", "original", "prompts", "heldout_prompts", "chat")),
    "export": (("model", "out"), {"type": "f16", "base": None, "name": None, "keep_f16": False, "check": False},
               ("model", "base")),  # a .gguf file
}
RUN_KINDS = ("train", "calibrate")  # steps whose output is a training run (status.json, checkpoints, final/)


@dataclasses.dataclass
class Step:
    kind: str
    args: dict[str, Any]


@dataclasses.dataclass
class Recipe:
    name: str
    steps: list[Step]

    def to_yaml(self) -> str:
        data = {"name": self.name, "steps": [{s.kind: s.args} for s in self.steps]}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def parse_recipe(text: str, origin: str = "recipe") -> Recipe:
    """Parse and check the shape of a recipe; every problem is reported at once."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LepInputError(f"{origin} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise LepInputError(f"{origin} needs a non-empty list `steps:` (see assets/recipes/demo.yaml)")
    problems: list[str] = []
    steps: list[Step] = []
    for number, raw in enumerate(data["steps"], 1):
        if not isinstance(raw, dict) or len(raw) != 1:
            problems.append(f"step {number}: write it as `- KIND: {{...}}` with one of {', '.join(STEP_SPECS)}")
            continue
        (kind, args), = raw.items()
        if kind not in STEP_SPECS:
            problems.append(f"step {number}: unknown kind {kind!r} (choose {', '.join(STEP_SPECS)})")
            continue
        if not isinstance(args, dict):
            problems.append(f"step {number} ({kind}): its settings must be a mapping")
            continue
        required, defaults, _ = STEP_SPECS[kind]
        missing = [k for k in required if k not in args]
        if missing:
            problems.append(f"step {number} ({kind}): missing {', '.join(missing)}")
        steps.append(Step(kind, {**defaults, **args}))
    if problems:
        raise LepInputError(f"{origin}: " + "; ".join(problems))
    return Recipe(str(data.get("name") or Path(origin).stem), steps)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """The recipe in a YAML file; a missing, binary or non-UTF-8 file is one line (lep_core.corpus.reading)."""
    from lep_core.corpus.reading import read_text_file

    file = Path(path)
    if not file.is_file():
        raise LepInputError(f"recipe not found: {file}")
    return parse_recipe(read_text_file(file, "recipe"), str(file))


def _resolve_input(value: Any, workspace: Path) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_resolve_input(v, workspace) for v in value]
    text = str(value)
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    for candidate in (workspace / path, Path.cwd() / path, PACKAGE_ROOT / path):
        if candidate.exists():
            return str(candidate.resolve())
    if path.parts and path.parts[0] in KINDS.values():  # made by an earlier step
        return str(workspace / path)
    return text  # a hub id


def resolved_args(step: Step, workspace: Path) -> dict[str, Any]:
    _, _, inputs = STEP_SPECS[step.kind]
    args = dict(step.args)
    for key in inputs:
        if key in args:
            args[key] = _resolve_input(args[key], workspace)
    out = Path(str(args["out"])).expanduser()
    args["out"] = str(out if out.is_absolute() else workspace / out)
    return args
