"""The route plan: which kernel route each best route becomes, decided without I/O.

A Calico node's BIRD turns every learned best route into a kernel route tagged
`proto bird`, and this module is that translation for pybgp:

    BGP mode ("none")   10.244.85.192/26 via 198.18.0.11 dev eth0 proto bird
    IPIP ("ipip")       10.244.85.192/26 via 198.18.0.11 dev tunl0 proto bird onlink
    "cross-subnet"      IPIP only when the next hop is outside the node's own subnets
    ECMP                one route with one nexthop per best path
    a local block       blackhole 10.244.58.192/26 proto bird

It is plain functions over frozen values (standard library only: no pyroute2, no asyncio,
no reading of the node's links) so that the rules are tested in microseconds and the same
plan drives the netlink adapter and the in-memory FIB alike.  What the node looks like
(its encapsulation, its interface, its addresses) comes in as a `NodeView` that the runtime
builds from the configuration and from the kernel.

Protocol, table and persistence are the adapter's business ([fib] in the configuration):
a `KernelRoute` here is only where packets for a prefix go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pybgp.fib.base import KernelRoute, NextHop

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# The words of `[node] encapsulation` (pybgp.config.model.ENCAPSULATIONS holds the same).
ENCAP_NONE = "none"  # BGP mode: next hops must be on the node's own link
ENCAP_IPIP = "ipip"  # IPv4 in IPv4 through tunl0 to every other node
ENCAP_CROSS_SUBNET = "cross-subnet"  # IPIP only to nodes on another subnet
ENCAPSULATIONS = (ENCAP_IPIP, ENCAP_NONE, ENCAP_CROSS_SUBNET)
DEFAULT_TUNNEL = "tunl0"  # the kernel's fallback ipip device, the one Calico uses

# fe80::/10: an IPv6 link-local next hop is always on the interface it was learned over.
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the plan needs to know about this node.

    `subnets` are the node's own underlay networks (198.18.0.0/24 for 198.18.0.11/24):
    a next hop inside one is directly reachable, one outside needs a tunnel or a router.
    `addresses` are the node's own addresses: a best route whose next hop is one of them
    is a route this node originated, and it gets no kernel route.  `from_interfaces`
    builds both from `ip addr`-style interfaces.
    """

    encapsulation: str
    interface: str
    tunnel: str = DEFAULT_TUNNEL
    subnets: tuple[IPNetwork, ...] = ()
    addresses: tuple[IPAddress, ...] = ()

    def __post_init__(self) -> None:
        # API misuse, not a configuration mistake: config/node.py has checked the word.
        if self.encapsulation not in ENCAPSULATIONS:
            raise ValueError(
                f"encapsulation must be one of {', '.join(ENCAPSULATIONS)},"
                f" got {self.encapsulation!r}"
            )

    @classmethod
    def from_interfaces(
        cls,
        encapsulation: str,
        interface: str,
        interfaces: Iterable[IPInterface],
        tunnel: str = DEFAULT_TUNNEL,
    ) -> NodeView:
        """A view from the node's addresses with their prefix lengths ('198.18.0.11/24').

        Host routes (/32, /128) add an address but no subnet: nothing else is on them.
        """
        subnets: dict[IPNetwork, None] = {}
        addresses: dict[IPAddress, None] = {}
        for entry in interfaces:
            addresses[entry.ip] = None
            if entry.network.prefixlen < entry.max_prefixlen:
                subnets[entry.network] = None
        return cls(encapsulation, interface, tunnel, tuple(subnets), tuple(addresses))

    def is_own(self, address: IPAddress) -> bool:
        """True for one of this node's own addresses."""
        return _unmapped(address) in self.addresses

    def on_link(self, address: IPAddress) -> bool:
        """True when `address` is inside one of the node's own subnets (or link-local)."""
        address = _unmapped(address)
        if isinstance(address, ipaddress.IPv6Address) and address in _LINK_LOCAL:
            return True
        return any(
            subnet.version == address.version and address in subnet for subnet in self.subnets
        )

    def knows_subnets_of(self, version: int) -> bool:
        """Whether the view holds any subnet of that IP version (else on_link is a guess)."""
        return any(subnet.version == version for subnet in self.subnets)


