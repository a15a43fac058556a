"""A scripted peer for one `Session`: wire bytes built with `pybgp.wire`, a fake clock.

`Script` plays the driver and the remote speaker at once.  It feeds the session the
messages a test names (`feed`), fires its timers on a clock it owns (`fire`), and
collects what the session asks for (`drain`).  `into(state)` walks a fresh session
into any RFC 4271 8.2.2 state the public API can reach, by the shortest script.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from pybgp.session import Event, Session, SessionConfig
from pybgp.session.timers import Timer
from pybgp.wire import (
    IPV4_UNICAST,
    EnhancedRouteRefresh,
    ExtendedMessage,
    Keepalive,
    Message,
    MessageReader,
    Multiprotocol,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    RouteRefreshCapability,
    Update,
    decode_body,
    prefix_key,
)
from pybgp.wire.capabilities import Capability
from pybgp.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MessageType
from pybgp.wire.context import CodecContext

LOCAL_ID = "198.18.0.1"
PEER_ID = "198.18.0.2"
LOCAL_AS = 64512
PEER_AS = 64513
# eBGP by default: the identifier rules of RFC 6286 2.2 differ for iBGP, tested apart.
CONFIG = SessionConfig(local_asn=LOCAL_AS, peer_asn=PEER_AS, router_id=LOCAL_ID, hold_time=9)

KEEPALIVE = Keepalive().encode()
# RFC 4271 4.1: a marker that is not all ones.
BAD_MARKER = b"\xff" * 15 + b"\xfe" + b"\x00\x13\x04"
# RFC 4271 6.1: a KEEPALIVE is exactly 19 octets; 20 is a Bad Message Length.
BAD_LENGTH = b"\xff" * 16 + b"\x00\x14\x04\x00"
# RFC 4271 6.3: a Withdrawn Routes Length that overruns the message (3/1).
BAD_UPDATE = b"\xff" * 16 + b"\x00\x17\x02" + b"\x00\x10\x00\x00"


def peer_open(
    asn: int = PEER_AS,
    hold_time: int = 9,
    bgp_id: str = PEER_ID,
    capabilities: Iterable[Capability] | None = None,
) -> Open:
    """The remote speaker's OPEN (AS_TRANS and Four-Octet AS added as RFC 6793 asks)."""
    caps = (
        [
            Multiprotocol(*IPV4_UNICAST),
            RouteRefreshCapability(),
            EnhancedRouteRefresh(),
            ExtendedMessage(),
        ]
        if capabilities is None
        else list(capabilities)
    )
    return Open.for_speaker(asn, hold_time, bgp_id, caps)


def announce(*prefixes: str, path: tuple[int, ...] = (PEER_AS,)) -> Update:
    """An IPv4 unicast UPDATE with the three well-known mandatory attributes."""
    attributes = PathAttributes(origin=0, as_path=((2, path),), next_hop=bytes([198, 18, 0, 2]))
    return Update(attributes=attributes, nlri=[prefix_key(p) for p in prefixes])


def update_bytes(*prefixes: str, ctx: CodecContext | None = None) -> bytes:
    return announce(*prefixes).encode(ctx or CodecContext())


def messages(data: bytes) -> list[Message]:
    """Decode a byte stream that must hold whole BGP messages only (else AssertionError)."""
    reader = MessageReader(MAX_EXTENDED_MESSAGE_LEN)
    reader.feed(data)
    out = [decode_body(kind, body) for kind, body in reader.frames()]
    assert reader.pending == 0, f"{reader.pending} octets do not frame as a BGP message"
    return out


def kinds(data: bytes) -> list[object]:
    """What a byte stream says, compactly: 'OPEN', 'KEEPALIVE', (code, subcode), ..."""
    out: list[object] = []
    for message in messages(data):
        if isinstance(message, Notification):
            out.append((message.code, message.subcode))
        else:
            out.append(MessageType(message.type).name)
    return out


@dataclass
class Script:
    """One session, its clock, and what it has asked for since the last `drain`."""

    session: Session
    now: float = 0.0
    events: list[Event] = field(default_factory=list)

    def drain(self) -> tuple[list[Event], bytes]:
        """Everything the session queued: events and bytes (as a driver takes them)."""
        while (event := self.session.next_event()) is not None:
            self.events.append(event)
        events, self.events = self.events, []
        return events, self.session.data_to_send()

    def feed(self, *data: bytes) -> None:
        self.session.receive_data(b"".join(data), self.now)

    def fire(self, timer: Timer) -> None:
        """Move the clock to `timer`'s deadline and fire it, after any timer due earlier.

        Output of the earlier timers (keepalives) is drained and dropped, so a test sees
        only what `timer` itself caused.
        """
        deadline = self.session.timer_deadline(timer)
        assert deadline is not None, f"{timer.value} is not running in {self.session.state}"
        while (due := self.session.get_timer()) is not None and due < deadline:
            self.now = due
            self.session.handle_timer(self.now)
            self.drain()
            deadline = self.session.timer_deadline(timer)
            assert deadline is not None, f"{timer.value} stopped before it expired"
        self.now = deadline
        self.session.handle_timer(self.now)

    def running(self) -> set[Timer]:
        return {t for t in Timer if self.session.timer_deadline(t) is not None}


# The states `into` can reach.  "/delay": connected with the DelayOpenTimer running;
# "Idle/hold": Idle after a flap, the IdleHoldTimer running (RFC 4271 8.1.1).
STATES = (
    "Idle",
    "Idle/hold",
    "Connect",
    "Connect/delay",
    "Active",
    "Active/delay",
    "OpenSent",
    "OpenConfirm",
    "Established",
)


def into(
    name: str,
    config: SessionConfig = CONFIG,
    seed: int = 7,
    outgoing: bool = True,
    **changes: object,
) -> Script:
    """A fresh session walked into state `name` (on a connection it opened unless
    `outgoing` is false), output drained."""
    if name.endswith("/delay"):
        changes.setdefault("delay_open", 5)
    script = Script(Session(replace(config, **changes), rng=random.Random(seed)))
    session = script.session
    if name == "Idle":
        return script
    if name == "Idle/hold":
        session.start(script.now)
        session.connection_made(script.now, outgoing=True)
        script.feed(BAD_MARKER)  # a header error: NOTIFICATION, Idle, IdleHoldTimer
    elif name.startswith("Active"):
        session.start(script.now, passive=True)
        if name == "Active/delay":
            session.connection_made(script.now, outgoing=False)
    else:
        session.start(script.now)
        if name != "Connect":
            session.connection_made(script.now, outgoing=outgoing)
        if name in ("OpenConfirm", "Established"):
            script.feed(peer_open().encode())
        if name == "Established":
            script.feed(KEEPALIVE)
    script.drain()
    assert str(session.state) == name.split("/")[0], (name, session.state)
    return script


def route_refresh(family: tuple[int, int] = IPV4_UNICAST, subtype: int = 0) -> bytes:
    return RouteRefresh(family[0], family[1], subtype).encode()
