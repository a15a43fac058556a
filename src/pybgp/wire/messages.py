"""Framing (RFC 4271 4.1, 6.1) and the one entry point that decodes any message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .attribute_table import DEFAULT_CACHE, AttributeCache
from .constants import HEADER_LEN, MARKER, MIN_LENGTH, MessageType
from .context import DEFAULT_CONTEXT, CodecContext
from .errors import HeaderSubcode, MessageError
from .notification import Notification, decode_notification
from .open import Open, decode_open
from .route_refresh import RouteRefresh, decode_route_refresh
from .update import Update, decode_update

KEEPALIVE_BYTES = MARKER + b"\x00\x13\x04"
# The lowest length each type may have, as plain ints for the per-message check.
# RFC 7313 5: a ROUTE-REFRESH of the wrong length is its own error, not a header one,
# so only the header's own 19 octets are checked here.
_LOWEST_LENGTH = {int(k): v for k, v in MIN_LENGTH.items()} | {
    int(MessageType.ROUTE_REFRESH): HEADER_LEN
}


@dataclass(slots=True)
class Keepalive:
    """RFC 4271 4.4: a header and nothing else."""

    type = MessageType.KEEPALIVE

    def encode(self, ctx: object = None) -> bytes:
        return KEEPALIVE_BYTES


Message = Open | Update | Notification | Keepalive | RouteRefresh


def check_header(header: bytes, max_len: int) -> tuple[int, int]:
    """(type, length) of a 19-octet header, or the MessageError RFC 4271 6.1 names."""
    if header[:16] != MARKER:
        raise MessageError(1, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, b"", "bad marker")
    length = (header[16] << 8) | header[17]
    kind = header[18]
    low = _LOWEST_LENGTH.get(kind)
    if low is None:
        raise MessageError(
            1, HeaderSubcode.BAD_MESSAGE_TYPE, bytes((kind,)), f"unknown message type {kind}"
        )
    if length < low or length > max_len or (kind == MessageType.KEEPALIVE and length != HEADER_LEN):
        raise MessageError(
            1,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            header[16:18],
            f"length {length} is not valid for message type {kind}",
        )
    return kind, length


def decode_body(
    kind: int,
    body: bytes,
    ctx: CodecContext = DEFAULT_CONTEXT,
    cache: AttributeCache = DEFAULT_CACHE,
) -> Message:
    """Decode a message body of a known type (its header already checked)."""
    if kind == MessageType.UPDATE:
        return decode_update(body, ctx, cache)
    if kind == MessageType.KEEPALIVE:
        return Keepalive()
    if kind == MessageType.OPEN:
        return decode_open(body)
    if kind == MessageType.NOTIFICATION:
        return decode_notification(body)
    message = MARKER + (HEADER_LEN + len(body)).to_bytes(2, "big") + b"\x05" + body
    return decode_route_refresh(body, message)


def decode_message(
    data: bytes, ctx: CodecContext = DEFAULT_CONTEXT, cache: AttributeCache = DEFAULT_CACHE
) -> Message:
    """Decode exactly one whole message, header included."""
    if len(data) < HEADER_LEN:
        raise MessageError(1, HeaderSubcode.BAD_MESSAGE_LENGTH, b"", "shorter than a header")
    kind, length = check_header(data[:HEADER_LEN], ctx.max_message_len)
    if length != len(data):
        raise MessageError(
            1,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            data[16:18],
            f"length field {length} but {len(data)} octets given",
        )
    return decode_body(kind, data[HEADER_LEN:], ctx, cache)


class MessageReader:
    """Splits a TCP byte stream into (type, body) frames.

    `feed()` bytes as they arrive; `frames()` yields every complete frame and keeps the
    rest.  The caller decodes each body with the context in force at that point (an OPEN
    exchange changes it mid-stream).  A bad header raises MessageError; the stream is
    then unusable, as RFC 4271 6.1 closes the session.
    """

    def __init__(self, max_len: int = 4096) -> None:
        self.max_len = max_len
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def pending(self) -> int:
        """Octets held that do not yet form a whole message."""
        return len(self._buffer)

    def frames(self) -> Iterator[tuple[int, bytes]]:
        buf = self._buffer
        offset = 0
        try:
            while len(buf) - offset >= HEADER_LEN:
                kind, length = check_header(bytes(buf[offset : offset + HEADER_LEN]), self.max_len)
                if len(buf) - offset < length:
                    break
                body = bytes(buf[offset + HEADER_LEN : offset + length])
                offset += length
                yield kind, body
        finally:
            del buf[:offset]
