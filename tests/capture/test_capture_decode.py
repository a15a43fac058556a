"""Link-layer, IPv4, IPv6 and TCP header decoding."""

from __future__ import annotations

import struct

import pytest
from capbuild import (
    ACK,
    FIN,
    LT_ETHERNET,
    LT_LOOP,
    LT_NULL,
    LT_RAW,
    LT_SLL,
    LT_SLL2,
    PSH,
    ethernet,
    ipv4,
    ipv6,
    null,
    sll,
    sll2,
    tcp,
)

from pybgp.capture.tcp import Endpoint, TcpSegment, decode_frame

V4 = ("198.18.0.1", "198.18.0.2")
V6 = ("2001:db8::1", "2001:db8::2")
SEGMENT = tcp(40000, 179, 0xFFFFFFF0, 77, ACK | PSH, b"payload")


def check(seg: TcpSegment | str, src: str, dst: str) -> None:
    assert isinstance(seg, TcpSegment), seg
    assert seg.src == Endpoint(src, 40000)
    assert seg.dst == Endpoint(dst, 179)
    assert (seg.seq, seg.ack, seg.flags) == (0xFFFFFFF0, 77, ACK | PSH)
    assert seg.payload == b"payload"
    assert seg.length == 7


def test_endpoint_str() -> None:
    assert str(Endpoint("198.18.0.1", 179)) == "198.18.0.1:179"
    assert str(Endpoint("2001:db8::1", 179)) == "[2001:db8::1]:179"


@pytest.mark.parametrize("addrs", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (LT_ETHERNET, ethernet),
        (LT_ETHERNET, lambda p: ethernet(p, vlans=((0x8100, 42),))),
        (LT_ETHERNET, lambda p: ethernet(p, vlans=((0x88A8, 100), (0x8100, 7)))),
        (LT_SLL, sll),
        (LT_SLL2, sll2),
        (LT_RAW, lambda p: p),
        (12, lambda p: p),
        (14, lambda p: p),
        (LT_NULL, null),
        (LT_NULL, lambda p: null(p, ">")),
        (LT_NULL, lambda p: null(p, linux=True)),
        (LT_LOOP, lambda p: null(p, ">")),
    ],
    ids=[
        "eth", "dot1q", "qinq", "sll", "sll2", "raw101", "raw12", "raw14",
        "null-le", "null-be", "null-linux", "loop",
    ],
)  # fmt: skip
def test_link_types(linktype: int, wrap, addrs: tuple[str, str]) -> None:
    src, dst = addrs
    packet = ipv6(src, dst, SEGMENT) if ":" in src else ipv4(src, dst, SEGMENT)
    check(decode_frame(linktype, wrap(packet), 1.5), src, dst)


def test_ethernet_padding_is_trimmed() -> None:
    frame = ethernet(ipv4(*V4, tcp(1, 179, 0, flags=ACK)))
    assert len(frame) == 60  # 54 bytes of headers + 6 bytes of padding
    seg = decode_frame(LT_ETHERNET, frame)
    assert isinstance(seg, TcpSegment)
    assert seg.payload == b"" and seg.length == 0


def test_mpls() -> None:
    labels = struct.pack(">II", 16 << 12 | 64, 17 << 12 | 1 << 8 | 64)
    frame = ethernet(labels + ipv4(*V4, SEGMENT), ethertype=0x8847)
    check(decode_frame(LT_ETHERNET, frame), *V4)


def test_ipv4_options_honoured() -> None:
    options = b"\x01\x01\x01\x00" + b"\x07\x07\x04" + b"\0" * 5  # NOP NOP NOP EOL, RR
    check(decode_frame(LT_RAW, ipv4(*V4, SEGMENT, options=options)), *V4)


def test_tcp_options_honoured() -> None:
    seg = tcp(40000, 179, 0xFFFFFFF0, 77, ACK | PSH, b"payload", options=b"\x02\x04\x05\xb4")
    check(decode_frame(LT_RAW, ipv4(*V4, seg)), *V4)


def test_ipv4_fragments() -> None:
    first = ipv4(*V4, SEGMENT, more_fragments=True)
    check(decode_frame(LT_RAW, first), *V4)
    later = ipv4(*V4, b"more bytes", frag_offset=1480)
    assert decode_frame(LT_RAW, later) == "IPv4 non-first fragment"
    last_with_df = ipv4(*V4, b"more bytes", frag_offset=8)
    assert decode_frame(LT_RAW, last_with_df) == "IPv4 non-first fragment"


def test_ipv4_total_length_zero_means_whole_frame() -> None:
    check(decode_frame(LT_RAW, ipv4(*V4, SEGMENT, total_length=0)), *V4)


@pytest.mark.parametrize(
    "ext",
    [
        [(0, b"\x01\x04\0\0\0\0")],  # hop-by-hop with a PadN option
        [(0, b""), (43, b"\0\0" + b"\0" * 20), (60, b"\x01\x00")],
        [(60, b""), (44, b"\0\0\0\0\0\x01")],  # atomic fragment (offset 0, M=0)
        [(51, b"\0" * 14)],  # authentication header
    ],
    ids=["hbh", "hbh-routing-dstopts", "dstopts-frag", "ah"],
)
def test_ipv6_extension_headers(ext: list[tuple[int, bytes]]) -> None:
    check(decode_frame(LT_ETHERNET, ethernet(ipv6(*V6, SEGMENT, ext=ext))), *V6)


def test_ipv6_non_first_fragment() -> None:
    frame = ipv6(*V6, SEGMENT, ext=[(44, struct.pack(">HI", 1480, 1))])
    assert decode_frame(LT_RAW, frame) == "IPv6 non-first fragment"


@pytest.mark.parametrize(
    ("linktype", "frame", "reason"),
    [
        (LT_RAW, ipv4(*V4, b"\0" * 8, proto=17), "not TCP"),
        (LT_RAW, ipv6(*V6, b"", nh=59), "not TCP"),
        (LT_RAW, ipv6(*V6, b"\0" * 8, nh=58), "not TCP"),
        (LT_ETHERNET, ethernet(b"\0" * 28, ethertype=0x0806), "not IP (ethertype 0x0806)"),
        (LT_RAW, b"\x50" + b"\0" * 30, "not IP"),
        (105, b"\0" * 80, "unsupported link type 105"),
        (LT_ETHERNET, b"\0" * 10, "truncated link header"),
        (LT_RAW, ipv4(*V4, SEGMENT)[:30], "truncated TCP header"),
        (LT_RAW, ipv6(*V6, SEGMENT)[:39], "truncated IPv6 header"),
        (LT_RAW, ipv4(*V4, tcp(1, 2, 0)), "TCP port not selected"),
    ],
)
def test_skipped_frames(linktype: int, frame: bytes, reason: str) -> None:
    assert decode_frame(linktype, frame, ports={179}) == reason


def test_no_port_filter_and_flags() -> None:
    seg = decode_frame(LT_RAW, ipv4(*V4, tcp(1, 2, 5, flags=FIN | ACK)), ports=None)
    assert isinstance(seg, TcpSegment)
    assert (seg.src.port, seg.dst.port, seg.flags) == (1, 2, FIN | ACK)


def test_snaplen_cut_payload_keeps_announced_length() -> None:
    frame = ipv4(*V4, SEGMENT)
    seg = decode_frame(LT_RAW, frame[:-3])
    assert isinstance(seg, TcpSegment)
    assert seg.payload == b"payl" and seg.length == 7
