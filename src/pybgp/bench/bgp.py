"""Just enough BGP-4 for the benchmark peers: OPEN, KEEPALIVE, packed UPDATEs, framing.

The route set is fixed so that counting it costs no per-prefix Python work: prefix ``k``
(0 <= k < 2**20) is the ``k``-th /28 of 10.0.0.0/8, so every NLRI entry is 5 octets,
``0x1c`` then the four address octets (RFC 4271 4.3: the prefix padded to whole octets).
A receiver counts a run of them as ``len(nlri) // 5`` after checking, with one strided
slice, that every fifth octet is 28.

Written apart from ``pybgp.wire`` on purpose: the reflector under test may be pybgp, and
its codec should not also be the ruler.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator
from operator import itemgetter

ASN = 64512  # everything is iBGP in one AS
PREFIX_LEN = 28
BASE = int(ipaddress.IPv4Address("10.0.0.0"))
MAX_PREFIXES = 1 << (PREFIX_LEN - 8)  # the /28s of 10.0.0.0/8: 1,048,576
PER_UPDATE = 500
HOLD_TIME = 90

OPEN, UPDATE, NOTIFICATION, KEEPALIVE_TYPE = 1, 2, 3, 4
MARKER = b"\xff" * 16
HEADER = 19

# Path attribute type codes (RFC 4271 5, RFC 4760).
NEXT_HOP, LOCAL_PREF, MP_REACH, MP_UNREACH = 3, 5, 14, 15
_ENTRY = PREFIX_LEN // 8 + 2  # octets per NLRI entry: length + 4 address octets = 5
_MARKS = bytes([PREFIX_LEN])
_KEYS = struct.Struct("!xI")  # one /28 entry -> its network as an int
_first = itemgetter(0)


def message(kind: int, body: bytes = b"") -> bytes:
    """A message with its 19-octet header (RFC 4271 4.1)."""
    return MARKER + struct.pack("!HB", HEADER + len(body), kind) + body


KEEPALIVE = message(KEEPALIVE_TYPE)


def open_message(router_id: str, graceful_restart: bool = True, hold: int = HOLD_TIME) -> bytes:
    """An OPEN for AS ``ASN`` with the capabilities every target treats normally.

    Multiprotocol IPv4 unicast (BIRD refuses an OPEN with capabilities but not this one),
    Route Refresh, Four-Octet AS, and, if asked, Graceful Restart with no families: a
    receiving speaker (RFC 4724 3), the condition for FRR and GoBGP to send End-of-RIB,
    which retains nothing when the session drops since no family is listed.
    """
    caps = [
        bytes((1, 4)) + struct.pack("!HBB", 1, 0, 1),  # RFC 4760: AFI 1, SAFI 1
        bytes((2, 0)),  # RFC 2918 route refresh
        bytes((65, 4)) + struct.pack("!I", ASN),  # RFC 6793
    ]
    if graceful_restart:
        caps.append(bytes((64, 2)) + struct.pack("!H", 120))  # restart time 120 s
    params = b"".join(bytes((2, len(cap))) + cap for cap in caps)
    rid = ipaddress.IPv4Address(router_id).packed
    body = struct.pack("!BHH", 4, ASN, hold) + rid + bytes((len(params),)) + params
    return message(OPEN, body)


def prefix(k: int) -> str:
    """Prefix number ``k`` as text (for reports and errors)."""
    return f"{ipaddress.IPv4Address(BASE + (k << 4))}/{PREFIX_LEN}"


def nlri(start: int, count: int) -> bytes:
    """The NLRI field for prefixes ``start .. start+count-1``."""
    pack = struct.Struct("!BI").pack
    return b"".join(pack(PREFIX_LEN, BASE + (k << 4)) for k in range(start, start + count))


def key(k: int) -> int:
    """Prefix ``k`` as a receiver keys it (the network address as an int)."""
    return BASE + (k << 4)


def announce(prefixes: bytes, next_hop: str, local_pref: int) -> bytes:
    """An UPDATE announcing ``prefixes`` (an NLRI field) with iBGP attributes:
    ORIGIN IGP, an empty AS_PATH, NEXT_HOP, LOCAL_PREF (RFC 4271 5.1)."""
    attrs = (
        b"\x40\x01\x01\x00"  # ORIGIN IGP
        + b"\x40\x02\x00"  # AS_PATH, empty: originated in our AS
        + b"\x40\x03\x04"
        + ipaddress.IPv4Address(next_hop).packed
        + b"\x40\x05\x04"
        + struct.pack("!I", local_pref)
    )
    return message(UPDATE, b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs + prefixes)


def withdraw(prefixes: bytes) -> bytes:
    """An UPDATE withdrawing ``prefixes`` (an NLRI-encoded list)."""
    return message(UPDATE, struct.pack("!H", len(prefixes)) + prefixes + b"\x00\x00")


def count(field: bytes | memoryview) -> int:
    """How many prefixes an NLRI or withdrawn-routes field holds.

    The fast path is two C-level operations; anything other than /28s (another
    benchmark's routes, say) falls back to walking the entries.
    """
    size = len(field)
    n = size // _ENTRY
    if size == n * _ENTRY and field[0::_ENTRY] == _MARKS * n:
        return n
    seen = pos = 0
    while pos < size:
        pos += 1 + (field[pos] + 7) // 8
        seen += 1
    return seen


def keys(field: bytes | memoryview) -> Iterator[int]:
    """The prefixes of a field as ints (network address; other lengths: length-tagged)."""
    size = len(field)
    n = size // _ENTRY
    if size == n * _ENTRY and field[0::_ENTRY] == _MARKS * n:
        return map(_first, _KEYS.iter_unpack(field))
    found: list[int] = []
    pos = 0
    while pos < size:
        length = field[pos]
        octets = (length + 7) // 8
        raw = bytes(field[pos + 1 : pos + 1 + octets]).ljust(4, b"\0")
        found.append(int.from_bytes(raw, "big") | (length << 32))  # never equal to a /28's
        pos += 1 + octets
    return iter(found)


def split_update(body: bytes | memoryview) -> tuple[memoryview, memoryview, memoryview]:
    """An UPDATE body -> (withdrawn routes, path attributes, NLRI)."""
    view = memoryview(body)
    wlen = int.from_bytes(view[0:2], "big")
    alen = int.from_bytes(view[2 + wlen : 4 + wlen], "big")
    return view[2 : 2 + wlen], view[4 + wlen : 4 + wlen + alen], view[4 + wlen + alen :]


def attributes(attrs: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(type code, value) of each path attribute; a loop per UPDATE, not per prefix."""
    pos, size = 0, len(attrs)
    while pos + 3 <= size:
        flags, code = attrs[pos], attrs[pos + 1]
        if flags & 0x10:  # extended length
            length = int.from_bytes(attrs[pos + 2 : pos + 4], "big")
            pos += 4
        else:
            length = attrs[pos + 2]
            pos += 3
        yield code, attrs[pos : pos + length]
        pos += length


def mp_ipv4(code: int, value: memoryview) -> memoryview | None:
    """The IPv4 unicast NLRI inside MP_REACH / MP_UNREACH (RFC 4760), else None."""
    if value[0:3] != b"\x00\x01\x01":
        return None
    if code == MP_UNREACH:
        return value[3:]
    nh_len = value[3]
    return value[5 + nh_len :]  # AFI, SAFI, length, next hop, reserved octet


class Frames:
    """Splits a byte stream into BGP messages, keeping an incomplete tail for later."""

    def __init__(self) -> None:
        self.tail = b""

    def feed(self, data: bytes) -> Iterator[tuple[int, memoryview]]:
        """Add ``data``; yield (type, body) of every complete message.  Consume the
        whole iterator: the incomplete tail is kept when it ends."""
        buf = self.tail + data if self.tail else data
        view = memoryview(buf)
        pos, size = 0, len(buf)
        while size - pos >= HEADER:
            length = int.from_bytes(buf[pos + 16 : pos + 18], "big")
            if length < HEADER:
                raise ConnectionError(f"bad message length {length}")
            if size - pos < length:
                break
            yield buf[pos + 18], view[pos + HEADER : pos + length]
            pos += length
        self.tail = buf[pos:]


def handshake(sock: socket.socket, hello: bytes) -> bytes:
    """Send our OPEN and a KEEPALIVE; read until the peer's OPEN and KEEPALIVE.

    Symmetric, so it serves both the connecting and the accepting side.  Returns what
    followed the peer's KEEPALIVE in the same reads (a target may send its End-of-RIB
    right behind it).
    """
    sock.sendall(hello + KEEPALIVE)
    buf = b""
    got_open = False
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the peer closed the connection during the handshake")
        buf += data
        pos = 0
        while len(buf) - pos >= HEADER:
            length = int.from_bytes(buf[pos + 16 : pos + 18], "big")
            if len(buf) - pos < length:
                break
            kind = buf[pos + 18]
            body = buf[pos + HEADER : pos + length]
            pos += length
            if kind == NOTIFICATION:
                raise ConnectionError(f"NOTIFICATION {body.hex()}")
            if kind == OPEN:
                got_open = True
            elif kind == KEEPALIVE_TYPE and got_open:
                return buf[pos:]
        buf = buf[pos:]
