"""pack_announcements / pack_withdrawals: all keys, in order, in as few UPDATEs as fit."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    CodecContext,
    EncodeError,
    Family,
    PathAttributes,
    Update,
    decode_message,
    pack_announcements,
    pack_withdrawals,
    prefix_key,
)
from pybgp.wire.constants import FLAG_PARTIAL
from tests.wire import strategies as s
from tests.wire.wirebytes import read_attributes

SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
# Longest key: ADD-PATH IPv6 /128 (4 + 1 + 16); longest MP_REACH head: AFI, SAFI,
# next hop length, 32-octet next hop, reserved octet.
MAX_KEY = 21
MAX_MP_HEAD = 37


PackingCase = tuple[CodecContext, Family, list[bytes], PathAttributes]


@st.composite
def packing_cases(draw: st.DrawFn) -> PackingCase:
    ctx = draw(s.contexts(external=st.just(False)))
    family = draw(st.sampled_from(s.FAMILIES))
    addpath = family in ctx.addpath
    plens = draw(
        st.lists(st.integers(0, 32 if family == IPV4_UNICAST else 128), min_size=1, max_size=3)
    )
    count = draw(st.integers(0, 3000))
    keys = s.bulk_keys(random.Random(draw(st.integers())), count, family, addpath, plens)
    attrs = draw(s.path_attributes(as_path=s.plain_as_paths())).replace(
        origin=draw(st.integers(0, 2)), next_hop=draw(s.IPV4_PACKED), unknown=()
    )
    # Pad with an unknown attribute so that the room left for NLRI is anything from
    # one key to the whole message.
    base = len(attrs.encode(ctx.four_octet_as))
    limit = ctx.max_message_len - 19 - 4 - base - 4 - 4 - MAX_MP_HEAD - MAX_KEY
    pad = draw(st.one_of(st.just(0), st.integers(0, limit), st.integers(max(0, limit - 64), limit)))
    if pad:
        attrs = attrs.replace(unknown=((200, 0xC0, bytes(pad)),))
    return ctx, family, keys, attrs


def next_hop_for(family: Family) -> bytes | None:
    return None if family == IPV4_UNICAST else bytes(range(16))


def announced(update: Update, family: Family) -> list[bytes]:
    if family == IPV4_UNICAST:
        assert update.mp_reach is None
        return update.nlri
    assert update.nlri == [] and update.mp_reach.family == family
    return update.mp_reach.nlri


def withdrawn(update: Update, family: Family) -> list[bytes]:
    if family == IPV4_UNICAST:
        assert update.mp_unreach is None
        return update.withdrawn
    assert update.withdrawn == [] and update.mp_unreach.family == family
    return update.mp_unreach.withdrawn


def full(wire: bytes, next_key: bytes, family: Family, ctx: CodecContext) -> bool:
    """True when `wire` could not have taken `next_key` as packed.

    The packer reserves a 4-octet (extended length) MP attribute header; when the MP
    attribute is short enough for a 3-octet header that octet stays unused (see
    test_short_mp_reach_wastes_no_octet), so it counts as used here.
    """
    slack = 0
    if family != IPV4_UNICAST:
        (flags,) = [f for f, code, _ in read_attributes(wire) if code in (14, 15)]
        slack = 0 if flags & 0x10 else 1
    return len(wire) + slack + len(next_key) > ctx.max_message_len


@SETTINGS
@given(case=packing_cases())
def test_pack_announcements(case: PackingCase) -> None:
    ctx, family, keys, attrs = case
    wires = list(pack_announcements(attrs, keys, ctx, family, next_hop_for(family)))
    decoded = [decode_message(w, ctx) for w in wires]
    assert all(len(w) <= ctx.max_message_len for w in wires)
    assert [k for u in decoded for k in announced(u, family)] == keys
    expected = attrs.replace(unknown=tuple((c, f | FLAG_PARTIAL, v) for c, f, v in attrs.unknown))
    for update in decoded:
        assert update.attributes == expected
        assert update.issues == () and not update.treat_as_withdraw
        if family != IPV4_UNICAST:
            assert update.mp_reach.next_hop == next_hop_for(family)
    # Each UPDATE is full: it could not have taken the first key of the next one.
    for wire, following in zip(wires, decoded[1:], strict=False):
        assert full(wire, announced(following, family)[0], family, ctx)


@SETTINGS
@given(case=packing_cases())
def test_pack_withdrawals(case: PackingCase) -> None:
    ctx, family, keys, _ = case
    wires = list(pack_withdrawals(keys, ctx, family))
    decoded = [decode_message(w, ctx) for w in wires]
    assert all(len(w) <= ctx.max_message_len for w in wires)
    assert [k for u in decoded for k in withdrawn(u, family)] == keys
    for update in decoded:
        assert update.issues == () and list(update.announcements()) == []
    for wire, following in zip(wires, decoded[1:], strict=False):
        assert full(wire, withdrawn(following, family)[0], family, ctx)


@pytest.mark.parametrize("family", s.FAMILIES)
def test_nothing_to_pack_gives_no_message(family: Family) -> None:
    assert list(pack_withdrawals([], family=family)) == []
    assert (
        list(
            pack_announcements(
                PathAttributes(origin=0), [], family=family, next_hop=next_hop_for(family)
            )
        )
        == []
    )


def test_packed_ipv4_slash_24s_fill_each_message() -> None:
    # 4096 - 19 (header) - 4 (length fields) - attributes, 4 octets per /24.
    attrs = PathAttributes(origin=0, next_hop=bytes(4))
    keys = [bytes((24, 10, i >> 8, i & 0xFF)) for i in range(3000)]
    wires = list(pack_announcements(attrs, keys))
    per = (4096 - 23 - len(attrs.encode())) // 4
    assert [len(decode_message(w).nlri) for w in wires] == [per, per, 3000 - 2 * per]


def test_attributes_that_leave_no_room_are_an_encode_error() -> None:
    attrs = PathAttributes(origin=0, unknown=((200, 0xC0, bytes(4070)),))
    with pytest.raises(EncodeError):
        list(pack_announcements(attrs, [prefix_key("10.0.0.0/8")]))
    with pytest.raises(EncodeError):
        list(
            pack_announcements(
                attrs, [prefix_key("2001:db8::/32")], family=IPV6_UNICAST, next_hop=bytes(16)
            )
        )


def test_mp_family_without_next_hop_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        list(
            pack_announcements(PathAttributes(), [prefix_key("2001:db8::/32")], family=IPV6_UNICAST)
        )


def test_short_mp_reach_wastes_no_octet() -> None:
    # Attributes of 4038 octets leave room for an MP_REACH_NLRI (3-octet header, AFI,
    # SAFI, next hop length, 16-octet next hop, reserved) and eleven 0/0 keys of one
    # octet: 19 + 4 + 4038 + 3 + 21 + 11 = 4096.
    attrs = PathAttributes(origin=0, unknown=((200, 0xC0, bytes(4027)),))
    assert len(attrs.encode()) == 4038
    wires = list(pack_announcements(attrs, [b"\x00"] * 11, family=IPV6_UNICAST, next_hop=bytes(16)))
    assert len(wires) == 1


def test_ipv4_with_an_ipv6_next_hop_goes_in_mp_reach() -> None:
    """RFC 8950 3: IPv4 NLRI with an IPv6 next hop travel in MP_REACH_NLRI (AFI 1)."""
    attrs = PathAttributes(origin=0)
    keys = [prefix_key(f"10.244.{i}.0/26") for i in range(3)]
    next_hop = bytes.fromhex("20010db8000000000000000000000001")
    (message,) = list(pack_announcements(attrs, keys, family=(1, 1), next_hop=next_hop))
    update = decode_message(message)
    assert update.nlri == []
    assert update.mp_reach is not None
    assert update.mp_reach.family == (1, 1)
    assert update.mp_reach.next_hop == next_hop
    assert update.mp_reach.nlri == keys
