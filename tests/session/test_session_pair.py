"""Two sessions talking in memory (`SessionPair`, `Link`), on a fake clock.

Each test is one behaviour of RFC 4271 (and RFC 9003, RFC 4724, RFC 2918 / RFC 7313,
RFC 7606) as both ends see it: establishment, keepalive cadence and jitter, the Hold
Timer, errors, administrative shutdown and reset, peer oscillation damping, DelayOpen,
passive peers, connect retries, routes, keepalive priority and connection collisions.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace
from itertools import pairwise

import pytest

from pybgp.session import (
    EndOfRib,
    NotificationReceived,
    OpenConnection,
    RouteRefreshReceived,
    Session,
    SessionDown,
    SessionEstablished,
    State,
    StateChanged,
    UpdateReceived,
    resolve_collision,
)
from pybgp.session.timers import Timer
from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Notification,
    PathAttributes,
    Update,
    end_of_rib,
    pack_announcements,
    prefix_key,
)

from .pair import A_CONFIG, B_CONFIG, Link, SessionPair, run
from .scripted import BAD_LENGTH, BAD_MARKER, BAD_UPDATE, KEEPALIVE, announce, into

QUICK = {"connect_retry": 5}  # a retry costs seconds, not minutes, where it does not matter


def up(a: dict[str, object] | None = None, b: dict[str, object] | None = None) -> SessionPair:
    """An established pair: A connects, B listens (started passive)."""
    pair = SessionPair(replace(A_CONFIG, **(a or {})), replace(B_CONFIG, **(b or {})))  # type: ignore[arg-type]
    pair.start()
    assert pair.established()
    return pair


def states(pair: SessionPair, session: Session) -> list[str]:
    changes = pair.of_type(session, StateChanged)
    return [str(changes[0].old)] + [str(c.new) for c in changes] if changes else []


def last_down(pair: SessionPair, session: Session) -> SessionDown:
    downs = pair.of_type(session, SessionDown)
    assert downs, "no SessionDown"
    return downs[-1]


# --- establishment and keepalives -----------------------------------------------------------
@pytest.mark.parametrize("active", ["a", "b"])
def test_establishment(active: str) -> None:
    """RFC 4271 8.2.2: the connecting end goes Idle, Connect, OpenSent, OpenConfirm,
    Established; the listening end Idle, Active, OpenSent, ...; each sends its OPEN, then
    a KEEPALIVE once the peer's OPEN is in (4.2, 4.4), and reports the session up once."""
    pair = SessionPair()
    first, second = (pair.a, pair.b) if active == "a" else (pair.b, pair.a)
    second.start(pair.now, passive=True)
    first.start(pair.now)
    pair.pump()
    assert pair.established()
    assert first.outgoing is True and second.outgoing is False
    assert states(pair, first) == ["Idle", "Connect", "OpenSent", "OpenConfirm", "Established"]
    assert states(pair, second) == ["Idle", "Active", "OpenSent", "OpenConfirm", "Established"]
    assert len(pair.of_type(first, OpenConnection)) == 1
    assert pair.of_type(second, OpenConnection) == []
    for session in (first, second):
        sent = [k for _, s, k in pair.log if s is session]
        assert sent == ["OPEN", "KEEPALIVE"]
        (established,) = pair.of_type(session, SessionEstablished)
        assert (established.negotiated.hold_time, established.negotiated.keepalive_time) == (9, 3)


def test_keepalive_cadence_and_jitter() -> None:
    """RFC 4271 10: KeepaliveTime is a third of the HoldTime (9 s -> 3 s), jittered by a
    factor uniform in [0.75, 1.0]: over 60 s, between 60/3 and 60/(3*0.75) + 1 of them,
    each gap within [2.25 s, 3 s]; the session never drops."""
    pair = up()
    pair.advance(60)
    assert pair.established()
    for session in (pair.a, pair.b):
        times = pair.sent(session, "KEEPALIVE")  # the first answers the OPEN at t=0
        periodic = len(times) - 1
        assert 60 / 3 <= periodic <= 60 / (3 * 0.75) + 1
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert all(2.25 - 1e-9 <= gap <= 3.0 + 1e-9 for gap in gaps), gaps
        assert len({round(g, 6) for g in gaps}) > 1  # jittered, not a fixed period
    assert pair.of_type(pair.a, SessionDown) == pair.of_type(pair.b, SessionDown) == []


