"""BGP messages out of captured TCP streams, decoded as the peers negotiated them.

Each connection's two directions are framed separately.  Once both OPENs have been
seen, later messages in each direction are decoded with the context the OPENs agree
on (4-octet AS, ADD-PATH per family and direction, extended message): the same rules
a live session follows.  A gap in the capture or a framing error is reported and the
direction resynchronises at the next marker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..wire import AttributeCache, CodecContext, MessageError, Open
from ..wire.constants import MARKER, MAX_EXTENDED_MESSAGE_LEN
from ..wire.messages import Message, check_header, decode_body
from ..wire.negotiation import context_for
from .tcp import Endpoint, StreamChunk


@dataclass(slots=True)
class Decoded:
    """One message (or one error) from a capture."""

    ts: float
    src: Endpoint
    dst: Endpoint
    message: Message | None = None
    context: CodecContext = field(default_factory=CodecContext)
    error: str = ""
    code: int | None = None
    subcode: int | None = None


@dataclass(slots=True)
class _Direction:
    src: Endpoint
    dst: Endpoint
    buffer: bytearray = field(default_factory=bytearray)
    open: Open | None = None
    resync: bool = False
    # What the two OPENs agreed for this direction; worked out once, not per message.
    context: CodecContext | None = None


class ConversationDecoder:
    """Feed StreamChunks in capture order; get Decoded messages back.

    `assumed` is the context used before both OPENs of a connection are seen (a
    capture that starts mid-session): by default a modern speaker's.
    """

    def __init__(self, assumed: CodecContext | None = None) -> None:
        self.assumed = assumed or CodecContext()
        self.cache = AttributeCache()
        self._directions: dict[tuple[Endpoint, Endpoint], _Direction] = {}

    def decode(self, chunks: Iterable[StreamChunk]) -> Iterator[Decoded]:
        for chunk in chunks:
            yield from self.feed(chunk)

    def feed(self, chunk: StreamChunk) -> Iterator[Decoded]:
        key = (chunk.src, chunk.dst)
        direction = self._directions.get(key)
        if direction is None:
            direction = self._directions[key] = _Direction(chunk.src, chunk.dst)
        if chunk.gap:
            yield self._problem(direction, chunk.ts, f"{chunk.gap} octets missing; resynchronising")
            direction.buffer.clear()
            direction.resync = True
        direction.buffer += chunk.data
        yield from self._drain(direction, chunk.ts)
        if chunk.closed:
            # FIN, RST or the ports reused: a later connection starts afresh.
            if direction.buffer:
                left = len(direction.buffer)
                yield self._problem(direction, chunk.ts, f"closed inside a message ({left} octets)")
            del self._directions[key]
            self._forget_context(direction)

    def _context(self, direction: _Direction) -> CodecContext:
        if direction.context is not None:
            return direction.context
        reverse = self._directions.get((direction.dst, direction.src))
        if direction.open is None or reverse is None or reverse.open is None:
            return self.assumed
        direction.context = context_for(direction.open, reverse.open)
        return direction.context

    def _forget_context(self, direction: _Direction) -> None:
        """An OPEN or a close changes what both directions of the connection agreed."""
        direction.context = None
        reverse = self._directions.get((direction.dst, direction.src))
        if reverse is not None:
            reverse.context = None

    def _drain(self, direction: _Direction, ts: float) -> Iterator[Decoded]:
        buf = direction.buffer
        while True:
            if direction.resync:
                at = buf.find(MARKER)
                if at < 0:
                    # Keep a tail that may hold the start of a marker.
                    del buf[: max(0, len(buf) - 15)]
                    return
                del buf[:at]
                direction.resync = False
            if len(buf) < 19:
                return
            ctx = self._context(direction)
            try:
                kind, length = check_header(bytes(buf[:19]), MAX_EXTENDED_MESSAGE_LEN)
            except MessageError as exc:
                yield self._error(direction, ts, exc)
                del buf[:1]
                direction.resync = True
                continue
            if len(buf) < length:
                return
            body = bytes(buf[19:length])
            del buf[:length]
            try:
                message = decode_body(kind, body, ctx, self.cache)
            except MessageError as exc:
                yield self._error(direction, ts, exc)
                continue
            if isinstance(message, Open):
                direction.open = message
                self._forget_context(direction)
            yield Decoded(ts, direction.src, direction.dst, message, ctx)

    @staticmethod
    def _problem(direction: _Direction, ts: float, text: str) -> Decoded:
        """Not a BGP error: the capture itself lacks bytes."""
        return Decoded(ts, direction.src, direction.dst, error=text)

    @staticmethod
    def _error(direction: _Direction, ts: float, exc: MessageError) -> Decoded:
        return Decoded(
            ts, direction.src, direction.dst, error=exc.reason, code=exc.code, subcode=exc.subcode
        )
