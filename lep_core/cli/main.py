"""Entry point of `lep`. Exit 0 on success, 2 on bad input (one line), 1 when a job fails.

Whatever goes wrong, the user reads one line on stderr, never a traceback: LepInputError (exit 2) and
LepJobError (exit 1) carry their own message; a file the user named that the system refuses to read or write
(missing, a folder, no permission) is exit 2 naming the file; anything else is a bug, reported as one line
(exit 1) that says how to see the traceback: LEP_DEBUG=1.
"""

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

DEBUG_ENV = "LEP_DEBUG"  # set to 1: unexpected errors show their traceback (for a bug report)
# OSErrors about a path the user named: bad input (exit 2). Others (disk full, a lost device) fail the job (exit 1).
_USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)

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


def one_line(text: object, limit: int = 600) -> str:
    """`text` on one line (a message with line breaks in it, as some libraries raise, joined with ' / '), cut
    at `limit` characters."""
    line = " / ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def os_error_line(exc: OSError) -> str:
    """'cannot use FILE: No such file or directory: ...' for an OSError that names a file."""
    where = f" {exc.filename}" if exc.filename is not None else ""
    return f"cannot use{where}: {exc.strerror or exc}: check the path and its permissions"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except LepInputError as exc:
        print(f"lep: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except LepJobError as exc:
        print(f"lep: failed: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lep: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract: one line, never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        if isinstance(exc, _USER_OS_ERRORS):
            print(f"lep: error: {one_line(os_error_line(exc))}", file=sys.stderr)
            return 2
        print(f"lep: internal error: {type(exc).__name__}: {one_line(exc) or '(no message)'} "
              f"(a bug: run again with {DEBUG_ENV}=1 for the traceback and report it)", file=sys.stderr)
        return 1
    emit(result, getattr(args, "json", False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
