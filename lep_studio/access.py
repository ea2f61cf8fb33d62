"""Who may use the app: the listening address, Gradio's login (`--auth`, `--auth-file`) and the warning when the
app is reachable from other machines without one.

The app serves the whole workspace (read, write, delete, start jobs). On 127.0.0.1 (the default) only this
machine reaches it; any other --host exposes it to the network, so LEP Studio prints one warning line on stderr
unless a login is set. The login is Gradio's own (`launch(auth=...)`): a login page, then a session cookie.
Imports no gradio: `lep app` and launch.py parse their flags with it before the app is built.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

from lep_core.errors import LepInputError

Credentials = list[tuple[str, str]]


def add_access_args(parser: argparse.ArgumentParser) -> None:
    """--auth and --auth-file, shared by `lep app` and launch.py."""
    parser.add_argument("--auth", action="append", default=None, metavar="USER:PASSWORD",
                        help="require a login (repeat for more users); use it with any --host but 127.0.0.1")
    parser.add_argument("--auth-file", default=None, metavar="FILE",
                        help="require a login: one USER:PASSWORD per line (# comments allowed); keeps passwords "
                             "out of the shell history")


def _pair(text: str, where: str) -> tuple[str, str]:
    user, sep, password = text.strip().partition(":")
    if not sep or not user.strip() or not password:
        raise LepInputError(f"{where}: expected USER:PASSWORD (a user name, a colon, a password), got {text.strip()!r}")
    return user.strip(), password


def credentials(auth: list[str] | None, auth_file: str | os.PathLike | None) -> Credentials | None:
    """The logins from --auth and --auth-file, or None when neither is given. Raises LepInputError (one line) for
    a malformed pair or an unreadable or empty file."""
    pairs: Credentials = [_pair(a, "--auth") for a in auth or []]
    if auth_file:
        path = Path(auth_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise LepInputError(f"cannot read --auth-file {path}: {type(exc).__name__}") from None
        found = [_pair(line, f"--auth-file {path} line {n}") for n, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not found:
            raise LepInputError(f"--auth-file {path} holds no USER:PASSWORD line")
        pairs += found
    return pairs or None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost reach only this machine; anything else (0.0.0.0, a LAN address, a name)
    may be reached from the network."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, logins: Credentials | None) -> str | None:
    """The one-line warning for an app reachable beyond this machine without a login, else None."""
    if logins or is_loopback(host):
        return None
    return (f"warning: LEP Studio listens on {host}:{port} without a login: anyone who can reach this machine can "
            "read, change and delete the workspace and start jobs; pass --auth USER:PASSWORD or --auth-file FILE")