def test_keepalives_at_most_one_per_second() -> None:
    """RFC 4271 4.4: "KEEPALIVE messages MUST NOT be sent more frequently than one per
    second", jitter (RFC 4271 10) or not: with a Hold Time of 3 s (KeepaliveTime 1 s)
    no two KEEPALIVEs are less than a second apart."""
    pair = up({"hold_time": 3}, {"hold_time": 3})
    pair.advance(30)
    assert pair.established()
    for session in (pair.a, pair.b):
        times = pair.sent(session, "KEEPALIVE")
        assert len(times) >= 30
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert min(gaps) >= 1.0, min(gaps)


def test_hold_timer_expiry() -> None:
    """RFC 4271 6.5: when nothing arrives for the Hold Time, send NOTIFICATION Hold Timer
    Expired (4/0) and close; the other end receives it.  Both report the session down
    (was established), and come back after the IdleHoldTime (8.1.1)."""
    pair = up()
    pair.hold_wire.add(pair.a)  # A's KEEPALIVEs are lost
    pair.advance(9.5)
    assert pair.sent(pair.b, (4, 0)) == [9.0]
    down_b, down_a = last_down(pair, pair.b), last_down(pair, pair.a)
    assert down_b.was_established and not down_b.received
    assert down_b.notification == Notification(4, 0)
    assert down_a.was_established and down_a.received
    assert [n.notification for n in pair.of_type(pair.a, NotificationReceived)] == [
        Notification(4, 0)
    ]
    assert down_b.retry_in == down_a.retry_in == 1.0
    pair.hold_wire.clear()
    pair.advance(5)
    assert pair.established()
    assert pair.sent(pair.a, "OPEN")[-1] == 9.0 + 1.0  # the IdleHoldTime, then at once


@pytest.mark.parametrize(("garbage", "subcode"), [(BAD_MARKER, 1), (BAD_LENGTH, 2)])
def test_bad_header(garbage: bytes, subcode: int) -> None:
    """RFC 4271 6.1: a marker that is not all ones is Connection Not Synchronized (1/1); a
    length out of bounds for the type is Bad Message Length (1/2).  The receiver sends
    the NOTIFICATION and goes Idle; the peer sees it."""
    pair = up()
    pair.inject(pair.b, garbage)
    assert pair.b.state is State.IDLE and pair.a.state is State.IDLE
    assert pair.sent(pair.b, (1, subcode)) == [0.0]
    (received,) = pair.of_type(pair.a, NotificationReceived)
    assert (received.notification.code, received.notification.subcode) == (1, subcode)
    assert last_down(pair, pair.b).was_established


# --- stopping -----------------------------------------------------------------------------
def test_administrative_shutdown() -> None:
    """RFC 9003 2 (RFC 4486 4): a manual stop sends Cease / Administrative Shutdown (6/2)
    with the operator's UTF-8 message, which the peer reads; the stopped end does not
    restart (RFC 4271 8.2.2 ManualStop), the peer keeps trying."""
    pair = up(b=QUICK)
    message = "maintenance: back at 14:00 – ✓"
    pair.a.stop(pair.now, message)
    pair.pump()
    (received,) = pair.of_type(pair.b, NotificationReceived)
    assert (received.notification.code, received.notification.subcode) == (6, 2)
    assert received.notification.shutdown_message == message
    down = last_down(pair, pair.a)
    assert down.was_established and down.retry_in is None
    assert message in down.reason
    pair.advance(600)
    assert pair.a.state is State.IDLE and pair.a.get_timer() is None
    assert len(pair.of_type(pair.a, OpenConnection)) == 1  # the first one only
    assert len(pair.of_type(pair.b, OpenConnection)) >= 10  # B retries, refused each time


