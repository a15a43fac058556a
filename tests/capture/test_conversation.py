"""ConversationDecoder: BGP messages out of reassembled streams, with the context the
connection's two OPENs negotiated, and honest reports of what the capture lacks."""

from __future__ import annotations

from pybgp.capture.conversation import ConversationDecoder
from pybgp.capture.tcp import Endpoint, StreamChunk
from pybgp.wire import (
    AddPath,
    CodecContext,
    Keepalive,
    Multiprotocol,
    Open,
    PathAttributes,
    Update,
    prefix_key,
)

CLIENT = Endpoint("198.18.0.1", 40000)
SERVER = Endpoint("198.18.0.2", 179)
ADDPATH_V4 = frozenset({(1, 1)})


def chunk(data: bytes, src: Endpoint = CLIENT, **kw: object) -> StreamChunk:
    dst = SERVER if src == CLIENT else CLIENT
    return StreamChunk(1.0, src, dst, data, **kw)  # type: ignore[arg-type]


def speaker_open(asn: int, bgp_id: str) -> Open:
    return Open.for_speaker(asn, 90, bgp_id, [Multiprotocol(1, 1), AddPath(((1, 1, 3),))])


def addpath_update() -> bytes:
    attrs = PathAttributes(origin=0, as_path=(), next_hop=bytes([198, 18, 0, 1]))
    update = Update(attributes=attrs, nlri=[prefix_key("10.244.0.0/26", path_id=7)])
    return update.encode(CodecContext(addpath=ADDPATH_V4))


def test_messages_after_both_opens_use_the_negotiated_context():
    decoder = ConversationDecoder()
    out = [
        *decoder.feed(chunk(speaker_open(64512, "198.18.0.1").encode())),
        *decoder.feed(chunk(speaker_open(64512, "198.18.0.2").encode(), SERVER)),
        # Split across two segments: the framing waits for the whole message.
        *decoder.feed(chunk(addpath_update()[:30])),
        *decoder.feed(chunk(addpath_update()[30:])),
    ]
    update = out[-1]
    assert update.context.addpath == ADDPATH_V4
    assert isinstance(update.message, Update)
    assert update.message.nlri == [prefix_key("10.244.0.0/26", path_id=7)]


def test_before_the_opens_the_assumed_context_is_used():
    decoder = ConversationDecoder(assumed=CodecContext(addpath=ADDPATH_V4))
    [decoded] = decoder.feed(chunk(addpath_update()))
    assert decoded.error == "" and decoded.context.addpath == ADDPATH_V4


def test_a_gap_is_reported_and_decoding_resumes_at_the_next_marker():
    decoder = ConversationDecoder()
    keepalive = Keepalive().encode()
    out = list(decoder.feed(chunk(keepalive[:10])))
    # 9 octets never captured; the next segment starts mid-message, then a whole one.
    out += decoder.feed(chunk(b"\x00\x13\x04" + keepalive, gap=9))
    assert out[0].error.startswith("9 octets missing")
    assert isinstance(out[-1].message, Keepalive)
    assert len(out) == 2


def test_a_bad_header_is_an_error_and_the_stream_resynchronises():
    decoder = ConversationDecoder()
    bad = b"\xff" * 15 + b"\x00" + b"\x00\x13\x04"
    out = list(decoder.feed(chunk(bad + Keepalive().encode())))
    assert (out[0].code, out[0].subcode) == (1, 1)
    assert isinstance(out[1].message, Keepalive)


def test_a_close_inside_a_message_is_reported_and_the_next_connection_starts_afresh():
    decoder = ConversationDecoder()
    list(decoder.feed(chunk(speaker_open(64512, "198.18.0.1").encode())))
    list(decoder.feed(chunk(speaker_open(64512, "198.18.0.2").encode(), SERVER)))
    [problem] = decoder.feed(chunk(Keepalive().encode()[:5], closed=True))
    assert problem.error == "closed inside a message (5 octets)"
    # The same ports again: no OPEN seen on this connection yet, so the assumed context.
    [decoded] = decoder.feed(chunk(Keepalive().encode()))
    assert decoded.context == decoder.assumed
