"""`pybgp status`: the running daemon's BGP sessions, as `calicoctl node status` shows them.

The daemon's "status" control command returns::

    {"router_id": "198.18.0.1", "asn": 64512, "uptime": 12.5,
     "peers": [{"address", "asn", "type", "state", "since", "info", "received",
                "accepted", "advertised", "families", "messages", "last_error"}]}

``--json`` prints that object as given (peers sorted by address).  Without it the
peers are printed as calicoctl prints BIRD's: one table per transport address
family, STATE "up" or "start" as BIRD says it, SINCE as a local time of day when it
is today and a date otherwise.  Cells are never wrapped (calicoctl's tablewriter
wraps at 30 columns), so that each peer stays on one greppable line.

Exit status: 0 when the daemon answered, 1 when it is not running or the request failed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .daemon_socket import DaemonUnreachable, add_socket_arguments, ask

_HEADER = ("PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO")
_ESTABLISHED = "Established"  # RFC 4271 8.2.2: the FSM's state names


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show the running daemon's BGP sessions",
        description=(
            "Ask the running pybgp daemon, through its control socket, for its BGP "
            "sessions and print them as `calicoctl node status` does, or as JSON."
        ),
    )
    add_socket_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        status = ask(args, "pybgp status", "status")
    except DaemonUnreachable as exc:
        return exc.status
    if not isinstance(status, dict):
        print(f"pybgp status: unexpected answer from the daemon: {status!r}", file=sys.stderr)
        return 1
    if args.json:
        text = json.dumps(sorted_peers(status), indent=2, ensure_ascii=False) + "\n"
    else:
        text = render(status, datetime.now().astimezone())
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def sorted_peers(status: dict[str, Any]) -> dict[str, Any]:
    """The status with its peers in address order (numeric, IPv4 before IPv6)."""
    peers = status.get("peers") or []
    return {**status, "peers": sorted(peers, key=lambda peer: _address_key(peer.get("address")))}


def render(status: dict[str, Any], now: datetime) -> str:
    """The text `pybgp status` prints; `now` sets what "today" and local time are.

    `now` should be aware: its offset is the local time zone.  A naive `now` is taken
    as the machine's local time.
    """
    if now.tzinfo is None:
        now = now.astimezone()
    by_family: dict[int, list[dict[str, Any]]] = {4: [], 6: []}
    for peer in sorted_peers(status)["peers"]:
        by_family[_family(peer.get("address"))].append(peer)
    lines = ["pybgp process is running.", ""]
    for version in (4, 6):
        lines.append(f"IPv{version} BGP status")
        peers = by_family[version]
        if peers:
            lines.extend(table(_HEADER, [_row(peer, now) for peer in peers]))
        else:
            lines.append(f"No IPv{version} peers found.")
        lines.append("")
    return "\n".join(lines[:-1]) + "\n"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """An ASCII table as Go's tablewriter draws it: header centred, cells left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+"
    heading = _line([_centre(cell, width) for cell, width in zip(header, widths, strict=True)])
    body = [_line([cell.ljust(w) for cell, w in zip(row, widths, strict=True)]) for row in rows]
    return [rule, heading, rule, *body, rule]


def _line(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {cell} " for cell in cells) + "|"


def _centre(text: str, width: int) -> str:
    # tablewriter's Pad(): the odd space goes to the right (str.center varies by parity).
    gap = width - len(text)
    return " " * (gap // 2) + text + " " * (gap - gap // 2)


def _row(peer: dict[str, Any], now: datetime) -> list[str]:
    state = str(peer.get("state") or "")
    info = str(peer.get("info") or "")
    return [
        str(peer.get("address") or ""),
        str(peer.get("type") or ""),
        # BIRD's protocol states, which calicoctl shows: "up" once Established, else "start".
        "up" if state == _ESTABLISHED else "start",
        _since(peer.get("since"), now),
        f"{state} {info}" if info else state,
    ]


def _since(value: Any, now: datetime) -> str:
    """HH:MM:SS in local time when the moment is today there, else YYYY-MM-DD."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the daemon speaks UTC
    local = moment.astimezone(now.tzinfo)
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d")


def _family(address: Any) -> int:
    try:
        return ipaddress.ip_address(str(address)).version
    except ValueError:
        return 6 if ":" in str(address) else 4


def _address_key(address: Any) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        return (99, 0, str(address))
    return (ip.version, int(ip), "")
