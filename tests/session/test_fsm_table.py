"""The RFC 4271 8.2.2 FSM: the table as data, then the same rows through a real `Session`.

Part one compares `fsm.TRANSITIONS` / `fsm.lookup` with `expected_fsm.EXPECTED`, a copy
of section 8.2.2 written from the RFC's text, for every (State, Input) pair and every
value of the facts that guard a row (DelayOpen, PassiveTcpEstablishment).

Part two walks a `Session` into each state with a scripted peer (`scripted.into`),
applies each public input (start, stop, connection_made/failed, receive_data with
each kind of message, handle_timer, collision_dump) and checks the state it lands in,
the bytes it asks to send (RFC 6608 FSM Error subcodes included), the events it
reports, and the timers it starts, against the same expected table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pybgp.session import (
    CloseConnection,
    LocalProtocolError,
    NotificationReceived,
    NotificationSent,
    OpenConnection,
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    UpdateReceived,
    fsm,
)
from pybgp.session.config import LARGE_HOLD_TIME
from pybgp.session.fsm import Action, Input, State
from pybgp.session.timers import Timer
from pybgp.wire import Notification

from . import expected_fsm as ex
from .invariants import check_output, check_state
from .scripted import (
    BAD_MARKER,
    BAD_UPDATE,
    KEEPALIVE,
    STATES,
    Script,
    into,
    kinds,
    peer_open,
    route_refresh,
    update_bytes,
)

A = Action
FACTS = [{"delay_open": d, "passive": p} for d, p in itertools.product((False, True), repeat=2)]
PAIRS = list(itertools.product(State, Input))


# --- part one: the table ------------------------------------------------------------------
@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{i.name}" for s, i in PAIRS])
def test_table_row(state: State, event: Input) -> None:
    """RFC 4271 8.2.2: every (state, input) goes where the RFC's text says, doing the key
    actions it lists (the RFC 6608 FSM Error for "any other event" once an OPEN is out),
    for each value of the DelayOpen / PassiveTcpEstablishment facts."""
    for facts in FACTS:
        new, actions = fsm.lookup(state, event, facts)
        want = ex.expected(state, event, facts)
        assert new is want.state, facts
        assert frozenset(actions) & ex.KEY == want.actions, facts
        assert len(set(actions)) == len(actions), f"an action twice: {actions}"


def test_guarded_rows_are_the_rfc_ones() -> None:
    """RFC 4271 8.2.2: only Events 16/17 in Connect and Active depend on DelayOpen (and,
    in pybgp, Active's ConnectRetryTimer_Expires on PassiveTcpEstablishment, 8.1.1)."""
    guarded = {
        key: rule.guard for key, rule in fsm.TRANSITIONS.items() if isinstance(rule, fsm.Guarded)
    }
    assert guarded == ex.guarded()


@pytest.mark.parametrize(("state", "event"), sorted(ex.guarded(), key=str))
def test_guarded_rows_both_ways(state: State, event: Input) -> None:
    """A guarded row really differs with its fact (RFC 4271 8.1.1 optional attributes):
    DelayOpen true waits in Connect/Active for the DelayOpenTimer, false sends the OPEN;
    PassiveTcpEstablishment keeps Active listening instead of connecting."""
    fact = ex.guarded()[(state, event)]
    rows = {
        value: fsm.lookup(state, event, {"delay_open": False, "passive": False, fact: value})
        for value in (True, False)
    }
    assert rows[True] != rows[False]
    if fact == "delay_open":
        assert rows[True][0] is state and A.START_DELAY_OPEN_TIMER in rows[True][1]
        assert rows[False][0] is State.OPEN_SENT and A.SEND_OPEN in rows[False][1]
    else:
        assert A.INITIATE_TCP not in rows[True][1]
        assert A.INITIATE_TCP in rows[False][1]


def test_lookup_falls_back_to_default_rule() -> None:
    """`lookup` is `TRANSITIONS` where a row is named and `default_rule` elsewhere."""
    unnamed = [pair for pair in PAIRS if pair not in fsm.TRANSITIONS]
    assert unnamed
    for state, event in unnamed:
        for facts in FACTS:
            assert fsm.lookup(state, event, facts) == fsm.default_rule(state, event)


NOTIFY = {
    A.SEND_ERROR_NOTIFICATION,
    A.SEND_CEASE,
    A.SEND_HOLD_TIMER_EXPIRED,
    A.SEND_FSM_ERROR,
    A.SEND_COLLISION_CEASE,
}


def test_row_order() -> None:
    """Within a row, the order RFC 4271 8.2.2 gives: a NOTIFICATION is sent before the
    connection is dropped (4.5), the peer's OPEN is processed before the negotiated
    timers start, and our OPEN goes before our KEEPALIVE (4.2, 4.4)."""
    for state, event in PAIRS:
        for facts in FACTS:
            _, actions = fsm.lookup(state, event, facts)
            order = {action: i for i, action in enumerate(actions)}
            for send in NOTIFY & set(actions):
                assert order[send] < order.get(A.DROP_TCP, -1), (state, event)
            if A.PROCESS_OPEN in order:
                for later in (A.SEND_KEEPALIVE, A.START_KEEPALIVE_TIMER, A.RESTART_HOLD_TIMER):
                    assert order[A.PROCESS_OPEN] < order.get(later, 99), (state, event)
            if A.SEND_OPEN in order and A.SEND_KEEPALIVE in order:
                assert order[A.SEND_OPEN] < order[A.SEND_KEEPALIVE], (state, event)


# --- part two: the same rows through a Session ---------------------------------------------
def _receiving(script: Script) -> bool:
    return script.session.connected


def _delay_running(script: Script) -> bool:
    return script.session.timer_deadline(Timer.DELAY_OPEN) is not None


@dataclass(frozen=True)
class Stimulus:
    """One public input, and the RFC 4271 8.1 event it is in the script's state."""

    name: str
    apply: Callable[[Script], None]
    event: Callable[[Script], Input | None]  # None: the session must not react
    notification: tuple[int, int] | None = None  # what SEND_ERROR / SEND_CEASE sends


def _feed(data: bytes) -> Callable[[Script], None]:
    return lambda script: script.feed(data)


def _when_connected(event: Input) -> Callable[[Script], Input | None]:
    # Bytes that arrive with no connection are not read (sans-I/O: nothing to read).
    return lambda script: event if _receiving(script) else None


def _open_event(script: Script) -> Input | None:
    if not _receiving(script):
        return None
    return (
        Input.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING if _delay_running(script) else Input.BGP_OPEN
    )


def _bad_open_event(script: Script) -> Input | None:
    # An OPEN is checked only where one is expected; elsewhere it is just unexpected.
    if not _receiving(script):
        return None
    if _delay_running(script) or script.session.state is State.OPEN_SENT:
        return Input.BGP_OPEN_MSG_ERR
    return Input.BGP_OPEN


def _bad_update_event(script: Script) -> Input | None:
    # Outside Established an UPDATE is not decoded: it is unexpected as it stands.
    if not _receiving(script):
        return None
    established = script.session.state is State.ESTABLISHED
    return Input.UPDATE_MSG_ERR if established else Input.UPDATE_MSG


def _connect(outgoing: bool) -> Stimulus:
    event = Input.TCP_CR_ACKED if outgoing else Input.TCP_CONNECTION_CONFIRMED
    return Stimulus(
        "connection_made(outgoing)" if outgoing else "connection_made(incoming)",
        lambda script: script.session.connection_made(script.now, outgoing),
        lambda script: None if script.session.connected else event,
    )


def _failed_event(script: Script) -> Input | None:
    session = script.session
    return (
        Input.TCP_CONNECTION_FAILS if session.connected or session.state is State.CONNECT else None
    )


STIMULI = [
    Stimulus("start", lambda s: s.session.start(s.now), lambda s: Input.MANUAL_START),
    Stimulus(
        "stop",
        lambda s: s.session.stop(s.now, "maintenance"),
        lambda s: Input.MANUAL_STOP,
        (6, 2),  # RFC 9003 / RFC 4486: Administrative Shutdown
    ),
    Stimulus(
        "stop(restart)",
        lambda s: s.session.stop(s.now, restart=True),
        lambda s: Input.AUTOMATIC_STOP,
        (6, 4),  # RFC 4486: Administrative Reset
    ),
    _connect(True),
    _connect(False),
    Stimulus(
        "connection_failed",
        lambda s: s.session.connection_failed(s.now, "reset by peer"),
        _failed_event,
    ),
    Stimulus(
        "collision_dump",
        lambda s: s.session.collision_dump(s.now),
        lambda s: fsm.I.OPEN_COLLISION_DUMP,
    ),
    Stimulus("OPEN", _feed(peer_open().encode()), _open_event),
    Stimulus("OPEN bad AS", _feed(peer_open(asn=65000).encode()), _bad_open_event, (2, 2)),
    Stimulus("bad marker", _feed(BAD_MARKER), _when_connected(Input.BGP_HEADER_ERR), (1, 1)),
    Stimulus("NOTIFICATION", _feed(Notification(6, 3).encode()), _when_connected(Input.NOTIF_MSG)),
    Stimulus(
        "NOTIFICATION version",
        _feed(Notification(2, 1, b"\x00\x04").encode()),
        _when_connected(Input.NOTIF_MSG_VER_ERR),
    ),
    Stimulus("KEEPALIVE", _feed(KEEPALIVE), _when_connected(Input.KEEPALIVE_MSG)),
    Stimulus("UPDATE", _feed(update_bytes("198.18.10.0/24")), _when_connected(Input.UPDATE_MSG)),
    Stimulus("UPDATE malformed", _feed(BAD_UPDATE), _bad_update_event, (3, 1)),
    Stimulus("ROUTE-REFRESH", _feed(route_refresh()), _when_connected(Input.ROUTE_REFRESH_MSG)),
]
TIMER_EVENTS = {
    Timer.CONNECT_RETRY: Input.CONNECT_RETRY_TIMER_EXPIRES,
    Timer.HOLD: Input.HOLD_TIMER_EXPIRES,
    Timer.KEEPALIVE: Input.KEEPALIVE_TIMER_EXPIRES,
    Timer.DELAY_OPEN: Input.DELAY_OPEN_TIMER_EXPIRES,
    Timer.IDLE_HOLD: Input.IDLE_HOLD_TIMER_EXPIRES,
}


def _timer_stimulus(timer: Timer) -> Stimulus:
    return Stimulus(
        f"{timer.value} expires", lambda s: s.fire(timer), lambda s: TIMER_EVENTS[timer]
    )


def _cases() -> list[tuple[str, Stimulus]]:
    cases = [(state, stimulus) for state in STATES for stimulus in STIMULI]
    for state in STATES:
        cases += [(state, _timer_stimulus(t)) for t in sorted(into(state).running(), key=str)]
    return cases


CASES = _cases()
# RFC 6608 4: which state an unexpected message met.
FSM_SUBCODE = {State.OPEN_SENT: 1, State.OPEN_CONFIRM: 2, State.ESTABLISHED: 3}


def _outcome(script: Script, event: Input) -> ex.Row:
    """The expected row, following an automatic restart as the session does (8.1.1)."""
    session = script.session
    facts = {"delay_open": session.config.delay_open > 0, "passive": session.config.passive}
    want = ex.expected(session.state, event, facts)
    if A.AUTOMATIC_RESTART in want.actions:
        start = ex.expected(want.state, Input.AUTOMATIC_START, facts)
        return ex.Row(start.state, want.actions | start.actions)
    return want


def _wire(row: ex.Row, stimulus: Stimulus, old: State, connected: bool) -> list[object]:
    """The messages the row sends, in the order RFC 4271 8.2.2 sends them."""
    out: list[object] = []
    if A.SEND_OPEN in row.actions:
        out.append("OPEN")
    if A.SEND_KEEPALIVE in row.actions:
        out.append("KEEPALIVE")
    notifications = {
        A.SEND_ERROR_NOTIFICATION: stimulus.notification,
        A.SEND_CEASE: stimulus.notification,
        A.SEND_HOLD_TIMER_EXPIRED: (4, 0),
        A.SEND_FSM_ERROR: (5, FSM_SUBCODE.get(old, 0)),
        A.SEND_COLLISION_CEASE: (6, 7),
    }
    for action, notification in notifications.items():
        if action in row.actions and connected:  # a NOTIFICATION needs a connection
            out.append(notification)
    return out


@pytest.mark.parametrize(
    ("state", "stimulus"), CASES, ids=[f"{state}-{stim.name}" for state, stim in CASES]
)
def test_session_follows_the_table(state: str, stimulus: Stimulus) -> None:
    """RFC 4271 8.2.2 through the public API: the session lands in the state the RFC
    names, sends exactly the messages the row lists (the RFC 6608 FSM Error subcode for
    the state an unexpected message met, the RFC 4271 6.x error for a bad message, Cease
    6/2 or 6/4 for a stop, 6/7 for a collision), and reports what the row reports."""
    script = into(state)
    session = script.session
    old = session.state
    event = stimulus.event(script)
    connected = session.connected
    if event is None and stimulus.name.startswith("connection_made"):
        # A second connection on one Session is misuse: RFC 4271 6.8 collisions get a
        # Session of their own (see resolve_collision).
        with pytest.raises(LocalProtocolError):
            stimulus.apply(script)
        return
    running = script.running()
    want = _outcome(script, event) if event is not None else None
    stimulus.apply(script)
    events, data = script.drain()
    check_state(session)
    check_output(old, session.state, events, data)
    if want is None:
        assert session.state is old and not data and events == []
        assert script.running() == running
        return
    assert session.state is want.state
    if stimulus.name.startswith("connection_made"):
        connected = True
    elif stimulus.name == "connection_failed":
        connected = False
    assert kinds(data) == _wire(want, stimulus, old, connected)
    kinds_of = [type(e) for e in events]
    assert (CloseConnection in kinds_of) == (A.DROP_TCP in want.actions and connected)
    assert (OpenConnection in kinds_of) == (A.INITIATE_TCP in want.actions)
    assert (SessionEstablished in kinds_of) == (A.SESSION_UP in want.actions)
    assert (NotificationReceived in kinds_of) == (A.DELIVER_NOTIFICATION in want.actions)
    assert (UpdateReceived in kinds_of) == (A.DELIVER_UPDATE in want.actions)
    assert (RouteRefreshReceived in kinds_of) == (A.DELIVER_ROUTE_REFRESH in want.actions)
    assert (NotificationSent in kinds_of) == any(isinstance(k, tuple) for k in kinds(data))
    assert (SessionDown in kinds_of) == (want.state is State.IDLE and old is not State.IDLE)
    _check_timers_started(script, want)


def _check_timers_started(script: Script, want: ex.Row) -> None:
    """RFC 4271 8.2.2 timer values: the ConnectRetryTimer and KeepaliveTimer jittered
    to [0.75, 1] of their value (RFC 4271 10), the HoldTimer at 4 minutes in OpenSent
    and at the negotiated HoldTime after the peer's OPEN, the DelayOpenTimer as set."""
    session, now = script.session, script.now
    config = session.config

    def deadline(timer: Timer) -> float:
        value = session.timer_deadline(timer)
        assert value is not None, f"{timer.value} should run"
        return value - now

    if A.START_CONNECT_RETRY_TIMER in want.actions:
        assert 0.75 * config.connect_retry <= deadline(Timer.CONNECT_RETRY) <= config.connect_retry
    if A.START_DELAY_OPEN_TIMER in want.actions:
        assert deadline(Timer.DELAY_OPEN) == config.delay_open
    if A.START_LARGE_HOLD_TIMER in want.actions:
        assert deadline(Timer.HOLD) == LARGE_HOLD_TIME == 240
    if A.RESTART_HOLD_TIMER in want.actions:
        assert deadline(Timer.HOLD) == 9
    if A.START_KEEPALIVE_TIMER in want.actions:
        assert 0.75 * 3 <= deadline(Timer.KEEPALIVE) <= 3
    if A.DAMP_PEER_OSCILLATIONS in want.actions and want.state is State.IDLE:
        assert deadline(Timer.IDLE_HOLD) >= session.damper.initial


def test_connection_lost_in_open_sent_leaves_no_hold_timer() -> None:
    """RFC 4271 8.2.2 OpenSent, TcpConnectionFails (Event 18): "closes the BGP
    connection, restarts the ConnectRetryTimer, continues to listen ... changes its
    state to Active".  The 4-minute HoldTimer belonged to that connection: when it runs
    on, its expiry in Active is an "other event" that sends the session Idle as a flap
    although nothing happened."""
    script = into("OpenSent", connect_retry=1000)
    session = script.session
    session.connection_failed(script.now, "reset by peer")
    script.drain()
    assert session.state is State.ACTIVE
    assert script.running() == {Timer.CONNECT_RETRY}
    script.now = LARGE_HOLD_TIME + 1.0  # before the ConnectRetryTimer (>= 750 s)
    session.handle_timer(script.now)
    events, _ = script.drain()
    assert session.state is State.ACTIVE
    assert not any(isinstance(e, SessionDown) for e in events)