def test_stop_with_restart_sends_reset_and_comes_back() -> None:
    """RFC 4486 4 / RFC 9003: an administrative reset is Cease 6/4 (with its message);
    it is an AutomaticStop (RFC 4271 8.1.2 Event 8), so the session restarts after the
    IdleHoldTime."""
    pair = up()
    pair.a.stop(pair.now, "new policy", restart=True)
    pair.pump()
    (received,) = pair.of_type(pair.b, NotificationReceived)
    assert (received.notification.code, received.notification.subcode) == (6, 4)
    assert received.notification.shutdown_message == "new policy"
    assert last_down(pair, pair.a).retry_in == 1.0
    pair.advance(5)
    assert pair.established()
    assert len(pair.of_type(pair.a, SessionEstablished)) == 2


@pytest.mark.parametrize("damping", [True, False])
def test_damp_peer_oscillations(damping: bool) -> None:
    """RFC 4271 8.1.1 DampPeerOscillations: each flap doubles the IdleHoldTime up to a
    maximum; a session that stays up (60 s here) starts again from the first value.
    Without damping the wait is always the first value."""
    changes = {"idle_hold_time": 1.0, "idle_hold_max": 8.0, "damp_peer_oscillations": damping}
    pair = up(a={**changes, **QUICK}, b={**changes, **QUICK})
    waits = []
    for _ in range(6):
        pair.inject(pair.a, BAD_MARKER)  # A answers 1/1: both ends flap
        waits.append(last_down(pair, pair.a).retry_in)
        assert last_down(pair, pair.b).retry_in == waits[-1]
        down_at = pair.now
        pair.advance(waits[-1] - 0.01)
        assert pair.a.state is State.IDLE  # still waiting out the IdleHoldTime
        pair.advance(0.02)
        assert pair.established() and pair.now - down_at < waits[-1] + 0.02
    assert waits == ([1.0, 2.0, 4.0, 8.0, 8.0, 8.0] if damping else [1.0] * 6)
    pair.advance(61)  # stable
    pair.inject(pair.a, BAD_MARKER)
    assert last_down(pair, pair.a).retry_in == 1.0


# --- how connections come about -----------------------------------------------------------
def test_delay_open_waits_for_the_peer() -> None:
    """RFC 4271 8.2.2 Connect with DelayOpen (Events 16, 20): the connecting end sends no
    OPEN until the peer's arrives, then its OPEN and a KEEPALIVE together."""
    pair = SessionPair(replace(A_CONFIG, delay_open=5), B_CONFIG)
    pair.start()
    assert pair.established() and pair.now == 0.0
    order = [(s is pair.a, k) for _, s, k in pair.log]
    assert order[:3] == [(False, "OPEN"), (True, "OPEN"), (True, "KEEPALIVE")]


def test_delay_open_timer() -> None:
    """RFC 4271 8.2.2 Connect/Active, DelayOpenTimer_Expires (Event 12): with DelayOpen
    on both ends nobody speaks until the DelayOpenTimer expires, then OPENs cross."""
    pair = SessionPair(replace(A_CONFIG, delay_open=5), replace(B_CONFIG, delay_open=5))
    pair.start()
    assert (pair.a.state, pair.b.state) == (State.CONNECT, State.ACTIVE)
    assert pair.a.timer_deadline(Timer.DELAY_OPEN) == 5.0
    pair.advance(4.9)
    assert pair.log == []
    pair.advance(0.2)
    assert pair.established()
    assert pair.sent(pair.a, "OPEN") == pair.sent(pair.b, "OPEN") == [5.0]


