"""How the CLI talks to the running daemon: found by `--socket PATH` or `-c FILE`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import ConfigError, load_config
from ..runtime.control import DEFAULT_SOCKET, ControlError, ControlUnavailable, request


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


class DaemonUnreachable(Exception):
    """Asking the daemon failed; the message was printed, `status` is the exit code."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def ask(args: argparse.Namespace, prog: str, command: str, **arguments: Any) -> Any:
    """The daemon's answer to `command`; on failure print why and raise DaemonUnreachable.

    Exit codes: 2 for an unreadable `-c` configuration, 1 when the daemon is not running
    or refuses the request.
    """
    try:
        path = socket_path(args)
    except SocketArgumentError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise DaemonUnreachable(2) from None
    try:
        return request(path, command, **arguments)
    except ControlUnavailable as exc:
        print(f"pybgp is not running: {exc.reason}", file=sys.stderr)
        raise DaemonUnreachable(1) from None
    except ControlError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise DaemonUnreachable(1) from None


def tell(args: argparse.Namespace, prog: str, command: str, **arguments: Any) -> int:
    """Send `command`, print the daemon's answer; the exit code (see `ask`)."""
    try:
        answer = ask(args, prog, command, **arguments)
    except DaemonUnreachable as exc:
        return exc.status
    print(answer)
    return 0
