"""`PathAttributes`: one route's attributes, as Python values, shared between routes.

A table of a million routes usually has a few thousand distinct attribute sets, so
the decoder interns them (see `attribute_table.AttributeCache`): identical attribute
bytes give the very same object.  Treat instances as immutable; `replace()` makes a
changed copy.  MP_REACH_NLRI and MP_UNREACH_NLRI are not attributes of a route: they
carry the routes, so `update.Update` holds them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .aspath import AsPath


@dataclass(slots=True, unsafe_hash=True)
class PathAttributes:
    origin: int | None = None  # ORIGIN_IGP / _EGP / _INCOMPLETE
    as_path: AsPath = ()  # 4-octet ASNs, after RFC 6793 merging
    next_hop: bytes | None = None  # NEXT_HOP attribute: 4 packed octets
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: tuple[int, bytes] | None = None  # (asn, packed IPv4 address)
    communities: tuple[int, ...] = ()  # RFC 1997, 32-bit values
    originator_id: bytes | None = None  # RFC 4456, 4 packed octets
    cluster_list: tuple[bytes, ...] = ()  # RFC 4456, 4 packed octets each
    extended_communities: tuple[bytes, ...] = ()  # RFC 4360, 8 octets each
    large_communities: tuple[tuple[int, int, int], ...] = ()  # RFC 8092
    otc: int | None = None  # RFC 9234 Only to Customer
    # Attributes this codec does not know: (code, flags, value), kept to pass on.
    unknown: tuple[tuple[int, int, bytes], ...] = ()
    # Encoded forms, keyed by the context facts that change them (see encode()).
    _wire: dict[bool, bytes] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def replace(self, **changes: Any) -> PathAttributes:
        """A copy with some fields changed (the encode cache is not copied)."""
        # dataclasses.replace would pass the same _wire dict on: give the copy its own.
        return dataclasses.replace(self, _wire={}, **changes)

    def encode(self, four_octet_as: bool = True) -> bytes:
        """The path attributes field, MP attributes excluded; cached per AS size."""
        wire = self._wire.get(four_octet_as)
        if wire is None:
            from .attribute_table import encode_attributes

            wire = encode_attributes(self, four_octet_as)
            self._wire[four_octet_as] = wire
        return wire
