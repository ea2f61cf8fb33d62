"""`lep recipe export ARTEFACT`: the recipe that rebuilds an artefact, for `lep run`."""

from __future__ import annotations

from lep_core.cli.common import add_json, add_overwrite, add_workspace


def register(sub) -> None:
    group = sub.add_parser("recipe", help="export the pipeline that made an artefact as a YAML recipe").add_subparsers(
        dest="recipe_command", required=True, metavar="ACTION"
    )
    p = group.add_parser("export", help="rebuild an artefact's pipeline from the manifests and write it as YAML")
    p.add_argument("artefact", help="artefact folder, or its path in the workspace (adapted/NAME, runs/NAME, models/NAME, "
                                    "tokenizers/NAME)")
    p.add_argument("--out", default=None,
                   help="recipe file to write (default: WORKSPACE/recipes/NAME.yaml; '-' prints it on stdout)")
    add_workspace(p)
    add_overwrite(p)
    add_json(p)
    p.set_defaults(func=export)


def export(args) -> dict | None:
    from lep_core.recipes.lineage import export_recipe, lineage

    if args.out == "-":
        found = lineage(args.artefact, args.workspace)
        print(found.to_yaml(args.artefact), end="")
        return None
    return export_recipe(args.artefact, args.workspace, args.out, args.overwrite)
