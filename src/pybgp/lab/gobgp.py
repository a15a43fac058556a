"""GoBGP (``gobgpd`` / ``gobgp``) as a lab peer.

GoBGP has no static routes in its configuration: announced routes are added through the
CLI (``gobgp global rib add``) once the daemon answers.  The CLI talks gRPC to
``127.0.0.1:<api port>`` inside the namespace, so ``lo`` must be up (the lab does that)
and several gobgpd in one namespace need distinct API ports (chosen automatically).
GoBGP advertises the FQDN capability with the system host name, so it runs in its own UTS
namespace with the host name ``gobgp``.

GoBGP 3.10 makes its first outgoing connection attempt only about 5 s after it starts
(whatever ``connect-retry`` says): let the other side connect where start-up time matters.
"""

from __future__ import annotations

import json
import re
import weakref
from itertools import count
from typing import Any

from pybgp.lab.daemon import Neighbor, PeerDaemon, Route
from pybgp.lab.netns import CommandError, Lab, Namespace, wait_until

__all__ = ["GoBGP"]

API_PORT = 50051
# namespace -> its next free API port
_api_ports: weakref.WeakKeyDictionary[Namespace, count[int]] = weakref.WeakKeyDictionary()
_ESTABLISHED = (6, "established", "ESTABLISHED", "BGP_FSM_ESTABLISHED")
_ORIGINS = ("igp", "egp", "incomplete")  # ORIGIN attribute value -> name (RFC 4271 5.1.1)


