"""Classic pcap and pcapng file-format reading."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from capbuild import (
    LT_ETHERNET,
    LT_RAW,
    LT_SLL2,
    PcapngWriter,
    ethernet,
    ipv4,
    pcap,
    sll2,
    tcp,
)

from pybgp.capture.pcap import CaptureError, Packet, read_packets

FRAME_A = ethernet(ipv4("198.18.0.1", "198.18.0.2", tcp(40000, 179, 1, payload=b"hello")))
FRAME_B = ethernet(ipv4("198.18.0.2", "198.18.0.1", tcp(179, 40000, 9, payload=b"world!")))


def write(tmp_path: Path, data: bytes, name: str = "capture.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap(tmp_path: Path, endian: str, nano: bool) -> None:
    ts_a, ts_b = 1_700_000_000.123456, 1_700_000_001.654321
    data = pcap([(ts_a, FRAME_A), (ts_b, FRAME_B)], LT_ETHERNET, endian=endian, nano=nano)
    # The extension does not matter: the magic number decides.
    packets = list(read_packets(write(tmp_path, data, "weird.pcapng")))
    assert [p.data for p in packets] == [FRAME_A, FRAME_B]
    assert all(p.linktype == LT_ETHERNET and p.interface == 0 for p in packets)
    assert packets[0].ts == pytest.approx(ts_a, abs=1e-6)
    assert packets[1].ts == pytest.approx(ts_b, abs=1e-6)
    assert packets[0].offset == 24
    assert packets[1].offset == 24 + 16 + len(FRAME_A)


def test_classic_pcap_nanosecond_precision() -> None:
    data = pcap([(1.000000007, FRAME_A)], nano=True)
    (pkt,) = read_packets(io.BytesIO(data))
    assert pkt.ts == pytest.approx(1.000000007, abs=1e-10)


def test_snaplen_cut_frames_keep_orig_len() -> None:
    (pkt,) = read_packets(io.BytesIO(pcap([(0.0, FRAME_A)], snaplen=40)))
    assert pkt.data == FRAME_A[:40]
    assert pkt.orig_len == len(FRAME_A)


def test_pcapng_sections_interfaces_and_block_types(tmp_path: Path) -> None:
    raw = ipv4("198.18.0.1", "198.18.0.2", tcp(1, 179, 0))
    w = PcapngWriter("<")
    w.section()
    eth = w.interface(LT_ETHERNET)  # default microseconds
    rawif = w.interface(LT_RAW, tsresol=9)  # nanoseconds
    w.unknown()
    w.epb(eth, 10.5, FRAME_A)
    w.epb(rawif, 11.000000001, raw)
    w.spb(FRAME_B)  # interface 0, no timestamp
    w.obsolete_pb(rawif, 12.25, raw)
    w.unknown(0x80000001, b"custom block")
    # Second section, other byte order, fresh interface table.
    w.section(">")
    sll = w.interface(LT_SLL2, tsresol=0x80 | 10, tsoffset=1000)  # 2^-10 s, +1000 s
    w.epb(sll, 3.5, sll2(raw), caplen=30)
    packets = list(read_packets(write(tmp_path, w.getvalue(), "capture.pcap")))

    assert [(p.linktype, p.interface) for p in packets] == [
        (LT_ETHERNET, 0),
        (LT_RAW, 1),
        (LT_ETHERNET, 0),
        (LT_RAW, 1),
        (LT_SLL2, 0),
    ]
    assert [p.data for p in packets[:4]] == [FRAME_A, raw, FRAME_B, raw]
    assert packets[4].data == sll2(raw)[:30]
    assert packets[4].orig_len == len(sll2(raw))
    assert packets[0].ts == pytest.approx(10.5)
    assert packets[1].ts == pytest.approx(11.000000001, abs=1e-9)
    assert packets[2].ts == packets[1].ts  # SPB reuses the previous timestamp
    assert packets[3].ts == pytest.approx(12.25)
    assert packets[4].ts == pytest.approx(1003.5)


def test_pcapng_big_endian_only() -> None:
    w = PcapngWriter(">")
    w.section()
    w.interface(LT_ETHERNET, tsresol=3)
    w.epb(0, 42.125, FRAME_A)
    (pkt,) = read_packets(io.BytesIO(w.getvalue()))
    assert pkt == Packet(42.125, LT_ETHERNET, FRAME_A, len(FRAME_A), 0, pkt.offset)


def test_gzip_compressed(tmp_path: Path) -> None:
    data = gzip.compress(pcap([(1.0, FRAME_A), (2.0, FRAME_B)]))
    assert [p.data for p in read_packets(write(tmp_path, data))] == [FRAME_A, FRAME_B]


def test_many_packets_cross_read_buffer_boundaries() -> None:
    big = ethernet(ipv4("198.18.0.1", "198.18.0.2", tcp(1, 179, 0, payload=b"x" * 1400)))
    frames = [(float(i), big[:-1] + bytes([i % 256])) for i in range(2000)]
    packets = list(read_packets(io.BytesIO(pcap(frames))))
    assert [p.data for p in packets] == [f for _, f in frames]


@pytest.mark.parametrize(
    "data",
    [b"", b"\xd4\xc3", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 64, b"\x0a\x0d\x0d\x0a" + b"\0" * 8],
)
def test_not_a_capture(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CaptureError) as exc:
        list(read_packets(write(tmp_path, data)))
    assert "capture.bin" in str(exc.value)


def test_bad_magic_message(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"not a pcap/pcapng file \(magic 0x7f454c46\)"):
        list(read_packets(write(tmp_path, b"\x7fELF" + b"\0" * 60)))


def test_truncated_file_header() -> None:
    with pytest.raises(CaptureError, match="truncated pcap file header at offset 0"):
        list(read_packets(io.BytesIO(pcap([])[:20])))


@pytest.mark.parametrize("cut", [1, 10, 16, 20, len(FRAME_B) + 15])
def test_truncated_final_record_yields_previous_packets(cut: int) -> None:
    data = pcap([(1.0, FRAME_A), (2.0, FRAME_B)])
    it = read_packets(io.BytesIO(data[: len(data) - cut]))
    assert next(it).data == FRAME_A
    with pytest.raises(CaptureError, match="truncated pcap record") as exc:
        next(it)
    assert exc.value.offset == 24 + 16 + len(FRAME_A)


def test_truncated_pcapng_block() -> None:
    w = PcapngWriter()
    w.section()
    w.interface(LT_ETHERNET)
    w.epb(0, 1.0, FRAME_A)
    w.epb(0, 2.0, FRAME_B)
    data = w.getvalue()[:-7]
    packets: list[Packet] = []
    with pytest.raises(CaptureError, match="truncated pcapng block at offset"):
        packets.extend(read_packets(io.BytesIO(data)))
    assert [p.data for p in packets] == [FRAME_A]


def test_corrupt_pcapng_block_length() -> None:
    w = PcapngWriter()
    w.section()
    w.interface(LT_ETHERNET)
    data = bytearray(w.getvalue())
    data[-1] ^= 0x40  # trailing length no longer matches
    with pytest.raises(CaptureError, match="corrupt pcapng block"):
        list(read_packets(io.BytesIO(bytes(data))))


def test_pcapng_packet_for_undeclared_interface() -> None:
    w = PcapngWriter()
    w.section()
    w.interface(LT_ETHERNET)
    w._tsres.append(10**6)
    w.epb(1, 1.0, FRAME_A)
    with pytest.raises(CaptureError, match="undeclared interface 1"):
        list(read_packets(io.BytesIO(w.getvalue())))
