"""`lep train`: embedding-only training (design §3). Flags come from TrainOptions, so help text lives in one place."""

from __future__ import annotations

import argparse
import os

from lep_core.cli.common import add_allow_pickle, add_json, add_option_flags, given_options
from lep_core.training.options import TrainOptions


def register(sub) -> None:
    p = sub.add_parser("train", help="train the input and output embeddings only (a resumable job)",
                       argument_default=argparse.SUPPRESS)
    add_option_flags(p, TrainOptions, lists=("corpus",))
    p.add_argument("--resume", action="store_true", default=False, help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", default=False, help="start over in a run folder that holds a run")
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run, json=False)


def run(args) -> dict | None:
    from lep_core.cli.progress import bar
    from lep_core.training.trainer import train

    given = given_options(args, TrainOptions)
    if int(os.environ.get("RANK", "0")) != 0:  # under `accelerate launch`, process 0 shows progress and the summary
        train(given, resume=args.resume, overwrite=args.overwrite)
        return None
    with bar(0, "reading corpus", unit="B") as read, bar(given.get("steps", TrainOptions.steps), "train") as progress:
        return train(given, resume=args.resume, overwrite=args.overwrite, progress=progress, read_progress=read)
