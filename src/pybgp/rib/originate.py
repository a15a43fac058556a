"""Routes this speaker originates, and the next hop a route carries to one peer.

A local route enters the Loc-RIB as its owner wrote it (`local_path`); what RFC 4271 5.1
puts on it towards each peer (our AS prepended towards eBGP, 5.1.2; LOCAL_PREF only to
internal peers, 5.1.5; a NEXT_HOP the peer can reach, 5.1.3) is the export's work
(`rib.export`), with `next_hop_for` choosing that next hop.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..wire.attributes import PathAttributes
from ..wire.constants import AS_SEQUENCE, IPV4_UNICAST, IPV6_UNICAST, Family

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class LocalRoute:
    """A locally originated route with the attributes its owner asked for."""

    family: Family
    key: bytes
    next_hop: Address | None = None  # None: our address on the session (next-hop self)
    origin: int = 0
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    as_path: tuple[int, ...] = ()


def next_hop_for(
    family: Family, wanted: Address | None, local: Address, extended_next_hop: bool = False
) -> bytes | None:
    """The next-hop octets for a route of `family` sent from our address `local`.

    IPv4 routes need an IPv4 next hop, or an IPv6 one where the peer agreed to RFC 8950
    extended next hops.  IPv6 routes over an IPv4 session carry our address as
    IPv4-mapped IPv6 (RFC 4291 2.5.5.2), as BIRD and GoBGP do.  None means there is no
    usable next hop: the route cannot go to this peer.
    """
    if wanted is not None:
        return wanted.packed
    if family == IPV4_UNICAST:
        if local.version == 4 or extended_next_hop:
            return local.packed
        return None
    if family == IPV6_UNICAST:
        if local.version == 6:
            return local.packed
        return ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + local.packed).packed
    return None


def local_path(route: LocalRoute) -> tuple[PathAttributes, bytes | None]:
    """The attributes and next hop `route` enters the Loc-RIB with.

    They are the route as its owner wrote it, before any peer's rewrite: the export
    (rib.export) prepends our AS towards eBGP (RFC 4271 5.1.2), adds LOCAL_PREF towards
    iBGP (5.1.5) and puts our session address as NEXT_HOP where none was given (5.1.3).
    """
    next_hop = route.next_hop.packed if route.next_hop is not None else None
    attributes = PathAttributes(
        origin=route.origin,
        as_path=((AS_SEQUENCE, route.as_path),) if route.as_path else (),
        next_hop=next_hop
        if route.family == IPV4_UNICAST and next_hop and len(next_hop) == 4
        else None,
        med=route.med,
        local_pref=route.local_pref,
        communities=route.communities,
        large_communities=route.large_communities,
    )
    return attributes, next_hop
