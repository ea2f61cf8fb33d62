"""Start LEP Studio: `python launch.py [--workspace W] [--port P] [--host H]` (same as `lep app`)."""

from __future__ import annotations

import argparse

from lep_studio.app import launch


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the LEP Studio app.")
    parser.add_argument("--workspace", default=None, help="workspace folder (default: $LEP_WORKSPACE or ./workspace)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args()
    launch(args.workspace, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
