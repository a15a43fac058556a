"""Hypothesis strategies for the wire codec's values and messages.

Every strategy here produces values the codec can encode, in the form it gives back
after decoding wherever that is possible (canonical prefixes, AS paths without adjacent
AS_SEQUENCE segments and with at most 255 ASNs per segment).  Where a round trip is
legitimately not the identity, the tests say so and compute the expected value.
"""

from __future__ import annotations

import ipaddress
import itertools
import random

from hypothesis import strategies as st

from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AddPath,
    Capability,
    CodecContext,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    Family,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    Keepalive,
    LongLivedGracefulRestart,
    MpReach,
    MpUnreach,
    Multiprotocol,
    Notification,
    Open,
    PathAttributes,
    Role,
    RouteRefresh,
    RouteRefreshCapability,
    UnknownCapability,
    Update,
)
from pybgp.wire.aspath import AsPath, Segment
from pybgp.wire.attribute_table import ATTRIBUTES
from pybgp.wire.capabilities import CAPABILITIES
from pybgp.wire.constants import (
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_SEQUENCE,
    AS_SET,
    FLAG_OPTIONAL,
    FLAG_PARTIAL,
    FLAG_TRANSITIVE,
    OPT_PARAM_CAPABILITIES,
    OPT_PARAM_EXTENDED,
)

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
IPV4_PACKED = st.binary(min_size=4, max_size=4)

# ------------------------------------------------------------------------------------
# Contexts

FAMILIES: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)


def contexts(
    four_octet_as: st.SearchStrategy[bool] | None = None,
    external: st.SearchStrategy[bool] | None = None,
) -> st.SearchStrategy[CodecContext]:
    """Every combination of the negotiated facts: AS size, ADD-PATH per family, RFC 8654."""
    return st.builds(
        CodecContext,
        four_octet_as=four_octet_as if four_octet_as is not None else st.booleans(),
        addpath=st.frozensets(st.sampled_from(FAMILIES)),
        extended_message=st.booleans(),
        external=external if external is not None else st.booleans(),
    )


# ------------------------------------------------------------------------------------
# ASNs and AS paths

# Mostly 2-octet ASNs, often 4-octet ones, and the edges (0, AS_TRANS, 65535, 65536).
ASN = st.one_of(
    st.integers(0, 0xFFFF),
    st.integers(0x10000, 0xFFFFFFFF),
    st.sampled_from([0, 23456, 0xFFFF, 0x10000, 0xFFFFFFFF]),
)
ASN2 = st.integers(0, 0xFFFF)


def segments(
    types: tuple[int, ...], asn: st.SearchStrategy[int] = ASN, max_asns: int = 8
) -> st.SearchStrategy[Segment]:
    return st.tuples(
        st.sampled_from(types), st.lists(asn, min_size=1, max_size=max_asns).map(tuple)
    )


def _no_adjacent_sequences(path: list[Segment]) -> bool:
    return all(
        not (a[0] == AS_SEQUENCE and b[0] == AS_SEQUENCE) for a, b in itertools.pairwise(path)
    )


def as_paths(asn: st.SearchStrategy[int] = ASN, max_segments: int = 5) -> st.SearchStrategy[AsPath]:
    """Canonical paths with all four segment types (RFC 4271 4.3, RFC 5065 3).

    Confederation segments, when present, lead the path as RFC 5065 5 puts them.
    """
    confed = st.lists(segments((AS_CONFED_SEQUENCE, AS_CONFED_SET), asn), max_size=2)
    tail = st.lists(segments((AS_SET, AS_SEQUENCE), asn), max_size=max_segments).filter(
        _no_adjacent_sequences
    )
    return st.builds(lambda c, t: tuple(c + t), confed, tail)


def plain_as_paths(asn: st.SearchStrategy[int] = ASN) -> st.SearchStrategy[AsPath]:
    """Canonical paths of AS_SET and AS_SEQUENCE segments only."""
    return (
        st.lists(segments((AS_SET, AS_SEQUENCE), asn), max_size=5)
        .filter(_no_adjacent_sequences)
        .map(tuple)
    )


# ------------------------------------------------------------------------------------
# Path attributes

UNKNOWN_CODES = sorted(set(range(256)) - set(ATTRIBUTES))


@st.composite
def unknown_transitive(draw: st.DrawFn, max_value: int = 300) -> tuple[tuple[int, int, bytes], ...]:
    """Unrecognized optional transitive attributes (RFC 4271 5), distinct codes."""
    codes = draw(st.lists(st.sampled_from(UNKNOWN_CODES), unique=True, max_size=3))
    out = []
    for code in codes:
        flags = FLAG_OPTIONAL | FLAG_TRANSITIVE | draw(st.sampled_from([0, FLAG_PARTIAL]))
        out.append((code, flags, draw(st.binary(max_size=max_value))))
    return tuple(out)


