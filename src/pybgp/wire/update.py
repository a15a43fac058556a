"""UPDATE messages: RFC 4271 4.3, multiprotocol NLRI (RFC 4760), ADD-PATH (RFC 7911),
RFC 7606 error handling, End-of-RIB (RFC 4724 2) and packing many prefixes into few
messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .attribute_table import (
    DEFAULT_CACHE,
    AttributeCache,
    DecodedAttributes,
    encode_attribute,
    walk_attributes,
)
from .attributes import PathAttributes
from .constants import (
    FLAG_OPTIONAL,
    HEADER_LEN,
    IPV4_UNICAST,
    Afi,
    AttrCode,
    Family,
    MessageType,
    Safi,
)
from .context import DEFAULT_CONTEXT, CodecContext
from .errors import (
    Action,
    AttributeIssue,
    EncodeError,
    FamilyError,
    MessageError,
    UpdateSubcode,
)
from .nlri import NlriError, decode_prefixes, max_prefix_bits

# Families whose NLRI are plain prefixes, which this codec parses (RFC 4760 5).
PREFIX_FAMILIES = frozenset(
    (afi, safi) for afi in (Afi.IPV4, Afi.IPV6) for safi in (Safi.UNICAST, Safi.MULTICAST)
)
# RFC 4760 3 with RFC 8950 (IPv4 NLRI over an IPv6 next hop) and RFC 2545 3 (the
# IPv6 global address optionally followed by the link-local one).
NEXT_HOP_LENGTHS = {Afi.IPV4: (4, 16, 32), Afi.IPV6: (16, 32)}


@dataclass(slots=True)
class MpReach:
    """MP_REACH_NLRI (RFC 4760 3)."""

    afi: int
    safi: int
    next_hop: bytes  # as on the wire: 4, 16 or 32 octets
    nlri: list[bytes] = field(default_factory=list)
    raw_nlri: bytes = b""  # the NLRI field of a family this codec does not parse

    @property
    def family(self) -> Family:
        return (self.afi, self.safi)


@dataclass(slots=True)
class MpUnreach:
    """MP_UNREACH_NLRI (RFC 4760 4)."""

    afi: int
    safi: int
    withdrawn: list[bytes] = field(default_factory=list)
    raw_withdrawn: bytes = b""

    @property
    def family(self) -> Family:
        return (self.afi, self.safi)


@dataclass(slots=True)
class Update:
    """An UPDATE as received, with the RFC 7606 outcome.

    When `treat_as_withdraw` is set every route it announces must be handled as
    withdrawn; `withdrawals()` and `announcements()` already do so.
    """

    withdrawn: list[bytes] = field(default_factory=list)  # IPv4 unicast keys
    attributes: PathAttributes | None = None
    nlri: list[bytes] = field(default_factory=list)  # IPv4 unicast keys
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    issues: tuple[AttributeIssue, ...] = ()
    treat_as_withdraw: bool = False

    type = MessageType.UPDATE

    def end_of_rib(self) -> Family | None:
        """RFC 4724 2: the family whose End-of-RIB marker this is, if it is one."""
        if self.nlri or self.withdrawn or self.mp_reach is not None:
            return None
        if self.attributes is not None:
            return None
        if self.mp_unreach is None:
            return IPV4_UNICAST
        unreach = self.mp_unreach
        if unreach.withdrawn or unreach.raw_withdrawn:
            return None
        return unreach.family

    def announcements(self) -> Iterator[tuple[Family, bytes | None, list[bytes]]]:
        """(family, next hop, keys) for each family with reachable routes."""
        if self.treat_as_withdraw:
            return
        if self.nlri:
            nh = self.attributes.next_hop if self.attributes else None
            yield IPV4_UNICAST, nh, self.nlri
        if self.mp_reach is not None and self.mp_reach.nlri:
            yield self.mp_reach.family, self.mp_reach.next_hop, self.mp_reach.nlri

    def withdrawals(self) -> Iterator[tuple[Family, list[bytes]]]:
        """(family, keys) withdrawn, including announcements treated as withdrawn."""
        v4 = self.withdrawn + self.nlri if self.treat_as_withdraw else self.withdrawn
        if v4:
            yield IPV4_UNICAST, v4
        if self.mp_unreach is not None and self.mp_unreach.withdrawn:
            yield self.mp_unreach.family, self.mp_unreach.withdrawn
        if self.treat_as_withdraw and self.mp_reach is not None and self.mp_reach.nlri:
            yield self.mp_reach.family, self.mp_reach.nlri

    def encode(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        return encode_update(self, ctx)


def end_of_rib(family: Family = IPV4_UNICAST) -> Update:
    """The End-of-RIB marker for a family (RFC 4724 2)."""
    if family == IPV4_UNICAST:
        return Update()
    return Update(mp_unreach=MpUnreach(family[0], family[1]))


# ------------------------------------------------------------------------------------
# Decoding


def _session_reset(subcode: int, reason: str, data: bytes = b"") -> MessageError:
    return MessageError(3, subcode, data, reason)


def decode_update(
    body: bytes, ctx: CodecContext = DEFAULT_CONTEXT, cache: AttributeCache = DEFAULT_CACHE
) -> Update:
    """Decode an UPDATE body (the bytes after the 19-octet header).

    Raises MessageError (session reset) or FamilyError (AFI/SAFI disable); the gentler
    RFC 7606 actions are applied and listed in `Update.issues`.
    """
    n = len(body)
    if n < 4:
        raise _session_reset(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "UPDATE shorter than 4")
    wlen = (body[0] << 8) | body[1]
    # RFC 4271 6.3: the two length fields must fit the message.
    if wlen + 4 > n:
        raise _session_reset(
            UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "withdrawn routes length overruns UPDATE"
        )
    alen = (body[wlen + 2] << 8) | body[wlen + 3]
    attr_end = wlen + 4 + alen
    if attr_end > n:
        raise _session_reset(
            UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "total path attribute length overruns UPDATE"
        )
    v4_addpath = IPV4_UNICAST in ctx.addpath
    try:
        withdrawn = decode_prefixes(body[2 : wlen + 2], 32, v4_addpath) if wlen else []
        nlri = decode_prefixes(body[attr_end:], 32, v4_addpath) if attr_end < n else []
    except NlriError as exc:
        # RFC 7606 5.3: a traditional NLRI field that cannot be parsed resets the session.
        raise _session_reset(UpdateSubcode.INVALID_NETWORK_FIELD, str(exc)) from None
    update = Update(withdrawn, None, nlri)
    present: frozenset[int] = frozenset()
    if alen:
        present = _decode_attribute_field(update, body[wlen + 4 : attr_end], ctx, cache)
    if update.nlri or update.mp_reach is not None:
        _check_mandatory(update, present)
    return update


_NO_ATTRIBUTES = DecodedAttributes(PathAttributes(), (), False, frozenset())


def _decode_attribute_field(
    update: Update, data: bytes, ctx: CodecContext, cache: AttributeCache
) -> frozenset[int]:
    """Fill in attributes, MP fields and RFC 7606 outcome; return the codes present."""
    entry: DecodedAttributes | None = cache.lookup(data, ctx)
    issues: list[AttributeIssue] = []
    if entry is None:
        walk = walk_attributes(data)
        # Only MP attributes (an IPv6 End-of-RIB, a pure MP withdrawal): no route
        # attributes at all, so the UPDATE re-encodes as it came (RFC 4724 2).
        entry = cache.decode(walk.plain, ctx) if walk.plain else _NO_ATTRIBUTES
        if walk.mp_unreach is not None:
            update.mp_unreach = _decode_mp_unreach(walk.mp_unreach, ctx)
        if walk.mp_reach is not None:
            update.mp_reach = _decode_mp_reach(walk.mp_reach, ctx)
        if walk.overrun:
            # RFC 7606 4: rely on the Total Path Attribute Length; treat-as-withdraw.
            issues.append(
                AttributeIssue(
                    Action.TREAT_AS_WITHDRAW, 0, UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, walk.overrun
                )
            )
    update.attributes = entry.attributes if entry is not _NO_ATTRIBUTES else None
    update.treat_as_withdraw = entry.treat_as_withdraw or bool(issues)
    update.issues = entry.issues + tuple(issues) if issues else entry.issues
    return entry.present


_REQUIRED_WITH_NLRI = frozenset((AttrCode.ORIGIN, AttrCode.AS_PATH, AttrCode.NEXT_HOP))


def _check_mandatory(update: Update, present: frozenset[int]) -> None:
    """RFC 4271 5 and RFC 7606 3 d): missing well-known attributes -> treat-as-withdraw."""
    if update.nlri and present >= _REQUIRED_WITH_NLRI:
        return  # the common case, decided with one set comparison
    reach = update.mp_reach
    if not update.nlri and not (reach is not None and (reach.nlri or reach.raw_nlri)):
        return
    required = [AttrCode.ORIGIN, AttrCode.AS_PATH]
    if update.nlri:
        required.append(AttrCode.NEXT_HOP)
    missing = [code for code in required if code not in present]
    if missing:
        update.treat_as_withdraw = True
        update.issues += tuple(
            AttributeIssue(
                Action.TREAT_AS_WITHDRAW,
                code,
                UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
                f"missing well-known attribute {AttrCode(code).name}",
            )
            for code in missing
        )


def _family_error(afi: int, safi: int, reason: str) -> FamilyError:
    # RFC 7606 5.3, 7.11: an MP attribute that cannot be parsed -> AFI/SAFI disable (or
    # a session reset with Optional Attribute Error, if the session prefers).
    return FamilyError(afi, safi, 3, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, b"", reason)


def _decode_mp_reach(value: bytes, ctx: CodecContext) -> MpReach:
    # RFC 4760 3 and RFC 7606 7.11.
    if len(value) < 5:
        raise _session_reset(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI too short")
    afi = (value[0] << 8) | value[1]
    safi = value[2]
    nh_len = value[3]
    if 4 + nh_len + 1 > len(value):
        raise _family_error(afi, safi, "MP_REACH_NLRI next hop overruns the attribute")
    allowed = NEXT_HOP_LENGTHS.get(afi)
    if allowed is not None and nh_len not in allowed:
        raise _family_error(afi, safi, f"MP_REACH_NLRI next hop length {nh_len} for AFI {afi}")
    next_hop = value[4 : 4 + nh_len]
    field_ = value[5 + nh_len :]  # after the reserved octet (RFC 4760 3)
    if (afi, safi) not in PREFIX_FAMILIES:
        return MpReach(afi, safi, next_hop, [], field_)
    try:
        nlri = decode_prefixes(field_, max_prefix_bits(afi), (afi, safi) in ctx.addpath)
    except NlriError as exc:
        raise _family_error(afi, safi, f"MP_REACH_NLRI: {exc}") from None
    return MpReach(afi, safi, next_hop, nlri)


def _decode_mp_unreach(value: bytes, ctx: CodecContext) -> MpUnreach:
    # RFC 4760 4 and RFC 7606 7.12.
    if len(value) < 3:
        raise _session_reset(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, "MP_UNREACH_NLRI too short")
    afi = (value[0] << 8) | value[1]
    safi = value[2]
    field_ = value[3:]
    if (afi, safi) not in PREFIX_FAMILIES:
        return MpUnreach(afi, safi, [], field_)
    try:
        withdrawn = decode_prefixes(field_, max_prefix_bits(afi), (afi, safi) in ctx.addpath)
    except NlriError as exc:
        raise _family_error(afi, safi, f"MP_UNREACH_NLRI: {exc}") from None
    return MpUnreach(afi, safi, withdrawn)


# ------------------------------------------------------------------------------------
# Encoding


def _mp_reach_value(reach: MpReach) -> bytes:
    return (
        reach.afi.to_bytes(2, "big")
        + bytes((reach.safi, len(reach.next_hop)))
        + reach.next_hop
        + b"\0"
        + (b"".join(reach.nlri) or reach.raw_nlri)
    )


def _mp_unreach_value(unreach: MpUnreach) -> bytes:
    return (
        unreach.afi.to_bytes(2, "big")
        + bytes((unreach.safi,))
        + (b"".join(unreach.withdrawn) or unreach.raw_withdrawn)
    )


def _frame(body: bytes, ctx: CodecContext) -> bytes:
    total = HEADER_LEN + len(body)
    if total > ctx.max_message_len:
        raise EncodeError(f"UPDATE of {total} octets exceeds {ctx.max_message_len}")
    return b"\xff" * 16 + total.to_bytes(2, "big") + b"\x02" + body


def encode_update(update: Update, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
    """A whole UPDATE message, header included.  Keys must match ctx's ADD-PATH state."""
    attrs = b""
    # RFC 7606 5.1: MP_UNREACH_NLRI / MP_REACH_NLRI SHOULD come first.
    if update.mp_unreach is not None:
        attrs += encode_attribute(
            FLAG_OPTIONAL, AttrCode.MP_UNREACH_NLRI, _mp_unreach_value(update.mp_unreach)
        )
    if update.mp_reach is not None:
        attrs += encode_attribute(
            FLAG_OPTIONAL, AttrCode.MP_REACH_NLRI, _mp_reach_value(update.mp_reach)
        )
    if update.attributes is not None:
        attrs += update.attributes.encode(ctx.four_octet_as)
    withdrawn = b"".join(update.withdrawn)
    body = (
        len(withdrawn).to_bytes(2, "big")
        + withdrawn
        + len(attrs).to_bytes(2, "big")
        + attrs
        + b"".join(update.nlri)
    )
    return _frame(body, ctx)


