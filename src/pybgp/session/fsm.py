"""The BGP finite-state machine of RFC 4271 8 as data: `(State, Input) -> (State, actions)`.

`TRANSITIONS` is the whole of RFC 4271 8.2.2 that a connection can meet, one row per
state and input, named as the RFC names them.  `Session` looks a row up and carries
out its actions in order; nothing about the FSM is hidden in `if` statements there.
A row may be `Guarded`: one of two rows chosen by a named fact of the session's
configuration (DelayOpen, PassiveTcpEstablishment), as the RFC's text does.

Where pybgp departs from the letter of the RFC, the row says so and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class State(Enum):
    """RFC 4271 8.2.2; the values are the RFC's spelling, used in status output."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"

    def __str__(self) -> str:
        return self.value


class Input(IntEnum):
    """RFC 4271 8.1 events, numbered as there.  (The RFC calls them events; this module
    says input so as not to clash with the session's output events.)"""

    MANUAL_START = 1
    MANUAL_STOP = 2
    AUTOMATIC_START = 3
    MANUAL_START_WITH_PASSIVE_TCP = 4
    AUTOMATIC_START_WITH_PASSIVE_TCP = 5
    AUTOMATIC_STOP = 8
    CONNECT_RETRY_TIMER_EXPIRES = 9
    HOLD_TIMER_EXPIRES = 10
    KEEPALIVE_TIMER_EXPIRES = 11
    DELAY_OPEN_TIMER_EXPIRES = 12
    IDLE_HOLD_TIMER_EXPIRES = 13
    TCP_CR_ACKED = 16  # our connection attempt succeeded
    TCP_CONNECTION_CONFIRMED = 17  # the peer's connection was accepted
    TCP_CONNECTION_FAILS = 18
    BGP_OPEN = 19
    BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING = 20
    BGP_HEADER_ERR = 21
    BGP_OPEN_MSG_ERR = 22
    OPEN_COLLISION_DUMP = 23
    NOTIF_MSG_VER_ERR = 24
    NOTIF_MSG = 25
    KEEPALIVE_MSG = 26
    UPDATE_MSG = 27
    UPDATE_MSG_ERR = 28
    # Not in RFC 4271: a ROUTE-REFRESH (RFC 2918 3) is handled in Established as an
    # UPDATE is (it restarts the HoldTimer) and is unexpected anywhere else.
    ROUTE_REFRESH_MSG = 100


class Action(Enum):
    """The steps RFC 4271 8.2.2 lists, in the order a row gives them."""

    ZERO_CONNECT_RETRY_COUNTER = "set the ConnectRetryCounter to zero"
    INCREMENT_CONNECT_RETRY_COUNTER = "increment the ConnectRetryCounter"
    START_CONNECT_RETRY_TIMER = "(re)start the ConnectRetryTimer"
    STOP_CONNECT_RETRY_TIMER = "stop the ConnectRetryTimer"
    START_DELAY_OPEN_TIMER = "start the DelayOpenTimer"
    STOP_DELAY_OPEN_TIMER = "stop the DelayOpenTimer"
    START_LARGE_HOLD_TIMER = "start the HoldTimer at 4 minutes"
    RESTART_HOLD_TIMER = "restart the HoldTimer with the negotiated HoldTime"
    START_KEEPALIVE_TIMER = "start the KeepaliveTimer"
    INITIATE_TCP = "initiate a TCP connection"
    DROP_TCP = "drop the TCP connection"
    SEND_OPEN = "send an OPEN"
    SEND_KEEPALIVE = "send a KEEPALIVE"
    SEND_ERROR_NOTIFICATION = "send the NOTIFICATION the error names"
    SEND_CEASE = "send a Cease NOTIFICATION (with the shutdown communication)"
    SEND_HOLD_TIMER_EXPIRED = "send a Hold Timer Expired NOTIFICATION"
    SEND_FSM_ERROR = "send a Finite State Machine Error NOTIFICATION"
    SEND_COLLISION_CEASE = "send a Cease / Connection Collision Resolution NOTIFICATION"
    PROCESS_OPEN = "accept the peer's OPEN: negotiate"
    DELIVER_NOTIFICATION = "report the NOTIFICATION received"
    DELIVER_UPDATE = "deliver the UPDATE"
    DELIVER_ROUTE_REFRESH = "deliver the ROUTE-REFRESH"
    SESSION_UP = "report the session established"
    RELEASE_RESOURCES = "release all BGP resources"
    DAMP_PEER_OSCILLATIONS = "perform peer oscillation damping (IdleHoldTimer)"
    AUTOMATIC_RESTART = "start again after the IdleHoldTimer"


