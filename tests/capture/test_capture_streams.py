"""TCP stream extraction and reassembly, end to end from capture files."""

from __future__ import annotations

import io
import random
from collections import defaultdict
from pathlib import Path

import pytest
from capbuild import (
    ACK,
    FIN,
    LT_ETHERNET,
    LT_RAW,
    LT_SLL,
    PSH,
    RST,
    SYN,
    Flow,
    PcapngWriter,
    bgp_message,
    ethernet,
    ipv6,
    pcap,
    sll,
    tcp,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.capture.pcap import CaptureError, TcpStreams, tcp_stream_chunks
from pybgp.capture.tcp import Endpoint, StreamChunk, TcpReassembler, TcpSegment

C, S = Endpoint("198.18.0.1", 40000), Endpoint("198.18.0.2", 179)
DATA = bytes(range(256)) * 4


def capture(packets: list[bytes], start: float = 100.0) -> io.BytesIO:
    """Ethernet pcap, one packet every 10 ms."""
    return io.BytesIO(pcap([(start + i / 100, ethernet(p)) for i, p in enumerate(packets)]))


def chunks_of(packets: list[bytes], **kwargs) -> list[StreamChunk]:
    return list(tcp_stream_chunks(capture(packets), **kwargs))


def joined(chunks: list[StreamChunk]) -> dict[tuple[Endpoint, Endpoint], bytes]:
    out: dict[tuple[Endpoint, Endpoint], bytes] = defaultdict(bytes)
    for c in chunks:
        assert c.gap == 0, c
        out[c.src, c.dst] += c.data
    return dict(out)


def segments(flow: Flow, data: bytes, size: int, from_client: bool = True) -> list[bytes]:
    return [
        flow.seg(from_client, i, data[i : i + size], ACK | PSH) for i in range(0, len(data), size)
    ]


def test_in_order_with_handshake_and_fin() -> None:
    f = Flow(C.address, S.address)
    open_c, open_s = bgp_message(b"c" * 10, 1), bgp_message(b"s" * 20, 1)
    packets = [
        *f.handshake(),
        f.seg(True, 0, open_c, ACK | PSH),
        f.seg(False, 0, open_s, ACK | PSH, rel_ack=len(open_c)),
        f.seg(True, len(open_c), b"", ACK, rel_ack=len(open_s)),
        f.seg(True, len(open_c), b"", FIN | ACK, rel_ack=len(open_s)),
        f.seg(False, len(open_s), b"", FIN | ACK, rel_ack=len(open_c) + 1),
        f.seg(True, len(open_c) + 1, b"", ACK, rel_ack=len(open_s) + 1),
    ]
    chunks = chunks_of(packets)
    assert [(c.src, c.dst, c.data, c.gap, c.closed) for c in chunks] == [
        (C, S, open_c, 0, False),
        (S, C, open_s, 0, False),
        (C, S, b"", 0, True),
        (S, C, b"", 0, True),
    ]
    assert all(c.client == C for c in chunks)
    assert chunks[0].ts == pytest.approx(100.03)
    assert chunks[1].ts == pytest.approx(100.04)
    assert str(chunks[1].src) == "198.18.0.2:179"


def test_client_inferred_from_syn_ack_alone() -> None:
    f = Flow(C.address, S.address)
    chunks = chunks_of([f.synack(), f.seg(True, 0, b"hello", ACK | PSH)])
    assert [(c.data, c.client) for c in chunks] == [(b"hello", C)]


def test_midstream_capture_has_no_client() -> None:
    f = Flow(C.address, S.address)
    chunks = chunks_of(segments(f, DATA, 100)[3:])
    assert joined(chunks) == {(C, S): DATA[300:]}
    assert chunks[0].client is None


def test_out_of_order_segments() -> None:
    f = Flow(C.address, S.address)
    segs = segments(f, DATA, 100)
    order = [0, 2, 1, 5, 4, 3, 6, 10, 9, 8, 7]
    chunks = chunks_of(f.handshake() + [segs[i] for i in order])
    assert joined(chunks) == {(C, S): DATA[:1100]}
    # Data is released as soon as it is contiguous, not at the end.
    assert [len(c.data) for c in chunks] == [100, 200, 300, 100, 324]


def test_retransmissions_and_duplicates() -> None:
    f = Flow(C.address, S.address)
    segs = segments(f, DATA, 64)
    packets = f.handshake() + segs[:5] + segs[2:4] + segs[5:] + [segs[0], segs[-1]]
    # A keepalive probe: one garbage byte at next - 1.
    packets.append(f.seg(True, len(DATA) - 1, b"\0", ACK))
    assert joined(chunks_of(packets)) == {(C, S): DATA}


def test_overlapping_segments() -> None:
    f = Flow(C.address, S.address)
    d = DATA

    def seg(a: int, b: int) -> bytes:
        return f.seg(True, a, d[a:b], ACK | PSH)

    packets = [
        *f.handshake(),
        seg(0, 100),
        seg(50, 150),  # overlaps the head
        seg(300, 400),  # out of order
        seg(250, 350),  # overlaps an out-of-order segment
        seg(320, 330),  # entirely inside a buffered segment
        seg(120, 260),  # fills the hole, overlaps both sides
        seg(0, 500),  # retransmission repackaged into one larger segment
        seg(500, 1024),
    ]
    assert joined(chunks_of(packets)) == {(C, S): DATA}


@pytest.mark.parametrize("isn", [0xFFFFFFFF - 300, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF])
def test_sequence_number_wraparound(isn: int) -> None:
    f = Flow(C.address, S.address, cisn=isn, sisn=0xFFFFFFFF - 10)
    segs = segments(f, DATA, 50)
    reply = segments(f, DATA[::-1], 7, from_client=False)
    packets = f.handshake() + segs[:5] + segs[7:] + segs[5:7] + reply
    assert joined(chunks_of(packets)) == {(C, S): DATA, (S, C): DATA[::-1]}


def test_wraparound_without_handshake() -> None:
    f = Flow(C.address, S.address, cisn=0xFFFFFFFF - 150)
    segs = segments(f, DATA, 100)
    assert joined(chunks_of([segs[0], segs[2], segs[1], *segs[3:]])) == {(C, S): DATA}


def test_gap_reported_when_peer_acks_missing_bytes() -> None:
    f = Flow(C.address, S.address)
    packets = [
        *f.handshake(),
        f.seg(True, 0, DATA[:100], ACK | PSH),
        # bytes 100..199 were never captured
        f.seg(True, 200, DATA[200:300], ACK | PSH),
        f.seg(False, 0, b"", ACK, rel_ack=300),
        f.seg(True, 300, DATA[300:400], ACK | PSH),
    ]
    streams = TcpStreams(capture(packets))
    chunks = list(streams)
    assert [(c.data, c.gap) for c in chunks] == [
        (DATA[:100], 0),
        (DATA[200:300], 100),
        (DATA[300:400], 0),
    ]
    assert chunks[1].ts == pytest.approx(100.05)  # when the ACK revealed the loss
    assert streams.lost_bytes == 100


def test_ack_beyond_all_captured_data_reports_gap_with_next_chunk() -> None:
    f = Flow(C.address, S.address)
    packets = [
        *f.handshake(),
        f.seg(True, 0, DATA[:100], ACK | PSH),
        f.seg(True, 200, DATA[200:250], ACK | PSH),
        f.seg(False, 0, b"", ACK, rel_ack=400),  # 100..200 and 250..400 never captured
        f.seg(True, 400, DATA[400:500], ACK | PSH),
    ]
    assert [(c.data, c.gap) for c in chunks_of(packets)] == [
        (DATA[:100], 0),
        (DATA[200:250], 100),
        (DATA[400:500], 150),
    ]


def test_gap_reported_at_end_of_capture_without_acks() -> None:
    f = Flow(C.address, S.address)
    segs = segments(f, DATA, 100)
    chunks = chunks_of(f.handshake()[:1] + segs[:2] + segs[4:6] + segs[8:])
    assert [(len(c.data), c.gap) for c in chunks] == [(100, 0), (100, 0), (200, 200), (224, 200)]
    assert b"".join(c.data for c in chunks) == DATA[:200] + DATA[400:600] + DATA[800:]


def test_gap_reported_when_out_of_order_buffer_overflows() -> None:
    f = Flow(C.address, S.address)
    segs = segments(f, DATA, 100)
    packets = [f.syn(), segs[0], *segs[2:]]
    chunks = list(TcpStreams(capture(packets), max_pending=250))
    assert [(len(c.data), c.gap) for c in chunks] == [(100, 0), (300, 100)] + [(100, 0)] * 5 + [
        (24, 0)
    ]


def test_lost_tail_before_fin_is_reported_and_closes() -> None:
    f = Flow(C.address, S.address)
    packets = [
        *f.handshake(),
        f.seg(True, 0, DATA[:100], ACK | PSH),
        f.seg(True, 150, b"", FIN | ACK),  # 100..150 never captured
        f.seg(False, 0, b"", ACK, rel_ack=151),
    ]
    chunks = chunks_of(packets)
    assert [(c.src, c.data, c.gap, c.closed) for c in chunks] == [
        (C, DATA[:100], 0, False),
        (C, b"", 50, True),
    ]


def test_snaplen_cut_segment_reports_gap() -> None:
    f = Flow(C.address, S.address)
    packets = [f.syn(), *segments(f, DATA[:300], 100)]
    frames = [(float(i), ethernet(p)) for i, p in enumerate(packets)]
    chunks = list(tcp_stream_chunks(io.BytesIO(pcap(frames, snaplen=54 + 60))))
    assert [(c.data, c.gap) for c in chunks] == [
        (DATA[0:60], 0),
        (DATA[100:160], 40),
        (DATA[200:260], 40),
        (b"", 40),
    ]


def test_rst_closes_both_directions() -> None:
    f = Flow(C.address, S.address)
    packets = [
        *f.handshake(),
        f.seg(True, 0, b"open", ACK | PSH),
        f.seg(False, 0, b"notification", ACK | PSH, rel_ack=4),
        f.seg(True, 4, b"", RST | ACK),
        f.seg(True, 4, b"late", ACK | PSH),  # ignored after the reset
    ]
    assert [(c.src, c.data, c.closed) for c in chunks_of(packets)] == [
        (C, b"open", False),
        (S, b"notification", False),
        (C, b"", True),
        (S, b"", True),
    ]


def test_new_connection_reusing_ports() -> None:
    old = Flow(C.address, S.address, cisn=10, sisn=20)
    new = Flow(C.address, S.address, cisn=99999, sisn=77777)
    packets = [
        *old.handshake(),
        old.seg(True, 0, b"first", ACK | PSH),
        # no FIN or RST captured for the old connection
        *new.handshake(),
        new.seg(True, 0, b"second", ACK | PSH),
    ]
    assert [(c.data, c.closed) for c in chunks_of(packets)] == [
        (b"first", False),
        (b"", True),  # client -> server
        (b"", True),  # server -> client
        (b"second", False),
    ]


def test_two_interleaved_connections_keep_capture_order() -> None:
    a = Flow("198.18.0.1", "198.18.0.2", cport=40001)
    b = Flow("2001:db8::1", "2001:db8::2", cport=40002)
    packets = [
        a.syn(), b.syn(), a.synack(), b.synack(),
        a.seg(True, 0, b"a-open", ACK | PSH),
        b.seg(True, 0, b"b-open", ACK | PSH),
        b.seg(False, 0, b"b-reply", ACK | PSH, rel_ack=6),
        a.seg(False, 0, b"a-reply", ACK | PSH, rel_ack=6),
        b.seg(True, 6, b"b-more", ACK | PSH),
    ]  # fmt: skip
    chunks = chunks_of(packets)
    assert [c.data for c in chunks] == [b"a-open", b"b-open", b"b-reply", b"a-reply", b"b-more"]
    assert str(chunks[1].src) == "[2001:db8::1]:40002"
    assert chunks[1].client == Endpoint("2001:db8::1", 40002)
    assert [c.ts for c in chunks] == sorted(c.ts for c in chunks)


def test_other_ports_are_filtered_out() -> None:
    bgp = Flow(C.address, S.address)
    http = Flow(C.address, S.address, cport=40001, sport=80)
    packets = [*http.handshake(), *bgp.handshake(), http.seg(True, 0, b"GET /", ACK | PSH)]
    packets.append(bgp.seg(True, 0, b"bgp", ACK | PSH))
    streams = TcpStreams(capture(packets))
    assert [c.data for c in streams] == [b"bgp"]
    assert streams.stats["TCP port not selected"] == 4
    assert streams.stats["TCP segment"] == 4
    assert [c.data for c in tcp_stream_chunks(capture(packets), ports={80})] == [b"GET /"]
    assert [c.data for c in tcp_stream_chunks(capture(packets), ports=None)] == [b"GET /", b"bgp"]


def test_pcapng_two_interfaces_ipv6_extension_header() -> None:
    """Each direction captured on its own interface, with different link types."""
    c, s = "2001:db8::1", "2001:db8::2"
    hbh = [(0, b"\x01\x04\0\0\0\0")]
    w = PcapngWriter()
    w.section()
    eth = w.interface(LT_ETHERNET, tsresol=9)
    cooked = w.interface(LT_SLL)
    for i, (from_client, payload) in enumerate([(True, b"ping"), (False, b"pong")]):
        src, dst = (c, s) if from_client else (s, c)
        sp, dp = (40000, 179) if from_client else (179, 40000)
        pkt = ipv6(src, dst, tcp(sp, dp, 1, 1, ACK | PSH, payload), ext=hbh)
        if from_client:
            w.epb(eth, 5.0 + i, ethernet(pkt))
        else:
            w.epb(cooked, 5.0 + i, sll(pkt))
    chunks = list(tcp_stream_chunks(io.BytesIO(w.getvalue())))
    assert [(str(ch.src), ch.data, ch.ts) for ch in chunks] == [
        ("[2001:db8::1]:40000", b"ping", 5.0),
        ("[2001:db8::2]:179", b"pong", 6.0),
    ]


def test_truncated_capture_yields_buffered_data_then_raises() -> None:
    f = Flow(C.address, S.address)
    segs = segments(f, DATA, 100)
    data = capture([f.syn(), segs[0], segs[2], segs[3]]).getvalue()[:-20]
    got: list[StreamChunk] = []
    with pytest.raises(CaptureError, match=r"truncated pcap record at offset \d+") as exc:
        got.extend(tcp_stream_chunks(io.BytesIO(data)))
    assert exc.value.offset is not None and exc.value.offset < len(data)
    assert [(c.data, c.gap) for c in got] == [(DATA[:100], 0), (DATA[200:300], 100)]


def test_not_a_capture_raises_before_yielding(tmp_path: Path) -> None:
    path = tmp_path / "notes.pcap"
    path.write_text("this is not a capture\n")
    with pytest.raises(CaptureError, match=r"notes\.pcap: not a pcap/pcapng file"):
        next(tcp_stream_chunks(path))


def test_raw_ip_linktype_file(tmp_path: Path) -> None:
    f = Flow(C.address, S.address)
    path = tmp_path / "raw.cap"
    path.write_bytes(pcap([(1.0, p) for p in f.handshake() + segments(f, DATA, 300)], LT_RAW))
    assert joined(list(tcp_stream_chunks(str(path)))) == {(C, S): DATA}


# --- property ---------------------------------------------------------------------------


@st.composite
def shuffled_segments(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[int, int]], bool]:
    data = draw(st.binary(min_size=1, max_size=600))
    isn = draw(st.integers(0, 0xFFFFFFFF))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=20)))
    cuts = [c for c in cuts if c < len(data)]
    bounds = list(zip([0, *cuts], [*cuts, len(data)], strict=True))
    # Duplicates, and overlapping re-segmentations of the same bytes.
    extra = draw(st.lists(st.sampled_from(bounds), max_size=10))
    spans = draw(
        st.lists(
            st.tuples(st.integers(0, len(data) - 1), st.integers(1, 200)).map(
                lambda t: (t[0], min(len(data), t[0] + t[1]))
            ),
            max_size=5,
        )
    )
    order = draw(st.permutations(bounds + extra + spans))
    return data, isn, order, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(shuffled_segments())
