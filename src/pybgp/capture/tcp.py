"""IP/TCP decoding of captured link-layer frames and per-direction TCP reassembly.

This module knows nothing about files (see :mod:`pybgp.capture.pcap`) nor about BGP: it
turns frames into :class:`TcpSegment` objects and segments into in-order
:class:`StreamChunk` objects.
"""

from __future__ import annotations

import heapq
import ipaddress
import struct
from collections.abc import Container
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "ACK",
    "FIN",
    "RST",
    "SYN",
    "Endpoint",
    "StreamChunk",
    "TcpReassembler",
    "TcpSegment",
    "decode_frame",
]

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
_MASK = 0xFFFFFFFF

# Link types (https://www.tcpdump.org/linktypes.html). 12 and 14 are DLT_RAW on some BSDs.
_LT_NULL, _LT_ETHERNET, _LT_LOOP, _LT_SLL, _LT_SLL2 = 0, 1, 108, 113, 276
_LT_RAW = frozenset({12, 14, 101, 228, 229})
_ET_IPV4, _ET_IPV6 = 0x0800, 0x86DD
_ET_VLAN = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_ET_MPLS = frozenset({0x8847, 0x8848})
_IPV6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options

_TCP = struct.Struct(">HHIIH")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a TCP connection; ``str()`` gives ``1.2.3.4:179`` or ``[2001:db8::1]:179``."""

    address: str
    port: int

    def __str__(self) -> str:
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """In-order payload bytes of one direction of a TCP connection.

    ``gap`` counts bytes that were never captured between the previous chunk of this
    direction and ``data``: a consumer must not glue across it. ``closed`` is set on the
    last chunk of a direction (FIN reached, RST seen, or the connection was replaced by a
    new SYN on the same addresses); such a chunk may carry no data. ``client`` is the
    endpoint that opened the connection when its handshake was captured, else ``None``
    (then the stream may start in the middle of a message).
    """

    ts: float
    src: Endpoint
    dst: Endpoint
    data: bytes
    gap: int = 0
    closed: bool = False
    client: Endpoint | None = None


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """A decoded TCP segment. ``length`` is the payload length announced by the IP
    header; ``payload`` may be shorter when the frame was cut by the capture snaplen."""

    ts: float
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    payload: bytes
    length: int


@lru_cache(maxsize=4096)
def _address(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


@lru_cache(maxsize=8192)
def _endpoint(raw: bytes, port: int) -> Endpoint:
    return Endpoint(_address(raw), port)


def decode_frame(
    linktype: int, frame: bytes, ts: float = 0.0, ports: Container[int] | None = None
) -> TcpSegment | str:
    """Decode a captured frame down to TCP.

    Returns the segment, or a short human-readable reason why the frame was skipped
    (not IP, not TCP, non-first IPv4 fragment, port not in ``ports``...); reasons are
    meant to be counted, so they do not embed per-packet values except link/ether types.
    """
    n = len(frame)
    etype: int | None = None  # None: sniff the IP version nibble
    if linktype == _LT_ETHERNET:
        if n < 14:
            return "truncated link header"
        etype, off = (frame[12] << 8) | frame[13], 14
    elif linktype == _LT_SLL:
        if n < 16:
            return "truncated link header"
        etype, off = (frame[14] << 8) | frame[15], 16
    elif linktype == _LT_SLL2:
        if n < 20:
            return "truncated link header"
        etype, off = (frame[0] << 8) | frame[1], 20
    elif linktype in _LT_RAW:
        off = 0
    elif linktype in (_LT_NULL, _LT_LOOP):
        off = 4  # address family in some byte order: the IP version nibble is simpler
    else:
        return f"unsupported link type {linktype}"
    while etype in _ET_VLAN:  # 802.1Q / 802.1ad, possibly stacked
        if n < off + 4:
            return "truncated link header"
        etype, off = (frame[off + 2] << 8) | frame[off + 3], off + 4
    if etype in _ET_MPLS:
        while True:
            if n < off + 4:
                return "truncated link header"
            off += 4
            if frame[off - 2] & 1:  # bottom of stack
                break
        etype = None
    if etype is None:
        if n <= off:
            return "truncated link header"
        version = frame[off] >> 4
        etype = _ET_IPV4 if version == 4 else _ET_IPV6 if version == 6 else -1
        if etype < 0:
            return "not IP"
    if etype == _ET_IPV4:
        return _decode_ipv4(frame, off, ts, ports)
    if etype == _ET_IPV6:
        return _decode_ipv6(frame, off, ts, ports)
    return f"not IP (ethertype 0x{etype:04x})"


def _decode_ipv4(
    frame: bytes, off: int, ts: float, ports: Container[int] | None
) -> TcpSegment | str:
    if len(frame) < off + 20:
        return "truncated IPv4 header"
    ihl = (frame[off] & 0x0F) * 4
    if frame[off] >> 4 != 4 or ihl < 20:
        return "bad IPv4 header"
    total = (frame[off + 2] << 8) | frame[off + 3]
    if (frame[off + 6] & 0x1F) or frame[off + 7]:
        # Only the first fragment carries the TCP header; no IP reassembly is done, so the
        # bytes of later fragments surface as a reported gap in the stream.
        return "IPv4 non-first fragment"
    if frame[off + 9] != 6:
        return "not TCP"
    if total == 0:  # TSO/LRO captures may leave the total length at zero
        end = len(frame)
    elif total < ihl:
        return "bad IPv4 header"
    else:
        end = off + total  # trims Ethernet padding / trailing FCS
    src, dst = frame[off + 12 : off + 16], frame[off + 16 : off + 20]
    return _decode_tcp(frame, off + ihl, end, src, dst, ts, ports)


def _decode_ipv6(
    frame: bytes, off: int, ts: float, ports: Container[int] | None
) -> TcpSegment | str:
    n = len(frame)
    if n < off + 40:
        return "truncated IPv6 header"
    if frame[off] >> 4 != 6:
        return "bad IPv6 header"
    plen = (frame[off + 4] << 8) | frame[off + 5]
    nh = frame[off + 6]
    src, dst = frame[off + 8 : off + 24], frame[off + 24 : off + 40]
    p = off + 40
    end = p + plen if plen else n  # 0: jumbogram or TSO
    while nh != 6:
        if nh not in _IPV6_EXT and nh not in (44, 51):
            return "not TCP"  # includes 59, "no next header"
        if p + 8 > min(n, end):
            return "truncated IPv6 extension header"
        if nh in _IPV6_EXT:
            nh, p = frame[p], p + (frame[p + 1] + 1) * 8
        elif nh == 44:  # fragment header
            if ((frame[p + 2] << 8) | frame[p + 3]) & 0xFFF8:
                return "IPv6 non-first fragment"
            nh, p = frame[p], p + 8
        elif nh == 51:  # authentication header
            nh, p = frame[p], p + (frame[p + 1] + 2) * 4
    return _decode_tcp(frame, p, end, src, dst, ts, ports)


def _decode_tcp(
    frame: bytes,
    p: int,
    end: int,
    src: bytes,
    dst: bytes,
    ts: float,
    ports: Container[int] | None,
) -> TcpSegment | str:
    cap_end = min(end, len(frame))
    if cap_end - p < 20:
        return "truncated TCP header"
    sport, dport, seq, ack, offflags = _TCP.unpack_from(frame, p)
    if ports is not None and sport not in ports and dport not in ports:
        return "TCP port not selected"
    doff = (offflags >> 12) * 4
    if doff < 20:
        return "bad TCP header"
    if p + doff > cap_end:
        return "truncated TCP header"
    return TcpSegment(
        ts,
        _endpoint(src, sport),
        _endpoint(dst, dport),
        seq,
        ack,
        offflags & 0x3F,
        frame[p + doff : cap_end],
        end - p - doff,
    )


@dataclass(slots=True, eq=False)
class _Direction:
    """Reassembly state of one direction. Offsets are unbounded ints relative to ``base``
    (the sequence number of the first payload byte), so wraparound is handled once, in
    :meth:`offset`."""

    src: Endpoint
    dst: Endpoint
    base: int
    next: int = 0  # offset of the next byte to deliver
    heap: list[tuple[int, int, bytes, float]] = field(default_factory=list)  # start, serial..
    serial: int = 0  # heap tie-breaker, so that bytes are never compared
    pending: int = 0  # bytes held in heap
    gap: int = 0  # missing bytes to report with the next chunk
    fin: int | None = None  # offset of the FIN
    closed: bool = False
    announced: bool = False  # the closing chunk was emitted
    parts: list[bytes] = field(default_factory=list)  # delivered after ``gap``, not emitted
    parts_ts: float = 0.0
    sealed: list[tuple[int, bytes, float]] = field(default_factory=list)  # gap, data, ts

    def offset(self, seq: int) -> int:
        """Unwrap a 32-bit sequence number to the offset nearest to ``next``."""
        d = (seq - self.base - self.next) & _MASK
        return self.next + (d - 0x100000000 if d & 0x80000000 else d)

    def add(self, start: int, data: bytes, ts: float, max_pending: int) -> None:
        end = start + len(data)
        if end <= self.next:
            return  # retransmission of already-delivered bytes
        if start <= self.next:
            self.parts.append(data[self.next - start :] if start < self.next else data)
            self.parts_ts = max(self.parts_ts, ts)
            self.next = end
            self.drain()
            return
        heapq.heappush(self.heap, (start, self.serial, data, ts))
        self.serial += 1
        self.pending += len(data)
        while self.pending > max_pending and self.heap:
            self.skip_to(self.heap[0][0])

    def drain(self) -> None:
        heap = self.heap
        while heap and heap[0][0] <= self.next:
            start, _, data, ts = heapq.heappop(heap)
            self.pending -= len(data)
            end = start + len(data)
            if end > self.next:
                self.parts.append(data[self.next - start :])
                self.parts_ts = max(self.parts_ts, ts)
                self.next = end

    def skip_to(self, offset: int) -> None:
        """Declare ``[next, offset)`` lost (never captured) and deliver what follows."""
        if offset > self.next:
            if self.parts:  # each hole starts a new chunk
                self.sealed.append((self.gap, b"".join(self.parts), self.parts_ts))
                self.parts, self.gap, self.parts_ts = [], 0, 0.0
            self.gap += offset - self.next
            self.next = offset
        self.drain()

    def acked(self, ack: int) -> None:
        """The peer acknowledged up to ``ack``: bytes below it that are still missing
        were lost by the capture, not by the network, and will never be seen."""
        target = self.offset(ack)
        if self.fin is not None:
            target = min(target, self.fin)  # the FIN itself takes one sequence number
        while self.heap and self.heap[0][0] <= target:
            self.skip_to(self.heap[0][0])
        self.skip_to(target)
        self.check_fin()

    def check_fin(self) -> None:
        if self.fin is not None and self.next >= self.fin:
            self.close()

    def close(self) -> None:
        self.closed = True
        self.heap.clear()
        self.pending = 0

    def flush_all(self) -> None:
        """No more bytes will arrive: report every hole up to the furthest known byte."""
        while self.heap:
            self.skip_to(self.heap[0][0])
        if self.fin is not None:
            self.skip_to(self.fin)
            self.check_fin()


class _Connection:
    __slots__ = ("client", "dirs")

    def __init__(self) -> None:
        self.dirs: dict[Endpoint, _Direction] = {}  # keyed by sender
        self.client: Endpoint | None = None


class TcpReassembler:
    """Turn TCP segments, fed in capture order, into in-order :class:`StreamChunk` objects.

    Holes are resolved without guessing: bytes acknowledged by the peer but never seen
    were lost by the capture, so an ACK beyond a hole reports it as a ``gap``. Without
    ACKs (one-sided captures), a hole is reported once more than ``max_pending`` bytes
    of out-of-order data wait behind it, and at the end of the capture (:meth:`flush`).
    """

    def __init__(self, max_pending: int = 8 << 20) -> None:
        self.max_pending = max_pending
        self.lost_bytes = 0  # total of all reported gaps
        self._conns: dict[tuple[Endpoint, Endpoint], _Connection] = {}
        self._last_ts = 0.0

    def feed(self, seg: TcpSegment) -> list[StreamChunk]:
        """Process one segment; return the chunks it made deliverable (often none or one)."""
        src, dst, flags, ts = seg.src, seg.dst, seg.flags, seg.ts
        self._last_ts = ts
        key = (src, dst) if (src.address, src.port) <= (dst.address, dst.port) else (dst, src)
        out: list[StreamChunk] = []
        conn = self._conns.get(key)
        if conn is None:
            conn = self._conns[key] = _Connection()
        d = conn.dirs.get(src)
        if flags & SYN:
            base = (seg.seq + 1) & _MASK
            # Same addresses and ports, but a new connection (a SYN never follows data).
            if (d.base != base) if d is not None else (not flags & ACK and bool(conn.dirs)):
                self._close(conn, ts, out)
                conn = self._conns[key] = _Connection()
                d = None
            if d is None:
                d = conn.dirs[src] = _Direction(src, dst, base)
            if conn.client is None:
                conn.client = dst if flags & ACK else src
        elif d is None:
            # Handshake not captured: the first segment seen defines offset 0.
            d = conn.dirs[src] = _Direction(src, dst, seg.seq)
        if not d.closed:
            start = d.offset(seg.seq) + (1 if flags & SYN else 0)
            if seg.payload:
                d.add(start, seg.payload, ts, self.max_pending)
                if seg.length > len(seg.payload) and d.next == start + len(seg.payload):
                    d.skip_to(start + seg.length)  # cut by the snaplen: lost for good
            if flags & FIN and d.fin is None:
                d.fin = start + seg.length
            d.check_fin()
            self._emit(conn, d, ts, out)
        rev = conn.dirs.get(dst)
        if flags & ACK and rev is not None and not rev.closed and (rev.heap or rev.fin is not None):
            rev.acked(seg.ack)
            self._emit(conn, rev, ts, out)
        if flags & RST:
            self._close(conn, ts, out)
        return out

    def flush(self) -> list[StreamChunk]:
        """End of capture: report remaining holes and deliver buffered data."""
        out: list[StreamChunk] = []
        for conn in self._conns.values():
            for d in conn.dirs.values():
                if not d.closed:
                    d.flush_all()
                self._emit(conn, d, None, out, final=True)
        self._conns.clear()
        return out

    def _close(self, conn: _Connection, ts: float, out: list[StreamChunk]) -> None:
        """The connection ended (RST, or replaced by a new SYN): flush, close both ways."""
        for d in conn.dirs.values():
            if not d.closed:
                d.flush_all()
                d.close()
            self._emit(conn, d, ts, out)

    def _emit(
        self,
        conn: _Connection,
        d: _Direction,
        ts: float | None,
        out: list[StreamChunk],
        final: bool = False,
    ) -> None:
        """Turn what ``d`` delivered into chunks stamped ``ts`` (the packet that made the
        bytes deliverable), or at the end of the capture with the last carrying packet's."""
        pieces = d.sealed
        # A gap without data is held back until data follows, unless nothing will follow.
        if d.parts or (d.closed and not d.announced) or (final and d.gap):
            data = d.parts[0] if len(d.parts) == 1 else b"".join(d.parts)
            pieces.append((d.gap, data, d.parts_ts if d.parts else self._last_ts))
            d.parts, d.gap, d.parts_ts = [], 0, 0.0
        last = len(pieces) - 1
        for i, (gap, data, data_ts) in enumerate(pieces):
            closed = d.closed and i == last
            chunk_ts = data_ts if ts is None else ts
            out.append(StreamChunk(chunk_ts, d.src, d.dst, data, gap, closed, conn.client))
            self.lost_bytes += gap
        d.sealed = []
        d.announced = d.closed