def path_attributes(
    as_path: st.SearchStrategy[AsPath] | None = None,
    local_pref: bool = True,
) -> st.SearchStrategy[PathAttributes]:
    """Every field of PathAttributes, each absent or present."""
    return st.builds(
        PathAttributes,
        origin=st.none() | st.integers(0, 2),
        as_path=as_path if as_path is not None else as_paths(),
        next_hop=st.none() | IPV4_PACKED,
        med=st.none() | U32,
        local_pref=(st.none() | U32) if local_pref else st.none(),
        atomic_aggregate=st.booleans(),
        aggregator=st.none() | st.tuples(ASN, IPV4_PACKED),
        communities=st.lists(U32, max_size=6).map(tuple),
        originator_id=st.none() | IPV4_PACKED,
        cluster_list=st.lists(IPV4_PACKED, max_size=4).map(tuple),
        extended_communities=st.lists(st.binary(min_size=8, max_size=8), max_size=4).map(tuple),
        large_communities=st.lists(st.tuples(U32, U32, U32), max_size=4).map(tuple),
        otc=st.none() | U32,
        unknown=unknown_transitive(),
    )


# ------------------------------------------------------------------------------------
# Prefixes

_ADDRESS_BITS = {IPV4_UNICAST: 32, IPV6_UNICAST: 128}


def canonical_key(plen: int, address: bytes) -> bytes:
    """The wire form of address/plen with the host bits cleared (RFC 4271 4.3)."""
    octets = (plen + 7) // 8
    body = bytearray(address[:octets])
    if plen % 8:
        body[-1] &= (0xFF << (8 - plen % 8)) & 0xFF
    return bytes((plen,)) + bytes(body)


