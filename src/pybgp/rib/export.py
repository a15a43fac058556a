"""What one kind of peer receives for a best path: the export side of the RIB.

An `ExportView` answers, for a Loc-RIB best path, "what goes to peers like this one":
the RFC 4271 9.2 / RFC 4456 6 export matrix, the attribute rewrites of RFC 4271 5.1
and RFC 4456 8, the peer's export policy, and the next hop the UPDATE carries.  Peers
whose views are equal (`ExportView.signature`) get the same answer for every path, so
they share one update group, one export and one encode.

The answer depends on the path only (unless the export policy matches on prefixes), so
it is memoised per path object: a table of a million prefixes usually has a few
thousand paths, and each is exported once per group, not once per prefix.

Standard library only, no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..wire.attributes import PathAttributes
from ..wire.constants import IPV4_UNICAST, Family
from .decision import Path, Source
from .originate import next_hop_for
from .policy import ACCEPT_ALL, Chain
from .rules import Kind, export_attributes, may_advertise

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# (attributes as sent, MP_REACH next hop or None when the NEXT_HOP attribute carries it)
Exported = tuple[PathAttributes, bytes | None]

_MEMO_LIMIT = 200_000  # paths remembered per view before the memo starts again


def kind_of(source: Source) -> Kind:
    """What the peer a path came from is to us (RFC 4456 6 needs client / non-client)."""
    if source.address is None:
        return Kind.LOCAL
    if source.external:
        return Kind.EBGP
    return Kind.CLIENT if source.client else Kind.IBGP


@dataclass(eq=False)
class ExportView:
    """The export of best paths towards peers of one kind, from one local address."""

    to: Kind
    local_asn: int
    local_address: Address  # our address on the session(s): NEXT_HOP when we rewrite it
    cluster_id: bytes | None = None  # set when this speaker reflects (RFC 4456)
    next_hop_self: bool = False
    extended_next_hop: bool = False  # RFC 8950 agreed for IPv4 routes
    policy: Chain = ACCEPT_ALL
    policy_names: tuple[str, ...] = ()
    _memo: dict[Family, dict[int, tuple[Path, Exported | None]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def signature(self) -> Hashable:
        """Equal for views that export every path identically (one update group)."""
        return (
            self.to,
            self.local_asn,
            self.local_address,
            self.cluster_id,
            self.next_hop_self,
            self.extended_next_hop,
            self.policy_names,
            self.policy,  # equal chains have equal definitions (a reload may change them)
        )

    def __call__(self, family: Family, key: bytes, path: Path) -> Exported | None:
        if self.policy.prefix_dependent:
            return self._export(family, key, path)
        # Per family: one Path may serve an IPv4 and an IPv6 prefix (our own routes).
        memo = self._memo.get(family)
        if memo is None:
            memo = self._memo[family] = {}
        held = memo.get(id(path))
        if held is not None and held[0] is path:
            return held[1]
        exported = self._export(family, key, path)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[id(path)] = (path, exported)
        return exported

    def forget(self) -> None:
        """Drop the memo (after a policy change)."""
        self._memo.clear()

    def _export(self, family: Family, key: bytes, path: Path) -> Exported | None:
        attributes = path.attributes
        learned_from = kind_of(path.source)
        if not may_advertise(
            learned_from, self.to, attributes.communities, reflector=self.cluster_id is not None
        ):
            return None
        if learned_from is Kind.LOCAL:
            # Our own route: the next hop its owner configured, to every peer, else ours.
            rewrite = self.next_hop_self or path.next_hop is None
        else:
            # RFC 4271 5.1.3: our address towards an external peer; inside the AS the
            # next hop is passed on unchanged (unless next-hop-self).
            rewrite = self.to is Kind.EBGP or self.next_hop_self
        if rewrite:
            # RFC 4271 5.1.3: our own address on the session, in the family's form.
            hop = next_hop_for(family, None, self.local_address, self.extended_next_hop)
        else:
            hop = path.next_hop
        if hop is None:
            return None
        ipv4_hop = hop if family == IPV4_UNICAST and len(hop) == 4 else None
        if family == IPV4_UNICAST and ipv4_hop is None and not self.extended_next_hop:
            return None  # an IPv6 next hop this peer cannot take (RFC 8950 not agreed)
        source = path.source
        attributes = export_attributes(
            attributes,
            learned_from=learned_from,
            to=self.to,
            local_asn=self.local_asn,
            local_next_hop=ipv4_hop,
            next_hop_self=self.next_hop_self,
            originator=source.router_id.to_bytes(4, "big"),
            cluster_id=self.cluster_id,
        )
        if attributes.next_hop != ipv4_hop:
            attributes = attributes.replace(next_hop=ipv4_hop)
        if self.policy is not ACCEPT_ALL:
            result = self.policy.apply(family, key, attributes)
            if result is None:
                return None
            attributes = result
        return attributes, (None if ipv4_hop is not None else hop)
