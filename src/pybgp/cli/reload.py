"""`pybgp reload`: the running daemon reads its configuration file again.

Policies apply at once without restarting any session; peers added or removed start or
stop; a bad file is refused, naming the key, and the running configuration stays.  The
same as sending the daemon SIGHUP, but with the outcome printed.
"""

from __future__ import annotations

import argparse
from typing import Any

from .daemon_socket import add_socket_arguments, tell


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "reload",
        help="re-read the daemon's configuration file and apply it",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    add_socket_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return tell(args, "pybgp reload", "reload")
