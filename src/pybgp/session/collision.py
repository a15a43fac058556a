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

    RFC 4271 6.8: "Upon receipt of an OPEN message, the local system MUST examine all of
    its connections that are in the OpenConfirm state.  A BGP speaker MAY also examine
    connections in an OpenSent state if it knows the BGP Identifier of the peer by means
    outside of the protocol."  The OPEN just received tells us the peer's Identifier,
    so pybgp examines OpenSent too (as FRR does): otherwise whichever OPEN exchange ended
    first would win, whoever opened it.  The connection that survives is the one
    initiated by the speaker with the higher BGP Identifier.  An Established session
    always wins: the newcomer is closed (CollisionDetectEstablishedState is off).
    """
    if other is None or other.state in (State.IDLE, State.CONNECT, State.ACTIVE):
        return None
    if other.state is State.ESTABLISHED:
        return receiving
    # OpenSent or OpenConfirm: keep the one the higher identifier opened.
    local_wins = _id(local_id) > _id(remote_id)
    keep_outgoing = local_wins
    if receiving.outgoing == keep_outgoing:
        return other
    return receiving