def _chunks(keys: Sequence[bytes], room: int) -> Iterator[bytes]:
    """The keys joined into runs whose length fits `room` octets."""
    if room <= 0:
        raise EncodeError("attributes leave no room for NLRI in one message")
    if not keys:
        return
    lengths = set(map(len, keys))  # at C speed: one pass, no Python per key
    if len(lengths) == 1:
        # All the same length (the common case of a packed table): join once and cut.
        size = lengths.pop()
        step = max(room // size, 1) * size
        blob = b"".join(keys)
        for start in range(0, len(blob), step):
            yield blob[start : start + step]
        return
    run: list[bytes] = []
    used = 0
    for key in keys:
        if used + len(key) > room and run:
            yield b"".join(run)
            run, used = [], 0
        run.append(key)
        used += len(key)
    if run:
        yield b"".join(run)


def pack_announcements(
    attributes: PathAttributes,
    keys: Sequence[bytes],
    ctx: CodecContext = DEFAULT_CONTEXT,
    family: Family = IPV4_UNICAST,
    next_hop: bytes | None = None,
) -> Iterator[bytes]:
    """As few UPDATEs as the size limit allows for keys that share attributes.

    IPv4 unicast goes in the NLRI field (attributes.next_hop is the next hop); any
    other family goes in MP_REACH_NLRI with `next_hop`, and so does IPv4 unicast with an
    IPv6 `next_hop` (RFC 8950 3, once the Extended Next Hop capability is agreed).
    """
    attrs = attributes.encode(ctx.four_octet_as)
    if family == IPV4_UNICAST and (next_hop is None or len(next_hop) == 4):
        room = ctx.max_message_len - HEADER_LEN - 4 - len(attrs)
        head = b"\0\0" + len(attrs).to_bytes(2, "big") + attrs
        for run in _chunks(keys, room):
            yield _frame(head + run, ctx)
        return
    if next_hop is None:
        raise EncodeError(f"family {family} needs a next hop for MP_REACH_NLRI")
    mp_head = family[0].to_bytes(2, "big") + bytes((family[1], len(next_hop))) + next_hop + b"\0"
    # Room for the whole MP_REACH attribute; its header is 3 octets while its value fits
    # a one-octet length, 4 with the Extended Length flag past that (RFC 4271 4.3).
    space = ctx.max_message_len - HEADER_LEN - 4 - len(attrs)
    room = (space - 3 if space - 3 <= 255 else space - 4) - len(mp_head)
    for run in _chunks(keys, room):
        mp = encode_attribute(FLAG_OPTIONAL, AttrCode.MP_REACH_NLRI, mp_head + run)
        body_attrs = mp + attrs
        yield _frame(b"\0\0" + len(body_attrs).to_bytes(2, "big") + body_attrs, ctx)


def pack_withdrawals(
    keys: Sequence[bytes], ctx: CodecContext = DEFAULT_CONTEXT, family: Family = IPV4_UNICAST
) -> Iterator[bytes]:
    """As few UPDATEs as fit for withdrawing keys of one family."""
    if family == IPV4_UNICAST:
        room = ctx.max_message_len - HEADER_LEN - 4
        for run in _chunks(keys, room):
            yield _frame(len(run).to_bytes(2, "big") + run + b"\0\0", ctx)
        return
    mp_head = family[0].to_bytes(2, "big") + bytes((family[1],))
    room = ctx.max_message_len - HEADER_LEN - 4 - 4 - len(mp_head)
    for run in _chunks(keys, room):
        mp = encode_attribute(FLAG_OPTIONAL, AttrCode.MP_UNREACH_NLRI, mp_head + run)
        yield _frame(b"\0\0" + len(mp).to_bytes(2, "big") + mp, ctx)
