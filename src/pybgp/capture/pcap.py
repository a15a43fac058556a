"""Reading packet captures (classic pcap and pcapng) and extracting TCP streams from them.

The format is detected from the magic number, never from the file name; gzip-compressed
captures are read transparently. The file is streamed through a single read buffer.

Error policy: a file that is not a capture, or whose file header is cut short, raises
:class:`CaptureError` before anything is yielded. A capture cut in the middle of a record
(a capture still being written, or a partial download) yields every complete packet
first, then raises :class:`CaptureError` naming the offset of the incomplete record.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

from pybgp.capture.tcp import (
    Endpoint,
    StreamChunk,
    TcpReassembler,
    TcpSegment,
    decode_frame,
)

__all__ = [
    "CaptureError",
    "Endpoint",
    "Packet",
    "StreamChunk",
    "TcpSegment",
    "TcpStreams",
    "read_packets",
    "tcp_stream_chunks",
]

_CHUNK = 1 << 20
_MAX_RECORD = 1 << 28  # larger captured lengths mean a corrupt file, not a real frame

# classic pcap magic (as stored) -> (byte order, timestamp divisor, record header size)
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1_000_000, 24),  # Kuznetzov's "modified" pcap
    b"\xa1\xb2\xcd\x34": (">", 1_000_000, 24),
}
_SHB = b"\x0a\x0d\x0d\x0a"
_BOM = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}


class CaptureError(Exception):
    """The file is not a pcap/pcapng capture, or is corrupt or truncated."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured frame. ``data`` may be shorter than ``orig_len`` (snaplen)."""

    ts: float
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0
    offset: int = 0  # file offset of the record (of the decompressed stream for .gz)


