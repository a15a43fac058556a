"""`Session`: one BGP peer's FSM, sans-I/O (the shape of h11, h2 and aioquic).

The driver feeds it what happens (`receive_data(data, now)`, `connection_made`,
`connection_failed`, `handle_timer(now)`) and carries out what it asks
(`data_to_send()`, and the `OpenConnection` / `CloseConnection` events from
`next_event()`).  It owns no socket and reads no clock.  A peer's fault never
raises: it becomes a NOTIFICATION in `data_to_send()` and a `SessionDown` event.
Misuse by the caller raises `LocalProtocolError`.

Outbound messages leave in two queues: control messages (OPEN, KEEPALIVE,
NOTIFICATION, ROUTE-REFRESH) always before UPDATEs, and `data_to_send(limit)` hands
UPDATE bytes out only as fast as the driver asks.  A driver that keeps its socket
buffer small therefore never makes a KEEPALIVE wait behind a large table.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..wire.constants import HEADER_LEN, MAX_MESSAGE_LEN, Family, MessageType
from ..wire.errors import (
    CeaseSubcode,
    ErrorCode,
    FsmSubcode,
    MessageError,
    OpenSubcode,
)
from ..wire.messages import Keepalive, MessageReader, decode_body
from ..wire.notification import Notification
from ..wire.open import Open, decode_open
from ..wire.route_refresh import SUBTYPE_NAMES, RouteRefresh, decode_route_refresh
from ..wire.update import Update, decode_update
from . import events as ev
from .config import LARGE_HOLD_TIME, SessionConfig
from .fsm import Action, Input, State, lookup
from .negotiate import Negotiated, check_open, local_open, negotiate
from .timers import OscillationDamper, Timer, Timers


class LocalProtocolError(Exception):
    """The caller used the session in a way its state does not allow."""


_TIMER_INPUTS = {
    Timer.CONNECT_RETRY: Input.CONNECT_RETRY_TIMER_EXPIRES,
    Timer.HOLD: Input.HOLD_TIMER_EXPIRES,
    Timer.KEEPALIVE: Input.KEEPALIVE_TIMER_EXPIRES,
    Timer.DELAY_OPEN: Input.DELAY_OPEN_TIMER_EXPIRES,
    Timer.IDLE_HOLD: Input.IDLE_HOLD_TIMER_EXPIRES,
}
# RFC 6608 4: the FSM Error subcode says which state the unexpected message met.
_FSM_SUBCODES = {
    State.OPEN_SENT: FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT,
    State.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
    State.ESTABLISHED: FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED,
}
_MESSAGE_NAMES = {
    MessageType.OPEN: "open",
    MessageType.UPDATE: "update",
    MessageType.NOTIFICATION: "notification",
    MessageType.KEEPALIVE: "keepalive",
    MessageType.ROUTE_REFRESH: "route-refresh",
}


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(_MESSAGE_NAMES.values(), 0)


@dataclass(slots=True)
class MessageCounters:
    sent: dict[str, int] = field(default_factory=_zero_counts)
    received: dict[str, int] = field(default_factory=_zero_counts)


class Session:
    """The RFC 4271 8 FSM of one peer, across the TCP connections it goes through."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        rng: random.Random | None = None,
        damper: OscillationDamper | None = None,
    ) -> None:
        self.config = config
        self.state = State.IDLE
        self.negotiated: Negotiated | None = None
        self.connect_retry_counter = 0
        self.connected = False
        self.outgoing: bool | None = None  # who opened the current connection
        self.established_at: float | None = None
        self.since = 0.0  # when the state last changed (the caller's clock)
        self.info = ""  # why the session last went down, for status output
        self.counters = MessageCounters()
        self.damper = damper or OscillationDamper(
            config.damp_peer_oscillations, config.idle_hold_time, config.idle_hold_max
        )
        self._timers = Timers(rng or random.Random())
        self._reader = MessageReader(MAX_MESSAGE_LEN)
        self._events: deque[ev.Event] = deque()
        self._control = bytearray()
        self._updates: deque[bytes] = deque()
        self._update_octets = 0
        self._stopped = True  # no automatic restart (before start, after a manual stop)
        self._local_open: Open | None = None
        self._peer_open: Open | None = None
        self._error: MessageError | None = None  # for SEND_ERROR_NOTIFICATION
        self._shutdown = Notification.shutdown()  # for SEND_CEASE
        self._message: object = None  # the message a DELIVER_* action hands on
        self._down_notification: tuple[Notification, bool] | None = None
        self._retry_in: float | None = None
        self._now = 0.0
        # What settles the FSM's guarded rows (fsm.Guarded); the config never changes.
        self._facts = {"delay_open": config.delay_open > 0, "passive": config.passive}

    # --- the driver's inputs -------------------------------------------------------------
    def start(self, now: float, passive: bool | None = None) -> None:
        """ManualStart (RFC 4271 8.1.2 event 1), or event 4 for a passive peer."""
        self._stopped = False
        self._timers.stop(Timer.IDLE_HOLD)
        passive = self.config.passive if passive is None else passive
        self._fire(Input.MANUAL_START_WITH_PASSIVE_TCP if passive else Input.MANUAL_START, now)

    def stop(self, now: float, message: str = "", restart: bool = False) -> None:
        """Administrative shutdown with an RFC 9003 message (Cease 6/2), ManualStop.

        With `restart`, an administrative reset (Cease 6/4, AutomaticStop): the session
        comes back after the IdleHoldTime.
        """
        if restart:
            self._shutdown = Notification.shutdown(message, CeaseSubcode.ADMINISTRATIVE_RESET)
            self.info = f"Administrative reset{': ' + message if message else ''}"
            self._fire(Input.AUTOMATIC_STOP, now)
            return
        self._stopped = True
        self._shutdown = Notification.shutdown(message, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
        self.info = f"Administrative shutdown{': ' + message if message else ''}"
        self._fire(Input.MANUAL_STOP, now)
        self._timers.stop(Timer.IDLE_HOLD)

    def connection_made(self, now: float, outgoing: bool) -> None:
        """A TCP connection is up: ours (Tcp_CR_Acked, event 16) or the peer's (event 17)."""
        if self.connected:
            raise LocalProtocolError("the session already has a connection")
        self.connected = True
        self.outgoing = outgoing
        self.info = ""  # what ended an earlier connection no longer applies
        self._reader = MessageReader(MAX_MESSAGE_LEN)
        self._control.clear()  # anything left from an earlier connection is stale
        self._fire(Input.TCP_CR_ACKED if outgoing else Input.TCP_CONNECTION_CONFIRMED, now)

    def connection_failed(self, now: float, reason: str) -> None:
        """The connection attempt failed or the connection closed (event 18)."""
        was_connected = self.connected
        self.connected = False
        self.info = reason
        if was_connected or self.state is State.CONNECT:
            self._fire(Input.TCP_CONNECTION_FAILS, now)

    def collision_dump(self, now: float) -> None:
        """OpenCollisionDump (event 23): this connection lost collision resolution."""
        self.info = "Connection collision resolution"
        self._fire(Input.OPEN_COLLISION_DUMP, now)

    def handle_timer(self, now: float) -> None:
        for timer in self._timers.pop_expired(now):
            if timer is Timer.HOLD:
                self.info = "Hold timer expired"
            self._fire(_TIMER_INPUTS[timer], now)

    def get_timer(self) -> float | None:
        """When `handle_timer` should next be called (None: no timer runs)."""
        return self._timers.next_deadline()

    def timer_deadline(self, timer: Timer) -> float | None:
        return self._timers.deadline(timer)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer; any number of messages, or part of one."""
        if not self.connected:
            return  # what arrives after we dropped the connection is not read
        self._reader.feed(data)
        try:
            for kind, body in self._reader.frames():
                self.counters.received[_MESSAGE_NAMES[kind]] += 1
                self._receive_message(kind, body, now)
                if not self.connected:
                    return
        except MessageError as error:  # RFC 4271 6.1: a bad header
            self._error = error
            self.info = f"Sent: {Notification.from_error(error).name}"
            self._fire(Input.BGP_HEADER_ERR, now)

    # --- the driver's outputs ------------------------------------------------------------
    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self, limit: int | None = None) -> bytes:
        """Control messages first, then UPDATEs up to about `limit` octets (all if None)."""
        out = bytes(self._control)
        self._control.clear()
        if not self._updates:
            return out
        chunks = [out]
        budget = len(out)
        while self._updates and (limit is None or budget < limit):
            message = self._updates.popleft()
            self._update_octets -= len(message)
            budget += len(message)
            chunks.append(message)
        return b"".join(chunks)

    @property
    def pending_update_octets(self) -> int:
        return self._update_octets

    # --- sending on an established session -----------------------------------------------
    def send_update(self, update: Update | bytes) -> None:
        """Queue one UPDATE (an `Update`, or a whole encoded message)."""
        negotiated = self._require_established()
        data = update if isinstance(update, bytes) else update.encode(negotiated.send_context)
        self._updates.append(data)
        self._update_octets += len(data)
        self.counters.sent["update"] += 1

    def send_route_refresh(self, family: Family, subtype: int = 0, in_order: bool = False) -> None:
        """Ask the peer to re-send `family` (RFC 2918), or bracket ours (RFC 7313).

        With `in_order` the message waits behind the UPDATEs already queued, as a BoRR or
        EoRR must (RFC 7313 4: the EoRR follows the re-advertised routes).
        """
        negotiated = self._require_established()
        if not negotiated.route_refresh:
            raise LocalProtocolError("the peer did not announce route refresh (RFC 2918)")
        data = RouteRefresh(family[0], family[1], subtype).encode()
        if not in_order:
            self._queue_control(data)
            return
        self._updates.append(data)
        self._update_octets += len(data)
        self.counters.sent[_MESSAGE_NAMES[MessageType.ROUTE_REFRESH]] += 1

    def _require_established(self) -> Negotiated:
        if self.state is not State.ESTABLISHED or self.negotiated is None:
            raise LocalProtocolError(f"the session is {self.state}, not Established")
        return self.negotiated

    # --- reading messages ----------------------------------------------------------------
    def _receive_message(self, kind: int, body: bytes, now: float) -> None:
        if kind == MessageType.OPEN:
            self._receive_open(body, now)
        elif kind == MessageType.KEEPALIVE:
            self._fire(Input.KEEPALIVE_MSG, now)
        elif kind == MessageType.NOTIFICATION:
            self._receive_notification(decode_body(kind, body), now)  # type: ignore[arg-type]
        elif kind == MessageType.UPDATE:
            self._receive_update(body, now)
        else:
            self._receive_route_refresh(body, now)

    def _receive_open(self, body: bytes, now: float) -> None:
        delay_open = self._timers.running(Timer.DELAY_OPEN)
        if self.state is not State.OPEN_SENT and not delay_open:
            self._fire(Input.BGP_OPEN, now)  # unexpected here: the table says what follows
            return
        try:
            peer = decode_open(body)
            check_open(self.config, peer)
        except MessageError as error:
            self._error = error
            self.info = f"Sent: {Notification.from_error(error).name} ({error.reason})"
            self._fire(Input.BGP_OPEN_MSG_ERR, now)
            return
        self._peer_open = peer
        event = Input.BGP_OPEN_WITH_DELAY_OPEN_TIMER_RUNNING if delay_open else Input.BGP_OPEN
        self._fire(event, now)

    def _receive_notification(self, notification: Notification, now: float) -> None:
        self._message = notification
        self._down_notification = (notification, True)
        text = notification.name
        if notification.shutdown_message:
            text += f": {notification.shutdown_message}"
        self.info = f"Received: {text}"
        # RFC 4271 8.1.5 event 24: a NOTIFICATION with a version error.
        version_error = (notification.code, notification.subcode) == (
            ErrorCode.OPEN_MESSAGE,
            OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
        )
        self._fire(Input.NOTIF_MSG_VER_ERR if version_error else Input.NOTIF_MSG, now)

    def _receive_update(self, body: bytes, now: float) -> None:
        if self.negotiated is None or self.state is not State.ESTABLISHED:
            self._fire(Input.UPDATE_MSG, now)  # an FSM error outside Established
            return
        try:
            update = decode_update(body, self.negotiated.receive_context)
        except MessageError as error:
            # RFC 7606 2: session reset.  A FamilyError would allow disabling just that
            # AFI/SAFI (RFC 4760 7); pybgp resets, which every peer understands.
            self._error = error
            self.info = f"Sent: {Notification.from_error(error).name} ({error.reason})"
            self._fire(Input.UPDATE_MSG_ERR, now)
            return
        self._message = update
        self._fire(Input.UPDATE_MSG, now)

    def _receive_route_refresh(self, body: bytes, now: float) -> None:
        message = b"\xff" * 16 + (HEADER_LEN + len(body)).to_bytes(2, "big") + b"\x05" + body
        try:
            refresh = decode_route_refresh(body, message)
        except MessageError as error:
            self._error = error
            self._fire(Input.UPDATE_MSG_ERR, now)
            return
        self._message = refresh
        self._fire(Input.ROUTE_REFRESH_MSG, now)

    # --- the FSM -------------------------------------------------------------------------
    def _fire(self, event: Input, now: float) -> None:
        """Follow the table's row for `event`, then any automatic start it led to."""
        self._now = now
        pending: Input | None = event
        while pending is not None:
            pending = self._follow(pending, now)

    def _follow(self, event: Input, now: float) -> Input | None:
        old = self.state
        new, actions = lookup(old, event, self._facts)
        produced: list[ev.Event] = []
        followup: Input | None = None
        for action in actions:
            result = self._act(action, old, now, produced)
            if result is not None:
                followup = result
        if new is not old:
            self.state = new
            self.since = now
            self._events.append(ev.StateChanged(old, new))
        self._events.extend(produced)
        if new is State.IDLE and old is not State.IDLE:
            self._went_idle(old, now)
        return followup

    def _went_idle(self, old: State, now: float) -> None:
        if not self._stopped and not self._timers.running(Timer.IDLE_HOLD):
            # Every automatic return to Idle restarts after an IdleHoldTime; rows with
            # DAMP_PEER_OSCILLATIONS set it already, the rest use the initial value.
            self._timers.start(Timer.IDLE_HOLD, self.damper.initial, now)
            self._retry_in = self.damper.initial
        notification, received = self._down_notification or (None, False)
        self._events.append(
            ev.SessionDown(
                reason=self.info or f"{old} ended",
                was_established=old is State.ESTABLISHED,
                notification=notification,
                received=received,
                retry_in=None if self._stopped else self._retry_in,
            )
        )
        self._down_notification = None
        self._retry_in = None
        self.established_at = None

    # One method per FSM action (fsm.Action); `_ACTIONS` maps each action to its method,
    # so following a row costs one dictionary lookup per step.
    def _act(
        self, action: Action, old: State, now: float, produced: list[ev.Event]
    ) -> Input | None:
        return _ACTIONS[action](self, old, now, produced)

    def _zero_connect_retry_counter(self, old: State, now: float, out: list[ev.Event]) -> None:
        self.connect_retry_counter = 0

    def _increment_connect_retry_counter(self, old: State, now: float, out: list[ev.Event]) -> None:
        self.connect_retry_counter += 1

    def _start_connect_retry_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.start(Timer.CONNECT_RETRY, self.config.connect_retry, now)

    def _stop_connect_retry_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.stop(Timer.CONNECT_RETRY)

    def _start_delay_open_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.start(Timer.DELAY_OPEN, self.config.delay_open, now)

    def _stop_delay_open_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.stop(Timer.DELAY_OPEN)

    def _start_large_hold_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.start(Timer.HOLD, LARGE_HOLD_TIME, now)

    def _restart_hold_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        assert self.negotiated is not None
        self._timers.start(Timer.HOLD, self.negotiated.hold_time, now)

    def _start_keepalive_timer(self, old: State, now: float, out: list[ev.Event]) -> None:
        assert self.negotiated is not None
        self._timers.start(Timer.KEEPALIVE, self.negotiated.keepalive_time, now)

    def _initiate_tcp(self, old: State, now: float, out: list[ev.Event]) -> None:
        out.append(ev.OpenConnection())

    def _drop_tcp(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._drop(out)

    def _send_open(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._local_open = local_open(self.config)
        self._queue_control(self._local_open.encode(), MessageType.OPEN)

    def _send_keepalive(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._queue_control(_KEEPALIVE, MessageType.KEEPALIVE)

    def _send_error_notification(self, old: State, now: float, out: list[ev.Event]) -> None:
        assert self._error is not None
        self._notify(Notification.from_error(self._error), out)

    def _send_cease(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._notify(self._shutdown, out)

    def _send_hold_timer_expired(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._notify(Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0), out)

    def _send_fsm_error(self, old: State, now: float, out: list[ev.Event]) -> None:
        self.info = f"Sent: FSM error, unexpected message in {old}"
        self._notify(Notification(ErrorCode.FSM, _FSM_SUBCODES.get(old, 0)), out)

    def _send_collision_cease(self, old: State, now: float, out: list[ev.Event]) -> None:
        cease = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
        self._notify(cease, out)

    def _deliver_notification(self, old: State, now: float, out: list[ev.Event]) -> None:
        if isinstance(self._message, Notification):
            out.append(ev.NotificationReceived(self._message))

    def _session_up(self, old: State, now: float, out: list[ev.Event]) -> None:
        assert self.negotiated is not None
        self.established_at = now
        self.info = ""
        out.append(ev.SessionEstablished(self.negotiated))

    def _damp_peer_oscillations(self, old: State, now: float, out: list[ev.Event]) -> None:
        if not self._stopped:
            self._retry_in = self.damper.session_ended(self.established_at, now)
            self._timers.start(Timer.IDLE_HOLD, self._retry_in, now)

    def _automatic_restart(self, old: State, now: float, out: list[ev.Event]) -> Input | None:
        if self._stopped:
            return None
        if self.config.passive:
            return Input.AUTOMATIC_START_WITH_PASSIVE_TCP
        return Input.AUTOMATIC_START

    def _queue_control(self, data: bytes, kind: MessageType = MessageType.ROUTE_REFRESH) -> None:
        self._control += data
        self.counters.sent[_MESSAGE_NAMES[kind]] += 1

    def _notify(self, notification: Notification, produced: list[ev.Event]) -> None:
        if not self.connected:
            return
        self._queue_control(notification.encode(), MessageType.NOTIFICATION)
        self._down_notification = (notification, False)
        if not self.info:  # the cause, when known, says more than the NOTIFICATION
            self.info = f"Sent: {notification.name}"
        produced.append(ev.NotificationSent(notification))

    def _drop(self, produced: list[ev.Event]) -> None:
        if self.connected:
            self.connected = False
            produced.append(ev.CloseConnection(self.info or "connection dropped"))
        # Whatever was not handed out yet is dropped, except a final NOTIFICATION, which
        # the driver sends before it closes (CloseConnection says so).
        self._updates.clear()
        self._update_octets = 0

    def _release_resources(self, old: State, now: float, out: list[ev.Event]) -> None:
        self._timers.stop(Timer.HOLD)
        self._timers.stop(Timer.KEEPALIVE)
        self._timers.stop(Timer.DELAY_OPEN)
        self.negotiated = None
        self._peer_open = None
        self._local_open = None
        self._reader = MessageReader(MAX_MESSAGE_LEN)

    def _process_open(self, old: State, now: float, out: list[ev.Event]) -> None:
        assert self._peer_open is not None
        if self._local_open is None:  # DelayOpen: ours is sent right after this step
            self._local_open = local_open(self.config)
        self.negotiated = negotiate(self.config, self._local_open, self._peer_open)
        # RFC 8654 4: larger messages only once both sides announced the capability.
        self._reader.max_len = self.negotiated.receive_context.max_message_len

    def _deliver_update(self, old: State, now: float, produced: list[ev.Event]) -> None:
        update = self._message
        assert isinstance(update, Update)
        family = update.end_of_rib()
        if family is not None:
            produced.append(ev.EndOfRib(family))  # RFC 4724 2
        else:
            produced.append(ev.UpdateReceived(update))

    def _deliver_route_refresh(self, old: State, now: float, produced: list[ev.Event]) -> None:
        refresh = self._message
        assert isinstance(refresh, RouteRefresh) and self.negotiated is not None
        # RFC 2918 4: a family that was not negotiated is ignored; RFC 7313 4: so is an
        # unknown subtype.
        if refresh.family not in self.negotiated.families or refresh.subtype not in (SUBTYPE_NAMES):
            return
        produced.append(ev.RouteRefreshReceived(refresh.family, refresh.subtype))


_KEEPALIVE = Keepalive().encode()
_ActionMethod = Callable[[Session, State, float, list[ev.Event]], Input | None]
# Every fsm.Action, and the Session method that carries it out (`Session._<action>`).
_ACTIONS: dict[Action, _ActionMethod] = {
    action: getattr(Session, f"_{action.name.lower()}") for action in Action
}
