"""`lep app`: start the Gradio app (gradio is imported only when this command runs)."""

from __future__ import annotations

import argparse

from lep_core.cli.common import add_workspace, port_number


def register(sub) -> None:
    p = sub.add_parser("app", help="start the LEP Studio web app (listens on 127.0.0.1 by default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; no share link)")
    p.add_argument("--port", type=port_number, default=7860, help="port (default 7860)")
    add_workspace(p)
    from lep_studio.access import add_access_args  # no gradio import: only the flags

    add_access_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import sys

    from lep_studio.access import credentials, exposure_warning

    logins = credentials(args.auth, args.auth_file)  # a malformed login: one line, exit 2, before gradio loads
    warning = exposure_warning(args.host, args.port, logins)
    if warning:
        print(f"lep app: {warning}", file=sys.stderr, flush=True)
    from lep_studio.app import launch

    launch(args.workspace, host=args.host, port=args.port, auth=logins)
