"""The sans-I/O BGP session: RFC 4271 8 FSM, timers and capability negotiation.

Standard library only; no sockets, no clock.  See `Session` for the driver's contract.
"""

from .collision import resolve as resolve_collision
from .config import SessionConfig
from .events import (
    CloseConnection,
    EndOfRib,
    Event,
    NotificationReceived,
    NotificationSent,
    OpenConnection,
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    StateChanged,
    UpdateReceived,
)
from .fsm import Action, Input, State
from .negotiate import Negotiated
from .session import LocalProtocolError, MessageCounters, Session
from .timers import OscillationDamper, Timer

__all__ = [
    "Action",
    "CloseConnection",
    "EndOfRib",
    "Event",
    "Input",
    "LocalProtocolError",
    "MessageCounters",
    "Negotiated",
    "NotificationReceived",
    "NotificationSent",
    "OpenConnection",
    "OscillationDamper",
    "RouteRefreshReceived",
    "Session",
    "SessionConfig",
    "SessionDown",
    "SessionEstablished",
    "State",
    "StateChanged",
    "Timer",
    "UpdateReceived",
    "resolve_collision",
]
