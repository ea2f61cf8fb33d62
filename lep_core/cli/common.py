"""Arguments shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

import argparse


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", default=None, help="workspace folder (default: $LEP_WORKSPACE or ./workspace)")


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
