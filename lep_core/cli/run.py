"""`lep run RECIPE.yaml`: replay a pipeline recipe (exported from the app or written by hand).

The run is recorded in WORKSPACE/recipes/<name>/status.json, so the app's Start tab shows a run started
from a terminal too; a second `lep run` of the same recipe in the same workspace is refused while one runs.
"""

from __future__ import annotations

import sys

from lep_core.cli.common import add_allow_pickle, add_json, add_overwrite, add_workspace


def register(sub) -> None:
    p = sub.add_parser("run", help="run a YAML recipe: extend, init, train, propagate ... in order (resumable)")
    p.add_argument("recipe", help="recipe file (see assets/recipes/)")
    p.add_argument("--check", action="store_true", help="only check the recipe (every problem at once) and print its steps")
    add_workspace(p)
    add_overwrite(p)
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.errors import LepInputError
    from lep_core.recipes.check import check_recipe
    from lep_core.recipes.job import run_tracked
    from lep_core.recipes.spec import load_recipe, resolved_args
    from lep_core.workspace.store import workspace_root

    recipe = load_recipe(args.recipe)
    if args.check:
        root = workspace_root(args.workspace)
        problems = check_recipe(recipe, root, args.overwrite)
        if problems:
            raise LepInputError(f"recipe {recipe.name}: " + "; ".join(problems))
        return {"name": recipe.name, "steps": [{"step": s.kind, **resolved_args(s, root)} for s in recipe.steps]}
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else (lambda line: print(line, flush=True))
    return run_tracked(recipe, args.workspace, args.overwrite, log, spec=str(args.recipe))