Rule = tuple[State, tuple[Action, ...]]


@dataclass(frozen=True, slots=True)
class Guarded:
    """Two rows, chosen by a fact of the session's configuration named `guard`."""

    guard: str  # "delay_open" | "passive"
    when_true: Rule
    when_false: Rule


A = Action
S = State
I = Input  # noqa: E741 - reads as the RFC's table does

# The common tails of the rows that end a connection.  "Other events" in RFC 4271 8.2.2
# end with: release resources, drop TCP, increment ConnectRetryCounter, (optionally)
# damp peer oscillations, go to Idle.
_DROP = (A.STOP_CONNECT_RETRY_TIMER, A.DROP_TCP, A.RELEASE_RESOURCES)
_DROP_AND_DAMP = (*_DROP, A.INCREMENT_CONNECT_RETRY_COUNTER, A.DAMP_PEER_OSCILLATIONS)
_MANUAL_STOP = (A.SEND_CEASE, *_DROP, A.ZERO_CONNECT_RETRY_COUNTER)
_AUTOMATIC_STOP = (A.SEND_CEASE, *_DROP_AND_DAMP)
_HOLD_EXPIRED = (A.SEND_HOLD_TIMER_EXPIRED, *_DROP_AND_DAMP)
_ERROR = (A.SEND_ERROR_NOTIFICATION, *_DROP_AND_DAMP)
_FSM_ERROR = (A.SEND_FSM_ERROR, *_DROP_AND_DAMP)
_COLLISION = (A.SEND_COLLISION_CEASE, *_DROP_AND_DAMP)
_PEER_CLOSED = (A.DELIVER_NOTIFICATION, *_DROP_AND_DAMP)
_SEND_OPEN = (A.STOP_CONNECT_RETRY_TIMER, A.SEND_OPEN, A.START_LARGE_HOLD_TIMER)
_OPEN_AFTER_DELAY = (
    A.STOP_CONNECT_RETRY_TIMER,
    A.STOP_DELAY_OPEN_TIMER,
    A.PROCESS_OPEN,
    A.SEND_OPEN,
    A.SEND_KEEPALIVE,
    A.START_KEEPALIVE_TIMER,
    A.RESTART_HOLD_TIMER,
)
# RFC 4271 8.2.2 Connect/Active, TcpConnectionConfirmed: with DelayOpen, wait for the
# peer's OPEN before sending ours; otherwise send it now and hold for 4 minutes.
_CONNECTED_IN_CONNECT = Guarded(
    "delay_open",
    (S.CONNECT, (A.STOP_CONNECT_RETRY_TIMER, A.START_DELAY_OPEN_TIMER)),
    (S.OPEN_SENT, _SEND_OPEN),
)
_CONNECTED_IN_ACTIVE = Guarded(
    "delay_open",
    (S.ACTIVE, (A.STOP_CONNECT_RETRY_TIMER, A.START_DELAY_OPEN_TIMER)),
    (S.OPEN_SENT, _SEND_OPEN),
)

