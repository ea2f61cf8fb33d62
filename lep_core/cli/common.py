"""Arguments shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", default=None, help="workspace folder (default: $LEP_WORKSPACE or ./workspace)")


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


class _AllowPickle(argparse.Action):
    """--allow-pickle: sets LEP_ALLOW_PICKLE=1 for this process and the jobs it starts (lep_core.sources.loading
    reads it wherever weights or a checkpoint are loaded), so the flag is one switch however deep the load is."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs.pop("nargs", None)
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from lep_core.sources.loading import PICKLE_ENV

        os.environ[PICKLE_ENV] = "1"
        setattr(namespace, self.dest, True)


def add_allow_pickle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-pickle", action=_AllowPickle, default=False,
                        help="also load pickle weights (.bin/.pt) and checkpoints that need the full unpickler; "
                             "pickle can run code: only for files you trust")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port for `lep app --port`: 1 to 65535 (argparse turns the error into one line)."""
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value}")
    return value


def add_option_flags(parser: argparse.ArgumentParser, options: type, *, lists: tuple[str, ...] = (),
                     skip: tuple[str, ...] = ()) -> None:
    """One flag per field of an options dataclass, help and choices taken from the field, so they live in one place.

    Parsers using this should set argument_default=argparse.SUPPRESS: flags left out then fall back to the
    dataclass defaults instead of being passed as None.
    """
    for f in dataclasses.fields(options):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name in lists:
            parser.add_argument(flag, nargs="+", help=help_text)
        elif isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=help_text)
        elif isinstance(default, str) and "choices" not in f.metadata:
            parser.add_argument(flag, help=help_text)
        else:
            is_float = isinstance(default, float) or "float" in str(f.type)  # `float | None` fields too
            kind = str if "choices" in f.metadata else float if is_float else int
            suffix = f" (default {default})" if default is not None else ""
            parser.add_argument(flag, type=kind, choices=f.metadata.get("choices"), help=help_text + suffix)


def given_options(args: argparse.Namespace, options: type) -> dict[str, Any]:
    """The options the user actually passed (the rest keep the dataclass defaults)."""
    names = {f.name for f in dataclasses.fields(options)}
    return {k: v for k, v in vars(args).items() if k in names}


def note_normalisation(changes) -> None:
    """One note on stderr when reading rewrote text into the one form (lep_core.corpus.text.TextChanges):
    stdout stays one JSON object with --json."""
    import sys

    if changes:
        print(f"lep: note: {changes.line()}", file=sys.stderr)


def with_normalisation(result: dict[str, Any], changes) -> dict[str, Any]:
    """`result` plus what reading rewrote under "normalised" (its counts), with `note_normalisation`."""
    note_normalisation(changes)
    return {**result, "normalised": changes.as_dict()}
