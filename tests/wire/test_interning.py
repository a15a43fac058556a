"""Attribute sets are interned: identical attribute bytes give the very same object."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    DEFAULT_CONTEXT,
    IPV4_UNICAST,
    IPV6_UNICAST,
    AttributeCache,
    CodecContext,
    MpReach,
    PathAttributes,
    Update,
    decode_message,
)
from tests.wire import strategies as s
from tests.wire.wirebytes import MANDATORY_4, attr, read_attributes, update

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.data())
def test_identical_attribute_bytes_give_the_same_object(data: st.DataObject) -> None:
    ctx = data.draw(s.contexts())
    attrs = data.draw(s.path_attributes()).replace(origin=0, next_hop=bytes(4))
    ap = IPV4_UNICAST in ctx.addpath
    first_keys = data.draw(s.key_lists(IPV4_UNICAST, ap, min_size=1))
    second_keys = data.draw(s.key_lists(IPV4_UNICAST, ap, min_size=1))
    for cache in (AttributeCache(), None):
        args = (ctx,) if cache is None else (ctx, cache)  # None: the default cache
        first = decode_message(Update(attributes=attrs, nlri=first_keys).encode(ctx), *args)
        second = decode_message(Update(attributes=attrs, nlri=second_keys).encode(ctx), *args)
        assert first.attributes is second.attributes
        assert second.nlri == second_keys


@SETTINGS
@given(data=st.data())
def test_mp_reach_does_not_take_part_in_interning(data: st.DataObject) -> None:
    # MP_REACH_NLRI carries routes, not route attributes (attributes.py): UPDATEs that
    # differ only in it share one PathAttributes.
    ctx = data.draw(s.contexts())
    attrs = data.draw(s.path_attributes()).replace(origin=0)
    ap = IPV6_UNICAST in ctx.addpath
    cache = AttributeCache()
    decoded = []
    for _ in range(2):
        keys = data.draw(s.key_lists(IPV6_UNICAST, ap, min_size=1))
        next_hop = data.draw(st.binary(min_size=16, max_size=16))
        reach = MpReach(*IPV6_UNICAST, next_hop=next_hop, nlri=keys)
        decoded.append(
            decode_message(Update(attributes=attrs, mp_reach=reach).encode(ctx), ctx, cache)
        )
        assert decoded[-1].mp_reach == reach
    assert decoded[0].attributes is decoded[1].attributes


def test_mp_reach_anywhere_in_the_field_gives_the_same_object() -> None:
    # RFC 7606 5.1 asks for MP_REACH_NLRI first, but a peer may put it anywhere.
    mp = attr(0x80, 14, b"\x00\x02\x01\x10" + bytes(16) + b"\x00" + b"\x20\x20\x01\x0d\xb8")
    mp2 = attr(
        0x80, 14, b"\x00\x02\x01\x10" + bytes(16) + b"\x00" + b"\x30\x20\x01\x0d\xb8\x00\x01"
    )
    origin, as_path, next_hop = MANDATORY_4[:4], MANDATORY_4[4:13], MANDATORY_4[13:]
    cache = AttributeCache()
    fields = [
        mp + origin + as_path + next_hop,
        origin + mp2 + as_path + next_hop,
        origin + as_path + next_hop + mp,
    ]
    decoded = [decode_message(update(attrs=f), DEFAULT_CONTEXT, cache) for f in fields]
    assert decoded[0].attributes is decoded[1].attributes is decoded[2].attributes
    assert decoded[1].mp_reach.nlri == [b"\x30\x20\x01\x0d\xb8\x00\x01"]
    plain = decode_message(
        update(attrs=origin + as_path + next_hop, nlri=b"\x08\x0a"), DEFAULT_CONTEXT, cache
    )
    assert plain.attributes is decoded[0].attributes


def test_contexts_that_read_bytes_differently_do_not_share_entries() -> None:
    # The same bytes mean different things with and without RFC 6793 four-octet ASNs,
    # and LOCAL_PREF is discarded from external peers only (RFC 7606 7.5).
    cache = AttributeCache()
    # Two 2-octet ASes; read with 4-octet ASNs the segment overruns (RFC 7606 7.2).
    path = attr(0x40, 2, b"\x02\x02\xfd\xe9\xfd\xea")
    wire = update(attrs=path + attr(0x40, 5, b"\x00\x00\x00\x64"))
    two = decode_message(wire, CodecContext(four_octet_as=False), cache)
    four = decode_message(wire, CodecContext(four_octet_as=True), cache)
    external = decode_message(wire, CodecContext(four_octet_as=False, external=True), cache)
    assert two.attributes.as_path == ((2, (65001, 65002)),)
    assert not two.treat_as_withdraw
    assert four.treat_as_withdraw and four.attributes.as_path == ()
    assert two.attributes.local_pref == 100
    assert external.attributes.local_pref is None
    assert (
        decode_message(wire, CodecContext(four_octet_as=False), cache).attributes is two.attributes
    )


def test_a_full_cache_starts_afresh_and_equal_sets_stay_equal() -> None:
    cache = AttributeCache(limit=2)
    wires = [
        update(attrs=MANDATORY_4 + attr(0x80, 4, i.to_bytes(4, "big")), nlri=b"\x08\x0a")
        for i in range(3)
    ]
    first = decode_message(wires[0], DEFAULT_CONTEXT, cache).attributes
    for wire in wires[1:]:
        decode_message(wire, DEFAULT_CONTEXT, cache)
    assert len(cache) <= 2
    again = decode_message(wires[0], DEFAULT_CONTEXT, cache).attributes
    assert again == first


def test_interned_attributes_encode_back_to_their_bytes() -> None:
    wire = update(attrs=MANDATORY_4 + attr(0xC0, 8, b"\xfd\xe9\x00\x64"), nlri=b"\x08\x0a")
    attrs = decode_message(wire, DEFAULT_CONTEXT, AttributeCache()).attributes
    assert isinstance(attrs, PathAttributes)
    assert [a[1] for a in read_attributes(wire)] == [1, 2, 3, 8]
    assert attrs.encode() == MANDATORY_4 + attr(0xC0, 8, b"\xfd\xe9\x00\x64")