def test_any_permutation_or_duplication_reassembles(
    case: tuple[bytes, int, list[tuple[int, int]], bool],
) -> None:
    data, isn, order, with_syn = case
    r = TcpReassembler()
    out: list[StreamChunk] = []
    if with_syn:
        out += r.feed(TcpSegment(0.0, C, S, isn, 0, SYN, b"", 0))
    else:
        # Without a handshake the first segment seen defines the start: make it byte 0.
        order = [(0, order[0][1]) if order[0][0] else order[0], *order[1:]]
    for i, (a, b) in enumerate(order):
        seq = (isn + 1 + a) & 0xFFFFFFFF
        out += r.feed(TcpSegment(float(i), C, S, seq, 0, ACK, data[a:b], b - a))
    out += r.flush()
    assert all(c.gap == 0 for c in out)
    assert b"".join(c.data for c in out) == data
    assert [c.ts for c in out] == sorted(c.ts for c in out)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=2, max_size=400),
    cuts=st.sets(st.integers(1, 399), max_size=15),
    isn=st.integers(0, 0xFFFFFFFF),
    rnd=st.randoms(use_true_random=False),
)
def test_lost_segments_are_reported_as_gaps_never_glued(
    data: bytes, cuts: set[int], isn: int, rnd: random.Random
) -> None:
    points = sorted(c for c in cuts if c < len(data))
    bounds = list(zip([0, *points], [*points, len(data)], strict=True))
    kept = [bounds[0]] + [b for b in bounds[1:] if rnd.random() < 0.6]
    order = [kept[0], *rnd.sample(kept[1:], len(kept) - 1)]
    r = TcpReassembler()
    out = r.feed(TcpSegment(0.0, C, S, isn, 0, SYN, b"", 0))
    for i, (a, b) in enumerate(order):
        seq = (isn + 1 + a) & 0xFFFFFFFF
        out += r.feed(TcpSegment(float(i), C, S, seq, 0, ACK, data[a:b], b - a))
    out += r.flush()
    got: list[int | None] = []
    for c in out:
        assert c.data or c.gap == 0  # no ACK or FIN: a trailing loss cannot be known
        got += [None] * c.gap + list(c.data)
    end = max(b for _, b in kept)
    want: list[int | None] = [None] * end
    for a, b in kept:
        want[a:b] = data[a:b]
    assert got == want
    assert r.lost_bytes == want.count(None)


# --- real captures ----------------------------------------------------------------------

CAPTURES = sorted((Path(__file__).parent.parent / "vectors" / "captures").glob("*.pcap*"))


@pytest.mark.skipif(not CAPTURES, reason="no captures in tests/vectors/captures")
@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_real_captures_start_with_bgp_marker(path: Path) -> None:
    first: dict[tuple[Endpoint, Endpoint], bytes] = {}
    for chunk in tcp_stream_chunks(path):
        key = (chunk.src, chunk.dst)
        if chunk.client is not None and len(first.get(key, b"")) < 16:
            first[key] = first.get(key, b"") + chunk.data
    assert first, f"{path.name}: no port-179 stream with a captured handshake"
    for (src, dst), data in first.items():
        if data:
            assert data[:16] == b"\xff" * 16, f"{src} -> {dst}: {data[:16].hex()}"