def _unmapped(address: IPAddress) -> IPAddress:
    """198.18.0.12 for ::ffff:198.18.0.12, the next hop an IPv4 session gives IPv6 routes
    (RFC 4798 4); the kernel can route via the IPv4 address, never via the mapped one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _usable(address: IPAddress) -> bool:
    """A next hop the kernel could forward to: not 0.0.0.0/::, multicast or loopback."""
    return not (address.is_unspecified or address.is_multicast or address.is_loopback)


def _tunnelled(prefix: IPNetwork, next_hop: IPAddress, view: NodeView) -> bool:
    """Whether packets for `prefix` go to `next_hop` through the IPIP tunnel.

    tunl0 carries IPv4 inside IPv4 only: an IPv6 prefix always takes the plain route
    over the interface.
    """
    if prefix.version != 4 or next_hop.version != 4:
        return False
    if view.encapsulation == ENCAP_IPIP:
        return True
    if view.encapsulation == ENCAP_CROSS_SUBNET:
        return not view.on_link(next_hop)
    return False


def _gateways(prefix: IPNetwork, next_hops: Iterable[IPAddress]) -> list[IPAddress]:
    """The distinct usable next hops of the prefix's family, in the order given.

    A next hop of the other family (RFC 8950 IPv6 for an IPv4 prefix, or what is left of
    an IPv4-mapped one for an IPv6 prefix) would need RTA_VIA, which the FIB adapter does
    not write (KernelRoute refuses it): it is left out, and the other best paths carry
    the traffic.  KernelRoute sorts the rest, so equal sets give equal routes.
    """
    distinct: dict[IPAddress, None] = {}
    for raw in next_hops:
        address = _unmapped(raw)
        if _usable(address) and address.version == prefix.version:
            distinct[address] = None
    return list(distinct)


def kernel_route(
    prefix: IPNetwork, next_hops: Sequence[IPAddress], view: NodeView
) -> KernelRoute | None:
    """The kernel route for `prefix` whose best paths lead to `next_hops`, or None.

    Several next hops make one multipath (ECMP) route.  None when no next hop is usable
    (0.0.0.0, multicast, loopback, or of the other family), or when one of them is this
    node's own address: the prefix lives here (its blackhole and the pods' own routes
    deliver it), and a route towards another node would only send the traffic back out.
    """
    if any(view.is_own(address) for address in next_hops):
        return None
    gateways = _gateways(prefix, next_hops)
    if not gateways:
        return None
    hops = tuple(
        NextHop(gateway, view.tunnel, onlink=True)
        if _tunnelled(prefix, gateway, view)
        else NextHop(gateway, view.interface)
        for gateway in gateways
    )
    return KernelRoute(prefix, hops)


def blackhole(prefix: IPNetwork) -> KernelRoute:
    """The route of a local block: traffic to an address no pod holds is dropped here
    instead of following a less specific route back out (and looping)."""
    return KernelRoute(prefix, blackhole=True)


def unreachable_next_hops(
    next_hops: Iterable[IPAddress], view: NodeView, prefix: IPNetwork | None = None
) -> list[IPAddress]:
    """Next hops a plain `via NH dev <interface>` route cannot use: outside every subnet
    of the node's own, with no tunnel to carry the packets.

    That is the classic BGP-mode failure between two subnets joined by a router: the
    routes arrive, the kernel refuses them (or packets go nowhere), and nothing says why.
    In IPIP mode IPv4 next hops are always reachable (the tunnel is onlink); IPv6 ones
    never use the tunnel.  A family the view knows no subnet of is not judged: a warning
    built on a guess would be noise.  `prefix`, when given, decides the tunnel as
    `kernel_route` does (an IPv6 prefix never goes through tunl0, whatever its next hop).
    """
    result: list[IPAddress] = []
    for raw in next_hops:
        address = _unmapped(raw)
        if not _usable(address) or view.is_own(address) or address in result:
            continue
        if prefix is not None and address.version != prefix.version:
            continue  # left out of the route (see _gateways), not unreachable
        route_prefix = prefix if prefix is not None else ipaddress.ip_network(address)
        if _tunnelled(route_prefix, address, view):
            continue
        if view.knows_subnets_of(address.version) and not view.on_link(address):
            result.append(address)
    return result


def unreachable_message(next_hop: IPAddress, view: NodeView) -> str:
    """The sentence `pybgp status` and the log give for one unreachable next hop: which
    one, why the kernel cannot use it, and the three ways out."""
    own = ", ".join(str(s) for s in view.subnets if s.version == next_hop.version)
    text = (
        f"next hop {next_hop} is not directly reachable on {view.interface}"
        f" (this node's subnets: {own or 'none'})"
    )
    if next_hop.version == 4:
        return (
            text + f'; with [node] encapsulation = "{view.encapsulation}" the kernel cannot'
            ' route via it: set encapsulation = "ipip" or "cross-subnet", or peer with the'
            " gateway between the subnets so that routes arrive with a reachable next hop"
        )
    return (
        text + "; IPv6 routes do not use the IPIP tunnel: peer with the gateway between the"
        " subnets so that routes arrive with a reachable next hop"
    )


def desired_routes(
    learned: Mapping[IPNetwork, Sequence[IPAddress]],
    blocks: Iterable[IPNetwork],
    view: NodeView,
) -> dict[IPNetwork, KernelRoute]:
    """Every kernel route the node should have: learned best routes plus local blocks.

    A block's blackhole wins over a learned route for the same prefix: the block is ours
    (IPAM says so), and another node still announcing it is stale.
    """
    routes: dict[IPNetwork, KernelRoute] = {}
    for prefix, next_hops in learned.items():
        route = kernel_route(prefix, next_hops, view)
        if route is not None:
            routes[prefix] = route
    for block in blocks:
        routes[block] = blackhole(block)
    return routes
