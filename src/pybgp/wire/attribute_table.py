"""One table row per path attribute code, as BIRD's proto/bgp/attrs.c has it.

Each row says the attribute's name, the flags the RFC gives it, how to decode it into
`PathAttributes` fields, how to encode it back, and what RFC 7606 says to do when it is
malformed.  `decode_attributes` walks an UPDATE's attribute field with this table;
`encode_attributes` writes one.  Attribute sets are interned by their bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import aspath
from .attributes import PathAttributes
from .constants import (
    AS_TRANS,
    FLAG_EXTENDED_LENGTH,
    FLAG_OPTIONAL,
    FLAG_PARTIAL,
    FLAG_TRANSITIVE,
    AttrCode,
)
from .context import CodecContext
from .errors import (
    Action,
    AttributeIssue,
    AttributeMalformed,
    EncodeError,
    MessageError,
    UpdateSubcode,
)

WELL_KNOWN = FLAG_TRANSITIVE
OPTIONAL = FLAG_OPTIONAL
OPTIONAL_TRANSITIVE = FLAG_OPTIONAL | FLAG_TRANSITIVE

Fields = dict[str, Any]
Decoder = Callable[[bytes, CodecContext, Fields], None]
Encoder = Callable[[PathAttributes, bool], bytes | None]


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    code: int
    name: str
    flags: int  # the Optional and Transitive bits the RFC gives it
    malformed: Action  # RFC 7606 7.x
    decode: Decoder
    encode: Encoder


def _length(value: bytes, *allowed: int) -> None:
    if len(value) not in allowed:
        raise AttributeMalformed(
            UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, f"length {len(value)}, expected {allowed}"
        )


def _multiple(value: bytes, size: int) -> None:
    if not value or len(value) % size:
        raise AttributeMalformed(
            UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
            f"length {len(value)} is not a non-zero multiple of {size}",
        )


def _u32(value: int | None) -> bytes | None:
    return None if value is None else value.to_bytes(4, "big")


# --- ORIGIN: RFC 4271 5.1.1; RFC 7606 7.1 treat-as-withdraw --------------------------
def _dec_origin(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 1)
    if value[0] > 2:
        raise AttributeMalformed(
            UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, f"undefined ORIGIN {value[0]}"
        )
    out["origin"] = value[0]


# --- AS_PATH: RFC 4271 5.1.2; RFC 7606 7.2 treat-as-withdraw -------------------------
def _dec_as_path(value: bytes, ctx: CodecContext, out: Fields) -> None:
    out["as_path"] = aspath.decode_as_path(value, 4 if ctx.four_octet_as else 2)


def _enc_as_path(attrs: PathAttributes, four: bool) -> bytes | None:
    if four:
        return aspath.encode_as_path(attrs.as_path, 4)
    return aspath.encode_as_path(aspath.to_two_octet(attrs.as_path), 2)


# --- NEXT_HOP: RFC 4271 5.1.3; RFC 7606 7.3 treat-as-withdraw ------------------------
def _dec_next_hop(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 4)
    out["next_hop"] = value


# --- MULTI_EXIT_DISC, LOCAL_PREF: RFC 7606 7.4, 7.5 --------------------------------
def _dec_med(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 4)
    out["med"] = int.from_bytes(value, "big")


class _DiscardSignal(AttributeMalformed):
    """Not malformed, but to be discarded all the same (RFC 7606 7.5, RFC 6793 4.1)."""


def _dec_local_pref(value: bytes, ctx: CodecContext, out: Fields) -> None:
    if ctx.external:
        # RFC 7606 7.5: LOCAL_PREF from an external peer is discarded, whatever its
        # length; only from an internal peer is a length other than 4 malformed.
        raise _DiscardSignal(0, "LOCAL_PREF received from an external peer")
    _length(value, 4)
    out["local_pref"] = int.from_bytes(value, "big")


# --- ATOMIC_AGGREGATE, AGGREGATOR: RFC 7606 7.6, 7.7 attribute discard -------------
def _dec_atomic(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 0)
    out["atomic_aggregate"] = True


def _dec_aggregator(value: bytes, ctx: CodecContext, out: Fields) -> None:
    if ctx.four_octet_as:
        _length(value, 8)
        out["aggregator"] = (int.from_bytes(value[:4], "big"), value[4:])
    else:
        _length(value, 6)
        out["aggregator"] = (int.from_bytes(value[:2], "big"), value[2:])


def _enc_aggregator(attrs: PathAttributes, four: bool) -> bytes | None:
    if attrs.aggregator is None:
        return None
    asn, address = attrs.aggregator
    if four:
        return asn.to_bytes(4, "big") + address
    # RFC 6793 4.2.2: a 4-octet aggregator AS goes out as AS_TRANS (and AS4_AGGREGATOR).
    return (asn if asn <= 0xFFFF else AS_TRANS).to_bytes(2, "big") + address


# --- COMMUNITIES (RFC 1997), CLUSTER_LIST (RFC 4456): treat-as-withdraw ---------------
def _dec_communities(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _multiple(value, 4)
    out["communities"] = struct.unpack(f"!{len(value) // 4}I", value)


def _dec_originator(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 4)
    out["originator_id"] = value


def _dec_cluster_list(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _multiple(value, 4)
    out["cluster_list"] = tuple(value[i : i + 4] for i in range(0, len(value), 4))


# --- EXTENDED_COMMUNITIES (RFC 4360; RFC 7606 7.14), LARGE (RFC 8092 6) --------------
def _dec_ext_communities(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _multiple(value, 8)
    out["extended_communities"] = tuple(value[i : i + 8] for i in range(0, len(value), 8))


def _dec_large(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _multiple(value, 12)
    flat = struct.unpack(f"!{len(value) // 4}I", value)
    out["large_communities"] = tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))


def _enc_large(attrs: PathAttributes, four: bool) -> bytes | None:
    if not attrs.large_communities:
        return None
    flat = [n for triple in attrs.large_communities for n in triple]
    return struct.pack(f"!{len(flat)}I", *flat)


# --- AS4_PATH, AS4_AGGREGATOR: RFC 6793 4.1, 4.2.3, 6: attribute discard -------------
def _dec_as4_path(value: bytes, ctx: CodecContext, out: Fields) -> None:
    if ctx.four_octet_as:
        raise _DiscardSignal(0, "AS4_PATH from a four-octet AS speaker is ignored")
    # RFC 6793 6: confederation segments MUST NOT be in AS4_PATH; the receiver discards
    # those segments (not the attribute) and continues.
    out["_as4_path"] = aspath.as4_path_for(aspath.decode_as_path(value, 4))


def _enc_as4_path(attrs: PathAttributes, four: bool) -> bytes | None:
    if four or not aspath.needs_as4(attrs.as_path):
        return None
    return aspath.encode_as_path(aspath.as4_path_for(attrs.as_path), 4)


def _dec_as4_aggregator(value: bytes, ctx: CodecContext, out: Fields) -> None:
    if ctx.four_octet_as:
        raise _DiscardSignal(0, "AS4_AGGREGATOR from a four-octet AS speaker is ignored")
    _length(value, 8)
    out["_as4_aggregator"] = (int.from_bytes(value[:4], "big"), value[4:])


def _enc_as4_aggregator(attrs: PathAttributes, four: bool) -> bytes | None:
    if four or attrs.aggregator is None or attrs.aggregator[0] <= 0xFFFF:
        return None
    return attrs.aggregator[0].to_bytes(4, "big") + attrs.aggregator[1]


# --- OTC: RFC 9234 5 treat-as-withdraw ----------------------------------------------
def _dec_otc(value: bytes, ctx: CodecContext, out: Fields) -> None:
    _length(value, 4)
    out["otc"] = int.from_bytes(value, "big")


def _no_decode(value: bytes, ctx: CodecContext, out: Fields) -> None:  # pragma: no cover
    raise AssertionError("MP attributes are decoded by update.py")


def _no_encode(attrs: PathAttributes, four: bool) -> bytes | None:
    return None


TAW = Action.TREAT_AS_WITHDRAW
DISCARD = Action.ATTRIBUTE_DISCARD
_C = AttrCode
ATTRIBUTES: dict[int, AttributeSpec] = {
    spec.code: spec
    for spec in (
        AttributeSpec(_C.ORIGIN, "ORIGIN", WELL_KNOWN, TAW, _dec_origin,
                      lambda a, f: None if a.origin is None else bytes((a.origin,))),
        AttributeSpec(_C.AS_PATH, "AS_PATH", WELL_KNOWN, TAW, _dec_as_path, _enc_as_path),
        AttributeSpec(_C.NEXT_HOP, "NEXT_HOP", WELL_KNOWN, TAW, _dec_next_hop,
                      lambda a, f: a.next_hop),
        AttributeSpec(_C.MULTI_EXIT_DISC, "MULTI_EXIT_DISC", OPTIONAL, TAW, _dec_med,
                      lambda a, f: _u32(a.med)),
        AttributeSpec(_C.LOCAL_PREF, "LOCAL_PREF", WELL_KNOWN, TAW, _dec_local_pref,
                      lambda a, f: _u32(a.local_pref)),
        AttributeSpec(_C.ATOMIC_AGGREGATE, "ATOMIC_AGGREGATE", WELL_KNOWN, DISCARD, _dec_atomic,
                      lambda a, f: b"" if a.atomic_aggregate else None),
        AttributeSpec(_C.AGGREGATOR, "AGGREGATOR", OPTIONAL_TRANSITIVE, DISCARD,
                      _dec_aggregator, _enc_aggregator),
        AttributeSpec(_C.COMMUNITIES, "COMMUNITIES", OPTIONAL_TRANSITIVE, TAW, _dec_communities,
                      lambda a, f: struct.pack(f"!{len(a.communities)}I", *a.communities)
                      if a.communities else None),
        AttributeSpec(_C.ORIGINATOR_ID, "ORIGINATOR_ID", OPTIONAL, TAW, _dec_originator,
                      lambda a, f: a.originator_id),
        AttributeSpec(_C.CLUSTER_LIST, "CLUSTER_LIST", OPTIONAL, TAW, _dec_cluster_list,
                      lambda a, f: b"".join(a.cluster_list) if a.cluster_list else None),
        # RFC 7606 7.11, 7.12: the MP attributes are handled in update.py; the rows are
        # here for their names and flags.
        AttributeSpec(_C.MP_REACH_NLRI, "MP_REACH_NLRI", OPTIONAL, Action.AFI_SAFI_DISABLE,
                      _no_decode, _no_encode),
        AttributeSpec(_C.MP_UNREACH_NLRI, "MP_UNREACH_NLRI", OPTIONAL, Action.AFI_SAFI_DISABLE,
                      _no_decode, _no_encode),
        AttributeSpec(_C.EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES", OPTIONAL_TRANSITIVE,
                      TAW, _dec_ext_communities,
                      lambda a, f: b"".join(a.extended_communities)
                      if a.extended_communities else None),
        AttributeSpec(_C.AS4_PATH, "AS4_PATH", OPTIONAL_TRANSITIVE, DISCARD, _dec_as4_path,
                      _enc_as4_path),
        AttributeSpec(_C.AS4_AGGREGATOR, "AS4_AGGREGATOR", OPTIONAL_TRANSITIVE, DISCARD,
                      _dec_as4_aggregator, _enc_as4_aggregator),
        AttributeSpec(_C.LARGE_COMMUNITIES, "LARGE_COMMUNITIES", OPTIONAL_TRANSITIVE, TAW,
                      _dec_large, _enc_large),
        AttributeSpec(_C.OTC, "OTC", OPTIONAL_TRANSITIVE, TAW, _dec_otc,
                      lambda a, f: _u32(a.otc)),
    )
}  # fmt: skip

_MP_CODES = (AttrCode.MP_REACH_NLRI, AttrCode.MP_UNREACH_NLRI)


def attribute_name(code: int) -> str:
    spec = ATTRIBUTES.get(code)
    return spec.name if spec else f"ATTRIBUTE_{code}"


# ------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True, slots=True)
class DecodedAttributes:
    """What one attribute field decodes to; interned, so shared by equal fields."""

    attributes: PathAttributes
    issues: tuple[AttributeIssue, ...]
    treat_as_withdraw: bool
    present: frozenset[int]  # codes found (an empty AS_PATH is present, not missing)


@dataclass(slots=True)
class AttributeWalk:
    """The attribute field split into its parts (RFC 4271 4.3)."""

    plain: bytes  # the non-MP attributes, the interning key
    mp_reach: bytes | None = None  # value of MP_REACH_NLRI
    mp_unreach: bytes | None = None  # value of MP_UNREACH_NLRI
    overrun: str = ""  # RFC 7606 4: set when an attribute length overran the field


def walk_attributes(data: bytes) -> AttributeWalk:
    """Find each attribute's bounds; cut out the MP attributes (RFC 7606 3 g, 4)."""
    plain: list[bytes] = []
    walk = AttributeWalk(b"")
    i = 0
    n = len(data)
    start = 0  # start of the current run of plain attributes
    while i < n:
        if n - i < 3:
            walk.overrun = "fewer than three octets left for an attribute header"
            break
        flags = data[i]
        code = data[i + 1]
        if flags & FLAG_EXTENDED_LENGTH:
            if n - i < 4:
                walk.overrun = "fewer than four octets left for an attribute header"
                break
            end = i + 4 + ((data[i + 2] << 8) | data[i + 3])
            value_at = i + 4
        else:
            end = i + 3 + data[i + 2]
            value_at = i + 3
        if end > n:
            walk.overrun = f"{attribute_name(code)} length runs past the attribute field"
            break
        if code in _MP_CODES:
            plain.append(data[start:i])
            start = end
            value = data[value_at:end]
            if code == AttrCode.MP_REACH_NLRI:
                if walk.mp_reach is not None:
                    raise _duplicate_mp(code)
                walk.mp_reach = value
            else:
                if walk.mp_unreach is not None:
                    raise _duplicate_mp(code)
                walk.mp_unreach = value
        i = end
    plain.append(data[start:i])
    walk.plain = plain[0] if len(plain) == 1 else b"".join(plain)
    return walk


