"""`lep model init`."""

from __future__ import annotations

from lep_core.cli.common import add_allow_pickle, add_json, add_overwrite
from lep_core.embeddings.init import HeadMethod, InitMethod


def register(sub) -> None:
    group = sub.add_parser("model", help="resize and initialise a model for a new tokenizer").add_subparsers(
        dest="model_command", required=True, metavar="ACTION"
    )
    p = group.add_parser("init", help="resize embeddings (and untied head) to a new tokenizer and initialise new rows")
    p.add_argument("--model", required=True, help="model: folder, .gguf file or hub id")
    p.add_argument("--tokenizer", required=True, help="the new tokenizer's folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", default="mean", choices=[m.value for m in InitMethod],
                   help="input rows: mean of the old sub-tokens (default), norm_mean (that mean at the sub-tokens' mean "
                   "norm), weighted by length, transformers' mean resizing, or random (noise rows: before training the "
                   "model emits new tokens even in English replies, which fall apart; use it only to compare methods)")
    p.add_argument("--head-method", default="same", choices=[m.value for m in HeadMethod],
                   help="head rows: same as the input rows (a tied model stays tied; default), or from the "
                   "sub-tokens' head rows: mean, norm_mean, first or last sub-token, or fitted (the mean, then fitted "
                   "on --corpus to the frozen body's hidden states, so new tokens are chosen before any training); "
                   "all but same untie a tied model")
    p.add_argument("--corpus", nargs="+", help="target-language text for --head-method fitted (.txt/.jsonl/.parquet or folders)")
    p.add_argument("--seed", type=int, default=0, help="seed for the mean_resize and random methods")
    add_overwrite(p)
    add_allow_pickle(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> dict:
    from lep_core.embeddings.init import init_model

    return init_model(args.model, args.tokenizer, args.out, args.method, args.overwrite, args.seed,
                      head_method=args.head_method, corpus=args.corpus)
