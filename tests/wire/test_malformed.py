"""Malformed input -> the action and NOTIFICATION fields the RFCs name.

RFC 4271 6 gives the session-reset errors and their data; RFC 7606 revises UPDATE
handling into session reset, AFI/SAFI disable, treat-as-withdraw and attribute
discard.  Each row is hand-built bytes, the context, and what must come out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pybgp.wire import (
    DEFAULT_CONTEXT,
    LEGACY_CONTEXT,
    Action,
    AttributeCache,
    CodecContext,
    FamilyError,
    MessageError,
    Update,
    decode_message,
)
from tests.wire.wirebytes import (
    AS_PATH_4,
    MANDATORY_2,
    MANDATORY_4,
    MARKER,
    NEXT_HOP,
    NLRI_10_0_0,
    ORIGIN_IGP,
    as_path_value,
    attr,
    message,
    update,
    update_body,
)

RESET = Action.SESSION_RESET
DISABLE = Action.AFI_SAFI_DISABLE
TAW = Action.TREAT_AS_WITHDRAW
DISCARD = Action.ATTRIBUTE_DISCARD
EXTERNAL = CodecContext(external=True)


@dataclass(frozen=True)
class Case:
    id: str
    wire: bytes
    action: Action | None  # None: decodes with no issue at all
    error: tuple[int, int | None] = (0, None)  # (code, subcode); None: not checked
    data: bytes | None = None  # NOTIFICATION data the RFC names
    attribute: int | None = None  # the attribute an issue is about
    family: tuple[int, int] | None = None  # AFI/SAFI to disable
    ctx: CodecContext = DEFAULT_CONTEXT
    check: Callable[[Update], bool] | None = None  # what the update must look like


def mp_reach_v6(
    nh: bytes = bytes(16), nlri: bytes = b"\x20\x20\x01\x0d\xb8", nh_len: int | None = None
) -> bytes:
    """RFC 4760 3: AFI 2, SAFI 1, next hop length, next hop, reserved, NLRI."""
    length = len(nh) if nh_len is None else nh_len
    return attr(0x80, 14, b"\x00\x02\x01" + bytes((length,)) + nh + b"\x00" + nlri)


def mp_unreach_v6(withdrawn: bytes = b"\x20\x20\x01\x0d\xb8") -> bytes:
    return attr(0x80, 15, b"\x00\x02\x01" + withdrawn)


def with_attr(extra: bytes, base: bytes = MANDATORY_4) -> bytes:
    """An IPv4 announcement of 10.0.0.0/24 with the mandatory attributes and `extra`."""
    return update(attrs=base + extra, nlri=NLRI_10_0_0)


def with_path(value: bytes) -> bytes:
    """10.0.0.0/24 with ORIGIN, NEXT_HOP and this AS_PATH value."""
    return update(attrs=ORIGIN_IGP + attr(0x40, 2, value) + NEXT_HOP, nlri=NLRI_10_0_0)


def with_origin(flags: int, value: bytes) -> bytes:
    return update(attrs=attr(flags, 1, value) + AS_PATH_4 + NEXT_HOP, nlri=NLRI_10_0_0)


KEEPALIVE_20 = MARKER + b"\x00\x14\x04\x00"
BORR_24 = message(5, b"\x00\x01\x01\x01\x00")
EORR_22 = message(5, b"\x00\x02\x02")
OPEN_FIXED = b"\x04\xfd\xe9\x00\xb4\xc0\x00\x02\x01"  # version, AS 65001, hold 180, id
OPEN_V3 = message(1, b"\x03" + OPEN_FIXED[1:] + b"\x00")
PATH_4_70000 = as_path_value([(2, [70000, 70001])], 4)
V6_PLEN_129 = b"\x81" + bytes(17)
AGG_TRANS = b"\x5b\xa0\xc0\x00\x02\x09"  # AGGREGATOR AS_TRANS, 192.0.2.9

# fmt: off
CASES = [
    # --- RFC 4271 6.1: Message Header Error ------------------------------------------
    Case("bad-marker", b"\xfe" + MARKER[1:] + b"\x00\x13\x04", RESET, (1, 1), b""),
    Case("length-18", MARKER + b"\x00\x12\x04", RESET, (1, 2), b"\x00\x12"),
    Case("length-4097", message(2, update_body(nlri=bytes(4074))), RESET, (1, 2), b"\x10\x01"),
    Case("bad-type-6", MARKER + b"\x00\x13\x06", RESET, (1, 3), b"\x06"),
    Case("bad-type-0", MARKER + b"\x00\x13\x00", RESET, (1, 3), b"\x00"),
    Case("keepalive-length-20", KEEPALIVE_20, RESET, (1, 2), b"\x00\x14"),
    Case("update-length-22", message(2, b"\x00\x00\x00"), RESET, (1, 2), b"\x00\x16"),
    Case("open-length-28", message(1, bytes(9)), RESET, (1, 2), b"\x00\x1c"),
    Case("notification-length-20", message(3, b"\x06"), RESET, (1, 2), b"\x00\x14"),
    # 24 octets with a length field of 23.
    Case("length-field-not-the-message-length", message(2, update_body(), length=23) + b"\x00",
         RESET, (1, 2), b"\x00\x17"),
    # --- RFC 4271 6.2: OPEN Message Error --------------------------------------------
    # Unsupported Version Number; the data is the largest supported version, 2 octets.
    Case("open-version-3", OPEN_V3, RESET, (2, 1), b"\x00\x04"),
    Case("open-parameter-overruns", message(1, OPEN_FIXED + b"\x04\x02\x05\x02\x00"),
         RESET, (2, None)),
    Case("open-capability-multiprotocol-length-3",
         message(1, OPEN_FIXED + b"\x07\x02\x05\x01\x03\x00\x01\x00"), RESET, (2, None)),
    # --- RFC 4271 6.3 / RFC 7606 3-5: UPDATE session resets --------------------------
    # Malformed Attribute List when the length fields do not fit the message.
    Case("withdrawn-length-overruns", message(2, b"\x00\x05\x18\x0a\x00\x00"), RESET, (3, 1)),
    Case("attribute-length-overruns", message(2, b"\x00\x00\x00\x10\x40\x01\x01\x00"),
         RESET, (3, 1)),
    # RFC 7606 5.3: an NLRI field that cannot be parsed is Invalid Network Field.
    Case("nlri-prefix-length-33", update(attrs=MANDATORY_4, nlri=b"\x21\x0a" + bytes(4)),
         RESET, (3, 10)),
    Case("withdrawn-prefix-length-33", update(withdrawn=b"\x21\x0a" + bytes(4)), RESET, (3, 10)),
    Case("nlri-prefix-overruns", update(attrs=MANDATORY_4, nlri=b"\x18\x0a\x00"), RESET, (3, 10)),
    # RFC 4271 6.3: Unrecognized Well-known Attribute, the attribute as data.
    Case("unknown-well-known", with_attr(attr(0x40, 99, b"\x01")), RESET, (3, 2),
         b"\x40\x63\x01\x01"),
    # RFC 7606 3 g): a repeated MP_REACH_NLRI or MP_UNREACH_NLRI: Malformed Attribute List.
    Case("duplicate-mp-reach", update(attrs=mp_reach_v6() + ORIGIN_IGP + AS_PATH_4 + mp_reach_v6()),
         RESET, (3, 1)),
    Case("duplicate-mp-unreach", update(attrs=mp_unreach_v6() + mp_unreach_v6()), RESET, (3, 1)),
    # RFC 7606 7.11: MP attributes too short to hold their fixed fields.
    Case("mp-reach-length-3", update(attrs=attr(0x80, 14, b"\x00\x02\x01")), RESET, (3, 9)),
    Case("mp-unreach-length-2", update(attrs=attr(0x80, 15, b"\x00\x02")), RESET, (3, 9)),
    # --- RFC 7606 5.3, RFC 4760 7: AFI/SAFI disable ----------------------------------
    Case("mp-reach-ipv6-next-hop-length-5",
         update(attrs=mp_reach_v6(nh=bytes(5)) + ORIGIN_IGP + AS_PATH_4),
         DISABLE, (3, 9), family=(2, 1)),
    Case("mp-reach-ipv6-prefix-length-129",
         update(attrs=mp_reach_v6(nlri=V6_PLEN_129) + ORIGIN_IGP + AS_PATH_4),
         DISABLE, (3, 9), family=(2, 1)),
    Case("mp-reach-next-hop-overruns",
         update(attrs=mp_reach_v6(nh=bytes(16), nlri=b"", nh_len=32)[:-1] + ORIGIN_IGP),
         DISABLE, (3, 9), family=(2, 1)),
    Case("mp-reach-ipv4-prefix-length-33",
         update(attrs=attr(0x80, 14, b"\x00\x01\x01\x04" + bytes(4) + b"\x00\x21" + bytes(5))),
         DISABLE, (3, 9), family=(1, 1)),
    Case("mp-unreach-ipv6-prefix-length-129", update(attrs=mp_unreach_v6(V6_PLEN_129)),
         DISABLE, (3, 9), family=(2, 1)),
    Case("mp-unreach-ipv6-prefix-overruns", update(attrs=mp_unreach_v6(b"\x40\x20\x01")),
         DISABLE, (3, 9), family=(2, 1)),
    # --- RFC 7606 4: attribute lengths that overrun the attribute field --------------
    Case("attribute-overruns-field", with_attr(b"\x40\x05\x08\x00\x00"), TAW, (3, 5)),
    Case("attribute-header-truncated", with_attr(b"\x40\x05"), TAW, (3, 5)),
    Case("extended-attribute-header-truncated", with_attr(b"\x50\x05\x00"), TAW, (3, 5)),
    # --- RFC 7606 7.1: ORIGIN -> treat-as-withdraw -----------------------------------
    Case("origin-value-3", with_origin(0x40, b"\x03"), TAW, (3, 6), attribute=1),
    Case("origin-length-2", with_origin(0x40, b"\x00\x00"), TAW, (3, 5), attribute=1),
    # RFC 7606 3 c): Optional/Transitive bits in conflict -> treat-as-withdraw, 3/4.
    Case("origin-marked-optional", with_origin(0xC0, b"\x00"), TAW, (3, 4), attribute=1),
    Case("med-marked-transitive", with_attr(attr(0xC0, 4, bytes(4))), TAW, (3, 4), attribute=4),
    # --- RFC 7606 7.2: AS_PATH -> treat-as-withdraw, Malformed AS_PATH ---------------
    Case("as-path-segment-type-5", with_path(b"\x05\x01\x00\x00\xfd\xe9"), TAW, (3, 11),
         attribute=2),
    Case("as-path-segment-type-0", with_path(b"\x00\x01\x00\x00\xfd\xe9"), TAW, (3, 11),
         attribute=2),
    Case("as-path-zero-count", with_path(b"\x02\x00"), TAW, (3, 11), attribute=2),
    Case("as-path-segment-overruns", with_path(b"\x02\x02\x00\x00\xfd\xe9"), TAW, (3, 11),
         attribute=2),
    Case("as-path-truncated-segment-header", with_path(b"\x02\x01\x00\x00\xfd\xe9\x02"),
         TAW, (3, 11), attribute=2),
    Case("as-path-two-octet-overruns", with_path(b"\x02\x01\xfd"), TAW, (3, 11), attribute=2,
         ctx=LEGACY_CONTEXT),
    # --- RFC 7606 7.3 - 7.5 ----------------------------------------------------------
    Case("next-hop-length-5",
         update(attrs=ORIGIN_IGP + AS_PATH_4 + attr(0x40, 3, bytes(5)), nlri=NLRI_10_0_0),
         TAW, (3, 5), attribute=3),
    Case("med-length-3", with_attr(attr(0x80, 4, bytes(3))), TAW, (3, 5), attribute=4),
    Case("local-pref-length-3-internal", with_attr(attr(0x40, 5, bytes(3))), TAW, (3, 5),
         attribute=5),
    Case("local-pref-from-external", with_attr(attr(0x40, 5, b"\x00\x00\x00\x64")), DISCARD,
         attribute=5, ctx=EXTERNAL, check=lambda u: u.attributes.local_pref is None),
    Case("local-pref-length-3-from-external", with_attr(attr(0x40, 5, bytes(3))), DISCARD,
         attribute=5, ctx=EXTERNAL, check=lambda u: u.attributes.local_pref is None),
    # --- RFC 7606 7.6, 7.7: ATOMIC_AGGREGATE, AGGREGATOR -> attribute discard --------
    Case("atomic-aggregate-length-1", with_attr(attr(0x40, 6, b"\x00")), DISCARD, (3, 5),
         attribute=6, check=lambda u: not u.attributes.atomic_aggregate),
    Case("atomic-aggregate-flags-conflict", with_attr(attr(0xC0, 6, b"")), DISCARD, (3, 4),
         attribute=6, check=lambda u: not u.attributes.atomic_aggregate),
    Case("aggregator-length-7", with_attr(attr(0xC0, 7, bytes(7))), DISCARD, (3, 5),
         attribute=7, check=lambda u: u.attributes.aggregator is None),
    Case("aggregator-length-8-two-octet", with_attr(attr(0xC0, 7, bytes(8)), MANDATORY_2),
         DISCARD, (3, 5), attribute=7, ctx=LEGACY_CONTEXT,
         check=lambda u: u.attributes.aggregator is None),
    # --- RFC 7606 7.8 - 7.10, 7.14; RFC 8092 6; RFC 9234 5 -> treat-as-withdraw ------
    Case("communities-length-5", with_attr(attr(0xC0, 8, bytes(5))), TAW, (3, 5), attribute=8),
    Case("communities-length-0", with_attr(attr(0xC0, 8, b"")), TAW, (3, 5), attribute=8),
    Case("originator-id-length-3", with_attr(attr(0x80, 9, bytes(3))), TAW, (3, 5), attribute=9),
    Case("cluster-list-length-6", with_attr(attr(0x80, 10, bytes(6))), TAW, (3, 5),
         attribute=10),
    Case("cluster-list-length-0", with_attr(attr(0x80, 10, b"")), TAW, (3, 5), attribute=10),
    Case("extended-communities-length-7", with_attr(attr(0xC0, 16, bytes(7))), TAW, (3, 5),
         attribute=16),
    Case("large-communities-length-13", with_attr(attr(0xC0, 32, bytes(13))), TAW, (3, 5),
         attribute=32),
    Case("otc-length-3", with_attr(attr(0xC0, 35, bytes(3))), TAW, (3, 5), attribute=35),
    # --- RFC 6793 6, 4.1: AS4_PATH and AS4_AGGREGATOR -> attribute discard -----------
    Case("as4-path-malformed-two-octet",
         with_attr(attr(0xC0, 17, b"\x05\x01\x00\x01\x11\x70"), MANDATORY_2),
         DISCARD, (3, 11), attribute=17, ctx=LEGACY_CONTEXT,
         check=lambda u: u.attributes.as_path == ((2, (65001,)),)),
    Case("as4-path-from-four-octet-speaker", with_attr(attr(0xC0, 17, PATH_4_70000)),
         DISCARD, attribute=17, check=lambda u: u.attributes.as_path == ((2, (65001,)),)),
    Case("as4-aggregator-length-7-two-octet",
         with_attr(attr(0xC0, 7, AGG_TRANS) + attr(0xC0, 18, bytes(7)), MANDATORY_2),
         DISCARD, (3, 5), attribute=18, ctx=LEGACY_CONTEXT,
         check=lambda u: u.attributes.aggregator == (23456, b"\xc0\x00\x02\x09")),
    Case("as4-aggregator-from-four-octet-speaker",
         with_attr(attr(0xC0, 7, bytes(8)) + attr(0xC0, 18, b"\x00\x01\x11\x70" + bytes(4))),
         DISCARD, attribute=18, check=lambda u: u.attributes.aggregator == (0, bytes(4))),
    # --- RFC 7606 3 g): any other repeated attribute: all but the first discarded ----
    Case("duplicate-origin", with_attr(attr(0x40, 1, b"\x02")), DISCARD, (3, 1), attribute=1,
         check=lambda u: u.attributes.origin == 0),
    Case("duplicate-unknown-optional",
         with_attr(attr(0xC0, 99, b"\x01") + attr(0xC0, 99, b"\x02")), DISCARD, (3, 1),
         attribute=99, check=lambda u: u.attributes.unknown == ((99, 0xC0, b"\x01"),)),
    # --- RFC 7606 3 d): missing well-known attributes with NLRI -> treat-as-withdraw --
    Case("missing-origin", update(attrs=AS_PATH_4 + NEXT_HOP, nlri=NLRI_10_0_0), TAW, (3, 3),
         attribute=1),
    Case("missing-as-path", update(attrs=ORIGIN_IGP + NEXT_HOP, nlri=NLRI_10_0_0), TAW, (3, 3),
         attribute=2),
    Case("missing-next-hop", update(attrs=ORIGIN_IGP + AS_PATH_4, nlri=NLRI_10_0_0), TAW,
         (3, 3), attribute=3),
    Case("missing-everything", update(nlri=NLRI_10_0_0), TAW, (3, 3), attribute=1),
    # RFC 4760 3: NEXT_HOP is not needed when the NLRI are in MP_REACH_NLRI.
    Case("mp-reach-missing-origin", update(attrs=mp_reach_v6() + AS_PATH_4), TAW, (3, 3),
         attribute=1),
    Case("mp-reach-without-next-hop-attribute",
         update(attrs=mp_reach_v6() + ORIGIN_IGP + AS_PATH_4), None),
    # --- No NLRI: nothing is mandatory (RFC 4271 5: only UPDATEs with NLRI) ----------
    Case("withdrawal-with-only-med",
         update(withdrawn=NLRI_10_0_0, attrs=attr(0x80, 4, bytes(4))), None),
    Case("mp-unreach-alone", update(attrs=mp_unreach_v6()), None),
    Case("unknown-optional-non-transitive", with_attr(attr(0x80, 99, b"\x01")), None),
    # --- RFC 7313 5: ROUTE-REFRESH Message Error / Invalid Message Length, the whole
    # message as data --------------------------------------------------------------
    Case("borr-length-24", BORR_24, RESET, (7, 1), BORR_24),
    Case("eorr-length-22", EORR_22, RESET, (7, 1), EORR_22),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input(case: Case) -> None:
    cache = AttributeCache()  # a fresh cache: rows must not see each other's entries
    if case.action in (RESET, DISABLE):
        with pytest.raises(MessageError) as err:
            decode_message(case.wire, case.ctx, cache)
        exc = err.value
        assert exc.action is case.action
        assert isinstance(exc, FamilyError) == (case.action is DISABLE)
        code, subcode = case.error
        assert exc.code == code
        if subcode is not None:
            assert exc.subcode == subcode
        if case.data is not None:
            assert exc.data == case.data
        if case.family is not None:
            assert (exc.afi, exc.safi) == case.family
        return
    decoded = decode_message(case.wire, case.ctx, cache)
    assert isinstance(decoded, Update)
    if case.action is None:
        assert decoded.issues == ()
        assert not decoded.treat_as_withdraw
        return
    matching = [
        issue
        for issue in decoded.issues
        if issue.action is case.action
        and (case.error[1] is None or issue.subcode == case.error[1])
        and (case.attribute is None or issue.attribute == case.attribute)
    ]
    assert matching, decoded.issues
    assert decoded.treat_as_withdraw == (case.action is TAW)
    if case.action is TAW:
        # Every route the UPDATE announces is handled as withdrawn.
        assert list(decoded.announcements()) == []
        withdrawn = {key for _, keys in decoded.withdrawals() for key in keys}
        assert set(decoded.nlri) <= withdrawn
        if decoded.mp_reach is not None:
            assert set(decoded.mp_reach.nlri) <= withdrawn
    else:
        assert list(decoded.announcements()) != []
    if case.check is not None:
        assert case.check(decoded), decoded


def test_every_rfc7606_action_is_in_the_table() -> None:
    assert {c.action for c in CASES} == {RESET, DISABLE, TAW, DISCARD, None}


def test_malformed_update_in_a_cached_attribute_set_keeps_its_action() -> None:
    # The interned entry carries the RFC 7606 outcome: a second identical UPDATE with
    # other NLRI is treated as withdrawn just the same.
    cache = AttributeCache()
    attrs = MANDATORY_4 + attr(0xC0, 8, bytes(5))
    first = decode_message(update(attrs=attrs, nlri=NLRI_10_0_0), DEFAULT_CONTEXT, cache)
    second = decode_message(update(attrs=attrs, nlri=b"\x08\x0b"), DEFAULT_CONTEXT, cache)
    assert first.treat_as_withdraw and second.treat_as_withdraw
    assert list(second.withdrawals()) == [((1, 1), [b"\x08\x0b"])]
