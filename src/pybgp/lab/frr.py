"""FRR ``bgpd`` as a lab peer, without zebra (``-Z``), driven through ``vtysh``.

bgpd drops its privileges to user ``frr``, so its configuration, PID file and vty socket
live in a directory of their own under the system temporary directory (the lab's workdir
may sit below a root-only directory such as pytest's).  The lab removes it on close.

Announced routes are ``network`` statements (with ``no bgp network import-check``, since
without zebra nothing is ever in the RIB) and a route-map each that sets the attributes.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pybgp.lab.daemon import Neighbor, PeerDaemon, Route
from pybgp.lab.netns import CommandError, Lab, Namespace, wait_until

__all__ = ["FRR_BGPD", "Frr"]

FRR_BGPD = "/usr/lib/frr/bgpd"


class Frr(PeerDaemon):
    """FRR bgpd (8.x), one ``router bgp`` with a neighbour per :class:`Neighbor`."""

    name = "frr"
    binaries = (FRR_BGPD, "vtysh")

    def __init__(self, lab: Lab, ns: Namespace, **common: Any) -> None:
        """``common``: the keyword arguments of :class:`PeerDaemon`."""
        super().__init__(lab, ns, **common)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"pybgp-{self.label}-"))
        self.run_dir.chmod(0o755)
        shutil.chown(self.run_dir, "frr", "frr")  # bgpd writes its PID file and vty socket
        lab.on_close(lambda: shutil.rmtree(self.run_dir, ignore_errors=True))
        self.vty_dir = self.run_dir

    # -- configuration --------------------------------------------------------------------
    def config(self) -> str:
        """The complete ``bgpd.conf``."""
        if self.config_text is not None:
            return self.config_text
        lines = [
            "frr defaults traditional",
            f"hostname {self.label}",
            "log stdout informational",
            "!",
        ]
        for index, route in enumerate(self.announce):
            lines += [f"route-map {_route_map(index)} permit 10", *_sets(route), "exit", "!"]
        for index, neighbor in enumerate(self.neighbors):
            if self._needs_v6_next_hop(neighbor):
                own = self.own_address("ipv6", neighbor)
                lines += [f"route-map {_next_hop_map(index)} permit 10"]
                lines += [f" set ipv6 next-hop global {own}", "exit", "!"]
        lines += [
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast",
            " no bgp network import-check",
        ]
        if self.cluster_id is not None:
            lines.append(f" bgp cluster-id {self.cluster_id}")  # RFC 4456
        for neighbor in self.neighbors:
            lines += self._neighbor(neighbor)
        for family in ("ipv4", "ipv6"):
            active = [n for n in self.neighbors if family in n.families]
            if not active:
                continue
            lines.append(f" address-family {family} unicast")
            for index, route in enumerate(self.announce):
                if route.family == family:
                    lines.append(f"  network {route.prefix} route-map {_route_map(index)}")
            lines += [f"  neighbor {n.address} activate" for n in active]
            clients = [n for n in active if n.rr_client]  # RFC 4456
            lines += [f"  neighbor {n.address} route-reflector-client" for n in clients]
            if family == "ipv6":
                lines += [
                    f"  neighbor {n.address} route-map {_next_hop_map(index)} out"
                    for index, n in enumerate(self.neighbors)
                    if self._needs_v6_next_hop(n)
                ]
            lines.append(" exit-address-family")
        lines += ["exit", "!"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _needs_v6_next_hop(neighbor: Neighbor) -> bool:
        """IPv6 routes over an IPv4 session: bgpd without zebra knows no interface
        addresses and would send an IPv4-mapped next hop, which BIRD and GoBGP refuse; an
        outbound route-map sets our IPv6 address on the link instead."""
        return neighbor.transport == "ipv4" and "ipv6" in neighbor.families

    def _neighbor(self, neighbor: Neighbor) -> list[str]:
        peer = f" neighbor {neighbor.address}"
        keepalive = max(1, neighbor.hold_time // 3)
        lines = [
            f"{peer} remote-as {neighbor.asn}",
            f"{peer} update-source {neighbor.local_address}",
            f"{peer} timers {keepalive} {neighbor.hold_time}",
            f"{peer} timers connect 1",
            f"{peer} advertisement-interval 0",
        ]
        if neighbor.port != 179:
            lines.append(f"{peer} port {neighbor.port}")
        if neighbor.passive:
            lines.append(f"{peer} passive")
        if neighbor.password:
            lines.append(f"{peer} password {neighbor.password}")
        if neighbor.ttl_security is not None:
            # RFC 5082 GTSM.  bgpd refuses it together with ebgp-multihop, and needs no
            # multihop with it: GTSM sends with TTL 255 anyway.
            lines.append(f"{peer} ttl-security hops {neighbor.ttl_security}")
        elif neighbor.multihop is not None and not self.is_ibgp(neighbor):
            lines.append(f"{peer} ebgp-multihop {neighbor.multihop}")  # iBGP: TTL 255 already
        if neighbor.transport == "ipv6" and "ipv4" in neighbor.families:
            lines.append(f"{peer} capability extended-nexthop")  # RFC 8950
        return lines

    def _prepare(self) -> None:
        conf = self.run_dir / "bgpd.conf"
        conf.write_text(self.config())
        shutil.copyfile(conf, self.dir / "bgpd.conf")  # next to the log, for people

    def _argv(self) -> list[str]:
        argv = [FRR_BGPD, "-Z", "-f", str(self.run_dir / "bgpd.conf")]
        argv += ["-i", str(self.run_dir / "bgpd.pid"), "--vty_socket", str(self.vty_dir)]
        argv += ["-u", "frr", "-g", "frr"]  # as root without them it fails on group frrvty
        argv += ["--vty_port", "0"]  # vtysh uses the socket; no TCP vty port
        for address in self.listen:
            argv += ["-l", address]
        return argv

    def _check_argv(self) -> list[str]:
        conf = str(self.run_dir / "bgpd.conf")
        return [FRR_BGPD, "--dryrun", "-Z", "-f", conf, "-u", "frr", "-g", "frr"]

    def check_config(self) -> None:
        # bgpd --dryrun exits 0 whatever it read; it reports bad lines as errors
        # ("[EC 100663304] No such command on config line N: ...").
        self._prepare()
        argv = self._check_argv()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0 or "[EC " in done.stdout + done.stderr:
            raise CommandError(done.returncode or 1, argv, done.stdout, done.stderr)

    def _wait_ready(self) -> None:
        def answers() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.label} exited:\n{self.log_text()[-2000:]}")
            return self.ns.run(*self._vtysh("show version"), check=False).returncode == 0

        wait_until(answers, 15, f"{self.label} vty socket")

    # -- CLI ------------------------------------------------------------------------------
    def _vtysh(self, *commands: str) -> list[str]:
        argv = ["vtysh", "--vty_socket", str(self.vty_dir), "-d", "bgpd"]
        for command in commands:
            argv += ["-c", command]
        return argv

    def vtysh(self, *commands: str) -> str:
        """Run ``vtysh`` with one ``-c`` per command, in order; return its output."""
        return self.ns.run(*self._vtysh(*commands)).stdout

    def _json(self, command: str) -> Any:
        out = self.ns.run(*self._vtysh(command), check=False).stdout
        try:
            return json.loads(out)
        except ValueError:
            return {}

    def add_route(self, route: Route) -> None:
        """Originate ``route``: a route-map of its attributes and a ``network``."""
        if route not in self.announce:
            self.announce += (route,)
        # Named after the prefix: the index names of config() shift as routes come and go.
        name = "ADDED_" + re.sub(r"[^0-9A-Za-z]", "_", route.prefix)
        self.vtysh(
            "configure terminal",
            f"no route-map {name}",
            f"route-map {name} permit 10",
            *_sets(route),
            "exit",
            f"router bgp {self.asn}",
            f"address-family {route.family} unicast",
            f"network {route.prefix} route-map {name}",
        )

    def delete_route(self, prefix: str, family: str = "ipv4") -> None:
        """Withdraw the route of ``prefix`` (``no network``)."""
        self.announce = self._without(prefix)
        self.vtysh(
            "configure terminal",
            f"router bgp {self.asn}",
            f"address-family {family} unicast",
            f"no network {ipaddress.ip_network(prefix)}",
        )

    # -- state ----------------------------------------------------------------------------
    def established(self, neighbor: str) -> bool:
        info = self._json(f"show bgp neighbors {neighbor} json").get(neighbor, {})
        return bool(info.get("bgpState") == "Established")

    def received_routes(self, family: str = "ipv4") -> list[Route]:
        # "json detail": per prefix a list whose first entry describes the prefix and
        # whose further entries are its paths, with communities (plain "json" has none).
        routes: list[Route] = []
        table = self._json(f"show bgp {family} unicast json detail").get("routes", {})
        for prefix, entries in table.items():
            for path in entries:
                if "peer" not in path or path.get("sourced") or path.get("local"):
                    continue  # the prefix header, or our own network statement
                routes.append(parse_path(prefix, path))
        return sorted(routes, key=lambda r: r.prefix)

    def shutdown_message(self, neighbor: str) -> str | None:
        info = self._json(f"show bgp neighbors {neighbor} json").get(neighbor, {})
        if info.get("lastResetDueTo") != "BGP Notification received":
            return None  # the last reset was not a NOTIFICATION from the neighbour
        # RFC 9003 2: Cease (6) / Administrative Shutdown (2) or Reset (4).
        if info.get("lastErrorCodeSubcode") not in ("0602", "0604"):
            return None
        return info.get("lastShutdownDescription")

    def admin_shutdown(self, neighbor: str, text: str) -> None:
        self.vtysh(
            "configure terminal",
            f"router bgp {self.asn}",
            f"neighbor {neighbor} shutdown message {text}",
        )

    def enable(self, neighbor: str) -> None:
        """Bring a session shut down by :meth:`admin_shutdown` back."""
        self.vtysh(
            "configure terminal", f"router bgp {self.asn}", f"no neighbor {neighbor} shutdown"
        )


def _route_map(index: int) -> str:
    return f"ANNOUNCE{index}"


def _next_hop_map(index: int) -> str:
    return f"NEXTHOP6_{index}"


def _sets(route: Route) -> list[str]:
    """Route-map ``set`` lines that give a ``network`` route the attributes of ``route``."""
    sets = [f" set origin {route.origin}"]
    if route.next_hop:
        kind = "ipv6 next-hop global" if ":" in route.next_hop else "ip next-hop"
        sets.append(f" set {kind} {route.next_hop}")
    if route.as_path:
        sets.append(f" set as-path prepend {' '.join(str(a) for a in route.as_path)}")
    if route.med is not None:
        sets.append(f" set metric {route.med}")
    if route.local_pref is not None:
        sets.append(f" set local-preference {route.local_pref}")
    if route.communities:
        sets.append(f" set community {' '.join(route.communities)}")
    if route.large_communities:
        sets.append(f" set large-community {' '.join(route.large_communities)}")
    return sets


def parse_path(prefix: str, path: dict[str, Any]) -> Route:
    """A :class:`Route` from one path of ``show bgp <afi> unicast <prefix> json``."""
    as_path = [int(asn) for asn in re.findall(r"\d+", path.get("aspath", {}).get("string", ""))]
    hops = path.get("nexthops", [])
    next_hop = hops[0].get("ip") if hops else None
    communities = path.get("community", {}).get("list", [])
    larges = path.get("largeCommunity", {}).get("list", [])
    return Route(
        prefix=prefix,
        next_hop=next_hop,
        as_path=tuple(as_path),
        origin=str(path.get("origin", "IGP")).lower(),
        med=path.get("metric"),
        local_pref=path.get("locPrf", path.get("localpref")),
        communities=tuple(communities),
        large_communities=tuple(larges),
        originator_id=path.get("originatorId"),  # RFC 4456
        cluster_list=tuple(path.get("clusterList", {}).get("list", ())),
    )
