"""`SessionPair`: two sessions joined in memory, driven by a fake clock.

The pair plays the driver's part for both ends: an `OpenConnection` from either side
connects the two (the one that asked is the outgoing end), bytes from `data_to_send()`
are delivered to the other end, and a `CloseConnection` closes the other end too.
Nothing sleeps: `advance(seconds)` moves the clock and fires every timer due.

`Link` is one TCP connection between two sessions, for tests that need several at
once (connection collisions, RFC 4271 6.8).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pybgp.session import CloseConnection, Event, OpenConnection, Session, SessionConfig, State
from pybgp.wire import MessageReader
from pybgp.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MessageType

A_CONFIG = SessionConfig(local_asn=64512, peer_asn=64512, router_id="198.18.0.1", hold_time=9)
B_CONFIG = replace(A_CONFIG, router_id="198.18.0.2")

Sent = tuple[float, Session, object]  # (time, sender, "OPEN" | ... | (code, subcode))


def frame_kinds(data: bytes) -> list[object]:
    """Each message's type name, or (code, subcode) for a NOTIFICATION; no decoding."""
    reader = MessageReader(MAX_EXTENDED_MESSAGE_LEN)
    reader.feed(data)
    out: list[object] = []
    for kind, body in reader.frames():
        out.append(
            (body[0], body[1]) if kind == MessageType.NOTIFICATION else MessageType(kind).name
        )
    assert reader.pending == 0, "bytes that do not frame as BGP messages"
    return out


class SessionPair:
    def __init__(
        self,
        a: SessionConfig = A_CONFIG,
        b: SessionConfig | None = None,
        *,
        seed: int = 1,
    ) -> None:
        self.now = 0.0
        self.a = Session(a, rng=random.Random(seed))
        self.b = Session(b or B_CONFIG, rng=random.Random(seed + 1))
        self.events: dict[Session, list[Event]] = {self.a: [], self.b: []}
        self.wire: dict[Session, list[bytes]] = {self.a: [], self.b: []}  # bytes each sent
        self.log: list[Sent] = []  # every message delivered, in order
        self.timeline: list[tuple[float, Session, Event]] = []  # every event, when
        self.hold_wire: set[Session] = set()  # ends whose output is not delivered

    def other(self, session: Session) -> Session:
        return self.b if session is self.a else self.a

    def pump(self) -> None:
        """Deliver bytes and carry out connection requests until nothing moves."""
        moved = True
        while moved:
            moved = False
            for session in (self.a, self.b):
                while (event := session.next_event()) is not None:
                    moved = True
                    self.events[session].append(event)
                    self.timeline.append((self.now, session, event))
                    self._carry_out(session, event)
                if session in self.hold_wire:
                    continue
                data = session.data_to_send()
                if data:
                    moved = True
                    self._deliver(session, data)

    def _deliver(self, session: Session, data: bytes) -> None:
        self.wire[session].append(data)
        self.log.extend((self.now, session, kind) for kind in frame_kinds(data))
        self.other(session).receive_data(data, self.now)

    def _carry_out(self, session: Session, event: Event) -> None:
        peer = self.other(session)
        if isinstance(event, OpenConnection):
            if session.connected:
                # The peer's connection was accepted meanwhile: this attempt would be a
                # second connection, which the runtime gives a Session of its own
                # (RFC 4271 6.8).  This harness joins only one; see `Link`.
                return
            if peer.connected or peer.state is State.IDLE:
                session.connection_failed(self.now, "Socket: Connection refused")
            else:
                session.connection_made(self.now, outgoing=True)
                peer.connection_made(self.now, outgoing=False)
        elif isinstance(event, CloseConnection):
            # The final NOTIFICATION is delivered before the close.
            data = session.data_to_send()
            if data and session not in self.hold_wire:
                self._deliver(session, data)
            if peer.connected:
                peer.connection_failed(self.now, "Socket: Connection closed")

    def start(self, passive_b: bool = True) -> None:
        self.b.start(self.now, passive=passive_b)
        self.a.start(self.now)
        self.pump()

    def inject(self, session: Session, data: bytes) -> None:
        """`session` receives `data` as if its peer had sent it."""
        session.receive_data(data, self.now)
        self.pump()

    def advance(self, seconds: float) -> None:
        """Move the clock by `seconds`, firing timers as they fall due."""
        end = self.now + seconds
        while True:
            due = [t for s in (self.a, self.b) if (t := s.get_timer()) is not None]
            next_due = min(due, default=None)
            if next_due is None or next_due > end:
                break
            self.now = max(self.now, next_due)
            for session in (self.a, self.b):
                timer = session.get_timer()
                if timer is not None and timer <= self.now:
                    session.handle_timer(self.now)
            self.pump()
        self.now = end

    def of_type(self, session: Session, kind: type) -> list[Any]:
        return [e for e in self.events[session] if isinstance(e, kind)]

    def sent(self, session: Session, kind: object) -> list[float]:
        """When `session` sent each message of `kind` that was delivered."""
        return [t for t, sender, k in self.log if sender is session and k == kind]

    def when(self, session: Session, kind: type) -> list[float]:
        """When `session` produced each event of `kind`."""
        return [t for t, s, e in self.timeline if s is session and isinstance(e, kind)]

    def established(self) -> bool:
        return self.a.state is self.b.state is State.ESTABLISHED


class Link:
    """One TCP connection between `out` (which opened it) and `into` (which accepted it).

    Bytes take one `step` to cross, so that messages sent at the same moment on
    several links cross each other as they would on a network.  `on_event` sees each
    event as its session produces it, before anything else arrives: the moment a
    runtime resolves a collision (RFC 4271 6.8).
    """

    def __init__(
        self,
        out: Session,
        into: Session,
        now: float,
        on_event: Callable[[Session, Event], None] | None = None,
    ) -> None:
        self.out = out
        self.into = into
        self.on_event = on_event
        self.events: dict[Session, list[Event]] = {out: [], into: []}
        self.log: list[tuple[Session, object]] = []  # every message sent, delivered or not
        self._flight: dict[Session, deque[bytes]] = {out: deque(), into: deque()}
        self._closed: set[Session] = set()
        out.connection_made(now, outgoing=True)
        into.connection_made(now, outgoing=False)

    def other(self, session: Session) -> Session:
        return self.into if session is self.out else self.out

    def collect(self) -> bool:
        """Take each end's events and bytes; True if anything came."""
        moved = False
        for session in (self.out, self.into):
            while (event := session.next_event()) is not None:
                moved = True
                self.events[session].append(event)
                if isinstance(event, CloseConnection):
                    self._closed.add(session)
                if self.on_event is not None:
                    self.on_event(session, event)
            data = session.data_to_send()
            if data:
                moved = True
                self.log.extend((session, kind) for kind in frame_kinds(data))
                self._flight[session].append(data)
        return moved

    def deliver(self, now: float) -> bool:
        """Bytes in flight arrive; a closed end's peer learns of the close after them."""
        moved = False
        for session in (self.out, self.into):
            peer = self.other(session)
            if self._flight[session]:
                moved = True
                data = self._flight[session].popleft()
                if peer not in self._closed:
                    peer.receive_data(data, now)
            elif session in self._closed and peer.connected and peer not in self._closed:
                moved = True
                peer.connection_failed(now, "Socket: Connection closed")
                self._closed.add(peer)
        return moved


def run(links: list[Link], now: float) -> None:
    """Step every link together until nothing moves."""
    moved = True
    while moved:
        moved = False
        for link in links:
            moved |= link.collect()
        for link in links:
            moved |= link.deliver(now)
