"""BIRD 2 (``bird`` / ``birdc``) as a lab peer.

Announced routes are static ``blackhole`` routes; their BGP attributes are set in the
export filter, not in the static route's own block (BIRD 2.0.12 dropped the MED of a block
that also set a community).  One ``protocol bgp`` per neighbour, named after its address.
Received routes are parsed from ``birdc show route ... all``, which has no JSON form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pybgp.lab.daemon import FAMILIES, Neighbor, PeerDaemon, Route
from pybgp.lab.netns import Lab, Namespace, wait_until

__all__ = ["Bird"]

_ORIGIN = {"igp": "ORIGIN_IGP", "egp": "ORIGIN_EGP", "incomplete": "ORIGIN_INCOMPLETE"}
_ROUTE_LINE = re.compile(r"^(\S+/\d+)\s+\S+\s+\[(\S+)")  # "10.0.0.0/24  unicast [n_x ..."
_PAIR = re.compile(r"\((\d+),\s*(\d+)\)")
_TRIPLE = re.compile(r"\((\d+),\s*(\d+),\s*(\d+)\)")


def protocol_name(neighbor: str) -> str:
    """The ``protocol bgp`` name of a neighbour address: ``n_`` and the address, ``_`` for
    punctuation (BIRD names are identifiers; ``rr`` and ``client`` are keywords).  Anything
    that is not an address is taken to be a protocol name already (own configurations)."""
    try:
        ipaddress.ip_address(neighbor)
    except ValueError:
        return neighbor
    return "n_" + re.sub(r"[^0-9A-Za-z]", "_", neighbor)


def _community(pair: tuple[str, ...]) -> str:
    return ":".join(pair)


def export_filter(name: str, routes: list[Route]) -> str:
    """A BIRD filter that sets the attributes of the announced ``routes`` and accepts
    everything (learned routes are passed on as BGP would)."""
    lines = [
        f"filter {name} {{",
        "  if source = RTS_DEVICE then reject;",
        "  if source = RTS_STATIC then {",
    ]
    for route in routes:
        body: list[str] = []
        if route.next_hop:
            body.append(f"bgp_next_hop = {route.next_hop};")
        if route.origin != "igp":
            body.append(f"bgp_origin = {_ORIGIN[route.origin]};")
        for asn in reversed(route.as_path):  # prepend builds the path from its end
            body.append(f"bgp_path.prepend({asn});")
        if route.med is not None:
            body.append(f"bgp_med = {route.med};")
        if route.local_pref is not None:
            body.append(f"bgp_local_pref = {route.local_pref};")
        for community in route.communities:
            body.append(f"bgp_community.add(({community.replace(':', ',')}));")
        for large in route.large_communities:
            body.append(f"bgp_large_community.add(({large.replace(':', ',')}));")
        if body:
            lines.append(f"    if net = {route.prefix} then {{ {' '.join(body)} }}")
    lines += ["  }", "  accept;", "}"]
    return "\n".join(lines) + "\n"


class Bird(PeerDaemon):
    """BIRD 2, run as ``bird -f`` and driven through its control socket with ``birdc``.

    ``link_local_next_hop=False`` runs eBGP sessions over IPv6 as ``multihop``, which makes
    BIRD send a 16-byte global IPv6 next hop instead of global + link-local: FRR's bgpd
    without zebra knows no interfaces and withdraws routes whose next hop has a link-local
    part.  A ``protocol direct`` then lets BIRD resolve the received next hops recursively
    (its connected routes are never exported).
    """

    name = "bird"
    binaries = ("bird", "birdc")

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        link_local_next_hop: bool = True,
        **common: Any,
    ) -> None:
        """``common``: the keyword arguments of :class:`PeerDaemon`."""
        super().__init__(lab, ns, **common)
        self.link_local_next_hop = link_local_next_hop

    @property
    def socket(self) -> str:
        return str(self.dir / "bird.ctl")

    def config(self) -> str:
        """The complete ``bird.conf``."""
        if self.config_text is not None:
            return self.config_text
        parts = [
            f"router id {self.router_id};",
            "log stderr all;",
            "protocol device { scan time 10; }",
        ]
        if not self.link_local_next_hop or any(self._multihop(n) for n in self.neighbors):
            # Connected routes, so that next hops can be resolved recursively.
            parts.append("protocol direct { ipv4; ipv6; }")
        for family in FAMILIES:
            routes = self.routes_of(family)
            if routes:
                statics = " ".join(f"route {r.prefix} blackhole;" for r in routes)
                parts.append(f"protocol static static_{family} {{ {family}; {statics} }}")
            parts.append(export_filter(f"out_{family}", routes))
        parts += [self._protocol(neighbor) for neighbor in self.neighbors]
        return "\n".join(parts) + "\n"

    def _protocol(self, neighbor: Neighbor) -> str:
        port = f" port {neighbor.port}" if neighbor.port != 179 else ""
        lines = [
            f"protocol bgp {protocol_name(neighbor.address)} {{",
            f"  local {neighbor.local_address} as {self.asn};",
            f"  neighbor {neighbor.address}{port} as {neighbor.asn};",
            f"  hold time {neighbor.hold_time};",
            # Short timers so that sessions come (back) up in about a second.
            "  connect delay time 1;",
            "  connect retry time 1;",
            "  error wait time 1, 2;",
        ]
        if self.listen:
            # Listen on the session's local address only; BIRD wants it for all sessions
            # of a port or none.
            lines.append("  strict bind on;")
        multihop = self._multihop(neighbor)
        if multihop:
            lines.append(f"  {multihop};")
        elif self.is_ibgp(neighbor):
            # iBGP is multihop by default: next hops would be resolved recursively and,
            # without an IGP, stay unreachable.  The lab's neighbours share a link.
            lines.append("  direct;")
        if neighbor.rr_client:
            lines.append("  rr client;")  # RFC 4456
        if self.cluster_id is not None and self.is_ibgp(neighbor):
            # BIRD keeps a cluster id per protocol (default: the router id); give every
            # internal session the same, so that loop detection is the same on each.
            lines.append(f"  rr cluster id {self.cluster_id};")
        if neighbor.ttl_security is not None:
            lines.append("  ttl security on;")  # RFC 5082 GTSM; hop count from multihop
        if neighbor.passive:
            lines.append("  passive on;")
        if neighbor.password:
            lines.append(f'  password "{neighbor.password}";')
        for family in neighbor.families:
            options = [f"import all; export filter out_{family};"]
            if family == "ipv4" and neighbor.transport == "ipv6":
                options.append("extended next hop on;")  # RFC 8950
            lines.append(f"  {family} {{ {' '.join(options)} }};")
        lines.append("}")
        return "\n".join(lines)

    def _multihop(self, neighbor: Neighbor) -> str | None:
        """The ``multihop`` option of ``neighbor``'s protocol, if it needs one.

        BIRD takes GTSM's hop count from ``multihop`` (bgp.c: ``hops = multihop ? : 1``,
        minimum TTL 256 - hops), so with ``ttl security on`` a neighbour that is not
        directly connected, or more than one hop away, gets ``multihop <ttl_security>``.
        A bare ``multihop`` would mean 64 hops.
        """
        global_only = not self.link_local_next_hop and neighbor.transport == "ipv6"
        # No link-local part in the next hops we send (see the class docstring).
        apart = neighbor.multihop is not None or (global_only and not self.is_ibgp(neighbor))
        hops = neighbor.ttl_security
        if hops is not None and (apart or hops > 1):
            return f"multihop {hops}"
        if neighbor.multihop is not None:
            return f"multihop {neighbor.multihop}"
        return "multihop" if apart else None

    def _prepare(self) -> None:
        self.write("bird.conf", self.config())

    def _argv(self) -> list[str]:
        conf, pid = self.dir / "bird.conf", self.dir / "bird.pid"
        return ["bird", "-f", "-c", str(conf), "-s", self.socket, "-P", str(pid)]

    def _check_argv(self) -> list[str]:
        return ["bird", "-p", "-c", str(self.dir / "bird.conf")]

    def _wait_ready(self) -> None:
        wait_until(lambda: self._birdc_ok("show status"), 10, f"{self.label} control socket")

    def _birdc_ok(self, command: str) -> bool:
        if not self.running:
            raise RuntimeError(f"{self.label} exited:\n{self.log_text()[-2000:]}")
        return (
            self.ns.run("birdc", "-s", self.socket, *command.split(), check=False).returncode == 0
        )

    def birdc(self, *words: str) -> str:
        """Run one ``birdc`` command; return its output."""
        return self.ns.run("birdc", "-s", self.socket, *words).stdout

    def add_route(self, route: Route) -> None:
        """Originate ``route``: rewrite the configuration and have BIRD reload it."""
        if route not in self.announce:
            self.announce += (route,)
        self._reconfigure()

    def delete_route(self, prefix: str, family: str = "ipv4") -> None:
        """Withdraw the route of ``prefix``: rewrite the configuration and reload it."""
        self.announce = self._without(prefix)
        self._reconfigure()

    def _reconfigure(self) -> None:
        self._prepare()
        out = self.birdc("configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            raise RuntimeError(f"{self.label}: birdc configure said {out.strip()!r}")

    # -- state --------------------------------------------------------------------------
    def established(self, neighbor: str) -> bool:
        out = self.ns.run(
            "birdc", "-s", self.socket, "show", "protocols", protocol_name(neighbor), check=False
        ).stdout
        return "Established" in out

    def received_routes(self, family: str = "ipv4") -> list[Route]:
        table = "master4" if family == "ipv4" else "master6"
        routes: list[Route] = []
        for neighbor in self.neighbors:
            if family not in neighbor.families:
                continue
            proto = protocol_name(neighbor.address)
            out = self.birdc("show", "route", "table", table, "protocol", proto, "all")
            routes += parse_routes(out)
        return sorted(routes, key=lambda r: r.prefix)

    def shutdown_message(self, neighbor: str) -> str | None:
        # BIRD logs '<RMT> NAME: Received: Administrative shutdown: "TEXT"'.  (The
        # "Message:" of ``show protocols all`` is no help: ``disable "TEXT"`` sets it too.)
        pattern = re.compile(
            re.escape(protocol_name(neighbor))
            + r': Received: Administrative (?:shutdown|reset)(?:: "(.*)")?\s*$'
        )
        found: str | None = None
        for line in self.log_text().splitlines():
            match = pattern.search(line)
            if match:
                found = match.group(1)
        return found

    def admin_shutdown(self, neighbor: str, text: str) -> None:
        # birdc takes the message as one quoted word.
        self.birdc("disable", protocol_name(neighbor), '"' + text.replace('"', "'") + '"')

    def enable(self, neighbor: str) -> None:
        """Bring a session disabled by :meth:`admin_shutdown` back."""
        self.birdc("enable", protocol_name(neighbor))


def parse_routes(text: str) -> list[Route]:
    """The routes in ``birdc show route ... all`` output (one entry per route)."""
    routes: list[Route] = []
    prefix: str | None = None
    attrs: dict[str, str] | None = None

    def flush() -> None:
        if prefix is not None and attrs is not None:
            routes.append(_route(prefix, attrs))

    for line in text.splitlines():
        head = _ROUTE_LINE.match(line)
        if head:
            flush()
            prefix, attrs = head.group(1), {}
            continue
        stripped = line.strip()
        if attrs is not None and re.match(r"^\S+\s+\[", stripped) and line[:1].isspace():
            # A further route for the same prefix: "   unicast [n_x ...]".
            flush()
            attrs = {}
            continue
        if attrs is not None and stripped.startswith("BGP.") and ":" in stripped:
            key, _, value = stripped.partition(":")
            attrs[key.removeprefix("BGP.")] = value.strip()
    flush()
    return routes


def _route(prefix: str, attrs: dict[str, str]) -> Route:
    path = [int(asn) for asn in re.findall(r"\d+", attrs.get("as_path", ""))]
    next_hop = attrs.get("next_hop", "").split()
    return Route(
        prefix=prefix,
        next_hop=next_hop[0] if next_hop else None,
        as_path=tuple(path),
        origin=attrs.get("origin", "IGP").lower(),
        med=int(attrs["med"]) if "med" in attrs else None,
        local_pref=int(attrs["local_pref"]) if "local_pref" in attrs else None,
        communities=tuple(_community(p) for p in _PAIR.findall(attrs.get("community", ""))),
        large_communities=tuple(
            _community(t) for t in _TRIPLE.findall(attrs.get("large_community", ""))
        ),
        originator_id=attrs.get("originator_id") or None,  # "BGP.originator_id: 1.2.3.4"
        cluster_list=tuple(attrs.get("cluster_list", "").split()),  # space-separated
    )