def test_passive_end_never_connects() -> None:
    """RFC 4271 8.1.1 PassiveTcpEstablishment: the passive end only listens, through
    ConnectRetryTimer expiries and automatic restarts alike."""
    pair = SessionPair(A_CONFIG, replace(B_CONFIG, passive=True, **QUICK))
    pair.b.start(pair.now)
    pair.advance(300)
    assert pair.b.state is State.ACTIVE
    pair.a.start(pair.now)
    pair.pump()
    assert pair.established()
    for _ in range(3):
        pair.inject(pair.b, BAD_MARKER)
        pair.advance(30)
        assert pair.established()
    assert pair.of_type(pair.b, OpenConnection) == []
    assert len(pair.of_type(pair.a, OpenConnection)) == 4


def test_connect_refused_retries_on_the_connect_retry_timer() -> None:
    """RFC 4271 8.2.2: a refused connection leaves Connect for Active (pybgp, like BIRD,
    rather than Idle) and each ConnectRetryTimer expiry (120 s, jittered to [0.75, 1],
    RFC 4271 10) tries again from Connect."""
    pair = SessionPair()
    pair.a.start(pair.now)  # B never listens: every attempt is refused
    pair.pump()
    pair.advance(1200)
    times = pair.when(pair.a, OpenConnection)
    assert times[0] == 0.0
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert all(90 <= gap <= 120 for gap in gaps), gaps
    assert 1200 / 120 <= len(gaps) <= 1200 / 90 + 1
    assert states(pair, pair.a)[:4] == ["Idle", "Connect", "Active", "Connect"]
    assert pair.of_type(pair.a, SessionDown) == []
    assert pair.a.connect_retry_counter == 0  # never a flap, only retries


# --- routes -------------------------------------------------------------------------------
BOTH = {"families": (IPV4_UNICAST, IPV6_UNICAST)}


def test_update_delivery_and_end_of_rib() -> None:
    """RFC 4271 9: an UPDATE is delivered with its prefixes; RFC 4724 2: an UPDATE with
    nothing in it (IPv4) or an empty MP_UNREACH_NLRI (others) is End-of-RIB."""
    pair = up(BOTH, BOTH)
    pair.a.send_update(announce("198.18.20.0/24", "198.18.21.0/25"))
    pair.a.send_update(end_of_rib(IPV4_UNICAST))
    pair.a.send_update(end_of_rib(IPV6_UNICAST))
    pair.pump()
    (received,) = pair.of_type(pair.b, UpdateReceived)
    assert received.update.nlri == [prefix_key("198.18.20.0/24"), prefix_key("198.18.21.0/25")]
    assert received.update.attributes.next_hop == bytes([198, 18, 0, 2])
    assert [e.family for e in pair.of_type(pair.b, EndOfRib)] == [IPV4_UNICAST, IPV6_UNICAST]
    assert pair.a.counters.sent["update"] == pair.b.counters.received["update"] == 3


def test_route_refresh() -> None:
    """RFC 2918 4 / RFC 7313 4: a ROUTE-REFRESH for a negotiated family is delivered
    with its subtype (request, BoRR, EoRR); one for a family that was not negotiated,
    or with an unknown subtype, is ignored and the session stays up."""
    pair = up(BOTH, {"families": (IPV4_UNICAST,)})
    pair.a.send_route_refresh(IPV4_UNICAST)
    pair.a.send_route_refresh(IPV4_UNICAST, 1)
    pair.a.send_route_refresh(IPV4_UNICAST, 2)
    pair.a.send_route_refresh(IPV6_UNICAST)  # B did not negotiate IPv6
    pair.a.send_route_refresh(IPV4_UNICAST, 9)  # no such subtype
    pair.pump()
    got = [(e.family, e.subtype) for e in pair.of_type(pair.b, RouteRefreshReceived)]
    assert got == [(IPV4_UNICAST, 0), (IPV4_UNICAST, 1), (IPV4_UNICAST, 2)]
    assert pair.established()


