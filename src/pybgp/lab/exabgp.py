"""ExaBGP 5 as a lab peer: the ``exabgp`` of this Python's environment (the repo's .venv).

ExaBGP talks to the outside through an API process.  Ours (:data:`API_PROCESS`, written
next to the configuration) does two jobs: it copies command lines from a FIFO to ExaBGP
(:meth:`ExaBGP.command`), and it appends every JSON message ExaBGP sends it (session
state changes, received UPDATEs and NOTIFICATIONs) to ``received.jsonl``.  Everything the
lab reports about ExaBGP (:meth:`~ExaBGP.established`, :meth:`~ExaBGP.received_routes`,
:meth:`~ExaBGP.shutdown_message`) is read back from that file.

ExaBGP only listens when ``exabgp.tcp.bind`` is set; the lab binds it to ``listen`` or,
by default, to the local addresses of its passive neighbours.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pybgp.lab.daemon import Neighbor, PeerDaemon, Route
from pybgp.lab.netns import Lab, Namespace, wait_until

__all__ = ["API_PROCESS", "ExaBGP", "exabgp_binary"]

API_PROCESS = """\
import os
import sys
import threading

commands, received = sys.argv[1], sys.argv[2]


def forward() -> None:
    # Opened read-write, the FIFO never reports end-of-file between writers.
    with os.fdopen(os.open(commands, os.O_RDWR), "r") as fifo:
        for line in fifo:
            sys.stdout.write(line)
            sys.stdout.flush()


threading.Thread(target=forward, daemon=True).start()
with open(received, "a", buffering=1) as sink:
    for line in sys.stdin:
        sink.write(line)
