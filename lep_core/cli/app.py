"""`lep app`: start the Gradio app (gradio is imported only when this command runs)."""

from __future__ import annotations

import argparse

from lep_core.cli.common import add_workspace, port_number


def register(sub) -> None:
    p = sub.add_parser("app", help="start the LEP Studio web app (listens on 127.0.0.1 by default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; no share link)")
    p.add_argument("--port", type=port_number, default=7860, help="port (default 7860)")
    add_workspace(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from lep_studio.app import launch

    launch(args.workspace, host=args.host, port=args.port)
