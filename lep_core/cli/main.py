"""Entry point of `lep`. Exit 0 on success, 2 on bad input (one line), 1 when a job fails."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, Sequence

# torch's OpenMP threads spin while they wait by default: with any other CPU-bound process on the machine a
# training step took 14 s instead of 2.5 s (issue 14). Passive waiting costs nothing on a quiet machine. It must be
# set before torch is imported (every command imports it lazily); a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lep_core import __version__  # noqa: E402
from lep_core.errors import LepInputError, LepJobError  # noqa: E402

# Each module has register(subparsers); handlers take the parsed args and return a JSON-able dict or None.
COMMAND_MODULES = (
    "demo",
    "tokenizer",
    "model",
    "train",
    "plan",
    "propagate",
    "calibrate",
    "evaluate",
    "run",
    "recipe",
    "bench",
    "app",
    "export",
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but bad input is one line (the contract), not usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="lep", description="LEP Studio: adapt an instruct LLM to a new language.")
    parser.add_argument("--version", action="version", version=f"lep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"lep_core.cli.{name}").register(sub)
    return parser


def emit(result: Any, as_json: bool) -> None:
    """With --json: one JSON object on stdout; otherwise a readable summary."""
    if result is None:
        return
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            elif isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            print(f"{key}: {value}")
    else:
        print(result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LepInputError as exc:
        print(f"lep: error: {exc}", file=sys.stderr)
        return 2
    except LepJobError as exc:
        print(f"lep: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lep: interrupted", file=sys.stderr)
        return 130
    emit(result, getattr(args, "json", False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
