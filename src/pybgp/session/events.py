"""What a `Session` tells its driver, from `next_event()`: frozen dataclasses.

Two kinds: what happened on the session (a peer's UPDATE, the session going up or
down) and what the driver must do with the transport (`OpenConnection`,
`CloseConnection`), since the session owns no socket.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.constants import Family
from ..wire.notification import Notification
from ..wire.update import Update
from .fsm import State
from .negotiate import Negotiated


@dataclass(frozen=True, slots=True)
class OpenConnection:
    """Start a TCP connection to the peer; report `connection_made` or `connection_failed`."""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Send what `data_to_send()` still holds, then close the TCP connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    update: Update


@dataclass(frozen=True, slots=True)
class EndOfRib:
    """RFC 4724 2: the peer has sent its whole table for `family`."""

    family: Family


@dataclass(frozen=True, slots=True)
class RouteRefreshReceived:
    """RFC 2918 / RFC 7313: the peer asks for (or brackets) a re-sent table."""

    family: Family
    subtype: int


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    notification: Notification


@dataclass(frozen=True, slots=True)
class NotificationSent:
    notification: Notification


@dataclass(frozen=True, slots=True)
class SessionDown:
    """The connection ended and the FSM is back in Idle.

    `was_established` says whether routes learned on it must now be withdrawn.
    `notification` is the one sent or received, if any; `retry_in` is the IdleHoldTime
    before the automatic restart (None after a manual stop: no restart).
    """

    reason: str
    was_established: bool
    notification: Notification | None = None
    received: bool = False
    retry_in: float | None = None


Event = (
    OpenConnection
    | CloseConnection
    | StateChanged
    | SessionEstablished
    | UpdateReceived
    | EndOfRib
    | RouteRefreshReceived
    | NotificationReceived
    | NotificationSent
    | SessionDown
)