TRANSITIONS: dict[tuple[State, Input], Rule | Guarded] = {
    # --- Idle (RFC 4271 8.2.2, Idle state) ---------------------------------------------
    (S.IDLE, I.MANUAL_START): (
        S.CONNECT,
        (A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP),
    ),
    # RFC 4271 8.2.2 Idle: Events 1 and 3 alike set the ConnectRetryCounter to zero.
    (S.IDLE, I.AUTOMATIC_START): (
        S.CONNECT,
        (A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP),
    ),
    (S.IDLE, I.MANUAL_START_WITH_PASSIVE_TCP): (
        S.ACTIVE,
        (A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER),
    ),
    (S.IDLE, I.AUTOMATIC_START_WITH_PASSIVE_TCP): (
        S.ACTIVE,
        (A.ZERO_CONNECT_RETRY_COUNTER, A.START_CONNECT_RETRY_TIMER),
    ),
    # RFC 4271 8.1.1 DampPeerOscillations: the IdleHoldTimer's expiry is the automatic
    # start (event 3 or 5, per PassiveTcpEstablishment).
    (S.IDLE, I.IDLE_HOLD_TIMER_EXPIRES): (S.IDLE, (A.AUTOMATIC_RESTART,)),
    # "refuses all incoming BGP connections" while Idle.
    (S.IDLE, I.TCP_CONNECTION_CONFIRMED): (S.IDLE, (A.DROP_TCP,)),
    (S.IDLE, I.TCP_CR_ACKED): (S.IDLE, (A.DROP_TCP,)),
    # --- Connect ---------------------------------------------------------------------------
    (S.CONNECT, I.MANUAL_STOP): (S.IDLE, (*_DROP, A.ZERO_CONNECT_RETRY_COUNTER)),
    (S.CONNECT, I.CONNECT_RETRY_TIMER_EXPIRES): (
        S.CONNECT,
        (A.DROP_TCP, A.START_CONNECT_RETRY_TIMER, A.STOP_DELAY_OPEN_TIMER, A.INITIATE_TCP),
    ),
    (S.CONNECT, I.DELAY_OPEN_TIMER_EXPIRES): (S.OPEN_SENT, _SEND_OPEN),
    (S.CONNECT, I.TCP_CR_ACKED): _CONNECTED_IN_CONNECT,
    (S.CONNECT, I.TCP_CONNECTION_CONFIRMED): _CONNECTED_IN_CONNECT,
    # RFC 4271 says Idle here unless the DelayOpenTimer runs.  Like BIRD and FRR, pybgp
    # waits in Active for the ConnectRetryTimer instead: a peer that is not up yet costs
    # one retry, not an Idle flap that would feed the oscillation damping.
    (S.CONNECT, I.TCP_CONNECTION_FAILS): (
        S.ACTIVE,
        (A.DROP_TCP, A.START_CONNECT_RETRY_TIMER, A.STOP_DELAY_OPEN_TIMER),
    ),
    (S.CONNECT, I.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING): (S.OPEN_CONFIRM, _OPEN_AFTER_DELAY),
    (S.CONNECT, I.BGP_HEADER_ERR): (S.IDLE, _ERROR),
    (S.CONNECT, I.BGP_OPEN_MSG_ERR): (S.IDLE, _ERROR),
    (S.CONNECT, I.NOTIF_MSG_VER_ERR): (S.IDLE, (A.DELIVER_NOTIFICATION, *_DROP)),
    # --- Active ----------------------------------------------------------------------------
    (S.ACTIVE, I.MANUAL_STOP): (S.IDLE, (*_DROP, A.ZERO_CONNECT_RETRY_COUNTER)),
    # RFC 4271 8.2.2 Active, ConnectRetryTimer_Expires: try again by connecting, except
    # that a passive peer (8.1.1 PassiveTcpEstablishment) only ever listens.
    (S.ACTIVE, I.CONNECT_RETRY_TIMER_EXPIRES): Guarded(
        "passive",
        (S.ACTIVE, (A.START_CONNECT_RETRY_TIMER,)),
        (S.CONNECT, (A.START_CONNECT_RETRY_TIMER, A.INITIATE_TCP)),
    ),
    (S.ACTIVE, I.DELAY_OPEN_TIMER_EXPIRES): (S.OPEN_SENT, _SEND_OPEN),
    (S.ACTIVE, I.TCP_CR_ACKED): _CONNECTED_IN_ACTIVE,
    (S.ACTIVE, I.TCP_CONNECTION_CONFIRMED): _CONNECTED_IN_ACTIVE,
    (S.ACTIVE, I.TCP_CONNECTION_FAILS): (S.IDLE, _DROP_AND_DAMP),
    (S.ACTIVE, I.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING): (S.OPEN_CONFIRM, _OPEN_AFTER_DELAY),
    (S.ACTIVE, I.BGP_HEADER_ERR): (S.IDLE, _ERROR),
    (S.ACTIVE, I.BGP_OPEN_MSG_ERR): (S.IDLE, _ERROR),
    (S.ACTIVE, I.NOTIF_MSG_VER_ERR): (S.IDLE, (A.DELIVER_NOTIFICATION, *_DROP)),
    # --- OpenSent --------------------------------------------------------------------------
    (S.OPEN_SENT, I.MANUAL_STOP): (S.IDLE, _MANUAL_STOP),
    (S.OPEN_SENT, I.AUTOMATIC_STOP): (S.IDLE, _AUTOMATIC_STOP),
    (S.OPEN_SENT, I.HOLD_TIMER_EXPIRES): (S.IDLE, _HOLD_EXPIRED),
    # "closes the BGP connection, restarts the ConnectRetryTimer, continues to listen".
    # Closing releases the connection's resources: the 4-minute HoldTimer must not
    # follow the session into Active.
    (S.OPEN_SENT, I.TCP_CONNECTION_FAILS): (
        S.ACTIVE,
        (A.DROP_TCP, A.RELEASE_RESOURCES, A.START_CONNECT_RETRY_TIMER),
    ),
    (S.OPEN_SENT, I.BGP_OPEN): (
        S.OPEN_CONFIRM,
        (
            A.STOP_DELAY_OPEN_TIMER,
            A.STOP_CONNECT_RETRY_TIMER,
            A.PROCESS_OPEN,
            A.SEND_KEEPALIVE,
            A.START_KEEPALIVE_TIMER,
            A.RESTART_HOLD_TIMER,
        ),
    ),
    (S.OPEN_SENT, I.BGP_HEADER_ERR): (S.IDLE, _ERROR),
    (S.OPEN_SENT, I.BGP_OPEN_MSG_ERR): (S.IDLE, _ERROR),
    (S.OPEN_SENT, I.OPEN_COLLISION_DUMP): (S.IDLE, _COLLISION),
    (S.OPEN_SENT, I.NOTIF_MSG_VER_ERR): (S.IDLE, (A.DELIVER_NOTIFICATION, *_DROP)),
    # RFC 4271 lists NotifMsg among the "other events" answered with an FSM Error; a
    # NOTIFICATION already closes the connection, so pybgp does not answer it.
    (S.OPEN_SENT, I.NOTIF_MSG): (S.IDLE, _PEER_CLOSED),
    # --- OpenConfirm -----------------------------------------------------------------------
    (S.OPEN_CONFIRM, I.MANUAL_STOP): (S.IDLE, _MANUAL_STOP),
    (S.OPEN_CONFIRM, I.AUTOMATIC_STOP): (S.IDLE, _AUTOMATIC_STOP),
    (S.OPEN_CONFIRM, I.HOLD_TIMER_EXPIRES): (S.IDLE, _HOLD_EXPIRED),
    (S.OPEN_CONFIRM, I.KEEPALIVE_TIMER_EXPIRES): (
        S.OPEN_CONFIRM,
        (A.SEND_KEEPALIVE, A.START_KEEPALIVE_TIMER),
    ),
    (S.OPEN_CONFIRM, I.TCP_CONNECTION_FAILS): (S.IDLE, _DROP_AND_DAMP),
    (S.OPEN_CONFIRM, I.NOTIF_MSG): (S.IDLE, _PEER_CLOSED),
    (S.OPEN_CONFIRM, I.NOTIF_MSG_VER_ERR): (S.IDLE, (A.DELIVER_NOTIFICATION, *_DROP)),
    (S.OPEN_CONFIRM, I.BGP_HEADER_ERR): (S.IDLE, _ERROR),
    (S.OPEN_CONFIRM, I.BGP_OPEN_MSG_ERR): (S.IDLE, _ERROR),
    (S.OPEN_CONFIRM, I.OPEN_COLLISION_DUMP): (S.IDLE, _COLLISION),
    (S.OPEN_CONFIRM, I.KEEPALIVE_MSG): (S.ESTABLISHED, (A.RESTART_HOLD_TIMER, A.SESSION_UP)),
    # --- Established -----------------------------------------------------------------------
    (S.ESTABLISHED, I.MANUAL_STOP): (S.IDLE, _MANUAL_STOP),
    (S.ESTABLISHED, I.AUTOMATIC_STOP): (S.IDLE, _AUTOMATIC_STOP),
    (S.ESTABLISHED, I.HOLD_TIMER_EXPIRES): (S.IDLE, _HOLD_EXPIRED),
    (S.ESTABLISHED, I.KEEPALIVE_TIMER_EXPIRES): (
        S.ESTABLISHED,
        (A.SEND_KEEPALIVE, A.START_KEEPALIVE_TIMER),
    ),
    (S.ESTABLISHED, I.TCP_CONNECTION_FAILS): (S.IDLE, _DROP_AND_DAMP),
    (S.ESTABLISHED, I.NOTIF_MSG): (S.IDLE, _PEER_CLOSED),
    (S.ESTABLISHED, I.NOTIF_MSG_VER_ERR): (S.IDLE, _PEER_CLOSED),
    (S.ESTABLISHED, I.OPEN_COLLISION_DUMP): (S.IDLE, _COLLISION),
    (S.ESTABLISHED, I.KEEPALIVE_MSG): (S.ESTABLISHED, (A.RESTART_HOLD_TIMER,)),
    (S.ESTABLISHED, I.UPDATE_MSG): (S.ESTABLISHED, (A.RESTART_HOLD_TIMER, A.DELIVER_UPDATE)),
    (S.ESTABLISHED, I.ROUTE_REFRESH_MSG): (
        S.ESTABLISHED,
        (A.RESTART_HOLD_TIMER, A.DELIVER_ROUTE_REFRESH),
    ),
    (S.ESTABLISHED, I.UPDATE_MSG_ERR): (S.IDLE, _ERROR),
    (S.ESTABLISHED, I.BGP_HEADER_ERR): (S.IDLE, _ERROR),
}

