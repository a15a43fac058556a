"""RFC 6793: AS4_PATH / AS4_AGGREGATOR received from a 2-octet (OLD) speaker."""

from __future__ import annotations

import pytest

from pybgp.wire import LEGACY_CONTEXT, AttributeCache, decode_message
from pybgp.wire.aspath import AsPath
from tests.wire.wirebytes import NEXT_HOP, NLRI_10_0_0, ORIGIN_IGP, as_path_value, attr, update

T = 23456  # AS_TRANS
SEQ, SET, CSEQ, CSET = 2, 1, 3, 4
AGG_ADDR = bytes((192, 0, 2, 9))


def receive(as_path: list, as4_path: list | None = None, extra: bytes = b"") -> AsPath:
    attrs = ORIGIN_IGP + attr(0x40, 2, as_path_value(as_path, 2)) + NEXT_HOP + extra
    if as4_path is not None:
        attrs += attr(0xC0, 17, as_path_value(as4_path, 4))
    decoded = decode_message(
        update(attrs=attrs, nlri=NLRI_10_0_0), LEGACY_CONTEXT, AttributeCache()
    )
    assert not decoded.treat_as_withdraw
    return decoded


@pytest.mark.parametrize(
    ("as_path", "as4_path", "expected"),
    [
        # RFC 6793 4.2.3: AS_PATH has as many ASes as AS4_PATH: AS4_PATH is the path.
        ([(SEQ, [65001, T])], [(SEQ, [65001, 70000])], ((SEQ, (65001, 70000)),)),
        # ... more: the leading surplus of AS_PATH is kept in front of AS4_PATH (a 2-octet
        # speaker prepended 65002 after the path left the 4-octet part of the Internet).
        ([(SEQ, [65002, 65001, T])], [(SEQ, [65001, 70000])], ((SEQ, (65002, 65001, 70000)),)),
        # ... fewer: AS4_PATH is ignored and AS_PATH taken as it is.
        ([(SEQ, [T])], [(SEQ, [70000, 70001])], ((SEQ, (T,)),)),
        # An AS_SET counts as one AS (RFC 4271 9.1.2.2 a), as RFC 6793 4.2.3 counts.
        (
            [(SEQ, [T]), (SET, [1, 2, 3])],
            [(SEQ, [70000]), (SET, [1, 2, 3])],
            ((SEQ, (70000,)), (SET, (1, 2, 3))),
        ),
        (
            [(SEQ, [65002, T]), (SET, [1, 2])],
            [(SEQ, [70000]), (SET, [1, 2])],
            ((SEQ, (65002, 70000)), (SET, (1, 2))),
        ),
        # Confederation segments count none and stay from AS_PATH (RFC 5065 5).
        (
            [(CSEQ, [65010]), (SEQ, [65001, T])],
            [(SEQ, [65001, 70000])],
            ((CSEQ, (65010,)), (SEQ, (65001, 70000))),
        ),
    ],
)
def test_as4_path_merge(as_path: list, as4_path: list, expected: AsPath) -> None:
    assert receive(as_path, as4_path).attributes.as_path == expected


@pytest.mark.parametrize(
    ("as4_path", "expected"),
    [
        ([(CSEQ, [65010]), (SEQ, [65001, 70000])], ((CSEQ, (65010,)), (SEQ, (65001, 70000)))),
        (
            [(CSET, [65010, 65011]), (SEQ, [65001, 70000])],
            ((CSEQ, (65010,)), (SEQ, (65001, 70000))),
        ),
        (
            [(SEQ, [65001]), (CSEQ, [65010]), (SEQ, [70000])],
            ((CSEQ, (65010,)), (SEQ, (65001, 70000))),
        ),
    ],
)
def test_confederation_segments_in_as4_path_are_dropped_not_the_attribute(
    as4_path: list, expected: AsPath
) -> None:
    # RFC 6793 6: confederation segments MUST NOT be in AS4_PATH; a NEW speaker that
    # receives them "MUST discard these path segments, adjust the relevant attribute
    # fields accordingly, and continue processing the UPDATE message".
    decoded = receive([(CSEQ, [65010]), (SEQ, [65001, T])], as4_path)
    assert decoded.attributes.as_path == expected


def test_as4_aggregator_replaces_as_trans() -> None:
    # RFC 6793 4.2.3: AGGREGATOR with AS_TRANS: AS4_AGGREGATOR names the aggregator.
    extra = attr(0xC0, 7, T.to_bytes(2, "big") + AGG_ADDR) + attr(
        0xC0, 18, (70000).to_bytes(4, "big") + AGG_ADDR
    )
    decoded = receive([(SEQ, [65001, T])], [(SEQ, [65001, 70000])], extra)
    assert decoded.attributes.aggregator == (70000, AGG_ADDR)
    assert decoded.attributes.as_path == ((SEQ, (65001, 70000)),)


def test_aggregator_without_as_trans_makes_both_as4_attributes_ignored() -> None:
    # RFC 6793 4.2.3: AGGREGATOR with another AS: AS4_AGGREGATOR and AS4_PATH are
    # ignored, AGGREGATOR and AS_PATH are taken as they are.
    extra = attr(0xC0, 7, (65005).to_bytes(2, "big") + AGG_ADDR) + attr(
        0xC0, 18, (70000).to_bytes(4, "big") + AGG_ADDR
    )
    decoded = receive([(SEQ, [65001, T])], [(SEQ, [65001, 70000])], extra)
    assert decoded.attributes.aggregator == (65005, AGG_ADDR)
    assert decoded.attributes.as_path == ((SEQ, (65001, T)),)


def test_as4_path_without_as_path_is_ignored() -> None:
    attrs = ORIGIN_IGP + NEXT_HOP + attr(0xC0, 17, as_path_value([(SEQ, [70000])], 4))
    decoded = decode_message(update(attrs=attrs), LEGACY_CONTEXT, AttributeCache())
    assert decoded.attributes.as_path == ()