@st.composite
def prefix_keys(draw: st.DrawFn, family: Family = IPV4_UNICAST, addpath: bool = False) -> bytes:
    bits = _ADDRESS_BITS[family]
    plen = draw(st.integers(0, bits))
    key = canonical_key(plen, draw(st.binary(min_size=bits // 8, max_size=bits // 8)))
    if addpath:
        key = draw(U32).to_bytes(4, "big") + key
    return key


def key_lists(
    family: Family, addpath: bool, min_size: int = 0, max_size: int = 12
) -> st.SearchStrategy[list[bytes]]:
    return st.lists(prefix_keys(family, addpath), min_size=min_size, max_size=max_size)


def bulk_keys(
    rng: random.Random, count: int, family: Family, addpath: bool, plens: list[int]
) -> list[bytes]:
    """Many keys quickly (hypothesis draws only the seed and the shape)."""
    bits = _ADDRESS_BITS[family]
    keys = []
    for _ in range(count):
        key = canonical_key(rng.choice(plens), rng.getrandbits(bits).to_bytes(bits // 8, "big"))
        if addpath:
            key = rng.getrandbits(32).to_bytes(4, "big") + key
        keys.append(key)
    return keys


def network_texts(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    addresses = st.ip_addresses(v=version)
    return st.builds(
        lambda a, p: str(ipaddress.ip_network(f"{a}/{p}", strict=False)),
        addresses,
        st.integers(0, bits),
    )


# ------------------------------------------------------------------------------------
# UPDATE messages


@st.composite
def updates(draw: st.DrawFn, ctx: CodecContext) -> Update:
    """A well-formed UPDATE for `ctx`: IPv4 NLRI/withdrawn, MP_REACH/MP_UNREACH IPv6
    (16- or 32-octet next hops), or an End-of-RIB marker.  Announcements carry the
    mandatory attributes, so the decoder applies no RFC 7606 action except the LOCAL_PREF
    discard for external peers.
    """
    v4_ap = IPV4_UNICAST in ctx.addpath
    v6_ap = IPV6_UNICAST in ctx.addpath
    kind = draw(st.sampled_from(["ipv4", "mp", "eor-ipv4", "eor-ipv6"]))
    if kind == "eor-ipv4":
        return Update()
    if kind == "eor-ipv6":
        return Update(mp_unreach=MpUnreach(*IPV6_UNICAST))
    attrs = draw(st.none() | path_attributes())
    if kind == "ipv4":
        withdrawn = draw(key_lists(IPV4_UNICAST, v4_ap))
        nlri = draw(key_lists(IPV4_UNICAST, v4_ap)) if attrs is not None else []
        if nlri:
            attrs = attrs.replace(origin=draw(st.integers(0, 2)), next_hop=draw(IPV4_PACKED))
        return Update(withdrawn, attrs, nlri)
    unreach = None
    reach = None
    if draw(st.booleans()):
        unreach = MpUnreach(*IPV6_UNICAST, withdrawn=draw(key_lists(IPV6_UNICAST, v6_ap)))
    if draw(st.booleans()) or unreach is None:
        next_hop = draw(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
        nlri = draw(key_lists(IPV6_UNICAST, v6_ap))
        reach = MpReach(*IPV6_UNICAST, next_hop=next_hop, nlri=nlri)
        if nlri:
            attrs = (attrs or PathAttributes()).replace(origin=draw(st.integers(0, 2)))
    return Update(attributes=attrs, mp_reach=reach, mp_unreach=unreach)


# ------------------------------------------------------------------------------------
# OPEN and capabilities

UNKNOWN_CAPABILITY_CODES = sorted(set(range(256)) - set(CAPABILITIES))

CAPABILITY_STRATEGIES: dict[str, st.SearchStrategy[Capability]] = {
    "multiprotocol": st.builds(Multiprotocol, U16, U8),
    "route-refresh": st.just(RouteRefreshCapability()),
    "enhanced-route-refresh": st.just(EnhancedRouteRefresh()),
    "extended-message": st.just(ExtendedMessage()),
    "extended-next-hop": st.builds(
        ExtendedNextHop, st.lists(st.tuples(U16, U16, U16), max_size=42).map(tuple)
    ),
    "role": st.builds(Role, U8),
    "graceful-restart": st.builds(
        GracefulRestart,
        st.integers(0, 15),
        st.integers(0, 0xFFF),
        st.lists(st.tuples(U16, U8, U8), max_size=63).map(tuple),
    ),
    "four-octet-as": st.builds(FourOctetAs, U32),
    "add-path": st.builds(
        AddPath, st.lists(st.tuples(U16, U8, st.integers(1, 3)), max_size=63).map(tuple)
    ),
    "long-lived-graceful-restart": st.builds(
        LongLivedGracefulRestart,
        st.lists(st.tuples(U16, U8, U8, st.integers(0, 0xFFFFFF)), max_size=36).map(tuple),
    ),
    # Each name at most 30 characters: at most 120 UTF-8 octets, so the value fits 255.
    "fqdn": st.builds(Fqdn, st.text(max_size=30), st.text(max_size=30)),
    "unknown": st.builds(
        UnknownCapability, st.sampled_from(UNKNOWN_CAPABILITY_CODES), st.binary(max_size=255)
    ),
}

capabilities = st.one_of(*CAPABILITY_STRATEGIES.values())

# Optional parameter types other than Capabilities (2) and the RFC 9072 marker (255).
OTHER_PARAMETER_TYPES = [
    t for t in range(256) if t not in (OPT_PARAM_CAPABILITIES, OPT_PARAM_EXTENDED)
]


def bgp_ids() -> st.SearchStrategy[str]:
    return st.ip_addresses(v=4).map(str)


def opens(
    caps: st.SearchStrategy[list[Capability]] | None = None,
) -> st.SearchStrategy[Open]:
    """OPEN messages that fit 4096 octets (RFC 8654 4), any capability mix."""
    return st.builds(
        Open,
        my_as=U16,
        hold_time=U16,
        bgp_id=bgp_ids(),
        capabilities=caps if caps is not None else st.lists(capabilities, max_size=12),
        other_parameters=st.lists(
            st.tuples(st.sampled_from(OTHER_PARAMETER_TYPES), st.binary(max_size=255)), max_size=3
        ),
    )


# Capability lists too long for the one-octet Optional Parameters Length (RFC 9072).
long_capability_lists = st.lists(
    st.builds(
        UnknownCapability,
        st.sampled_from(UNKNOWN_CAPABILITY_CODES),
        st.binary(min_size=100, max_size=255),
    ),
    min_size=3,
    max_size=8,
).flatmap(lambda big: st.lists(capabilities, max_size=4).map(lambda small: small + big))


# ------------------------------------------------------------------------------------
# The other messages

notifications = st.builds(Notification, U8, U8, st.binary(max_size=300))
# RFC 2918 3 / RFC 7313 4 subtypes 0 (refresh), 1 (BoRR), 2 (EoRR), and unknown ones.
route_refreshes = st.builds(RouteRefresh, U16, U8, st.sampled_from([0, 1, 2]) | U8)
keepalives = st.just(Keepalive())


def messages(ctx: CodecContext) -> st.SearchStrategy:
    """Any message, encodable in `ctx`."""
    return st.one_of(updates(ctx), opens(), notifications, route_refreshes, keepalives)
