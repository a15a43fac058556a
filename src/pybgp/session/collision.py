"""Connection collision detection (RFC 4271 6.8), decided by BGP Identifier.

When both speakers connect at once there are two connections for one peer, each with
its own `Session`.  Whenever one of them receives an OPEN, `resolve` says which (if
either) must go; the runtime calls `collision_dump()` on it (Cease 6/7) and keeps the
other as the peer's one session.
"""

from __future__ import annotations

import ipaddress

from .fsm import State
from .session import Session


def _id(value: str) -> int:
    return int(ipaddress.IPv4Address(value))


def resolve(
    local_id: str, remote_id: str, receiving: Session, other: Session | None
) -> Session | None:
    """The session to close after `receiving` got an OPEN carrying `remote_id`.

    RFC 4271 6.8: only a connection in OpenConfirm (or Established) collides; one still
    in OpenSent is decided when its own OPEN arrives.  "If the value of the local BGP
    Identifier is less than the remote one, the local system closes the BGP connection
    that already exists ... Otherwise [it] closes the newly created BGP connection": the
    connection that survives is the one initiated by the speaker with the higher BGP
    Identifier.  An Established session always wins: the newcomer is closed (the RFC's
    CollisionDetectEstablishedState is off).
    """
    if other is None or other.state in (State.IDLE, State.CONNECT, State.ACTIVE, State.OPEN_SENT):
        return None
    if other.state is State.ESTABLISHED:
        return receiving
    # Both connections have an OPEN: keep the one the higher identifier opened.
    local_wins = _id(local_id) > _id(remote_id)
    keep_outgoing = local_wins
    if receiving.outgoing == keep_outgoing:
        return other
    return receiving
