"""`Pybgp`: `pybgp speak` in a lab namespace, driven like BIRD, GoBGP, FRR and ExaBGP.

It writes the TOML configuration (docs/configuration.md) from lab `Neighbor`s and
`Route`s, runs `pybgp speak` with the interpreter running this code, and reads the
daemon through its control socket, as `pybgp status` does.  With ``reflect=True`` it
runs the route reflector, `pybgp reflect`, on the same file (plus `cluster-id` under
`[speaker]` and `rr-client` per `[[peer]]`).  Being a `PeerDaemon`, it
can stand wherever the lab wants a BGP speaker (a mixed cluster, a benchmark target).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import sys
from typing import Any

from pybgp.lab.daemon import PeerDaemon, Route
from pybgp.lab.netns import Lab, Namespace, wait_until
from pybgp.runtime.control import ControlError, request


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _announce_entry(route: Route) -> dict[str, Any]:
    entry: dict[str, Any] = {"prefix": route.prefix, "origin": route.origin}
    optional = {
        "next-hop": route.next_hop,
        "med": route.med,
        "local-pref": route.local_pref,
        "communities": list(route.communities),
        "large-communities": list(route.large_communities),
        "as-path": list(route.as_path),
    }
    entry.update({key: value for key, value in optional.items() if value not in (None, [])})
    return entry


def _route(entry: dict[str, Any]) -> Route:
    """A lab `Route` from one entry of the `adj-rib-in` control command."""
    return Route(
        entry["prefix"],
        next_hop=entry.get("next_hop"),
        as_path=tuple(asn for seg in entry.get("as_path", []) for asn in seg["asns"]),
        origin=entry.get("origin", "igp"),
        med=entry.get("med"),
        local_pref=entry.get("local_pref"),
        communities=tuple(entry.get("communities", ())),
        large_communities=tuple(entry.get("large_communities", ())),
        originator_id=entry.get("originator_id"),  # RFC 4456, dotted quads
        cluster_list=tuple(entry.get("cluster_list", ())),
    )


def _loc_rib_route(entry: dict[str, Any]) -> Route:
    """A lab `Route` from one path of the `routes` control command (a flat AS path)."""
    return Route(
        entry["prefix"],
        next_hop=entry.get("next_hop"),
        as_path=tuple(entry.get("as_path", ())),
        origin=entry.get("origin") or "igp",
        med=entry.get("med"),
        local_pref=entry.get("local_pref"),
        communities=tuple(entry.get("communities", ())),
        large_communities=tuple(entry.get("large_communities", ())),
        originator_id=entry.get("originator_id"),
        cluster_list=tuple(entry.get("cluster_list", ())),
    )


class Pybgp(PeerDaemon):
    name = "pybgp"
    binaries = ()  # the interpreter running the lab runs pybgp too

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        peer_types: dict[str, str] | None = None,
        connect_retry: int = 1,
        reflect: bool = False,
        **common: Any,
    ) -> None:
        """``common``: the keyword arguments of :class:`PeerDaemon`.  ``peer_types``: the
        ``type`` label per neighbour address, as `pybgp status` shows it.  ``reflect``:
        run `pybgp reflect` (RFC 4456 route reflector) instead of `pybgp speak`."""
        super().__init__(lab, ns, **common)
        self.reflect = reflect
        self.peer_types = peer_types or {}
        self.connect_retry = connect_retry
        self.socket = str(self.dir / "pybgp.sock")
        self.config_path = self.dir / "pybgp.toml"

    # --- configuration and process ---------------------------------------------------------
    def config(self) -> str:
        lines = [
            "[speaker]",
            f"asn = {self.asn}",
            f"router-id = {_toml(self.router_id)}",
            f"listen = {_toml(self._listen())}",
            f"control-socket = {_toml(self.socket)}",
            f"connect-retry = {self.connect_retry}",
            f"announce = {_toml([_announce_entry(self._next_hop(r)) for r in self.announce])}",
        ]
        if self.cluster_id is not None:
            lines.append(f"cluster-id = {_toml(self.cluster_id)}")  # RFC 4456 7
        for neighbor in self.neighbors:
            keys = {
                "address": neighbor.address,
                "asn": neighbor.asn,
                "type": self.peer_types.get(neighbor.address, "global"),
                "local-address": neighbor.local_address,
                "port": neighbor.port,
                "passive": neighbor.passive,
                "hold-time": neighbor.hold_time,
                "families": list(neighbor.families),
            }
            if neighbor.password:
                keys["password"] = neighbor.password
            if neighbor.ttl_security is not None:
                keys["ttl-security"] = neighbor.ttl_security  # RFC 5082 GTSM
            if neighbor.rr_client:
                keys["rr-client"] = True  # RFC 4456
            # `multihop` needs no key: pybgp sends with the kernel's default TTL (64).
            lines += ["", "[[peer]]", *(f"{key} = {_toml(value)}" for key, value in keys.items())]
        return "\n".join(lines) + "\n"

    def _next_hop(self, route: Route) -> Route:
        """A route of the other family than every session it goes on gets our address of
        its family on that link, as the lab sets up the other daemons (pybgp itself would
        send an IPv4-mapped IPv6 next hop, which is valid but not what the lab expects)."""
        if route.next_hop is not None:
            return route
        for neighbor in self.neighbors:
            if route.family in neighbor.families and route.family != neighbor.transport:
                own = self.own_address(route.family, neighbor)
                return dataclasses.replace(route, next_hop=own)
        return route

    def _listen(self) -> list[str]:
        """`listen` as given, else each neighbour's local address (as the others do)."""
        if self.listen:
            return list(self.listen)
        local = dict.fromkeys(n.local_address for n in self.neighbors)
        return [f"[{a}]:179" if ":" in a else a for a in local]

    def _prepare(self) -> None:
        self.config_path.write_text(self.config_text or self.config())

    @property
    def command(self) -> str:
        """The `pybgp` sub-command this daemon runs: ``speak`` or ``reflect``."""
        return "reflect" if self.reflect else "speak"

    def _speak(self, *extra: str) -> list[str]:
        config = str(self.config_path)
        return [sys.executable, "-m", "pybgp.cli", self.command, "-c", config, *extra]

    def _argv(self) -> list[str]:
        return self._speak()

    def _check_argv(self) -> list[str]:
        return self._speak("--check")

    def _wait_ready(self) -> None:
        wait_until(self._answers, 15, f"{self.label} control socket")

    def _answers(self) -> bool:
        if not self.running:
            raise RuntimeError(f"{self.label} exited:\n{self.log_text()[-2000:]}")
        try:
            request(self.socket, "status", timeout=2)
        except ControlError:
            return False
        return True

    # --- the control socket ----------------------------------------------------------------
    def control(self, command: str, **args: Any) -> Any:
        return request(self.socket, command, timeout=10, **args)

    def status(self) -> dict[str, Any]:
        return self.control("status")  # type: ignore[no-any-return]

    def peer_status(self, address: str) -> dict[str, Any]:
        wanted = ipaddress.ip_address(address)
        for peer in self.status()["peers"]:
            if ipaddress.ip_address(peer["address"]) == wanted:
                return peer  # type: ignore[no-any-return]
        raise KeyError(f"{self.label} has no peer {address}")

    def received(self, address: str) -> list[dict[str, Any]]:
        """The peer's Adj-RIB-In as the control socket gives it (attributes as JSON)."""
        return self.control("adj-rib-in", peer=address)  # type: ignore[no-any-return]

    # --- the PeerDaemon interface ----------------------------------------------------------
    def established(self, neighbor: str) -> bool:
        return self.peer_status(neighbor)["state"] == "Established"

    def received_routes(self, family: str = "ipv4") -> list[Route]:
        routes = [
            _route(entry)
            for neighbor in self.neighbors
            for entry in self.received(neighbor.address)
            if entry["family"] == family
        ]
        return sorted(routes, key=lambda route: route.prefix)

    def kept_routes(self, family: str = "ipv4") -> list[Route]:
        """The learned paths of the Loc-RIB (`pybgp routes`): unlike the Adj-RIB-In,
        without the routes refused on import (loops, policy)."""
        routes = [
            _loc_rib_route(entry)
            for entry in self.control("routes")
            if entry["family"] == family and entry["peer"] != "local"
        ]
        return sorted(routes, key=lambda route: route.prefix)

    def shutdown_message(self, neighbor: str) -> str | None:
        # pybgp logs "peer ADDRESS: ... Received: Cease / Administrative Shutdown: TEXT".
        pattern = re.compile(
            rf"peer {re.escape(str(ipaddress.ip_address(neighbor)))}: .*Received: Cease / "
            r"Administrative (?:Shutdown|Reset)(?:: (.*?))?(?: \(\d+ routes withdrawn\))?$"
        )
        found = None
        for line in self.log_text().splitlines():
            match = pattern.search(line)
            if match:
                found = match.group(1) or ""
        return found

    def admin_shutdown(self, neighbor: str, text: str) -> None:
        self.control("peer-disable", peer=neighbor, message=text)

    def enable(self, neighbor: str) -> None:
        self.control("peer-enable", peer=neighbor)
