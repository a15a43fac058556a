"""`pybgp speak -c FILE` (the node daemon) and `pybgp reflect -c FILE` (the route
reflector).

Both load and check the whole configuration before anything starts (a bad one exits 2
with the key named), then run the `Speaker` until SIGTERM or SIGINT, when every
session is closed with an RFC 9003 shutdown message.  SIGHUP (or `pybgp reload`)
reads the file again and applies it without restarting unchanged sessions; a bad file
is refused with the key named and the running configuration stays.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from ..config import Config, ConfigError, load_config
from ..runtime.control import ControlError
from ..runtime.loop import loop_name, run
from ..runtime.speaker import SHUTDOWN_MESSAGE, Speaker

EXIT_CONFIG = 2


def add_parser(commands: Any) -> None:
    speak = commands.add_parser(
        "speak",
        help="run the BGP speaker (node daemon)",
        description="Run the BGP speaker described by a TOML configuration file.",
    )
    _daemon_arguments(speak)
    speak.set_defaults(run=run_speak, reflector=False, name="speak")
    reflect = commands.add_parser(
        "reflect",
        help="run a BGP route reflector (RFC 4456)",
        description=(
            "Run a route reflector: the keys of `pybgp speak`, plus cluster-id under"
            " [speaker] (default: the router id) and rr-client = true per peer or"
            " peer-range.  It never touches the kernel."
        ),
    )
    _daemon_arguments(reflect)
    reflect.set_defaults(run=run_speak, reflector=True, name="reflect")


def _daemon_arguments(parser: Any) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="TOML file")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: info)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the configuration, then exit"
    )


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def serve(speaker: Speaker) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, speaker.reload_logged)
    await speaker.start()
    signalled = asyncio.ensure_future(stop.wait())
    requested = asyncio.ensure_future(speaker.stop_requested.wait())  # `pybgp stop`
    await asyncio.wait((signalled, requested), return_when=asyncio.FIRST_COMPLETED)
    for waiter in (signalled, requested):
        waiter.cancel()
    graceful = speaker.stop_graceful and not stop.is_set()
    log = logging.getLogger("pybgp")
    if graceful:
        log.info("stopping for a restart: connections close without NOTIFICATION, routes stay")
    else:
        log.info("stopping: closing every session")
    await speaker.close(SHUTDOWN_MESSAGE, graceful=graceful)


def build_speaker(config: Config, reflector: bool) -> Speaker:
    """The daemon; a node (`[node]`, `[fib] enabled`) writes its routes to the kernel,
    a reflector never does."""
    if reflector or config.node is None or not config.fib.enabled:
        if reflector and config.node is not None:
            logging.getLogger("pybgp").info("reflect: [node] and [fib] are not used")
        return Speaker(config, reflector=reflector)
    from ..fib.addresses import node_addresses
    from ..fib.base import FibSettings
    from ..fib.monitor import LinkMonitor
    from ..fib.netlink import NetlinkFib

    settings = FibSettings(
        protocol=config.fib.protocol, table=config.fib.table, persist=config.fib.persist
    )
    return Speaker(
        config,
        fib=NetlinkFib(settings),
        node_addresses=node_addresses(),
        read_addresses=node_addresses,
        link_monitor=LinkMonitor,
    )


def run_speak(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        # The key is the file name itself for unreadable files and TOML syntax errors.
        where = "" if exc.key == str(args.config) else f"{args.config}: "
        print(f"pybgp {args.name}: {where}{exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        print(f"{args.config}: configuration OK")
        return 0
    setup_logging(args.log_level)
    logging.getLogger("pybgp").info("event loop: %s", loop_name())
    try:
        run(serve(build_speaker(config, args.reflector)))
    except (OSError, ControlError) as exc:  # a port, or the control socket, is taken
        print(f"pybgp {args.name}: {exc}", file=sys.stderr)
        return 1
    return 0