"""


def exabgp_binary() -> str:
    """ExaBGP next to this Python (the venv's), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "exabgp"
    if beside.exists():
        return str(beside)
    return shutil.which("exabgp") or str(beside)


class ExaBGP(PeerDaemon):
    """ExaBGP 5, one ``neighbor`` block per :class:`Neighbor`, routes in ``static``.

    ``tcp_attempts`` (``exabgp.tcp.attempts``) limits connection attempts per peer; with
    1, ExaBGP does not reconnect after a NOTIFICATION (it then stops that peer).  0 means
    no limit.
    """

    name = "exabgp"
    binaries = (exabgp_binary(),)
    custom_shutdown_text = False  # ``teardown 2`` always says "Administrative Shutdown"

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        tcp_attempts: int = 0,
        binary: str | None = None,
        **common: Any,
    ) -> None:
        """``common``: the keyword arguments of :class:`PeerDaemon`.  ``binary``: the
        ``exabgp`` to run (default: :func:`exabgp_binary`).  With ``config_text``, its
        ``neighbor`` blocks name the API process ``api`` (``api { processes [ api ]; }``)."""
        super().__init__(lab, ns, **common)
        if self.reflects:
            raise ValueError("ExaBGP does not reflect routes: no rr_client neighbours")
        self.tcp_attempts = tcp_attempts
        self.binary = binary or exabgp_binary()
        self.fifo = self.dir / "commands.fifo"
        self.received_file = self.dir / "received.jsonl"

    # -- configuration --------------------------------------------------------------------
    def config(self) -> str:
        """The complete ``exabgp.conf``."""
        script = self.dir / "api.py"
        lines = [
            "process api {",
            f"  run {sys.executable} -u {script} {self.fifo} {self.received_file};",
            "  encoder json;",
            "}",
        ]
        if self.config_text is not None:
            return "\n".join(lines) + "\n" + self.config_text
        for neighbor in self.neighbors:
            lines += self._neighbor(neighbor)
        return "\n".join(lines) + "\n"

    def _neighbor(self, neighbor: Neighbor) -> list[str]:
        lines = [
            f"neighbor {neighbor.address} {{",
            f"  router-id {self.router_id};",
            f"  local-address {neighbor.local_address};",
            f"  local-as {self.asn};",
            f"  peer-as {neighbor.asn};",
            f"  hold-time {neighbor.hold_time};",
            f"  passive {'true' if neighbor.passive else 'false'};",
            f"  connect {neighbor.port};",
        ]
        if neighbor.password:
            lines.append(f'  md5-password "{neighbor.password}";')
        if neighbor.min_ttl is not None:
            # RFC 5082 GTSM: ExaBGP 5 checks arrivals with IP_MINTTL = incoming-ttl and,
            # without an outgoing-ttl, sends with TTL 255.
            lines.append(f"  incoming-ttl {neighbor.min_ttl};")
        elif neighbor.multihop is not None:
            lines.append(f"  outgoing-ttl {neighbor.multihop};")
        families = " ".join(f"{family} unicast;" for family in neighbor.families)
        lines += [
            f"  family {{ {families} }}",
            "  capability { route-refresh; }",
            "  api {",
            "    processes [ api ];",
            "    neighbor-changes;",
            "    receive { parsed; update; notification; }",
            "  }",
        ]
        routes = [r for r in self.announce if r.family in neighbor.families]
        if routes:
            lines.append("  static {")
            lines += [f"    route {self._route(route, neighbor)};" for route in routes]
            lines.append("  }")
        lines.append("}")
        return lines

    def _route(self, route: Route, neighbor: Neighbor) -> str:
        # ExaBGP needs an explicit next hop.
        words = [
            route.prefix,
            "next-hop",
            route.next_hop or self.own_address(route.family, neighbor),
        ]
        words += ["origin", route.origin]
        path = list(route.as_path)
        if path and not self.is_ibgp(neighbor):
            # ExaBGP sends a configured AS_PATH as it is; only an absent one becomes the
            # local AS towards eBGP peers.  RFC 4271 5.1.2: eBGP prepends our own AS.
            path.insert(0, self.asn)
        if path:
            words += ["as-path", f"[ {' '.join(str(asn) for asn in path)} ]"]
        if route.med is not None:
            words += ["med", str(route.med)]
        if route.local_pref is not None:
            words += ["local-preference", str(route.local_pref)]
        if route.communities:
            words += ["community", f"[ {' '.join(route.communities)} ]"]
        if route.large_communities:
            words += ["large-community", f"[ {' '.join(route.large_communities)} ]"]
        return " ".join(words)

    def _prepare(self) -> None:
        self.write("api.py", API_PROCESS)
        self.write("exabgp.conf", self.config())
        if not self.fifo.exists():
            os.mkfifo(self.fifo)
        self.received_file.write_text("")  # a restart starts with no sessions and no routes

    def _argv(self) -> list[str]:
        return [self.binary, str(self.dir / "exabgp.conf")]

    def _env(self) -> Mapping[str, str]:
        bind = list(self.listen) or [n.local_address for n in self.neighbors if n.passive]
        return dict(
            os.environ,
            exabgp_daemon_user="root",
            exabgp_daemon_daemonize="false",
            exabgp_api_cli="false",
            exabgp_log_destination="stdout",
            exabgp_tcp_bind=" ".join(bind),
            exabgp_tcp_attempts=str(self.tcp_attempts),
        )

    def _check_argv(self) -> list[str]:
        return [self.binary, "validate", str(self.dir / "exabgp.conf")]

    def _wait_ready(self) -> None:
        def api_running() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.label} exited:\n{self.log_text()[-2000:]}")
            try:  # the FIFO can be opened for writing once the API process reads it
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                return False
            return True

        wait_until(api_running, 15, f"{self.label} API process")

    # -- API ------------------------------------------------------------------------------
    def command(self, line: str) -> None:
        """Send one API command (``announce route ...``, ``neighbor X teardown 2``)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:  # ENXIO: the API process has not opened the FIFO (yet)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def messages(self) -> list[dict[str, Any]]:
        """The JSON messages ExaBGP has sent to the API process since it started."""
        try:
            text = self.received_file.read_text(errors="replace")
        except FileNotFoundError:
            return []
        found: list[dict[str, Any]] = []
        for line in text.splitlines():
            if line.startswith("{"):  # not the "done" acknowledgements
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue  # a line still being written
        return found

    # -- state ----------------------------------------------------------------------------
    def established(self, neighbor: str) -> bool:
        state = None
        for message in self.messages():
            if message.get("type") == "state" and _peer(message) == neighbor:
                state = message["neighbor"].get("state")
        return state == "up"

    def received_routes(self, family: str = "ipv4") -> list[Route]:
        table: dict[tuple[str, str], Route] = {}  # (peer, prefix) -> route
        for message in self.messages():
            peer = _peer(message)
            kind = message.get("type")
            if kind == "state" and message["neighbor"].get("state") != "up":
                table = {key: r for key, r in table.items() if key[0] != peer}
            elif kind == "update":
                update = message["neighbor"].get("message", {}).get("update", {})
                for prefix in _withdrawn(update, family):
                    table.pop((peer, prefix), None)
                for route in _announced(update, family):
                    table[(peer, route.prefix)] = route
        return sorted(table.values(), key=lambda r: r.prefix)

    def shutdown_message(self, neighbor: str) -> str | None:
        found: str | None = None
        for message in self.messages():
            if message.get("type") != "notification" or _peer(message) != neighbor:
                continue
            if message["neighbor"].get("direction") not in (None, "receive"):
                continue
            notification = message["neighbor"].get("notification", {})
            # RFC 9003 2: Cease (6) / Administrative Shutdown (2) or Reset (4).
            if notification.get("code") != 6 or notification.get("subcode") not in (2, 4):
                continue
            text = re.search(r'Shutdown Communication: "(.*)"', notification.get("message", ""))
            found = text.group(1) if text else None
        return found

    def admin_shutdown(self, neighbor: str, text: str) -> None:
        # ExaBGP 5.0.15 cannot choose the text: it sends "Administrative Shutdown".
        self.command(f"neighbor {neighbor} teardown 2")

    def enable(self, neighbor: str) -> None:
        """Nothing to do: after a teardown ExaBGP connects again by itself (unless
        ``tcp_attempts`` ran out)."""


def _peer(message: dict[str, Any]) -> str | None:
    address = message.get("neighbor", {}).get("address", {})
    return address.get("peer") if isinstance(address, dict) else None


def _withdrawn(update: dict[str, Any], family: str) -> list[str]:
    prefixes: list[str] = []
    for nlris in update.get("withdraw", {}).get(f"{family} unicast", []) or []:
        prefixes.append(nlris["nlri"] if isinstance(nlris, dict) else nlris)
    return prefixes


def _announced(update: dict[str, Any], family: str) -> list[Route]:
    attribute = update.get("attribute", {})
    routes: list[Route] = []
    for next_hop, nlris in update.get("announce", {}).get(f"{family} unicast", {}).items():
        for nlri in nlris:
            prefix = nlri["nlri"] if isinstance(nlri, dict) else nlri
            routes.append(_route(prefix, next_hop, attribute))
    return routes


def _route(prefix: str, next_hop: str, attribute: dict[str, Any]) -> Route:
    as_path = attribute.get("as-path", [])
    if isinstance(as_path, dict):  # {"0": {"element": "as-sequence", "value": [...]}, ...}
        as_path = [asn for segment in as_path.values() for asn in segment.get("value", [])]
    return Route(
        prefix=prefix,
        next_hop=next_hop,
        as_path=tuple(as_path),
        origin=attribute.get("origin", "igp"),
        med=attribute.get("med"),
        local_pref=attribute.get("local-preference"),
        communities=tuple(f"{a}:{b}" for a, b in attribute.get("community", [])),
        large_communities=tuple(f"{a}:{b}:{c}" for a, b, c in attribute.get("large-community", [])),
        originator_id=attribute.get("originator-id"),  # RFC 4456
        cluster_list=tuple(attribute.get("cluster-list", ())),
    )