def test_malformed_update_resets_the_session() -> None:
    """RFC 4271 6.3 / RFC 7606 2: an UPDATE whose lengths do not add up is a session
    reset: NOTIFICATION 3/1 (Malformed Attribute List), the session down on both ends
    with its routes to withdraw (was_established)."""
    pair = up()
    pair.a.send_update(BAD_UPDATE)
    pair.pump()
    down_b, down_a = last_down(pair, pair.b), last_down(pair, pair.a)
    assert down_b.notification == Notification(3, 1) and not down_b.received
    assert down_a.notification == Notification(3, 1) and down_a.received
    assert down_a.was_established and down_b.was_established
    assert pair.of_type(pair.b, UpdateReceived) == []


def test_missing_attribute_is_treat_as_withdraw() -> None:
    """RFC 7606 3 d): an UPDATE with NLRI but no mandatory attributes is not a reset: it
    is delivered marked treat-as-withdraw and the session stays up."""
    pair = up()
    pair.a.send_update(Update(attributes=PathAttributes(origin=0), nlri=[prefix_key("10.0.0.0/8")]))
    pair.pump()
    (received,) = pair.of_type(pair.b, UpdateReceived)
    assert received.update.treat_as_withdraw
    assert pair.established()


def test_keepalives_go_before_updates() -> None:
    """RFC 4271 4.4 / DESIGN: a KEEPALIVE must not wait behind a large table, or the
    peer's Hold Timer expires while UPDATEs drain: with 10 MB of UPDATEs queued, the
    KEEPALIVE is the first thing `data_to_send(limit)` hands out, and each call stays
    near its limit."""
    pair = up()
    attributes = announce("10.0.0.0/24").attributes
    assert attributes is not None
    keys = [prefix_key(f"10.{i // 256}.{i % 256}.0/24") for i in range(10_000)]
    context = pair.a.negotiated.send_context  # type: ignore[union-attr]
    batch = list(pack_announcements(attributes, keys, context))
    while pair.a.pending_update_octets < 10_000_000:
        for message in batch:
            pair.a.send_update(message)
    for _ in range(2):
        deadline = pair.a.timer_deadline(Timer.KEEPALIVE)
        assert deadline is not None
        pair.a.handle_timer(deadline)
        before = pair.a.pending_update_octets
        data = pair.a.data_to_send(limit=65536)
        assert data[:19] == KEEPALIVE
        assert len(data) <= 65536 + max(len(m) for m in batch)
        assert pair.a.pending_update_octets == before - (len(data) - 19)
        pair.b.receive_data(data, deadline)
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED


# --- collisions (RFC 4271 6.8) --------------------------------------------------------------
class Collision:
    """Both speakers connect at once: two connections, four sessions, and the runtime's
    part of RFC 4271 6.8 (resolve on each OPEN received, dump the loser)."""

    def __init__(self, a_id: str, b_id: str) -> None:
        self.config = {
            "a": replace(A_CONFIG, router_id=a_id),
            "b": replace(B_CONFIG, router_id=b_id),
        }
        rng = random.Random(3)
        self.a_out, self.a_in = (Session(self.config["a"], rng=rng) for _ in range(2))
        self.b_out, self.b_in = (Session(self.config["b"], rng=rng) for _ in range(2))
        self.side = {
            self.a_out: ("a", self.a_in),
            self.a_in: ("a", self.a_out),
            self.b_out: ("b", self.b_in),
            self.b_in: ("b", self.b_out),
        }
        self.dumped: list[Session] = []

    def on_event(self, session: Session, event: object) -> None:
        if not (isinstance(event, StateChanged) and event.new is State.OPEN_CONFIRM):
            return
        if session.state is not State.OPEN_CONFIRM or session.negotiated is None:
            return
        name, other = self.side[session]
        local_id = self.config[name].router_id
        loser = resolve_collision(local_id, session.negotiated.peer_id, session, other)
        if loser is not None and loser.state is not State.IDLE:
            self.dumped.append(loser)
            loser.collision_dump(0.0)

    def link(self, out: Session, into: Session) -> Link:
        out.start(0.0)
        into.start(0.0, passive=True)
        return Link(out, into, 0.0, self.on_event)