class _Reader:
    """A forward-only window on the file; ``buf[pos:]`` is unread data at ``base + pos``."""

    __slots__ = ("base", "buf", "eof", "f", "pos")

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.eof = False

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def available(self) -> int:
        return len(self.buf) - self.pos

    def ensure(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False if the file ends first. Only the
        unread tail (less than one record) is ever copied, so reading stays linear."""
        if len(self.buf) - self.pos >= n:
            return True
        if self.eof:
            return False
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        while have < n:
            chunk = self.f.read(max(_CHUNK, n - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.base += self.pos
        self.buf = b"".join(parts)
        self.pos = 0
        return have >= n


def read_packets(path: str | os.PathLike[str] | BinaryIO) -> Iterator[Packet]:
    """Yield every frame of a pcap or pcapng capture (a path or a binary file object)."""
    with ExitStack() as stack:
        if isinstance(path, str | os.PathLike):
            name = os.fspath(path)
            f: BinaryIO = stack.enter_context(open(path, "rb"))
        else:
            name, f = getattr(path, "name", "<capture>"), path
        if f.seekable():
            head = f.read(2)
            f.seek(-len(head), os.SEEK_CUR)
            if head == b"\x1f\x8b":
                f = stack.enter_context(gzip.GzipFile(fileobj=f, mode="rb"))  # type: ignore[assignment]
        r = _Reader(f)
        try:
            if not r.ensure(4):
                raise CaptureError(f"{name}: not a pcap/pcapng file (too short)", 0)
            magic = r.buf[:4]
            if magic == _SHB:
                yield from _read_pcapng(r, name)
            elif magic in _PCAP_MAGIC:
                yield from _read_pcap(r, name, *_PCAP_MAGIC[magic])
            else:
                raise CaptureError(f"{name}: not a pcap/pcapng file (magic 0x{magic.hex()})", 0)
        except (OSError, EOFError) as exc:  # e.g. a corrupt gzip stream
            raise CaptureError(f"{name}: read error at offset {r.offset}: {exc}", r.offset) from exc


def _truncated(name: str, what: str, r: _Reader, need: int) -> CaptureError:
    return CaptureError(
        f"{name}: truncated {what} at offset {r.offset}: {need} bytes needed, {r.available} left",
        r.offset,
    )


def _read_pcap(r: _Reader, name: str, endian: str, divisor: int, hlen: int) -> Iterator[Packet]:
    if not r.ensure(24):
        raise _truncated(name, "pcap file header", r, 24)
    (network,) = struct.unpack_from(endian + "I", r.buf, 20)
    linktype = network & 0xFFFF  # upper bits may carry FCS information
    r.pos += 24
    record = struct.Struct(endian + "IIII")
    while True:
        if not r.ensure(hlen):
            if r.available:
                raise _truncated(name, "pcap record header", r, hlen)
            return
        sec, frac, incl, orig = record.unpack_from(r.buf, r.pos)
        if incl > _MAX_RECORD:
            raise CaptureError(
                f"{name}: corrupt pcap record at offset {r.offset} (length {incl})", r.offset
            )
        if not r.ensure(hlen + incl):
            raise _truncated(name, "pcap record", r, hlen + incl)
        p = r.pos
        data = r.buf[p + hlen : p + hlen + incl]
        offset = r.offset
        r.pos = p + hlen + incl
        yield Packet(sec + frac / divisor, linktype, data, orig, 0, offset)


def _read_pcapng(r: _Reader, name: str) -> Iterator[Packet]:
    endian = ">"
    # per section: interface id -> (link type, timestamp divisor, timestamp offset seconds)
    ifaces: list[tuple[int, int, int]] = []
    last_ts = 0.0
    while True:
        offset = r.offset
        if not r.ensure(12):
            if r.available:
                raise _truncated(name, "pcapng block header", r, 12)
            return
        b, p = r.buf, r.pos
        if b[p : p + 4] == _SHB:
            bom = b[p + 8 : p + 12]
            if bom not in _BOM:
                raise CaptureError(
                    f"{name}: bad pcapng byte-order magic at offset {offset}", offset
                )
            endian = _BOM[bom]
            ifaces = []
        btype, blen = struct.unpack_from(endian + "II", b, p)
        if blen < 12 or blen % 4 or blen > _MAX_RECORD:
            raise CaptureError(
                f"{name}: corrupt pcapng block at offset {offset} (length {blen})", offset
            )
        if not r.ensure(blen):
            raise _truncated(name, "pcapng block", r, blen)
        b, p = r.buf, r.pos
        if struct.unpack_from(endian + "I", b, p + blen - 4)[0] != blen:
            raise CaptureError(
                f"{name}: corrupt pcapng block at offset {offset} (trailing length)", offset
            )
        r.pos = p + blen
        end = p + blen - 4
        if btype == 0x0A0D0D0A:
            if blen < 28 or struct.unpack_from(endian + "H", b, p + 12)[0] != 1:
                raise CaptureError(f"{name}: unsupported pcapng section at {offset}", offset)
        elif btype == 1:  # Interface Description Block
            if blen < 20:
                raise CaptureError(f"{name}: corrupt pcapng IDB at offset {offset}", offset)
            ifaces.append(_parse_idb(b, p, end, endian))
        elif btype in (6, 2):  # Enhanced Packet Block / obsolete Packet Block
            if blen < 32:
                raise CaptureError(f"{name}: corrupt packet block at offset {offset}", offset)
            if btype == 6:
                iface, high, low, caplen, orig = struct.unpack_from(endian + "5I", b, p + 8)
            else:
                iface, _drops, high, low, caplen, orig = struct.unpack_from(
                    endian + "HH4I", b, p + 8
                )
            if p + 28 + caplen > end:
                raise CaptureError(f"{name}: corrupt packet block at offset {offset}", offset)
            if iface >= len(ifaces):
                raise CaptureError(
                    f"{name}: packet for undeclared interface {iface} at offset {offset}",
                    offset,
                )
            linktype, divisor, tsoffset = ifaces[iface]
            last_ts = ((high << 32) | low) / divisor + tsoffset
            yield Packet(last_ts, linktype, b[p + 28 : p + 28 + caplen], orig, iface, offset)
        elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
            if not ifaces:
                raise CaptureError(
                    f"{name}: packet for undeclared interface 0 at offset {offset}", offset
                )
            (orig,) = struct.unpack_from(endian + "I", b, p + 8)
            caplen = min(orig, blen - 16)
            # No timestamp is stored: reuse the previous packet's so time stays monotonic.
            yield Packet(last_ts, ifaces[0][0], b[p + 12 : p + 12 + caplen], orig, 0, offset)
        # any other block type (statistics, name resolution, custom...) is skipped


def _parse_idb(b: bytes, p: int, end: int, endian: str) -> tuple[int, int, int]:
    linktype = struct.unpack_from(endian + "H", b, p + 8)[0]
    divisor, tsoffset = 1_000_000, 0
    q = p + 16
    while q + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", b, q)
        if code == 0:  # opt_endofopt
            break
        value = b[q + 4 : q + 4 + length]
        if code == 9 and length == 1:  # if_tsresol: 10^-n, or 2^-n with the high bit set
            divisor = 2 ** (value[0] & 0x7F) if value[0] & 0x80 else 10 ** value[0]
        elif code == 14 and length == 8:  # if_tsoffset, seconds
            tsoffset = struct.unpack(endian + "q", value)[0]
        q += 4 + (length + 3) // 4 * 4
    return linktype, divisor, tsoffset


class TcpStreams:
    """Iterate over the TCP payload of every selected stream of a capture.

    ``ports``: a connection is kept when either port is in the set (``None`` keeps all
    TCP). After (or during) iteration, ``stats`` counts decoded segments and skipped
    frames by reason, and ``lost_bytes`` totals the reported gaps. Iterating again
    re-reads the file from the start (and keeps adding to ``stats``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | BinaryIO,
        ports: Collection[int] | None = frozenset({179}),
        *,
        max_pending: int = 8 << 20,
    ) -> None:
        self.path = path
        self.ports = ports
        self.max_pending = max_pending
        self.stats: Counter[str] = Counter()
        self._reassembler = TcpReassembler(max_pending)

    @property
    def lost_bytes(self) -> int:
        """Total of the gaps reported so far."""
        return self._reassembler.lost_bytes

    def __iter__(self) -> Iterator[StreamChunk]:
        reassembler = self._reassembler = TcpReassembler(self.max_pending)
        stats, ports = self.stats, self.ports
        error: CaptureError | None = None
        try:
            for pkt in read_packets(self.path):
                seg = decode_frame(pkt.linktype, pkt.data, pkt.ts, ports)
                if isinstance(seg, str):
                    stats[seg] += 1
                    continue
                stats["TCP segment"] += 1
                yield from reassembler.feed(seg)
        except CaptureError as exc:
            error = exc
        # Deliver buffered data even when the capture turns out to be truncated.
        yield from reassembler.flush()
        if error is not None:
            raise error


def tcp_stream_chunks(
    path: str | os.PathLike[str] | BinaryIO,
    ports: Collection[int] | None = frozenset({179}),
) -> Iterator[StreamChunk]:
    """Yield :class:`StreamChunk` objects, in capture order across all streams and in
    sequence order within each direction, for TCP connections with a port in ``ports``.

    A truncated capture yields everything decodable (including buffered out-of-order
    data) and then raises :class:`CaptureError`.
    """
    return iter(TcpStreams(path, ports))
