"""`lep train`: embedding-only training (design §3). Flags come from TrainOptions, so help text lives in one place."""

from __future__ import annotations

import argparse
import dataclasses

from lep_core.cli.common import add_json
from lep_core.training.options import TrainOptions


def register(sub) -> None:
    p = sub.add_parser("train", help="train the input and output embeddings only (a resumable job)",
                       argument_default=argparse.SUPPRESS)
    for f in dataclasses.fields(TrainOptions):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name == "corpus":
            p.add_argument(flag, nargs="+", help=help_text)
        elif isinstance(default, bool):
            p.add_argument(flag, action="store_true", help=help_text)
        elif f.name in ("model", "out"):
            p.add_argument(flag, help=help_text)
        else:
            kind = str if "choices" in f.metadata else float if isinstance(default, float) else int
            suffix = f" (default {default})" if default is not None else ""
            p.add_argument(flag, type=kind, choices=f.metadata.get("choices"), help=help_text + suffix)
    p.add_argument("--resume", action="store_true", default=False, help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", default=False, help="start over in a run folder that holds a run")
    add_json(p)
    p.set_defaults(func=run, json=False)


def run(args) -> dict:
    from lep_core.cli.progress import bar
    from lep_core.training.trainer import train

    names = {f.name for f in dataclasses.fields(TrainOptions)}
    given = {k: v for k, v in vars(args).items() if k in names}
    with bar(given.get("steps", TrainOptions.steps), "train") as progress:
        return train(given, resume=args.resume, overwrite=args.overwrite, progress=progress)
