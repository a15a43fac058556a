"""Bytes from a peer only ever give a message or a WireError.

Random bytes and valid messages with bit flips, truncations, insertions and changed
length fields go through decode_message (in several contexts) and MessageReader +
decode_body.  Anything else escaping (IndexError, struct.error, UnicodeDecodeError,
ValueError, ...) is a bug: the session turns WireError into a NOTIFICATION and
nothing else (DESIGN.md: a peer's fault never raises out of receive_data).
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AttributeCache,
    CodecContext,
    Keepalive,
    MessageReader,
    Notification,
    Open,
    RouteRefresh,
    Update,
    WireError,
    decode_body,
    decode_message,
)
from tests.wire import strategies as s
from tests.wire.wirebytes import MARKER, attr, message, read_attributes, update_body

CONTEXTS = [
    CodecContext(),
    CodecContext(four_octet_as=False),
    CodecContext(
        addpath=frozenset({IPV4_UNICAST, IPV6_UNICAST}), extended_message=True, external=True
    ),
    CodecContext(four_octet_as=False, addpath=frozenset({IPV4_UNICAST}), external=True),
]
MESSAGE_TYPES = (Open, Update, Notification, Keepalive, RouteRefresh)
FUZZ = settings(
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A cache shared across examples, as in a long-lived session, so hits are exercised too.
CACHE = AttributeCache(limit=5000)


def use(message: object) -> None:
    """What the session and RIB read from a decoded message must not raise either."""
    assert isinstance(message, MESSAGE_TYPES)
    if isinstance(message, Update):
        message.end_of_rib()
        list(message.announcements())
        list(message.withdrawals())
    elif isinstance(message, Notification):
        _ = message.shutdown_message, message.name
    elif isinstance(message, Open):
        _ = message.asn


def check_decoders(data: bytes) -> None:
    for ctx in CONTEXTS:
        try:
            message = decode_message(data, ctx, CACHE)
        except WireError:
            pass
        else:
            use(message)
        reader = MessageReader(ctx.max_message_len)
        # Fed in two pieces, as a stream would deliver it.
        half = len(data) // 2
        try:
            for piece in (data[:half], data[half:]):
                reader.feed(piece)
                for kind, body in reader.frames():
                    with contextlib.suppress(WireError):
                        use(decode_body(kind, body, ctx, CACHE))
        except WireError:
            pass  # a bad header: RFC 4271 6.1 closes the stream


def fix_length(data: bytearray) -> None:
    if len(data) >= 19:
        data[16:18] = min(len(data), 0xFFFF).to_bytes(2, "big")


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    ctx = draw(st.sampled_from(CONTEXTS))
    data = bytearray(draw(s.messages(ctx)).encode(ctx))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "byte", "truncate", "length", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and data:
            data[at] = draw(s.U8)
        elif op == "truncate":
            del data[at:]
        elif op == "length" and len(data) >= 2:
            # A length field (or anything) changed a little or a lot.
            at = draw(st.sampled_from([16, 19, 21, at])) if len(data) > 22 else at
            at = min(at, len(data) - 2)
            old = int.from_bytes(data[at : at + 2], "big")
            new = draw(st.sampled_from([0, 1, 255, 256, 0xFFFF, old + 1, old - 1, old + 4]))
            data[at : at + 2] = (new & 0xFFFF).to_bytes(2, "big")
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    # Mostly keep the header length right, so the body decoders see the damage.
    if draw(st.integers(0, 9)) < 7:
        fix_length(data)
    return bytes(data)


def split_update(wire: bytes) -> tuple[bytes, list[tuple[int, int, bytes]], bytes]:
    body = wire[19:]
    wlen = int.from_bytes(body[0:2], "big")
    alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
    return body[2 : 2 + wlen], read_attributes(wire), body[4 + wlen + alen :]


@st.composite
def restructured_updates(draw: st.DrawFn) -> bytes:
    """An UPDATE with one attribute resized, re-flagged, re-coded or repeated, and
    every length field rebuilt: the damage reaches the attribute decoders."""
    ctx = draw(st.sampled_from(CONTEXTS))
    withdrawn, attrs, nlri = split_update(draw(s.updates(ctx)).encode(ctx))
    if not attrs:
        attrs = [(0x40, 2, b"")]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(attrs) - 1))
        flags, code, value = attrs[i]
        op = draw(st.sampled_from(["resize", "resize", "flags", "code", "repeat", "byte"]))
        if op == "resize":
            cut = draw(st.integers(0, len(value)))
            value = value[:cut] + draw(st.binary(max_size=draw(st.sampled_from([0, 1, 3, 8]))))
        elif op == "flags":
            flags = draw(s.U8)
        elif op == "code":
            code = draw(st.sampled_from([*range(1, 19), 32, 35, draw(s.U8)]))
        elif op == "repeat":
            attrs.insert(draw(st.integers(0, len(attrs))), (flags, code, value))
        elif op == "byte" and value:
            at = draw(st.integers(0, len(value) - 1))
            value = value[:at] + bytes((draw(s.U8),)) + value[at + 1 :]
        if len(value) > 255:
            flags |= 0x10
        attrs[i] = (flags, code, value)
    field = b"".join(attr(f, c, v) for f, c, v in attrs)
    return message(2, update_body(withdrawn, field, nlri))


@st.composite
def restructured_opens(draw: st.DrawFn) -> bytes:
    """An OPEN whose capabilities are resized or re-coded, lengths rebuilt, in the
    classic or the RFC 9072 extended encoding."""
    open_ = draw(s.opens(st.lists(s.capabilities, min_size=1, max_size=6)))
    caps = [(c.code, c.encode()[2:]) for c in open_.capabilities]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(caps) - 1))
        code, value = caps[i]
        if draw(st.booleans()):
            cut = draw(st.integers(0, len(value)))
            value = value[:cut] + draw(st.binary(max_size=draw(st.sampled_from([0, 1, 3, 7]))))
        else:
            code = draw(st.sampled_from([1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73]))
        caps[i] = (code, value[:255])
    param = b"".join(bytes((c, len(v))) + v for c, v in caps)
    fixed = open_.encode()[19:28]
    if len(param) <= 253 and draw(st.booleans()):
        opt = bytes((len(param) + 2, 2, len(param))) + param
    else:
        ext = b"\x02" + len(param).to_bytes(2, "big") + param
        opt = b"\xff\xff" + len(ext).to_bytes(2, "big") + ext
    return message(1, fixed + opt)


@st.composite
def random_messages(draw: st.DrawFn) -> bytes:
    """A valid header of any type and random body bytes (plain noise never passes the
    marker check)."""
    kind = draw(st.integers(1, 5))
    body = draw(st.binary(max_size=120))
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((kind,)) + body


@FUZZ
@given(data=mutated_messages())
def test_mutated_messages_give_a_message_or_a_wire_error(data: bytes) -> None:
    check_decoders(data)


@settings(FUZZ, max_examples=1500)
@given(data=st.one_of(restructured_updates(), restructured_opens()))
def test_restructured_messages_give_a_message_or_a_wire_error(data: bytes) -> None:
    check_decoders(data)


@settings(FUZZ, max_examples=1000)
@given(data=st.one_of(random_messages(), st.binary(max_size=80)))
def test_random_bytes_give_a_message_or_a_wire_error(data: bytes) -> None:
    check_decoders(data)


@settings(FUZZ, max_examples=200)
@given(stream=st.lists(st.one_of(mutated_messages(), random_messages()), min_size=2, max_size=4))
def test_a_stream_of_damaged_messages_gives_messages_or_a_wire_error(stream: list[bytes]) -> None:
    check_decoders(b"".join(stream))