def _duplicate_mp(code: int) -> MessageError:
    # RFC 7606 3 g): a repeated MP attribute is a Malformed Attribute List.
    return MessageError(
        3, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, b"", f"{attribute_name(code)} appears twice"
    )


def decode_plain_attributes(plain: bytes, ctx: CodecContext) -> DecodedAttributes:
    """Decode attributes (MP ones already cut out) with the table; RFC 7606 actions."""
    fields: Fields = {}
    issues: list[AttributeIssue] = []
    unknown: list[tuple[int, int, bytes]] = []
    seen: set[int] = set()
    withdraw = False
    i = 0
    n = len(plain)
    while i < n:
        flags = plain[i]
        code = plain[i + 1]
        if flags & FLAG_EXTENDED_LENGTH:
            value_at = i + 4
            end = value_at + ((plain[i + 2] << 8) | plain[i + 3])
        else:
            value_at = i + 3
            end = value_at + plain[i + 2]
        value = plain[value_at:end]
        whole = plain[i:end]
        i = end
        if code in seen:
            # RFC 7606 3 g): all but the first occurrence are discarded.
            issues.append(AttributeIssue(DISCARD, code, 1, f"{attribute_name(code)} repeated"))
            continue
        seen.add(code)
        spec = ATTRIBUTES.get(code)
        if spec is None:
            if not flags & FLAG_OPTIONAL:
                # RFC 4271 6.3: an unrecognized well-known attribute resets the session.
                raise MessageError(
                    3,
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    whole,
                    f"unrecognized well-known attribute {code}",
                )
            if flags & FLAG_TRANSITIVE:
                # RFC 4271 5: kept and passed on; the Partial bit is set on the way out.
                unknown.append((code, flags & ~FLAG_EXTENDED_LENGTH, value))
            # RFC 4271 5: an unrecognized optional non-transitive one is quietly ignored.
            continue
        try:
            if flags & OPTIONAL_TRANSITIVE != spec.flags:
                # RFC 7606 3 c): a flags conflict makes the attribute malformed.
                raise AttributeMalformed(
                    UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, f"flags 0x{flags:02x} conflict"
                )
            spec.decode(value, ctx, fields)
        except AttributeMalformed as exc:
            action = DISCARD if isinstance(exc, _DiscardSignal) else spec.malformed
            issues.append(AttributeIssue(action, code, exc.subcode, f"{spec.name}: {exc.reason}"))
            if action is TAW:
                withdraw = True
    _apply_as4(fields)
    if unknown:
        fields["unknown"] = tuple(unknown)
    return DecodedAttributes(PathAttributes(**fields), tuple(issues), withdraw, frozenset(seen))


