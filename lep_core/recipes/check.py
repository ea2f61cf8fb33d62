"""Check a whole recipe before anything runs and report every problem at once.

What it catches: unknown or malformed settings, inputs that neither exist nor come from an earlier step,
outputs outside the workspace or written twice, and outputs that already exist from other settings (which
the run would otherwise skip as "done", silently using the wrong artefact).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from lep_core.errors import LepInputError
from lep_core.recipes.spec import RUN_KINDS, STEP_SPECS, Recipe, Step, resolved_args
from lep_core.sources.demo import DEMO_MODEL_NAME
from lep_core.workspace.store import KINDS, inside, read_manifest, workspace_root

_WHOLE = {"extend": ("add", "min_frequency"), "train_tokenizer": ("vocab_size",), "init": ("seed",)}


def _known_keys(kind: str) -> set[str]:
    required, defaults, _ = STEP_SPECS[kind]
    if kind in RUN_KINDS:  # calibrate: its answers go to data/<run>-answers, beside the run (not a setting)
        names = {f.name for f in dataclasses.fields(_options_class(kind))}
        return names if kind == "train" else names - {"data", "corpus", "answers"}
    if kind == "propagate":
        from lep_core.propagation.options import PropagateOptions

        return {f.name for f in dataclasses.fields(PropagateOptions)} - {"overwrite"}
    return set(required) | set(defaults)


def _setting_problems(step: Step, args: dict[str, Any]) -> list[str]:
    """Values a step would refuse, found without loading anything."""
    problems = []
    unknown = sorted(set(step.args) - _known_keys(step.kind))
    if unknown:
        problems.append(f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(_known_keys(step.kind)))})")
    for key in _WHOLE.get(step.kind, ()):
        value = args.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            problems.append(f"{key} must be a whole number{'' if key == 'seed' else ' of at least 1'} (got {value!r})")
    if step.kind == "extend":
        from lep_core.tokenizer.learn import ALPHABETS, UNITS

        if args["alphabet"] not in ALPHABETS:
            problems.append(f"alphabet must be one of {', '.join(ALPHABETS)} (got {args['alphabet']!r})")
        if args["tokens"] not in UNITS:
            problems.append(f"tokens must be one of {', '.join(UNITS)} (got {args['tokens']!r})")
    elif step.kind == "train_tokenizer" and args["algorithm"] not in ("bpe", "unigram"):
        problems.append(f"algorithm must be bpe or unigram (got {args['algorithm']!r})")
    elif step.kind == "init":
        from lep_core.embeddings.init import HeadMethod, InitMethod

        for key, choices in (("method", InitMethod), ("head_method", HeadMethod)):
            if args[key] not in {m.value for m in choices}:
                problems.append(f"{key} must be one of {', '.join(m.value for m in choices)} (got {args[key]!r})")
        if args["head_method"] == "fitted" and not args.get("corpus"):
            problems.append("head_method fitted needs a corpus (target-language text to fit the head rows on)")
    elif step.kind in RUN_KINDS:
        problems += _run_problems(step.kind, args)
    elif step.kind == "propagate":
        from lep_core.propagation.modes import parse_mode

        try:
            parse_mode(args["mode"])
        except LepInputError as exc:
            problems.append(str(exc))
        if not isinstance(args["ridge"], (int, float)) or args["ridge"] < 0:
            problems.append(f"ridge must be a number, 0 or more (got {args['ridge']!r})")
    elif step.kind == "export":
        from lep_core.export.step import step_problems

        problems += step_problems(args)
    return problems


def _options_class(kind: str) -> type:
    """The options a run step takes: TrainOptions for train, CalibrateOptions (a subclass) for calibrate."""
    if kind == "calibrate":
        from lep_core.calibration.options import CalibrateOptions

        return CalibrateOptions
    from lep_core.training.options import TrainOptions

    return TrainOptions


def _run_problems(kind: str, args: dict[str, Any]) -> list[str]:
    options = _options_class(kind)
    wrong = []
    for f in dataclasses.fields(options):
        value = args.get(f.name)
        if f.name not in args or value is None or isinstance(f.default, bool) or not isinstance(f.default, (int, float)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(f.default, int)
                                                                                and not isinstance(value, int)):
            wrong.append(f"{f.name} must be {'a whole number' if isinstance(f.default, int) else 'a number'} (got {value!r})")
    if wrong:
        return wrong
    key = "corpus" if kind == "train" else "chat"
    listed = args.get(key) or []
    values = {**args, key: listed if isinstance(listed, list) else [listed]}
    return options.from_dict({k: v for k, v in values.items() if v is not None}).problems()


def _input_problems(step: Step, args: dict[str, Any], made: list[Path]) -> list[str]:
    from lep_core.sources.loading import resolve

    problems = []
    for key in STEP_SPECS[step.kind][2]:
        raw, resolved = step.args.get(key), args.get(key)
        if resolved is None:
            continue
        for given, value in zip(raw if isinstance(raw, list) else [raw], resolved if isinstance(resolved, list) else [resolved]):
            path = Path(value)
            if path.exists() or any(path == m or m in path.parents for m in made):
                continue
            first = Path(str(given)).parts[0] if Path(str(given)).parts else ""
            if key != "corpus" and first not in KINDS.values():
                try:
                    resolve(str(given), key)  # a hub id (org/name) is fine: it downloads when the network allows
                    continue
                except LepInputError:
                    pass
            hint = ": run `lep prepare-demo` (or `make run`) first" if path.name == DEMO_MODEL_NAME else ""
            problems.append(f"{key} {given} not found (not in the workspace, not in the current folder, and no "
                            f"earlier step makes it){hint}")
    return problems


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return str(getattr(a, "value", a)) == str(getattr(b, "value", b))


def _recorded_settings(kind: str, out: Path) -> dict[str, Any] | None:
    """The settings the existing output was made with (None: nothing there, or nothing readable)."""
    if kind in RUN_KINDS:
        from lep_core.calibration.options import SPEC

        try:
            return json.loads((out / ("config.json" if kind == "train" else SPEC)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    if kind == "export":
        from lep_core.export.step import written_settings

        return written_settings(out)
    manifest = read_manifest(out)
    return manifest.get("params", {}) if manifest else None


def _output_problems(step: Step, args: dict[str, Any], root: Path, overwrite: bool) -> list[str]:
    try:
        out = inside(args["out"], root)
    except LepInputError:
        return [(f"out {step.args['out']} is outside the workspace {root}: write it relative to the workspace, "
                f"e.g. {KINDS['model']}/NAME")]
    if out == root or out.parent == root:
        return [f"out {step.args['out']} must be a folder inside one of the workspace's folders, e.g. {KINDS['model']}/NAME"]
    if not out.exists() or overwrite:
        return []
    recorded = _recorded_settings(step.kind, out)
    if recorded is None:
        if step.kind in RUN_KINDS:
            return []  # an empty or broken run folder: the step starts it over
        return [f"out {step.args['out']} exists but is not a finished artefact (no lep.json): delete it or pick another out"]
    skip = set(STEP_SPECS[step.kind][2]) | {"out"}  # inputs: checked above by path, not by value
    if step.kind in RUN_KINDS:
        from lep_core.training.job import read_status
        from lep_core.training.options import RESUMABLE

        if (read_status(out) or {}).get("state") != "finished":
            skip |= RESUMABLE  # an unfinished run continues; these may change on resume
    differ = [f"{k} {recorded[k]!r} there, {v!r} here" for k, v in step.args.items()
              if k not in skip and k in recorded and not _same(v, recorded[k])]
    if differ:
        return [(f"out {step.args['out']} already exists, made with other settings ({'; '.join(differ)}): "
                "pick another out or delete it (Workspace tab)")]
    return []


def check_recipe(recipe: Recipe, workspace: str | os.PathLike | None = None, overwrite: bool = False) -> list[str]:
    """Every problem of the recipe in this workspace, each naming its step; [] when it can run."""
    root = workspace_root(workspace)
    problems: list[str] = []
    made: list[Path] = []
    for number, step in enumerate(recipe.steps, 1):
        where = f"step {number} ({step.kind})"
        args = resolved_args(step, root)
        out = Path(args["out"]).resolve()
        found = _setting_problems(step, args) + _input_problems(step, args, made)
        if out in made:
            found.append(f"out {step.args['out']} is also written by an earlier step: give each step its own out")
        found += _output_problems(step, args, root, overwrite)
        problems += [f"{where}: {p}" for p in found]
        made.append(out)
    return problems
