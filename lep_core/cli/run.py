"""`lep run RECIPE.yaml`: replay a pipeline recipe (exported from the app or written by hand)."""

from __future__ import annotations

import sys

from lep_core.cli.common import add_json, add_overwrite, add_workspace


def register(sub) -> None:
    p = sub.add_parser("run", help="run a YAML recipe: extend, init, train, propagate ... in order")
    p.add_argument("recipe", help="recipe file (see assets/recipes/)")
    p.add_argument("--check", action="store_true", help="only check the recipe and print its steps")
    add_workspace(p)
    add_overwrite(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.recipes import load_recipe, resolved_args, run_recipe
    from lep_core.workspace import workspace_root

    recipe = load_recipe(args.recipe)
    if args.check:
        root = workspace_root(args.workspace)
        return {"name": recipe.name, "steps": [{"step": s.kind, **resolved_args(s, root)} for s in recipe.steps]}
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    return {"name": recipe.name, "steps": run_recipe(recipe, args.workspace, args.overwrite, log)}
