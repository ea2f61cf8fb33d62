"""`lep propagate`: a thin layer over lep_core.propagation.propagate (design §3)."""

from __future__ import annotations

import argparse

from lep_core.cli.common import add_allow_pickle, add_json, add_overwrite
from lep_core.propagation.modes import DEFAULT_MODE, Mode
from lep_core.propagation.solve import Solver


def _ridge(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "propagate",
        help="Learned Embedding Propagation: put an adapted base's embeddings into instruct models",
        description="modes: " + "; ".join(f"{m.value}: {m.help}" for m in Mode),
    )
    p.add_argument("--base", required=True, help="the base model the instruct models were fine-tuned from")
    p.add_argument("--instruct", required=True, action="append", help="an instruct model (repeat for several)")
    p.add_argument("--adapted", required=True, help="the base adapted to the new tokenizer (init + embedding training)")
    p.add_argument("--out", required=True, help="output folder (OUT/<name>/ per instruct model when several)")
    p.add_argument("--mode", default=DEFAULT_MODE.value, choices=[m.value for m in Mode], help="projection mode")
    p.add_argument("--ridge", type=_ridge, default=0.0, help="pull P toward identity (relative strength, default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to accumulate the fit")
    p.add_argument("--solver", default=Solver.gram.value, choices=[s.value for s in Solver],
                   help="gram: float64 Gram sums of float32 chunk products, O(d²) memory (default); "
                        "gram64: float64 products too; lstsq: exact QR, for small models")
    p.add_argument("--corpus", nargs="+", default=[], metavar="FILE", help="text for occ_conversion's weights")
    p.add_argument("--compare-modes", action="store_true", help="also fit every other mode and report them")
    add_overwrite(p)
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.cli.progress import bar
    from lep_core.propagation.options import PropagateOptions
    from lep_core.propagation.propagate import propagate

    opts = PropagateOptions(
        base=args.base, instruct=args.instruct, adapted=args.adapted, out=args.out, mode=Mode(args.mode),
        ridge=args.ridge, device=args.device, solver=Solver(args.solver), corpus=args.corpus,
        compare_modes=args.compare_modes, overwrite=args.overwrite,
    )
    with bar(1000, "propagate") as update:
        return propagate(opts, lambda fraction, _message: update(int(fraction * 1000), 1000))
