"""RFC 4271 8.2.2, written out again from the RFC's text, to check `fsm.TRANSITIONS` by.

This is deliberately not derived from `pybgp.session.fsm`: each row below was written
from the RFC's prose for that state.  It lists the next state and the *key* actions of
every (state, input): what is sent, which timers start, whether the connection is
opened or dropped, what is reported, and the counter and damping steps.  Stopping a
timer is left out (pybgp's invariants tests check that no timer runs where it should
not).  Where pybgp departs from the letter of the RFC on purpose, the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybgp.session import Action, Input, State

A = Action
S = State
I = Input  # noqa: E741 - reads as the RFC's table does

# Everything a row may do except stopping timers.
KEY = frozenset(Action) - {A.STOP_CONNECT_RETRY_TIMER, A.STOP_DELAY_OPEN_TIMER}


@dataclass(frozen=True)
class Row:
    state: State
    actions: frozenset[Action]


def row(state: State, *actions: Action) -> Row:
    return Row(state, frozenset(actions))


@dataclass(frozen=True)
class Guard:
    """The RFC's "If the DelayOpen attribute is set to TRUE ..." kind of row."""

    fact: str
    when_true: Row
    when_false: Row


STARTS = (
    I.MANUAL_START,
    I.AUTOMATIC_START,
    I.MANUAL_START_WITH_PASSIVE_TCP,
    I.AUTOMATIC_START_WITH_PASSIVE_TCP,
)
# "releases all BGP resources, drops the TCP connection".
CLOSE = (A.RELEASE_RESOURCES, A.DROP_TCP)
# "... increments the ConnectRetryCounter by 1, (optionally) performs peer oscillation
# damping if the DampPeerOscillations attribute is set to TRUE, and changes its state
# to Idle."  pybgp always damps (its IdleHoldTimer is the automatic restart).
FLAP = (*CLOSE, A.INCREMENT_CONNECT_RETRY_COUNTER, A.DAMP_PEER_OSCILLATIONS)
# ManualStop: "... sets the ConnectRetryCounter to zero".
MANUAL_STOP = (*CLOSE, A.ZERO_CONNECT_RETRY_COUNTER)

# Connect and Active, Tcp_CR_Acked / TcpConnectionConfirmed (Events 16, 17): "If the
# DelayOpen attribute is set to TRUE, ... sets the DelayOpenTimer to the initial value
# [and stays]. If the DelayOpen attribute is set to FALSE, ... sends an OPEN message to
# its peer, sets the HoldTimer to a large value, and changes its state to OpenSent."
_SEND_OPEN = row(S.OPEN_SENT, A.SEND_OPEN, A.START_LARGE_HOLD_TIMER)
CONNECTED_IN_CONNECT = Guard("delay_open", row(S.CONNECT, A.START_DELAY_OPEN_TIMER), _SEND_OPEN)
CONNECTED_IN_ACTIVE = Guard("delay_open", row(S.ACTIVE, A.START_DELAY_OPEN_TIMER), _SEND_OPEN)
# BGPOpen with the DelayOpenTimer running (Event 20) in Connect or Active: "completes
# the BGP initialization, ... sends an OPEN message, sends a KEEPALIVE message, ...
# starts the KeepaliveTimer, ... resets the HoldTimer to the negotiated value,
# changes its state to OpenConfirm".
OPEN_AFTER_DELAY = row(
    S.OPEN_CONFIRM,
    A.PROCESS_OPEN,
    A.SEND_OPEN,
    A.SEND_KEEPALIVE,
    A.START_KEEPALIVE_TIMER,
    A.RESTART_HOLD_TIMER,
)

