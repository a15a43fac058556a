"""`pybgp block release PREFIX`: a local IPAM block with no pods left leaves the node.

The block is withdrawn from the peers and its blackhole route is removed from the
kernel, so that a route another node announces for it can take its place (what Calico
does when IPAM frees a block).  A prefix that is not one of the node's `[node] blocks`
is refused.  The block comes back with the configuration's next reload or restart if
it is still listed there.
"""

from __future__ import annotations

import argparse
from typing import Any

from .daemon_socket import add_socket_arguments, tell


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "block",
        help="release one of the node's IPAM blocks (withdraw it, remove its blackhole)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("action", choices=["release"])
    parser.add_argument("prefix", help="the block, e.g. 10.244.58.192/26")
    add_socket_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return tell(args, "pybgp block release", "block-release", block=args.prefix)
