"""encode -> decode_message is the identity, across every negotiated context.

Where it is legitimately not the identity the expected value is computed here:
unknown optional transitive attributes come back with the Partial bit (RFC 4271 5),
LOCAL_PREF from an external peer is discarded (RFC 7606 7.5), an UPDATE whose
attribute field holds only MP attributes decodes with an empty PathAttributes, and a
2-octet context loses 4-octet confederation members to AS_TRANS (RFC 6793 4.2.2).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    DEFAULT_CONTEXT,
    IPV6_UNICAST,
    Action,
    Capability,
    CodecContext,
    EncodeError,
    Keepalive,
    MessageError,
    MessageReader,
    MpReach,
    MpUnreach,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    Update,
    decode_body,
    decode_message,
)
from pybgp.wire.aspath import AsPath
from pybgp.wire.constants import (
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_TRANS,
    FLAG_PARTIAL,
    AttrCode,
)
from pybgp.wire.errors import CeaseSubcode
from tests.wire import strategies as s
from tests.wire.wirebytes import as_path_value, read_attributes

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
_CONFED = (AS_CONFED_SEQUENCE, AS_CONFED_SET)


# ------------------------------------------------------------------------------------
# Expected values


def expected_path(path: AsPath, four_octet_as: bool) -> AsPath:
    """What a canonical path decodes to.

    RFC 6793 4.2.2: towards a 2-octet speaker the path goes as AS_PATH with AS_TRANS
    plus AS4_PATH without confederation segments; 4.2.3 merges them back.  The ASes of
    the confederation segments are only in AS_PATH, so a 4-octet member is AS_TRANS.
    """
    if four_octet_as or all(a <= 0xFFFF for _, asns in path for a in asns):
        return path
    return tuple(
        (t, tuple(a if a <= 0xFFFF else AS_TRANS for a in asns)) if t in _CONFED else (t, asns)
        for t, asns in path
    )


def expected_attributes(attrs: PathAttributes, ctx: CodecContext) -> PathAttributes:
    unknown = sorted(((c, f | FLAG_PARTIAL, v) for c, f, v in attrs.unknown), key=lambda u: u[0])
    return attrs.replace(
        as_path=expected_path(attrs.as_path, ctx.four_octet_as),
        # RFC 7606 7.5: LOCAL_PREF from an external peer is discarded.
        local_pref=None if ctx.external else attrs.local_pref,
        # RFC 4271 5: a passed-on unrecognized optional transitive attribute gets Partial;
        # attributes go out in ascending type code order.
        unknown=tuple(unknown),
    )


def expected_update(update: Update, ctx: CodecContext) -> Update:
    attrs = update.attributes
    if attrs is not None:
        attrs = expected_attributes(attrs, ctx)
    return Update(
        withdrawn=list(update.withdrawn),
        attributes=attrs,
        nlri=list(update.nlri),
        mp_reach=dataclasses.replace(update.mp_reach) if update.mp_reach else None,
        mp_unreach=dataclasses.replace(update.mp_unreach) if update.mp_unreach else None,
    )


def expected_issues(attrs: PathAttributes | None, ctx: CodecContext) -> list[tuple[Action, int]]:
    if ctx.external and attrs is not None and attrs.local_pref is not None:
        return [(Action.ATTRIBUTE_DISCARD, AttrCode.LOCAL_PREF)]
    return []


# ------------------------------------------------------------------------------------
# Path attributes and UPDATE


@SETTINGS
@given(ctx=s.contexts(), attrs=s.path_attributes())
def test_path_attributes_round_trip(ctx: CodecContext, attrs: PathAttributes) -> None:
    decoded = decode_message(Update(attributes=attrs).encode(ctx), ctx)
    assert isinstance(decoded, Update)
    assert decoded.attributes == expected_attributes(attrs, ctx)
    assert [(i.action, i.attribute) for i in decoded.issues] == expected_issues(attrs, ctx)
    assert not decoded.treat_as_withdraw


@SETTINGS
@given(data=st.data())
def test_update_round_trip(data: st.DataObject) -> None:
    ctx = data.draw(s.contexts())
    update = data.draw(s.updates(ctx))
    decoded = decode_message(update.encode(ctx), ctx)
    assert isinstance(decoded, Update)
    assert [(i.action, i.attribute) for i in decoded.issues] == expected_issues(
        update.attributes, ctx
    )
    assert dataclasses.replace(decoded, issues=()) == expected_update(update, ctx)
    assert decoded.end_of_rib() == update.end_of_rib()


@SETTINGS
@given(data=st.data())
def test_reencoding_a_decoded_update_gives_the_same_bytes(data: st.DataObject) -> None:
    ctx = data.draw(s.contexts(external=st.just(False)))
    attrs = data.draw(s.path_attributes(as_path=s.plain_as_paths()))
    update = data.draw(s.updates(ctx))
    if update.attributes is not None:
        update.attributes = attrs.replace(
            origin=update.attributes.origin, next_hop=update.attributes.next_hop
        )
    wire = update.encode(ctx)
    assert decode_message(wire, ctx).encode(ctx) == wire


def test_reencoded_ipv6_end_of_rib_is_still_only_mp_unreach() -> None:
    # RFC 4724 2: End-of-RIB for a family other than IPv4 unicast is an UPDATE that
    # contains only MP_UNREACH_NLRI, with no withdrawn routes for that family.
    wire = Update(mp_unreach=MpUnreach(*IPV6_UNICAST)).encode()
    assert decode_message(wire).encode() == wire


@SETTINGS
@given(
    four=st.booleans(),
    path=s.plain_as_paths(),
    attrs=s.path_attributes(),
)
def test_as_path_without_confederations_survives_a_two_octet_peer(
    four: bool, path: AsPath, attrs: PathAttributes
) -> None:
    # RFC 6793 4.2.2 (AS_TRANS + AS4_PATH out) and 4.2.3 (merge in) give back the path.
    ctx = CodecContext(four_octet_as=four)
    wire = Update(attributes=attrs.replace(as_path=path)).encode(ctx)
    decoded = decode_message(wire, ctx)
    assert decoded.attributes.as_path == path
    assert decoded.attributes.aggregator == attrs.aggregator
    found = {code: (flags, value) for flags, code, value in read_attributes(wire)}
    needs4 = any(a > 0xFFFF for _, asns in path for a in asns)
    size = 4 if four else 2
    two = [(t, [a if a <= 0xFFFF or four else AS_TRANS for a in asns]) for t, asns in path]
    assert found[AttrCode.AS_PATH][1] == as_path_value(two, size)
    # RFC 6793 4.1: AS4_PATH only towards a 2-octet speaker and only when needed.
    assert (AttrCode.AS4_PATH in found) == (needs4 and not four)
    if AttrCode.AS4_PATH in found:
        assert found[AttrCode.AS4_PATH] == (0xC0, as_path_value([(t, list(a)) for t, a in path], 4))
    aggregator_needs4 = attrs.aggregator is not None and attrs.aggregator[0] > 0xFFFF
    assert (AttrCode.AS4_AGGREGATOR in found) == (aggregator_needs4 and not four)


@SETTINGS
@given(path=s.as_paths().filter(lambda p: any(t in _CONFED for t, _ in p)))
def test_confederation_segments_through_a_two_octet_peer(path: AsPath) -> None:
    # RFC 6793 4.2.2: AS4_PATH carries no confederation segments, so the confederation
    # ASes reach the 2-octet side only in AS_PATH, as AS_TRANS when they need 4 octets;
    # the non-confederation part is rebuilt from AS4_PATH (4.2.3).
    wire = Update(attributes=PathAttributes(as_path=path)).encode(CodecContext(four_octet_as=False))
    decoded = decode_message(wire, CodecContext(four_octet_as=False)).attributes.as_path
    assert decoded == expected_path(path, four_octet_as=False)
    assert [seg for seg in decoded if seg[0] not in _CONFED] == [
        seg for seg in path if seg[0] not in _CONFED
    ]


@pytest.mark.parametrize("four", [True, False])
@pytest.mark.parametrize("count", [255, 256, 600])
def test_long_segments_are_split_at_255(four: bool, count: int) -> None:
    # RFC 4271 4.3: the segment length is one octet, so a longer sequence is split.
    path = ((2, tuple(range(1, count + 1))),)
    wire = Update(attributes=PathAttributes(as_path=path)).encode(CodecContext(four_octet_as=four))
    ((_, _, value),) = [a for a in read_attributes(wire) if a[1] == AttrCode.AS_PATH]
    size = 4 if four else 2
    chunks = [list(range(1, count + 1))[i : i + 255] for i in range(0, count, 255)]
    assert value == as_path_value([(2, c) for c in chunks], size)
    decoded = decode_message(wire, CodecContext(four_octet_as=four)).attributes.as_path
    assert decoded == tuple((2, tuple(c)) for c in chunks)


@SETTINGS
@given(attrs=s.path_attributes(local_pref=False), local_pref=s.U32)
def test_local_pref_is_discarded_from_external_peers_only(
    attrs: PathAttributes, local_pref: int
) -> None:
    attrs = attrs.replace(local_pref=local_pref)
    wire = Update(attributes=attrs).encode()
    internal = decode_message(wire, CodecContext(external=False))
    assert internal.attributes.local_pref == local_pref
    assert internal.issues == ()
    # RFC 7606 7.5: from an external neighbor, "attribute discard".
    external = decode_message(wire, CodecContext(external=True))
    assert external.attributes.local_pref is None
    assert [(i.action, i.attribute) for i in external.issues] == [
        (Action.ATTRIBUTE_DISCARD, AttrCode.LOCAL_PREF)
    ]
    assert not external.treat_as_withdraw
    assert external.attributes == expected_attributes(attrs, CodecContext(external=True))


def test_extended_message_update_needs_the_extended_context() -> None:
    # RFC 8654 4: up to 65535 octets once both sides announced Extended Message.
    keys = [bytes((48,)) + (0x20010DB8_0000 + i).to_bytes(6, "big") for i in range(1500)]
    update = Update(
        attributes=PathAttributes(origin=0),
        mp_reach=MpReach(*IPV6_UNICAST, next_hop=bytes(16), nlri=keys),
    )
    ext = CodecContext(extended_message=True)
    wire = update.encode(ext)
    assert 4096 < len(wire) <= 65535
    assert decode_message(wire, ext).mp_reach.nlri == keys
    with pytest.raises(EncodeError):
        update.encode(DEFAULT_CONTEXT)
    with pytest.raises(MessageError) as err:
        decode_message(wire, DEFAULT_CONTEXT)
    # RFC 4271 6.1: Bad Message Length, the length field as data.
    assert (err.value.code, err.value.subcode, err.value.data) == (1, 2, wire[16:18])


def test_end_of_rib_for_ipv6_is_an_empty_mp_unreach() -> None:
    # RFC 4724 2: an UPDATE with only an empty MP_UNREACH_NLRI for the family.
    update = decode_message(Update(mp_unreach=MpUnreach(*IPV6_UNICAST)).encode())
    assert update.end_of_rib() == IPV6_UNICAST
    assert list(update.withdrawals()) == []


# ------------------------------------------------------------------------------------
# OPEN and capabilities


@SETTINGS
@given(open_=s.opens())
def test_open_round_trip(open_: Open) -> None:
    wire = open_.encode()
    assert decode_message(wire) == open_
    # RFC 9072 2: the extended encoding exactly when the classic one cannot hold them.
    params = [c.encode() for c in open_.capabilities]
    values = ([b"".join(params)] if params else []) + [v for _, v in open_.other_parameters]
    classic = sum(2 + len(v) for v in values)
    if classic <= 255 and all(len(v) <= 255 for v in values):
        assert wire[28] == classic
    else:
        assert wire[28:30] == b"\xff\xff"
        assert int.from_bytes(wire[30:32], "big") == sum(3 + len(v) for v in values)


@SETTINGS
@given(caps=s.long_capability_lists, my_as=s.U16, bgp_id=s.bgp_ids())
def test_long_capability_lists_use_extended_optional_parameters(
    caps: list[Capability], my_as: int, bgp_id: str
) -> None:
    open_ = Open(my_as, 90, bgp_id, caps)
    wire = open_.encode()
    # RFC 9072 2: Non-Ext OP Len 255, Non-Ext OP Type 255, then a 2-octet length and a
    # Capabilities parameter with a 2-octet Parameter Length.
    assert wire[28:30] == b"\xff\xff"
    caps_len = sum(len(c.encode()) for c in caps)
    assert int.from_bytes(wire[30:32], "big") == 3 + caps_len
    assert wire[32] == 2 and int.from_bytes(wire[33:35], "big") == caps_len
    assert decode_message(wire) == open_


@pytest.mark.parametrize("name", sorted(s.CAPABILITY_STRATEGIES))
@SETTINGS
@given(data=st.data())
def test_each_capability_class_round_trips(name: str, data: st.DataObject) -> None:
    cap = data.draw(s.CAPABILITY_STRATEGIES[name])
    decoded = decode_message(Open(65001, 90, "192.0.2.1", [cap]).encode())
    assert decoded.capabilities == [cap]
    assert type(decoded.capabilities[0]) is type(cap)


@SETTINGS
@given(asn=s.U32, hold=s.U16, bgp_id=s.bgp_ids())
def test_open_for_speaker_uses_as_trans_for_four_octet_asns(
    asn: int, hold: int, bgp_id: str
) -> None:
    # RFC 6793 4.1: My Autonomous System is AS_TRANS when the AS needs 4 octets.
    decoded = decode_message(Open.for_speaker(asn, hold, bgp_id, []).encode())
    assert decoded.my_as == (asn if asn <= 0xFFFF else AS_TRANS)
    assert decoded.asn == asn


# ------------------------------------------------------------------------------------
# NOTIFICATION, ROUTE-REFRESH, KEEPALIVE


@SETTINGS
@given(notification=s.notifications)
def test_notification_round_trip(notification: Notification) -> None:
    assert decode_message(notification.encode()) == notification


@SETTINGS
@given(
    text=st.text(st.characters(min_codepoint=0x80, codec="utf-8"), min_size=1, max_size=90),
    subcode=st.sampled_from(
        [CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET]
    ),
)
def test_shutdown_communication_round_trips_non_ascii(text: str, subcode: int) -> None:
    # RFC 9003 2: a length octet, then up to 255 octets of UTF-8.
    wire = Notification.shutdown(text, subcode).encode()
    decoded = decode_message(wire)
    encoded = text.encode("utf-8")
    if len(encoded) <= 255:
        assert decoded.shutdown_message == text
        assert decoded.data == bytes((len(encoded),)) + encoded
    else:
        # Cut on a character boundary, so still valid UTF-8 and a prefix of the text.
        assert text.startswith(decoded.shutdown_message)
        assert 255 - 3 <= len(decoded.shutdown_message.encode("utf-8")) <= 255


def test_shutdown_without_text_has_no_communication() -> None:
    decoded = decode_message(Notification.shutdown("").encode())
    assert (decoded.code, decoded.subcode) == (6, 2)
    assert decoded.shutdown_message is None


@SETTINGS
@given(refresh=s.route_refreshes)
def test_route_refresh_round_trip(refresh: RouteRefresh) -> None:
    wire = refresh.encode()
    assert len(wire) == 23  # RFC 2918 3
    assert decode_message(wire) == refresh


def test_keepalive_round_trip() -> None:
    assert decode_message(Keepalive().encode()) == Keepalive()


# ------------------------------------------------------------------------------------
# Framing a stream


@SETTINGS
@given(data=st.data())
def test_message_reader_splits_any_chunking_of_a_stream(data: st.DataObject) -> None:
    ctx = data.draw(s.contexts())
    sent = data.draw(st.lists(s.messages(ctx), min_size=1, max_size=5))
    stream = b"".join(m.encode(ctx) for m in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader = MessageReader(ctx.max_message_len)
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        reader.feed(stream[start:end])
        received += [decode_body(kind, body, ctx) for kind, body in reader.frames()]
    assert reader.pending == 0
    assert [m.encode(ctx) for m in received] == [
        m.encode(ctx)
        if not isinstance(m, Update)
        else decode_message(m.encode(ctx), ctx).encode(ctx)
        for m in sent
    ]
    assert [type(m) for m in received] == [type(m) for m in sent]


@SETTINGS
@given(attrs=s.path_attributes(), other=s.path_attributes(), four=st.booleans())
def test_replace_gives_a_copy_that_encodes_its_own_fields(
    attrs: PathAttributes, other: PathAttributes, four: bool
) -> None:
    # The encode cache must not follow a copy made by replace() (attributes.py).
    before = attrs.encode(four)
    changed = attrs.replace(med=other.med, communities=other.communities, unknown=other.unknown)
    fresh = PathAttributes(
        **{
            f.name: getattr(changed, f.name)
            for f in dataclasses.fields(changed)
            if f.name != "_wire"
        }
    )
    assert changed.encode(four) == fresh.encode(four)
    assert attrs.encode(four) == before
