"""Lineage: rebuild the recipe that made an artefact from the manifests it and its inputs carry.

runs/<calibration> (calibration.json) -> adapted/<name> -> its propagate manifest -> runs/<run> (lep.json or
config.json) -> models/<init> -> tokenizers/<tok> (extend or train). Each artefact made by a step becomes that
step, with the original parameters and seeds; anything not made in the workspace (the source model, the corpus, a hub id) is an
input the recipe needs in place. Paths inside the workspace are written relative to it, so
`lep run` of the exported YAML in a fresh workspace (same source model and corpus) rebuilds the same
tokenizer files and the same embedding values.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lep_core.calibration.options import SPEC as CALIBRATION_SPEC
from lep_core.calibration.options import CalibrateOptions
from lep_core.errors import LepInputError
from lep_core.recipes.spec import PACKAGE_ROOT, Recipe, Step, parse_recipe
from lep_core.workspace.store import (
    KINDS,
    atomic_file,
    content_hash,
    inside,
    read_manifest,
    workspace_root,
)

RECIPES_DIR = "recipes"  # workspace/recipes/<name>.yaml: exported recipes (the Start tab lists them)
_FOLDER_KIND = {folder: kind for kind, folder in KINDS.items()}
_PROPAGATE_KEYS = ("mode", "ridge", "solver", "compare_modes")


@dataclass
class Lineage:
    """The steps that made an artefact, and what they need that no step makes."""

    recipe: Recipe
    needs: dict[str, str | None] = field(default_factory=dict)  # recipe path -> recorded content hash
    changed: list[str] = field(default_factory=list)  # needed inputs whose content differs from the record

    def to_yaml(self, origin: str) -> str:
        """The recipe with a header saying where it came from, how to replay it and what it needs."""
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        lines = [f"# Exported by LEP Studio from {origin} on {stamp}.",
                 "# Replay it with:  lep run THIS_FILE --workspace DIR",
                 "# Relative paths are inside the workspace (assets/ is LEP Studio's own); the steps rebuild their outputs."]
        if self.needs:
            lines.append("# Needs these inputs in place (no step makes them):")
            lines += [f"#   {p}" for p in self.needs]
        if self.changed:
            lines.append("# Warning: these inputs changed since the artefact was made, so a replay will differ:")
            lines += [f"#   {p}" for p in self.changed]
        return "\n".join(lines) + "\n" + self.recipe.to_yaml()


def recipe_path(path: Path, root: Path) -> str:
    """How a recipe names a resolved path: workspace-relative inside the workspace, "assets/..." for LEP Studio's
    own files, else absolute (recipes resolve all three: lep_core.recipes._resolve_input)."""
    for base in (root, PACKAGE_ROOT):
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if base == root or rel.startswith("assets/"):
            return rel
    return str(path)


class _Walker:
    """Depth-first over the manifests: inputs first, so the steps come out in running order."""

    def __init__(self, root: Path):
        self.root = root
        self.steps: dict[Path, Step] = {}  # artefact folder -> the step that makes it
        self.needs: dict[str, str | None] = {}
        self.changed: list[str] = []

    # -- paths
    def locate(self, recorded: str) -> Path | None:
        """The file or folder a manifest's input path names now, or None (a hub id, or gone)."""
        path = Path(recorded).expanduser()
        # this workspace's own layout first (it may have been moved or copied since), then the path as recorded
        candidates = [self.root.joinpath(*path.parts[i:]) for i, p in enumerate(path.parts) if p in _FOLDER_KIND]
        candidates += [path] if path.is_absolute() else [self.root / path, self.root.parent / path, Path.cwd() / path]
        return next((c.resolve() for c in candidates if c.exists()), None)

    def artefact_of(self, path: Path) -> tuple[str, Path] | None:
        """(kind, artefact folder) when `path` lies inside an artefact of this workspace."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        if len(rel.parts) < 2 or rel.parts[0] not in _FOLDER_KIND:
            return None
        return _FOLDER_KIND[rel.parts[0]], self.root / rel.parts[0] / rel.parts[1]

    def name(self, path: Path) -> str:
        return recipe_path(path, self.root)

    # -- inputs
    def input(self, entry: dict[str, Any] | str) -> str:
        """Visit one recorded input and return how the recipe names it."""
        recorded = entry.get("path") if isinstance(entry, dict) else entry
        if not recorded:
            raise LepInputError("a manifest lists an input without a path: this artefact cannot be exported")
        found = self.locate(str(recorded))
        if found is None:
            if Path(str(recorded)).is_absolute():
                raise LepInputError(f"input {recorded} no longer exists: put it back, then export again")
            self.needs.setdefault(str(recorded), None)  # a hub id
            return str(recorded)
        owner = self.artefact_of(found)
        if owner and self.visit(*owner):
            return self.name(found)
        name = self.name(found)
        recorded_hash = entry.get("hash") if isinstance(entry, dict) else None
        if name not in self.needs:
            self.needs[name] = recorded_hash
            if recorded_hash and content_hash(found) != recorded_hash:
                self.changed.append(name)
        return name

    def inputs(self, entries: Any) -> list[str]:
        return [self.input(e) for e in (entries if isinstance(entries, list) else [entries])]

    # -- artefacts
    def visit(self, kind: str, folder: Path) -> bool:
        """Add the step that made `folder` (after its inputs' steps); False when no step made it."""
        if folder in self.steps:
            return True
        step = self.step_for(kind, folder)
        if step is None:
            return False
        self.steps[folder] = step
        return True

    def step_for(self, kind: str, folder: Path) -> Step | None:
        manifest = read_manifest(folder) or {}
        params, inputs = manifest.get("params", {}), manifest.get("inputs", {})
        operation = params.get("operation")
        out = self.name(folder)
        if kind == "tokenizer" and operation == "extend":
            return Step("extend", {"base": self.input(inputs["base"]), "corpus": self.inputs(inputs["corpus"]),
                                   "add": params["add"], "alphabet": params["alphabet"],
                                   "min_frequency": params["min_frequency"],
                                   "tokens": params.get("tokens", "subwords"), "out": out})
        if kind == "tokenizer" and operation == "train":
            like = self.input(inputs["like"]) if inputs.get("like") else None
            return Step("train_tokenizer", {"corpus": self.inputs(inputs["corpus"]), "vocab_size": params["vocab_size"],
                                            "algorithm": params["algorithm"], "like": like, "out": out})
        if kind == "model" and operation == "init":
            return Step("init", {"model": self.input(inputs["model"]), "tokenizer": self.input(inputs["tokenizer"]),
                                 "method": params["method"], "seed": params.get("seed", 0), "out": out})
        if kind == "run" and (operation == "calibrate" or (folder / CALIBRATION_SPEC).is_file()):
            return self.calibrate_step(folder, out)
        if kind == "run":
            return self.train_step(folder, manifest, out)
        if kind == "adapted" and operation == "propagate":
            return self.propagate_step(params, inputs, out)
        return None

    def train_step(self, folder: Path, manifest: dict[str, Any], out: str) -> Step | None:
        """The finished run's manifest (its effective options), else the job spec config.json."""
        from lep_core.training.options import TrainOptions

        defaults = TrainOptions().to_dict()
        fields = set(defaults) - {"model", "corpus", "out"}
        if manifest.get("inputs", {}).get("model"):
            params, model, corpus = manifest["params"], manifest["inputs"]["model"], manifest["inputs"].get("corpus", [])
        else:
            config_file = folder / "config.json"
            if not config_file.is_file():
                return None
            params = json.loads(config_file.read_text(encoding="utf-8"))
            model, corpus = params.get("model"), params.get("corpus") or []
        if set(params) - fields - {"operation", "model", "corpus", "out", "model_hash"}:
            return None  # made with options the train step does not know: not replayable as a recipe step
        args = {"model": self.input(model), "corpus": self.inputs(corpus), "out": out}
        # the options that differ from the defaults, and the seed always: short, and exact for this version
        args.update({k: v for k, v in params.items() if k in fields and (v != defaults[k] or k == "seed")})
        return Step("train", args)

    def calibrate_step(self, folder: Path, out: str) -> Step | None:
        """From the run's calibration.json (its whole spec, written before it starts): the model, where the
        conversations came from, and the options that differ from the defaults (the seed always)."""
        try:
            spec = json.loads((folder / CALIBRATION_SPEC).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        args: dict[str, Any] = {"model": self.input(spec["model"])}
        if spec.get("original"):
            args["original"] = self.input(spec["original"])
            args.update({k: self.input(spec[k]) for k in ("prompts", "heldout_prompts") if spec.get(k)})
        else:
            args["chat"] = self.inputs(spec.get("chat") or [])
        defaults = CalibrateOptions().to_dict()
        made_here = {"model", "original", "prompts", "heldout_prompts", "chat", "out", "answers", "corpus", "data"}
        args.update({k: v for k, v in spec.items() if k in defaults and k not in made_here
                     and (v != defaults[k] or k == "seed")})
        args["out"] = out
        return Step("calibrate", args)

    def propagate_step(self, params: dict[str, Any], inputs: dict[str, Any], out: str) -> Step:
        args: dict[str, Any] = {"base": self.input(inputs["base"]), "instruct": self.inputs(inputs["instruct"]),
                                "adapted": self.input(inputs["adapted"]), "out": out}
        args.update({k: params[k] for k in _PROPAGATE_KEYS if k in params})
        if inputs.get("corpus"):
            args["corpus"] = self.inputs(inputs["corpus"])
        return Step("propagate", args)


def artefact_folder(path: str | os.PathLike, workspace: str | os.PathLike | None = None) -> tuple[str, Path]:
    """(kind, folder) of the artefact `path` names: a path, or one relative to the workspace ("adapted/x")."""
    root = workspace_root(workspace)
    given = Path(path).expanduser()
    target = inside(given if given.is_absolute() or given.exists() else root / given, root)
    found = _Walker(root).artefact_of(target)
    if found is None or not found[1].is_dir():
        raise LepInputError(f"{path} is not an artefact of the workspace {root}: give e.g. adapted/NAME or runs/NAME")
    return found  # adapted/<name>/<target> of a multi-target propagation: the parent's step made it


def lineage(path: str | os.PathLike, workspace: str | os.PathLike | None = None) -> Lineage:
    """The recipe that rebuilds the artefact at `path` (a tokenizer, model, run or adapted model)."""
    root = workspace_root(workspace)
    kind, folder = artefact_folder(path, root)
    walker = _Walker(root)
    if not walker.visit(kind, folder):
        raise LepInputError(f"{walker.name(folder)} was not made by a recipe step (extend, train_tokenizer, init, train, "
                            "propagate, calibrate): nothing to export")
    recipe = Recipe(folder.name, list(walker.steps.values()))
    parse_recipe(recipe.to_yaml(), f"the recipe for {folder.name}")  # the export must load back
    return Lineage(recipe, walker.needs, walker.changed)


def export_recipe(path: str | os.PathLike, workspace: str | os.PathLike | None = None,
                  out: str | os.PathLike | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write the recipe for an artefact (default workspace/recipes/<name>.yaml) atomically."""
    root = workspace_root(workspace)
    found = lineage(path, root)
    _, folder = artefact_folder(path, root)
    target = Path(out).expanduser().resolve() if out else root / RECIPES_DIR / f"{found.recipe.name}.yaml"
    text = found.to_yaml(_Walker(root).name(folder))
    if target.exists() and not overwrite:
        raise LepInputError(f"recipe file {target} already exists: choose another --out or pass --overwrite")
    with atomic_file(target, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {"out": str(target), "name": found.recipe.name, "steps": [s.kind for s in found.recipe.steps],
            "needs": list(found.needs), "changed": found.changed}


def free_recipe_path(workspace: str | os.PathLike, name: str) -> Path:
    """workspace/recipes/<name>.yaml, or <name>-2.yaml ... when taken (an export never replaces a file)."""
    folder = workspace_root(workspace) / RECIPES_DIR
    path, n = folder / f"{name}.yaml", 2
    while path.exists():
        path, n = folder / f"{name}-{n}.yaml", n + 1
    return path