EXPECTED: dict[State, dict[Input, Row | Guard]] = {
    S.IDLE: {
        # "In response to a ManualStart event (Event 1) or an AutomaticStart event
        # (Event 3), the local system: ... sets ConnectRetryCounter to zero, starts the
        # ConnectRetryTimer ..., initiates a TCP connection ..., changes its state to
        # Connect."
        I.MANUAL_START: row(
            S.CONNECT, A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP
        ),
        I.AUTOMATIC_START: row(
            S.CONNECT, A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP
        ),
        # Events 4 and 5: "... sets the ConnectRetryCounter to zero, starts the
        # ConnectRetryTimer ..., listens ..., changes its state to Active."
        I.MANUAL_START_WITH_PASSIVE_TCP: row(
            S.ACTIVE, A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER
        ),
        I.AUTOMATIC_START_WITH_PASSIVE_TCP: row(
            S.ACTIVE, A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER
        ),
        # 8.1.1 DampPeerOscillations: when the IdleHoldTimer expires, the automatic start.
        I.IDLE_HOLD_TIMER_EXPIRES: row(S.IDLE, A.AUTOMATIC_RESTART),
        # "the BGP peer refuses all incoming BGP connections" while Idle.
        I.TCP_CONNECTION_CONFIRMED: row(S.IDLE, A.DROP_TCP),
        I.TCP_CR_ACKED: row(S.IDLE, A.DROP_TCP),
    },
    S.CONNECT: {
        # "In response to the ManualStop event (Event 2), the local system: drops the
        # TCP connection, releases all BGP resources, sets ConnectRetryCounter to zero".
        I.MANUAL_STOP: row(S.IDLE, *MANUAL_STOP),
        # Event 9: "drops the TCP connection, restarts the ConnectRetryTimer, stops the
        # DelayOpenTimer ..., initiates a TCP connection ..., stays in the Connect state."
        I.CONNECT_RETRY_TIMER_EXPIRES: row(
            S.CONNECT, A.DROP_TCP, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP
        ),
        # Event 12: "sends an OPEN message ..., sets the HoldTimer to a large value, and
        # changes its state to OpenSent."
        I.DELAY_OPEN_TIMER_EXPIRES: _SEND_OPEN,
        I.TCP_CR_ACKED: CONNECTED_IN_CONNECT,
        I.TCP_CONNECTION_CONFIRMED: CONNECTED_IN_CONNECT,
        # Event 18.  The RFC goes to Idle unless the DelayOpenTimer runs; pybgp waits in
        # Active for the ConnectRetryTimer (as BIRD and FRR do): a peer that is not up
        # yet costs one retry, not a flap.
        I.TCP_CONNECTION_FAILS: row(S.ACTIVE, A.DROP_TCP, A.START_CONNECT_RETRY_TIMER),
        I.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING: OPEN_AFTER_DELAY,
        # Events 21, 22: "(optionally) If the SendNOTIFICATIONwithoutOPEN attribute is
        # set to TRUE, then the local system first sends a NOTIFICATION message with the
        # appropriate error code" - pybgp always does.
        I.BGP_HEADER_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.BGP_OPEN_MSG_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        # Event 24 with the DelayOpenTimer running (the only way a Connect session is
        # connected): "releases all BGP resources, drops the TCP connection, and changes
        # its state to Idle" - no counter, no damping.
        I.NOTIF_MSG_VER_ERR: row(S.IDLE, A.DELIVER_NOTIFICATION, *CLOSE),
    },
    S.ACTIVE: {
        # Event 2: "... releases all BGP resources ..., drops the TCP connection, sets
        # ConnectRetryCounter to zero, stops the ConnectRetryTimer ..., changes its state
        # to Idle."
        I.MANUAL_STOP: row(S.IDLE, *MANUAL_STOP),
        # Event 9: "restarts the ConnectRetryTimer ..., initiates a TCP connection ...,
        # changes its state to Connect."  8.1.1 PassiveTcpEstablishment: pybgp's passive
        # peer only ever listens.
        I.CONNECT_RETRY_TIMER_EXPIRES: Guard(
            "passive",
            row(S.ACTIVE, A.START_CONNECT_RETRY_TIMER),
            row(S.CONNECT, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP),
        ),
        # Event 12: "... sends the OPEN message to its peer, sets its HoldTimer to a large
        # value, changes its state to OpenSent."
        I.DELAY_OPEN_TIMER_EXPIRES: _SEND_OPEN,
        I.TCP_CR_ACKED: CONNECTED_IN_ACTIVE,
        I.TCP_CONNECTION_CONFIRMED: CONNECTED_IN_ACTIVE,
        # Event 18: "... releases all BGP resources, increments the ConnectRetryCounter
        # by 1, optionally performs peer oscillation damping ..., changes its state to
        # Idle."  (The RFC also restarts the ConnectRetryTimer, which Idle ignores.)
        I.TCP_CONNECTION_FAILS: row(S.IDLE, *FLAP),
        I.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING: OPEN_AFTER_DELAY,
        I.BGP_HEADER_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.BGP_OPEN_MSG_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.NOTIF_MSG_VER_ERR: row(S.IDLE, A.DELIVER_NOTIFICATION, *CLOSE),
    },
    S.OPEN_SENT: {
        # Event 2: "sends the NOTIFICATION with a Cease, ... releases all BGP resources,
        # drops the TCP connection, sets the ConnectRetryCounter to zero".
        I.MANUAL_STOP: row(S.IDLE, A.SEND_CEASE, *MANUAL_STOP),
        # Event 8: "sends the NOTIFICATION with a Cease, ... increments the
        # ConnectRetryCounter by 1, (optionally) performs peer oscillation damping".
        I.AUTOMATIC_STOP: row(S.IDLE, A.SEND_CEASE, *FLAP),
        # Event 10: "sends a NOTIFICATION message with the error code Hold Timer Expired".
        I.HOLD_TIMER_EXPIRES: row(S.IDLE, A.SEND_HOLD_TIMER_EXPIRED, *FLAP),
        # Events 14-17: "a second TCP connection may be in progress.  This second TCP
        # connection is tracked per Connection Collision processing (Section 6.8)":
        # no change to this connection (pybgp gives the second one its own Session).
        I.TCP_CR_ACKED: row(S.OPEN_SENT),
        I.TCP_CONNECTION_CONFIRMED: row(S.OPEN_SENT),
        # Event 18: "closes the BGP connection, restarts the ConnectRetryTimer, continues
        # to listen ..., and changes its state to Active."
        I.TCP_CONNECTION_FAILS: row(S.ACTIVE, *CLOSE, A.START_CONNECT_RETRY_TIMER),
        # Event 19: "... sets a KeepaliveTimer ..., sets the HoldTimer according to the
        # negotiated value, ... sends a KEEPALIVE message, ... changes its state to
        # OpenConfirm."
        I.BGP_OPEN: row(
            S.OPEN_CONFIRM,
            A.PROCESS_OPEN,
            A.SEND_KEEPALIVE,
            A.START_KEEPALIVE_TIMER,
            A.RESTART_HOLD_TIMER,
        ),
        # Events 21, 22: "sends a NOTIFICATION message with the appropriate error code".
        I.BGP_HEADER_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.BGP_OPEN_MSG_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        # Event 23: "sends a NOTIFICATION with a Cease".
        I.OPEN_COLLISION_DUMP: row(S.IDLE, A.SEND_COLLISION_CEASE, *FLAP),
        # Event 24: "releases all BGP resources, drops the TCP connection ... Idle".
        I.NOTIF_MSG_VER_ERR: row(S.IDLE, A.DELIVER_NOTIFICATION, *CLOSE),
        # Event 25 is among the RFC's "other events" (FSM Error); pybgp does not answer
        # a NOTIFICATION, which has closed the connection already.
        I.NOTIF_MSG: row(S.IDLE, A.DELIVER_NOTIFICATION, *FLAP),
    },
    S.OPEN_CONFIRM: {
        I.MANUAL_STOP: row(S.IDLE, A.SEND_CEASE, *MANUAL_STOP),
        I.AUTOMATIC_STOP: row(S.IDLE, A.SEND_CEASE, *FLAP),
        I.HOLD_TIMER_EXPIRES: row(S.IDLE, A.SEND_HOLD_TIMER_EXPIRED, *FLAP),
        # Event 11: "sends a KEEPALIVE message, restarts the KeepaliveTimer, and remains
        # in the OpenConfirmed state."
        I.KEEPALIVE_TIMER_EXPIRES: row(S.OPEN_CONFIRM, A.SEND_KEEPALIVE, A.START_KEEPALIVE_TIMER),
        # Events 14, 16, 17: "the local system needs to track the second connection".
        I.TCP_CR_ACKED: row(S.OPEN_CONFIRM),
        I.TCP_CONNECTION_CONFIRMED: row(S.OPEN_CONFIRM),
        # Events 18, 25: "... increments the ConnectRetryCounter by 1, (optionally)
        # performs peer oscillation damping ...".
        I.TCP_CONNECTION_FAILS: row(S.IDLE, *FLAP),
        I.NOTIF_MSG: row(S.IDLE, A.DELIVER_NOTIFICATION, *FLAP),
        # Event 24: no counter, no damping.
        I.NOTIF_MSG_VER_ERR: row(S.IDLE, A.DELIVER_NOTIFICATION, *CLOSE),
        I.BGP_HEADER_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.BGP_OPEN_MSG_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        I.OPEN_COLLISION_DUMP: row(S.IDLE, A.SEND_COLLISION_CEASE, *FLAP),
        # Event 26: "restarts the HoldTimer and changes its state to Established."
        I.KEEPALIVE_MSG: row(S.ESTABLISHED, A.RESTART_HOLD_TIMER, A.SESSION_UP),
        # Event 19 here is collision detection (6.8), which pybgp runs across Sessions;
        # a second OPEN on one connection is unexpected: RFC 6608 FSM Error, subcode 2.
    },
    S.ESTABLISHED: {
        I.MANUAL_STOP: row(S.IDLE, A.SEND_CEASE, *MANUAL_STOP),
        I.AUTOMATIC_STOP: row(S.IDLE, A.SEND_CEASE, *FLAP),
        I.HOLD_TIMER_EXPIRES: row(S.IDLE, A.SEND_HOLD_TIMER_EXPIRED, *FLAP),
        # Event 11: "sends a KEEPALIVE message, and restarts its KeepaliveTimer".
        I.KEEPALIVE_TIMER_EXPIRES: row(S.ESTABLISHED, A.SEND_KEEPALIVE, A.START_KEEPALIVE_TIMER),
        # Events 14, 16, 17: "the second connection SHALL be tracked until it sends an
        # OPEN message."
        I.TCP_CR_ACKED: row(S.ESTABLISHED),
        I.TCP_CONNECTION_CONFIRMED: row(S.ESTABLISHED),
        # Event 23 (CollisionDetectEstablishedState): "sends a NOTIFICATION with a Cease".
        I.OPEN_COLLISION_DUMP: row(S.IDLE, A.SEND_COLLISION_CEASE, *FLAP),
        # Events 18, 24, 25: "... deletes all routes ..., increments the
        # ConnectRetryCounter by 1, performs peer oscillation damping ...".
        I.TCP_CONNECTION_FAILS: row(S.IDLE, *FLAP),
        I.NOTIF_MSG_VER_ERR: row(S.IDLE, A.DELIVER_NOTIFICATION, *FLAP),
        I.NOTIF_MSG: row(S.IDLE, A.DELIVER_NOTIFICATION, *FLAP),
        # Event 26: "restarts its HoldTimer, if the negotiated HoldTime value is non-zero".
        I.KEEPALIVE_MSG: row(S.ESTABLISHED, A.RESTART_HOLD_TIMER),
        # Event 27: "processes the message, restarts its HoldTimer".
        I.UPDATE_MSG: row(S.ESTABLISHED, A.RESTART_HOLD_TIMER, A.DELIVER_UPDATE),
        # RFC 2918 3: a ROUTE-REFRESH is read as an UPDATE is.
        I.ROUTE_REFRESH_MSG: row(S.ESTABLISHED, A.RESTART_HOLD_TIMER, A.DELIVER_ROUTE_REFRESH),
        # Event 28: "sends a NOTIFICATION message with an Update error".
        I.UPDATE_MSG_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
        # Event 21 is among the RFC's "other events" here, but RFC 4271 6.1 says a bad
        # header is answered with a Message Header Error NOTIFICATION, in any state.
        I.BGP_HEADER_ERR: row(S.IDLE, A.SEND_ERROR_NOTIFICATION, *FLAP),
    },
}

