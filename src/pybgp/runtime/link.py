"""`Link`: one `Session` joined to one asyncio transport and one loop timer.

The link is the whole of the asyncio driver of the sans-I/O session: bytes in
go to `receive_data`, `data_to_send` goes out, the session's one deadline becomes
one `call_at`, and the session's events go to the owner (the `PeerDriver`), which
decides what they mean for the peer.

Flow control keeps keepalives on time under load: the link writes UPDATE bytes only
while the transport's buffer is under `WRITE_HIGH`, and asks for more when it drains.
With the socket's TCP_NOTSENT_LOWAT (see transport.tune) a KEEPALIVE therefore waits
behind about 128 KiB of UPDATEs at most, never behind a whole table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from ..session import CloseConnection, Event, Session

log = logging.getLogger("pybgp.link")

WRITE_HIGH = 64 * 1024  # octets buffered in the transport before UPDATEs wait
WRITE_LOW = 16 * 1024


class _Protocol(asyncio.Protocol):
    def __init__(self, link: Link, outgoing: bool) -> None:
        self.link = link
        self.outgoing = outgoing
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        tr = cast(asyncio.Transport, transport)
        tr.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)
        # Attach here, not when the caller's await returns: the peer's first bytes may
        # arrive before that, and must find the session connected.
        self.transport = tr
        self.link.attach(tr, self.outgoing)

    def data_received(self, data: bytes) -> None:
        self.link.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.link.flushed(self.transport)
        self.link.connection_lost(exc)

    def pause_writing(self) -> None:
        self.link.paused = True

    def resume_writing(self) -> None:
        self.link.paused = False
        self.link.resumed()


class Link:
    """Drives `session` on `loop`; hands every event to `on_event(link, event)`."""

    def __init__(
        self,
        session: Session,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[Link, Event], None],
    ) -> None:
        self.session = session
        self.loop = loop
        self.on_event = on_event
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.closed = False  # retired by its owner: no more servicing
        # Called when the session's UPDATE queue has drained into a socket with room:
        # the owner may produce more (UPDATEs are pulled, see runtime.outbound).
        self.on_drain: Callable[[], None] | None = None
        self._resumed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._servicing = False
        self._again = False
        # Connections we closed whose last octets (a NOTIFICATION) may still be leaving.
        self._closing: dict[int, asyncio.Future[None]] = {}

    @property
    def now(self) -> float:
        return self.loop.time()

    def protocol(self, outgoing: bool) -> asyncio.Protocol:
        return _Protocol(self, outgoing)

    def attach(self, transport: asyncio.Transport, outgoing: bool) -> None:
        """A connection is up for this link's session."""
        if self.closed or self.session.connected:
            transport.close()  # the session moved on while the connection was set up
            return
        self.transport = transport
        self.paused = False
        self.session.connection_made(self.now, outgoing)
        self.service()

    # --- from the transport ----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.session.receive_data(data, self.now)
        self.service()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.transport = None
        if self.closed:
            return
        reason = f"Socket: {exc}" if exc else "Socket: Connection closed"
        if self.session.connected:
            self.session.connection_failed(self.now, reason)
        self.service()

    def resumed(self) -> None:
        self._resumed = True
        self.service()

    # --- the driver loop ---------------------------------------------------------------
    def service(self) -> None:
        """Hand events to the owner, write what the session has, re-arm the timer."""
        if self._servicing:  # re-entered from an event handler: loop once more
            self._again = True
            return
        self._servicing = True
        try:
            self._again = True
            while self._again and not self.closed:
                self._again = False
                while (event := self.session.next_event()) is not None:
                    if isinstance(event, CloseConnection):
                        self._close_transport()
                    self.on_event(self, event)
                if self._write() and self.on_drain is not None:
                    self.on_drain()
            self._arm_timer()
        finally:
            self._servicing = False

    def _write(self) -> bool:
        """Write control messages, then UPDATEs until the transport holds WRITE_HIGH.

        Going past WRITE_HIGH makes the transport call `pause_writing`, and its
        `resume_writing` brings us back here: the table keeps flowing at the peer's pace
        with no other event needed.  True when the UPDATE queue has just drained (it
        held some, or the socket just resumed) into a socket that has room left.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        had = self.session.pending_update_octets > 0 or self._resumed
        self._resumed = False
        while True:
            room = 0 if self.paused else WRITE_HIGH + 1 - transport.get_write_buffer_size()
            data = self.session.data_to_send(max(room, 0))
            if data:
                transport.write(data)
            if room <= 0 or not data or not self.session.pending_update_octets:
                break
        return had and not self.paused and not self.session.pending_update_octets

    def _close_transport(self) -> None:
        transport = self.transport
        if transport is None:
            return
        # The session's last words (a NOTIFICATION) go out before the close.
        data = self.session.data_to_send(0)
        if data and not transport.is_closing():
            transport.write(data)
        self.transport = None
        self._closing[id(transport)] = self.loop.create_future()
        transport.close()

    def flushed(self, transport: asyncio.Transport) -> None:
        """The transport is gone: everything written to it has left (or never will)."""
        waiter = self._closing.pop(id(transport), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_closed(self, timeout: float) -> None:
        """Wait until the connections this link closed have sent their last octets."""
        if self._closing:
            await asyncio.wait(list(self._closing.values()), timeout=timeout)

    def _arm_timer(self) -> None:
        deadline = None if self.closed else self.session.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._fire_timer)

    def _fire_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.closed:
            return
        self.session.handle_timer(self.now)
        self.service()

    def retire(self) -> None:
        """Stop driving this link: cancel its timer and drop its connection, silently."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            transport, self.transport = self.transport, None
            transport.close()