@pytest.mark.parametrize(
    ("a_id", "b_id"), [("198.18.0.1", "198.18.0.2"), ("198.18.0.9", "198.18.0.2")]
)
def test_collision_keeps_the_higher_identifiers_connection(a_id: str, b_id: str) -> None:
    """RFC 4271 6.8: with two connections to one peer in OpenConfirm, "the connection
    initiated by the BGP speaker with the higher-valued BGP Identifier" survives; the
    other is closed with Cease / Connection Collision Resolution (6/7)."""
    c = Collision(a_id, b_id)
    from_a = c.link(c.a_out, c.b_in)
    from_b = c.link(c.b_out, c.a_in)
    run([from_a, from_b], 0.0)
    a_higher = ipaddress.IPv4Address(a_id) > ipaddress.IPv4Address(b_id)
    winner, loser = (from_a, from_b) if a_higher else (from_b, from_a)
    assert winner.out.state is winner.into.state is State.ESTABLISHED
    assert loser.out.state is loser.into.state is State.IDLE
    assert set(c.dumped) == {loser.out, loser.into}  # each speaker decided the same
    assert {k for _, k in loser.log if isinstance(k, tuple)} == {(6, 7)}
    assert not any(isinstance(k, tuple) for _, k in winner.log)


def test_collision_with_an_established_session_closes_the_newcomer() -> None:
    """RFC 4271 6.8: "a connection collision with an existing BGP connection that is in
    the Established state causes closing of the newly created connection" (pybgp leaves
    CollisionDetectEstablishedState off)."""
    c = Collision("198.18.0.1", "198.18.0.2")  # B's identifier is the higher one
    first = c.link(c.a_out, c.b_in)
    run([first], 0.0)
    assert first.out.state is first.into.state is State.ESTABLISHED
    newcomer = c.link(c.b_out, c.a_in)
    run([first, newcomer], 0.0)
    assert first.out.state is first.into.state is State.ESTABLISHED
    assert newcomer.out.state is newcomer.into.state is State.IDLE
    assert (6, 7) in {k for _, k in newcomer.log}


@pytest.mark.parametrize(
    ("other_state", "local_higher", "receiving_outgoing", "expect"),
    [
        (None, True, True, None),
        ("Idle", True, True, None),
        ("Connect", True, True, None),
        ("Active", True, True, None),
        # OpenSent: examined too, the Identifier being known from this OPEN (RFC 4271 6.8
        # "MAY also examine connections in an OpenSent state").
        ("OpenSent", True, True, "other"),
        ("OpenSent", True, False, "receiving"),
        ("OpenSent", False, True, "receiving"),
        ("OpenSent", False, False, "other"),
        ("Established", True, True, "receiving"),
        ("Established", False, False, "receiving"),
        ("OpenConfirm", True, True, "other"),  # keep ours: we are higher
        ("OpenConfirm", True, False, "receiving"),
        ("OpenConfirm", False, True, "receiving"),  # keep theirs: they are higher
        ("OpenConfirm", False, False, "other"),
    ],
)
def test_resolve_collision(
    other_state: str | None, local_higher: bool, receiving_outgoing: bool, expect: str | None
) -> None:
    """RFC 4271 6.8: a connection in OpenSent, OpenConfirm or Established collides; the
    one the higher BGP Identifier opened stays, and an Established one always stays."""
    local_id, remote_id = (
        ("198.18.0.9", "198.18.0.2") if local_higher else ("198.18.0.1", "198.18.0.2")
    )
    receiving = into("OpenConfirm", outgoing=receiving_outgoing).session
    other = None
    if other_state is not None:
        other = into(other_state, outgoing=not receiving_outgoing).session
    result = resolve_collision(local_id, remote_id, receiving, other)
    assert result is {None: None, "receiving": receiving, "other": other}[expect]