# "Any other event": Idle ignores it; Connect and Active drop the connection without a
# NOTIFICATION (none has been sent: no OPEN either); OpenSent, OpenConfirm and
# Established send an FSM Error (RFC 6608 4).  A start outside Idle is ignored.
OTHERWISE: dict[State, Row] = {
    S.IDLE: row(S.IDLE),
    S.CONNECT: row(S.IDLE, *FLAP),
    S.ACTIVE: row(S.IDLE, *FLAP),
    S.OPEN_SENT: row(S.IDLE, A.SEND_FSM_ERROR, *FLAP),
    S.OPEN_CONFIRM: row(S.IDLE, A.SEND_FSM_ERROR, *FLAP),
    S.ESTABLISHED: row(S.IDLE, A.SEND_FSM_ERROR, *FLAP),
}


def expected(state: State, event: Input, facts: dict[str, bool]) -> Row:
    """The row this module expects for `event` in `state`."""
    if state is not S.IDLE and event in STARTS:
        return row(state)
    rule = EXPECTED[state].get(event, OTHERWISE[state])
    if isinstance(rule, Guard):
        return rule.when_true if facts[rule.fact] else rule.when_false
    return rule


def guarded() -> dict[tuple[State, Input], str]:
    """The rows this module expects to depend on a fact, and the fact's name."""
    return {
        (state, event): rule.fact
        for state, rules in EXPECTED.items()
        for event, rule in rules.items()
        if isinstance(rule, Guard)
    }
