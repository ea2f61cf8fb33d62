"""`lep calibrate`: self-calibration on the original model's answers, or continued instruction tuning.

Flags come from CalibrateOptions (the training options plus the calibration ones), so help lives in one place.
"""

from __future__ import annotations

import argparse

from lep_core.calibration.options import CalibrateOptions
from lep_core.cli.common import add_allow_pickle, add_json, add_option_flags, add_workspace, given_options

HIDDEN = {"corpus", "data"}  # filled in by calibration itself


def register(sub) -> None:
    p = sub.add_parser("calibrate", argument_default=argparse.SUPPRESS,
                       help="after propagation: train the adapted model on the original model's answers "
                            "(--original) or on a chat dataset (--chat); a resumable job like `lep train`")
    add_option_flags(p, CalibrateOptions, lists=("chat",), skip=tuple(HIDDEN))
    p.add_argument("--resume", action="store_true", default=False, help="continue the run in --out (answers, then training)")
    p.add_argument("--overwrite", action="store_true", default=False, help="start over in a run folder that holds a run")
    p.add_argument("--no-score", action="store_true", default=False,
                   help="skip scoring bits-per-char of the answers before and after")
    add_workspace(p)
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run, json=False)


def run(args) -> dict:
    from lep_core.calibration.run import calibrate
    from lep_core.cli.progress import bar

    given = given_options(args, CalibrateOptions)
    with bar(given.get("steps", CalibrateOptions.steps), "calibrate") as progress:
        return calibrate(given, resume=args.resume, overwrite=args.overwrite, progress=progress,
                         workspace=args.workspace, score=not args.no_score)
