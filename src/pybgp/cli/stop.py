"""`pybgp stop [--graceful]`: stop the running daemon.

Without `--graceful`, as SIGTERM: every session gets a Cease (RFC 9003 message), and the
node's kernel routes go unless `[fib] persist = true`.  With `--graceful`, for a restart
(an upgrade, a new configuration that needs one): the connections close without a
NOTIFICATION, so that peers keep our routes as stale for our graceful-restart-time
(RFC 4724 4.2), and the kernel routes stay; the next `pybgp speak` keeps forwarding with
them until its peers have sent their tables again.  BIRD's `birdc graceful restart`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .daemon_socket import add_socket_arguments, tell


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "stop",
        help="stop the running daemon (--graceful: for a restart, routes kept)",
        description=" ".join(__doc__.split("\n\n")[1:]).replace("\n", " "),
    )
    parser.add_argument(
        "--graceful",
        action="store_true",
        help="close sessions without NOTIFICATION and keep the kernel routes (a restart)",
    )
    add_socket_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return tell(args, "pybgp stop", "stop", graceful=args.graceful)
