"""Start LEP Studio: `python launch.py [--workspace W] [--port P] [--host H] [--auth U:P | --auth-file F]`
(same as `lep app`)."""

from __future__ import annotations

import argparse
import sys

from lep_core.errors import LepInputError
from lep_studio.access import add_access_args, credentials, exposure_warning


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the LEP Studio app.")
    parser.add_argument("--workspace", default=None, help="workspace folder (default: $LEP_WORKSPACE or ./workspace)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    add_access_args(parser)
    args = parser.parse_args()
    try:
        logins = credentials(args.auth, args.auth_file)
    except LepInputError as exc:
        print(f"launch.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
    warning = exposure_warning(args.host, args.port, logins)
    if warning:
        print(f"launch.py: {warning}", file=sys.stderr, flush=True)
    from lep_studio.app import launch

    launch(args.workspace, host=args.host, port=args.port, auth=logins)


if __name__ == "__main__":
    main()