# Inputs that leave a state as it is when no row names them.  RFC 4271 8.2.2: in Idle
# "any other event ... does not cause change in the state"; a start in any other state
# is ignored; a stop in Idle is ignored.
_STARTS = frozenset(
    {
        I.MANUAL_START,
        I.AUTOMATIC_START,
        I.MANUAL_START_WITH_PASSIVE_TCP,
        I.AUTOMATIC_START_WITH_PASSIVE_TCP,
    }
)


# RFC 4271 8.2.2 OpenSent, OpenConfirm, Established, Events 16-17: a second TCP
# connection "is tracked per Connection Collision processing (Section 6.8)"; it does not
# touch this one (pybgp gives it a Session of its own).
_SECOND_CONNECTION = frozenset({I.TCP_CR_ACKED, I.TCP_CONNECTION_CONFIRMED})


def default_rule(state: State, event: Input) -> Rule:
    """The row for an input the table does not name in `state`."""
    if state is S.IDLE or event in _STARTS or event in _SECOND_CONNECTION:
        return (state, ())
    if state in (S.CONNECT, S.ACTIVE):
        # RFC 4271 8.2.2 Connect/Active, "any other event": drop the connection (no
        # NOTIFICATION: no OPEN has been sent), increment the counter, go Idle.
        return (S.IDLE, _DROP_AND_DAMP)
    # OpenSent, OpenConfirm, Established: "any other event" is an FSM Error (RFC 6608).
    return (S.IDLE, _FSM_ERROR)


def lookup(state: State, event: Input, facts: dict[str, bool]) -> Rule:
    """The row the FSM follows for `event` in `state`; `facts` settles guarded rows."""
    rule = TRANSITIONS.get((state, event))
    if rule is None:
        return default_rule(state, event)
    if isinstance(rule, Guarded):
        return rule.when_true if facts[rule.guard] else rule.when_false
    return rule
