"""`pybgp` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from . import bench, block, decode, peer, reload, routes, speak, status, stop


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pybgp", description="A pure-Python BGP-4 speaker, route reflector and tools."
    )
    parser.add_argument("--version", action="version", version=f"pybgp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    decode.add_parser(commands)
    speak.add_parser(commands)
    status.add_parser(commands)
    peer.add_parser(commands)
    bench.add_parser(commands)
    routes.add_parser(commands)
    reload.add_parser(commands)
    block.add_parser(commands)
    stop.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # `pybgp decode ... | head` is normal use, not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
