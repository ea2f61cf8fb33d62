"""Recipes: a pipeline as a plain YAML file, replayed step by step with `lep run recipe.yaml`.

    name: demo
    steps:
      - extend:    {base: models/smollm2-135m-instruct, corpus: [assets/corpus], add: 3000, out: tokenizers/demo-ru}
      - init:      {model: models/smollm2-135m-instruct, tokenizer: tokenizers/demo-ru, out: models/demo-ru}
      - train:     {model: models/demo-ru, corpus: [assets/corpus], out: runs/demo-ru, steps: 60}
      - propagate: {base: models/smollm2-135m-instruct, instruct: [models/smollm2-135m-instruct],
                    adapted: runs/demo-ru/final, out: adapted/demo-ru}

Outputs (`out`) are relative to the workspace. Inputs are looked up in the workspace first, then relative to
the current folder, else taken as a hub id. The whole recipe is checked before anything runs, and every problem
is reported at once. A step whose output already exists with the same parameters is skipped, so a stopped
recipe resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import yaml

from lep_core.errors import LepInputError
from lep_core.workspace import KINDS, read_manifest, workspace_root

Log = Callable[[str], None]

# step kind -> (required keys, optional keys with their defaults, keys that name input sources)
STEP_SPECS: dict[str, tuple[tuple[str, ...], dict[str, Any], tuple[str, ...]]] = {
    "extend": (("base", "corpus", "add", "out"), {"alphabet": "cyrillic", "min_frequency": 2}, ("base", "corpus")),
    "train_tokenizer": (("corpus", "vocab_size", "out"), {"algorithm": "bpe", "like": None}, ("corpus", "like")),
    "init": (("model", "tokenizer", "out"), {"method": "mean", "seed": 0}, ("model", "tokenizer")),
    "train": (("model", "corpus", "out"), {}, ("model", "corpus")),
    "propagate": (("base", "instruct", "adapted", "out"), {"mode": "conversion", "ridge": 0.0}, ("base", "instruct", "adapted")),
}


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
    file = Path(path)
    if not file.is_file():
        raise LepInputError(f"recipe not found: {file}")
    return parse_recipe(file.read_text(encoding="utf-8"), str(file))


def _resolve_input(value: Any, workspace: Path) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_resolve_input(v, workspace) for v in value]
    text = str(value)
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    for candidate in (workspace / path, Path.cwd() / path):
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


def _already_done(args: dict[str, Any], kind: str) -> bool:
    """A finished output of the same step: skip it (a recipe resumes where it stopped)."""
    out = Path(args["out"])
    if kind == "train":
        from lep_core.training.job import read_status

        status = read_status(out)
        return bool(status and status.get("state") == "finished" and (out / "final").is_dir())
    return read_manifest(out) is not None


def run_step(step: Step, args: dict[str, Any], overwrite: bool, log: Log) -> dict[str, Any]:
    a = args
    if step.kind == "extend":
        from lep_core.tokenizer.extend import extend_tokenizer

        return extend_tokenizer(a["base"], _as_list(a["corpus"]), int(a["add"]), a["out"], a["alphabet"],
                                int(a["min_frequency"]), overwrite)
    if step.kind == "train_tokenizer":
        from lep_core.tokenizer.train import train_tokenizer

        return train_tokenizer(_as_list(a["corpus"]), int(a["vocab_size"]), a["algorithm"], a["out"], a["like"], overwrite)
    if step.kind == "init":
        from lep_core.embeddings.init import init_model

        return init_model(a["model"], a["tokenizer"], a["out"], a["method"], overwrite, int(a["seed"]))
    if step.kind == "train":
        from lep_core.training.trainer import train

        given = {**a, "corpus": _as_list(a["corpus"])}
        resume = (Path(a["out"]) / "checkpoints").is_dir() and not overwrite
        return train(given, resume=resume, overwrite=overwrite and not resume)
    if step.kind == "propagate":
        from lep_core.propagation.options import PropagateOptions
        from lep_core.propagation.propagate import propagate

        fields = {f.name for f in dataclasses.fields(PropagateOptions)}
        opts = PropagateOptions(**{k: v for k, v in a.items() if k in fields and k != "instruct"},
                                instruct=_as_list(a["instruct"]))
        opts.overwrite = overwrite
        return propagate(opts)
    raise LepInputError(f"unknown step kind {step.kind!r}")


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run_recipe(recipe: Recipe, workspace: str | os.PathLike | None = None, overwrite: bool = False,
               log: Log = print) -> list[dict[str, Any]]:
    """Run every step in order; returns one summary per step."""
    root = workspace_root(workspace)
    results = []
    for number, step in enumerate(recipe.steps, 1):
        args = resolved_args(step, root)
        if not overwrite and _already_done(args, step.kind):
            log(f"[{number}/{len(recipe.steps)}] {step.kind}: {args['out']} already done, skipped")
            results.append({"step": step.kind, "out": args["out"], "skipped": True})
            continue
        log(f"[{number}/{len(recipe.steps)}] {step.kind} -> {args['out']}")
        summary = run_step(step, args, overwrite, log)
        results.append({"step": step.kind, "out": args["out"], "skipped": False,
                        **{k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}})
    return results
