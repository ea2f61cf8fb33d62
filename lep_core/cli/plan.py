"""`lep plan`: the memory of a training run from the model's config.json alone (no weights are read)."""

from __future__ import annotations

import argparse

from lep_core.cli.common import add_json
from lep_core.training.options import TrainOptions, option_help

# the TrainOptions fields that change the memory of a run; help text and choices come from TrainOptions
FLAGS = ("batch_size", "seq_len", "grad_accum", "precision", "optimizer", "load_in_4bit", "gradient_checkpointing",
         "train_params", "lora_rank", "lora_mlp")


def register(sub) -> None:
    import dataclasses

    p = sub.add_parser("plan", help="memory of a training run (per item, total, fits or what to change) from config.json")
    p.add_argument("--model", required=True, help="model folder (or its config.json): only the config is read")
    p.add_argument("--device-memory", type=float, default=None,
                   help="memory to plan for, in GB (default: the GPU's memory, or the RAM available now on a CPU)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="plan for this device (auto: CUDA when a GPU is visible); cuda works without a GPU with --device-memory")
    fields = {f.name: f for f in dataclasses.fields(TrainOptions)}
    for name in FLAGS:
        f, flag = fields[name], "--" + name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action="store_true", help=option_help(name))
        else:
            kind = type(f.default) if "choices" not in f.metadata else str
            p.add_argument(flag, type=kind, default=f.default, choices=f.metadata.get("choices"),
                           help=f"{option_help(name)} (default {f.default})")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> dict | None:
    from lep_core.training.plan import ITEM_NAMES, plan, summary_line

    options = TrainOptions(model=args.model, **{name: getattr(args, name) for name in FLAGS})
    result = plan(options, args.device_memory, args.device)
    if not args.json:
        for key, gb in result["items_gb"].items():
            print(f"{ITEM_NAMES[key]:<42} {gb:8.2f} GB")
        print(summary_line(result))
        return None
    return result
