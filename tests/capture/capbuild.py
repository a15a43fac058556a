"""A tiny hand-rolled pcap/pcapng writer and frame builder for the capture tests.

Checksums are left at zero: the reader never verifies them.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MARKER = b"\xff" * 16

LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP, LT_SLL, LT_SLL2 = 0, 1, 101, 108, 113, 276


# --- protocol headers -------------------------------------------------------------------


def tcp(
    sport: int,
    dport: int,
    seq: int,
    ack: int = 0,
    flags: int = ACK,
    payload: bytes = b"",
    options: bytes = b"",
) -> bytes:
    assert len(options) % 4 == 0
    doff = (20 + len(options)) // 4
    hdr = struct.pack(
        ">HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, doff << 12 | flags,
        65535, 0, 0,
    )  # fmt: skip
    return hdr + options + payload


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    proto: int = 6,
    options: bytes = b"",
    frag_offset: int = 0,
    more_fragments: bool = False,
    total_length: int | None = None,
) -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload) if total_length is None else total_length
    flags_frag = (0x2000 if more_fragments else 0) | (frag_offset // 8)
    hdr = struct.pack(
        ">BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, flags_frag, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )  # fmt: skip
    return hdr + options + payload


def ipv6(
    src: str, dst: str, payload: bytes, ext: list[tuple[int, bytes]] = (), nh: int = 6
) -> bytes:
    """``ext`` is a list of (extension header type, body); bodies are padded so that each
    header is a multiple of 8 bytes (the fragment header is fixed at 8)."""
    chain = b""
    types = [t for t, _ in ext] + [nh]
    for i, (t, body) in enumerate(ext):
        nxt = types[i + 1]
        if t == 44:
            chain += bytes([nxt, 0]) + body.ljust(6, b"\0")
        elif t == 51:
            body = body.ljust((len(body) + 2 + 3) // 4 * 4 - 2, b"\0")
            chain += bytes([nxt, (len(body) + 2) // 4 - 2]) + body
        else:
            body = body.ljust((len(body) + 2 + 7) // 8 * 8 - 2, b"\0")
            chain += bytes([nxt, (len(body) + 2) // 8 - 1]) + body
    payload = chain + payload
    first = types[0]
    hdr = struct.pack(
        ">IHBB16s16s", 6 << 28, len(payload), first, 64,
        ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed,
    )  # fmt: skip
    return hdr + payload


def ip(src: str, dst: str, payload: bytes) -> bytes:
    return ipv6(src, dst, payload) if ":" in src else ipv4(src, dst, payload)


def ethertype_of(packet: bytes) -> int:
    return 0x86DD if packet[0] >> 4 == 6 else 0x0800


def ethernet(packet: bytes, vlans: tuple[int, ...] = (), ethertype: int | None = None) -> bytes:
    """``vlans``: outer to inner TPIDs-with-VID, e.g. ((0x88A8, 100), (0x8100, 7))."""
    et = ethertype_of(packet) if ethertype is None else ethertype
    tags = b""
    for tpid, vid in vlans:
        tags += struct.pack(">HH", tpid, vid)
    frame = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + tags + struct.pack(">H", et) + packet
    return frame.ljust(60, b"\0")  # minimum frame size: padding the reader must trim


def sll(packet: bytes) -> bytes:
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01", ethertype_of(packet)) + packet


def sll2(packet: bytes) -> bytes:
    return (
        struct.pack(">HHIHBB8s", ethertype_of(packet), 0, 3, 1, 0, 6, b"\x02\0\0\0\0\x01") + packet
    )


def null(packet: bytes, endian: str = "<", linux: bool = False) -> bytes:
    family = 2 if packet[0] >> 4 == 4 else (10 if linux else 30)
    return struct.pack(endian + "I", family) + packet


# --- file formats -----------------------------------------------------------------------


def pcap(
    frames: list[tuple[float, bytes]],
    linktype: int = LT_ETHERNET,
    endian: str = "<",
    nano: bool = False,
    snaplen: int = 65535,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    scale = 1_000_000_000 if nano else 1_000_000
    for ts, frame in frames:
        units = round(ts * scale)
        cap = frame[:snaplen]
        out.append(
            struct.pack(endian + "IIII", units // scale, units % scale, len(cap), len(frame))
        )
        out.append(cap)
    return b"".join(out)


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


@dataclass
class PcapngWriter:
    """Builds a pcapng file block by block; each section may use its own byte order."""

    endian: str = "<"
    blocks: list[bytes] = field(default_factory=list)
    _tsres: list[int] = field(default_factory=list)  # per interface: units per second

    def block(self, btype: int, body: bytes) -> None:
        body = _pad4(body)
        n = len(body) + 12
        self.blocks.append(
            struct.pack(self.endian + "II", btype, n) + body + struct.pack(self.endian + "I", n)
        )

    def options(self, opts: list[tuple[int, bytes]]) -> bytes:
        if not opts:
            return b""
        raw = b"".join(struct.pack(self.endian + "HH", c, len(v)) + _pad4(v) for c, v in opts)
        return raw + b"\0\0\0\0"

    def section(self, endian: str | None = None) -> None:
        if endian is not None:
            self.endian = endian
        self._tsres = []
        body = struct.pack(self.endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        self.block(0x0A0D0D0A, body + self.options([(4, b"pybgp tests")]))

    def interface(self, linktype: int, tsresol: int | None = None, tsoffset: int = 0) -> int:
        opts = [(2, b"eth0")]
        if tsresol is not None:
            opts.append((9, bytes([tsresol])))
        if tsoffset:
            opts.append((14, struct.pack(self.endian + "q", tsoffset)))
        self.block(1, struct.pack(self.endian + "HHI", linktype, 0, 0) + self.options(opts))
        res = tsresol if tsresol is not None else 6
        self._tsres.append(2 ** (res & 0x7F) if res & 0x80 else 10**res)
        return len(self._tsres) - 1

    def _units(self, iface: int, ts: float) -> tuple[int, int]:
        units = round(ts * self._tsres[iface])
        return units >> 32, units & 0xFFFFFFFF

    def epb(self, iface: int, ts: float, frame: bytes, caplen: int | None = None) -> None:
        cap = frame[:caplen] if caplen is not None else frame
        high, low = self._units(iface, ts)
        body = struct.pack(self.endian + "5I", iface, high, low, len(cap), len(frame)) + _pad4(cap)
        self.block(6, body + self.options([(1, b"a comment")]))

    def obsolete_pb(self, iface: int, ts: float, frame: bytes) -> None:
        high, low = self._units(iface, ts)
        body = struct.pack(self.endian + "HH4I", iface, 0, high, low, len(frame), len(frame))
        self.block(2, body + _pad4(frame))

    def spb(self, frame: bytes) -> None:
        self.block(3, struct.pack(self.endian + "I", len(frame)) + frame)

    def unknown(self, btype: int = 0x0BAD, body: bytes = b"whatever") -> None:
        self.block(btype, body)

    def getvalue(self) -> bytes:
        return b"".join(self.blocks)


# --- TCP conversations ------------------------------------------------------------------


@dataclass
class Flow:
    """One TCP connection; ``seg()`` returns IP packets (wrap them with a link header)."""

    client: str
    server: str
    cport: int = 40000
    sport: int = 179
    cisn: int = 1000
    sisn: int = 5000

    def seg(
        self, from_client: bool, rel_seq: int, payload: bytes = b"", flags: int = ACK,
        rel_ack: int = 0,
    ) -> bytes:  # fmt: skip
        """``rel_seq``/``rel_ack`` are relative to the ISN + 1 of the sender / receiver."""
        if from_client:
            seq, ack = self.cisn + 1 + rel_seq, self.sisn + 1 + rel_ack
            return ip(
                self.client, self.server, tcp(self.cport, self.sport, seq, ack, flags, payload)
            )
        seq, ack = self.sisn + 1 + rel_seq, self.cisn + 1 + rel_ack
        return ip(self.server, self.client, tcp(self.sport, self.cport, seq, ack, flags, payload))

    def syn(self) -> bytes:
        return self.seg(True, -1, flags=SYN)

    def synack(self) -> bytes:
        return self.seg(False, -1, flags=SYN | ACK)

    def handshake(self) -> list[bytes]:
        return [self.syn(), self.synack(), self.seg(True, 0)]


def bgp_message(body: bytes = b"", msg_type: int = 4) -> bytes:
    return MARKER + struct.pack(">HB", 19 + len(body), msg_type) + body
