"""Facts that hold for a `Session` after any input, shared by the table and machine tests.

Each check names the RFC 4271 clause that makes it so; each raises AssertionError.
"""

from __future__ import annotations

from collections.abc import Sequence

from pybgp.session import (
    CloseConnection,
    Event,
    NotificationSent,
    Session,
    SessionDown,
    State,
    StateChanged,
)
from pybgp.session.timers import Timer
from pybgp.wire import Notification

from .scripted import messages

S = State
# Where each timer may run.  RFC 4271 8.2.2: the ConnectRetryTimer and DelayOpenTimer
# belong to Connect and Active (every transition out of them stops both, or starts the
# OpenSent HoldTimer instead); the HoldTimer starts when an OPEN is sent and stops
# with the connection; the KeepaliveTimer starts with the peer's OPEN (OpenConfirm).
# 8.1.1: the IdleHoldTimer only delays the automatic start from Idle.
TIMER_STATES = {
    Timer.CONNECT_RETRY: {S.CONNECT, S.ACTIVE},
    Timer.DELAY_OPEN: {S.CONNECT, S.ACTIVE},
    Timer.HOLD: {S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED},
    Timer.KEEPALIVE: {S.OPEN_CONFIRM, S.ESTABLISHED},
    Timer.IDLE_HOLD: {S.IDLE},
}


def check_state(session: Session) -> None:
    """The state, its timers, its connection and its negotiation agree."""
    state = session.state
    assert isinstance(state, State)
    for timer, states in TIMER_STATES.items():
        if session.timer_deadline(timer) is not None:
            assert state in states, f"{timer.value} runs in {state}"
    if state in (S.OPEN_SENT, S.OPEN_CONFIRM, S.ESTABLISHED):
        assert session.connected, f"{state} without a connection"
    if state is S.IDLE:
        # "the BGP peer refuses all incoming BGP connections" (8.2.2 Idle).
        assert not session.connected
    if state in (S.CONNECT, S.ACTIVE):
        # Connected in Connect/Active only while waiting out the DelayOpenTimer (8.2.2,
        # Events 16/17 with DelayOpen); otherwise the OPEN has gone and it is OpenSent.
        delay = session.timer_deadline(Timer.DELAY_OPEN) is not None
        assert session.connected == delay, (state, session.connected, delay)
        assert session.timer_deadline(Timer.CONNECT_RETRY) is None or not delay
    # The negotiated facts exist exactly from the peer's OPEN until the connection ends.
    negotiated = state in (S.OPEN_CONFIRM, S.ESTABLISHED)
    assert (session.negotiated is not None) == negotiated, (state, session.negotiated)


def check_output(before: State, after: State, events: Sequence[Event], data: bytes) -> None:
    """What one input produced is well formed.

    * `data` is whole BGP messages (RFC 4271 4.1), and a NOTIFICATION is the last one
      (RFC 4271 4.5: "the BGP connection is closed immediately after it is sent").
    * A NOTIFICATION is always followed by a CloseConnection.
    * StateChanged events chain from `before` to `after`; SessionDown follows exactly
      each transition into Idle (and nothing else).
    """
    sent = messages(data)
    notifications = [i for i, m in enumerate(sent) if isinstance(m, Notification)]
    assert len(notifications) <= 1, sent
    if notifications:
        assert notifications[0] == len(sent) - 1, f"messages after a NOTIFICATION: {sent}"
    notified = [i for i, e in enumerate(events) if isinstance(e, NotificationSent)]
    assert len(notified) == len(notifications), (events, sent)
    for i in notified:
        assert any(isinstance(e, CloseConnection) for e in events[i + 1 :]), events
    state = before
    into_idle = 0
    for event in events:
        if isinstance(event, StateChanged):
            assert event.old is state, (state, event)
            assert event.new is not event.old
            state = event.new
            into_idle += event.new is S.IDLE
        if isinstance(event, SessionDown):
            assert state is S.IDLE, f"SessionDown while {state}"
    assert state is after, (state, after, events)
    downs = sum(isinstance(e, SessionDown) for e in events)
    assert downs == into_idle, events