def _apply_as4(fields: Fields) -> None:
    """RFC 6793 4.2.3: merge AS4_AGGREGATOR and AS4_PATH from a 2-octet speaker."""
    as4_path = fields.pop("_as4_path", None)
    as4_aggregator = fields.pop("_as4_aggregator", None)
    aggregator = fields.get("aggregator")
    if as4_aggregator is not None and aggregator is not None:
        if aggregator[0] != AS_TRANS:
            return  # AS4_AGGREGATOR and AS4_PATH are both ignored.
        fields["aggregator"] = as4_aggregator
    if as4_path is not None and "as_path" in fields:
        fields["as_path"] = aspath.merge_as4_path(fields["as_path"], as4_path)


class AttributeCache:
    """Interns decoded attribute fields by their bytes and the context that read them.

    Bounded: when full it starts afresh, so a peer that sends endless distinct sets
    cannot grow it without limit.  Equal sets stay equal (==) across a reset.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._table: dict[tuple[bool, bool, bytes], DecodedAttributes] = {}
        self.hits = 0
        self.misses = 0

    def lookup(self, data: bytes, ctx: CodecContext) -> DecodedAttributes | None:
        """The entry for an attribute field seen before, without walking it.

        Keys are MP-free, well-formed fields, so a hit means `data` is one too.
        """
        entry = self._table.get((ctx.four_octet_as, ctx.external, data))
        if entry is not None:
            self.hits += 1
        return entry

    def decode(self, plain: bytes, ctx: CodecContext) -> DecodedAttributes:
        key = (ctx.four_octet_as, ctx.external, plain)
        entry = self._table.get(key)
        if entry is not None:
            self.hits += 1
            return entry
        self.misses += 1
        entry = decode_plain_attributes(plain, ctx)
        if len(self._table) >= self.limit:
            self._table.clear()
        self._table[key] = entry
        return entry

    def __len__(self) -> int:
        return len(self._table)


DEFAULT_CACHE = AttributeCache()


# ------------------------------------------------------------------------------------
# Encoding


def _header(flags: int, code: int, length: int) -> bytes:
    if length > 255:
        return bytes((flags | FLAG_EXTENDED_LENGTH, code)) + length.to_bytes(2, "big")
    return bytes((flags, code, length))


def encode_attribute(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise EncodeError(f"{attribute_name(code)} is {len(value)} octets, more than 65535")
    return _header(flags, code, len(value)) + value


def encode_attributes(attrs: PathAttributes, four_octet_as: bool) -> bytes:
    """Attributes in ascending type code order (RFC 4271 5 recommends it)."""
    parts: list[tuple[int, bytes]] = []
    for code, spec in ATTRIBUTES.items():
        value = spec.encode(attrs, four_octet_as)
        if value is not None:
            parts.append((code, encode_attribute(spec.flags, code, value)))
    for code, flags, value in attrs.unknown:
        # RFC 4271 5: an unrecognized optional transitive attribute passed on gets Partial.
        # RFC 4271 4.3: the four low-order flag bits MUST be zero when sent; Extended
        # Length is set by the value's size, not copied.
        flags = (flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE)) | FLAG_PARTIAL
        parts.append((code, encode_attribute(flags, code, value)))
    parts.sort(key=lambda part: part[0])
    return b"".join(part for _, part in parts)
