"""`lep model init`."""

from __future__ import annotations

from lep_core.cli.common import add_json, add_overwrite
from lep_core.embeddings.init import InitMethod


def register(sub) -> None:
    group = sub.add_parser("model", help="resize and initialise a model for a new tokenizer").add_subparsers(
        dest="model_command", required=True, metavar="ACTION"
    )
    p = group.add_parser("init", help="resize embeddings (and untied head) to a new tokenizer and initialise new rows")
    p.add_argument("--model", required=True, help="model: folder, .gguf file or hub id")
    p.add_argument("--tokenizer", required=True, help="the new tokenizer's folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", default="mean", choices=[m.value for m in InitMethod],
                   help="mean of old sub-tokens (default), weighted by length, transformers' mean resizing, or random "
                        "(noise rows: before training the model emits new tokens even in English replies, "
                        "which fall apart; use it only to compare methods)")
    p.add_argument("--seed", type=int, default=0, help="seed for the mean_resize and random methods")
    add_overwrite(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.embeddings.init import init_model

    return init_model(args.model, args.tokenizer, args.out, args.method, args.overwrite, args.seed)
