"""`pybgp peer disable|enable|reset ADDRESS`: administrative control of one session.

`disable` sends Cease / Administrative Shutdown with the `--message` text (RFC 9003)
and keeps the session down; `enable` starts it again; `reset` sends Cease /
Administrative Reset and lets it come back (like `birdc restart`).
"""

from __future__ import annotations

import argparse
from typing import Any

from .daemon_socket import add_socket_arguments, tell

ACTIONS = {"disable": "peer-disable", "enable": "peer-enable", "reset": "peer-reset"}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "peer",
        help="disable, enable or reset one BGP session of the running daemon",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("action", choices=sorted(ACTIONS))
    parser.add_argument("address", help="the peer's address")
    parser.add_argument(
        "--message", default="", help="shutdown communication sent to the peer (RFC 9003)"
    )
    add_socket_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    arguments: dict[str, Any] = {"peer": args.address}
    if args.action != "enable":
        arguments["message"] = args.message
    return tell(args, f"pybgp peer {args.action}", ACTIONS[args.action], **arguments)
