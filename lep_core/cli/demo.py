"""`lep prepare-demo`."""

from __future__ import annotations

from lep_core.cli.common import add_json, add_workspace


def register(sub) -> None:
    p = sub.add_parser("prepare-demo", help="put the embedded demo model (SmolLM2-135M-Instruct) into the workspace")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.sources.demo import prepare_demo

    return {"model": str(prepare_demo(args.workspace))}
