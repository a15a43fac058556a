"""How the CLI finds the running daemon: `--socket PATH`, or `-c FILE` (its config)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import ConfigError, load_config
from ..runtime.control import DEFAULT_SOCKET


class SocketArgumentError(Exception):
    """The configuration named by `-c` could not be read (exit status 2)."""


def add_socket_arguments(parser: Any) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--socket",
        metavar="PATH",
        default=None,
        help=f"the daemon's control socket (default {DEFAULT_SOCKET})",
    )
    where.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=None,
        help="the daemon's configuration: use its control-socket",
    )


def socket_path(args: argparse.Namespace) -> str:
    if args.socket:
        return str(args.socket)
    if args.config:
        try:
            return load_config(args.config).speaker.control_socket
        except ConfigError as exc:
            raise SocketArgumentError(f"{args.config}: {exc}") from None
    return DEFAULT_SOCKET