class GoBGP(PeerDaemon):
    """GoBGP 3, run as ``gobgpd -f gobgpd.toml``."""

    name = "gobgp"
    binaries = ("gobgpd", "gobgp", "unshare")
    unshare_uts = True

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        api_port: int | None = None,
        hostname: str = "gobgp",
        **common: Any,
    ) -> None:
        """``common``: the keyword arguments of :class:`PeerDaemon`.  ``hostname`` is what
        GoBGP announces in its FQDN capability."""
        super().__init__(lab, ns, **common)
        self.hostname = hostname
        self.api_port = api_port or next(_api_ports.setdefault(ns, count(API_PORT)))

    # -- configuration --------------------------------------------------------------------
    def config(self) -> str:
        """The complete ``gobgpd.toml``."""
        if self.config_text is not None:
            return self.config_text
        lines = [
            "[global.config]",
            f"  as = {self.asn}",
            f'  router-id = "{self.router_id}"',
        ]
        if self.listen:
            addresses = ", ".join(f'"{a}"' for a in self.listen)
            lines.append(f"  local-address-list = [{addresses}]")
        lines += [
            "[global.apply-policy.config]",
            '  default-import-policy = "accept-route"',
            '  default-export-policy = "accept-route"',
        ]
        for neighbor in self.neighbors:
            lines += self._neighbor(neighbor)
        return "\n".join(lines) + "\n"

    def _neighbor(self, neighbor: Neighbor) -> list[str]:
        lines = [
            "[[neighbors]]",
            "  [neighbors.config]",
            f'    neighbor-address = "{neighbor.address}"',
            f"    peer-as = {neighbor.asn}",
        ]
        if neighbor.password:
            lines.append(f'    auth-password = "{neighbor.password}"')
        lines += [
            "  [neighbors.timers.config]",
            "    connect-retry = 1",
            f"    hold-time = {neighbor.hold_time}",
            f"    keepalive-interval = {max(1, neighbor.hold_time // 3)}",
            "    idle-hold-time-after-reset = 1",
            "  [neighbors.transport.config]",
            f'    local-address = "{neighbor.local_address}"',
            f"    remote-port = {neighbor.port}",
            f"    passive-mode = {'true' if neighbor.passive else 'false'}",
        ]
        if neighbor.min_ttl is not None:
            # RFC 5082 GTSM: GoBGP sends with TTL 255 and takes the minimum TTL itself.
            # It refuses ebgp-multihop alongside, and needs none: TTL 255 goes far enough.
            lines += [
                "  [neighbors.ttl-security.config]",
                "    enabled = true",
                f"    ttl-min = {neighbor.min_ttl}",
            ]
        elif neighbor.multihop is not None and not self.is_ibgp(neighbor):
            lines += [
                "  [neighbors.ebgp-multihop.config]",
                "    enabled = true",
                f"    multihop-ttl = {neighbor.multihop}",
            ]
        if neighbor.rr_client or (self.cluster_id is not None and self.is_ibgp(neighbor)):
            # RFC 4456.  GoBGP keeps the cluster id per neighbour (default: the router id).
            lines += ["  [neighbors.route-reflector.config]"]
            if neighbor.rr_client:
                lines.append("    route-reflector-client = true")
            if self.cluster_id is not None:
                lines.append(f'    route-reflector-cluster-id = "{self.cluster_id}"')
        for family in neighbor.families:
            lines += [
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                f'      afi-safi-name = "{family}-unicast"',
            ]
        return lines

    def _prepare(self) -> None:
        self.write("gobgpd.toml", self.config())

    def _argv(self) -> list[str]:
        return [
            "gobgpd",
            "-f",
            str(self.dir / "gobgpd.toml"),
            "-l",
            "info",
            "--log-plain",
            f"--api-hosts=127.0.0.1:{self.api_port}",
            "--pprof-disable",
        ]

    def _check_argv(self) -> list[str]:
        return ["gobgpd", "--dry-run", "-f", str(self.dir / "gobgpd.toml")]

    def _wait_ready(self) -> None:
        def answers() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.label} exited:\n{self.log_text()[-2000:]}")
            return self._gobgp("global", check=False).returncode == 0

        wait_until(answers, 15, f"{self.label} gRPC API")

    def _after_start(self) -> None:
        for route in self.announce:
            self._originate(route)

    # -- CLI ------------------------------------------------------------------------------
    def _gobgp(self, *words: str, check: bool = True) -> Any:
        return self.ns.run("gobgp", "-p", str(self.api_port), *words, check=check)

    def gobgp(self, *words: str) -> str:
        """Run one ``gobgp`` command against this daemon; return its output."""
        return str(self._gobgp(*words).stdout)

    def add_route(self, route: Route) -> None:
        """Originate ``route`` now (``gobgp global rib add``) and after restarts."""
        self._originate(route)
        if route not in self.announce:
            self.announce += (route,)

    def _originate(self, route: Route) -> None:
        words = [route.prefix]
        next_hop = route.next_hop or self._default_next_hop(route.family)
        if next_hop:
            words += ["nexthop", next_hop]
        words += ["origin", route.origin]
        if route.as_path:
            words += ["aspath", ",".join(str(asn) for asn in route.as_path)]
        if route.med is not None:
            words += ["med", str(route.med)]
        if route.local_pref is not None:
            words += ["local-pref", str(route.local_pref)]
        if route.communities:
            words += ["community", ",".join(route.communities)]
        if route.large_communities:
            words += ["large-community", ",".join(route.large_communities)]
        self.gobgp("global", "rib", "add", *words, "-a", route.family)

    def _default_next_hop(self, family: str) -> str | None:
        """None (GoBGP: "myself") unless a neighbour gets ``family`` over a session of the
        other family: then GoBGP would send an IPv4-mapped IPv6 next hop, which BIRD and
        others refuse, so use our address of ``family`` on that link."""
        for neighbor in self.neighbors:
            if family in neighbor.families and neighbor.transport != family:
                return self.own_address(family, neighbor)
        return None

    def delete_route(self, prefix: str, family: str = "ipv4") -> None:
        """Withdraw an announced route (``gobgp global rib del``)."""
        self.gobgp("global", "rib", "del", prefix, "-a", family)
        self.announce = self._without(prefix)

    # -- state ----------------------------------------------------------------------------
    def established(self, neighbor: str) -> bool:
        out = self._gobgp("neighbor", neighbor, "-j", check=False).stdout
        try:
            state = json.loads(out)["state"]["session_state"]
        except (ValueError, KeyError, TypeError):
            return False
        return state in _ESTABLISHED

    def received_routes(self, family: str = "ipv4") -> list[Route]:
        routes: list[Route] = []
        for neighbor in self.neighbors:
            if family not in neighbor.families:
                continue
            done = self._gobgp(
                "neighbor", neighbor.address, "adj-in", "-a", family, "-j", check=False
            )
            if done.returncode != 0:
                if "is not established" in done.stdout + done.stderr:
                    continue  # GoBGP has no Adj-RIB-In for a session that is down
                raise CommandError(done.returncode, done.args, done.stdout, done.stderr)
            table = json.loads(done.stdout) if done.stdout.strip() else {}
            for prefix, paths in sorted(table.items()):
                routes += [parse_path(prefix, path) for path in paths]
        return sorted(routes, key=lambda r: r.prefix)

    def shutdown_message(self, neighbor: str) -> str | None:
        # gobgpd logs: msg="received notification" Code=6 Communicated-Reason="TEXT" ...
        # Key=<neighbor> Subcode=2; the last such line wins.
        found: str | None = None
        for line in self.log_text().splitlines():
            if "received notification" not in line or f"Key={neighbor} " not in line:
                continue
            if "Code=6 " not in line or not re.search(r"Subcode=[24] ", line):
                continue  # RFC 9003 2: Cease, Administrative Shutdown or Reset only
            reason = re.search(r'Communicated-Reason="((?:[^"\\]|\\.)*)"', line)
            found = json.loads(f'"{reason.group(1)}"') if reason else None
        return found

    def admin_shutdown(self, neighbor: str, text: str) -> None:
        # GoBGP 3.10: ``disable --reason`` sends Cease/2 without the text; the deprecated
        # ``shutdown --reason`` puts it in as an RFC 9003 shutdown communication.
        self.gobgp("neighbor", neighbor, "shutdown", "--reason", text)

    def enable(self, neighbor: str) -> None:
        """Bring a session shut down by :meth:`admin_shutdown` back."""
        self.gobgp("neighbor", neighbor, "enable")


def parse_path(prefix: str, path: dict[str, Any]) -> Route:
    """A :class:`Route` from one path of ``gobgp ... -j`` output (attributes by type code)."""
    attrs = {attr["type"]: attr for attr in path.get("attrs", [])}
    as_path: list[int] = []
    for segment in attrs.get(2, {}).get("as_paths", []):  # AS_PATH (RFC 4271 5.1.2)
        as_path += segment.get("asns", [])
    next_hop = attrs.get(3, {}).get("nexthop") or attrs.get(14, {}).get("nexthop")
    communities = [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.get(8, {}).get("communities", [])]
    larges = [  # LARGE_COMMUNITY (RFC 8092)
        f"{v['ASN']}:{v['LocalData1']}:{v['LocalData2']}"
        for v in attrs.get(32, {}).get("value", [])
    ]
    return Route(
        prefix=prefix,
        next_hop=next_hop,
        as_path=tuple(as_path),
        origin=_ORIGINS[attrs.get(1, {}).get("value", 0)],
        med=attrs[4]["metric"] if 4 in attrs else None,
        local_pref=attrs[5]["value"] if 5 in attrs else None,
        communities=tuple(communities),
        large_communities=tuple(larges),
        originator_id=attrs.get(9, {}).get("value"),  # ORIGINATOR_ID (RFC 4456)
        cluster_list=tuple(attrs.get(10, {}).get("value", ())),  # CLUSTER_LIST
    )
