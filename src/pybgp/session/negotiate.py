"""Our OPEN, the checks on the peer's OPEN, and what the two agree on.

RFC 4271 6.2 lists the OPEN checks and the NOTIFICATION each failure sends; RFC 5492
capabilities then decide hold time, families, 4-octet AS, refresh, ADD-PATH, extended
messages and roles.  A failed check raises `MessageError` with that NOTIFICATION.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..wire.capabilities import (
    AddPath,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    GracefulRestart,
    Multiprotocol,
    Role,
)
from ..wire.capabilities import RouteRefresh as RouteRefreshCapability
from ..wire.constants import IPV4_UNICAST, Family
from ..wire.context import CodecContext
from ..wire.errors import ErrorCode, MessageError, OpenSubcode
from ..wire.negotiation import context_for
from ..wire.open import Open
from .config import SessionConfig

_R_BIT = 0x8  # RFC 4724 3: Restart State, in the capability's 4 flag bits
_F_BIT = 0x80  # RFC 4724 3: Forwarding State, in a family's flags

# RFC 9234 4.2: the allowed (local role, remote role) pairs.
_ROLE_PAIRS = frozenset({(0, 3), (3, 0), (1, 2), (2, 1), (4, 4)})


def local_open(config: SessionConfig) -> Open:
    """The OPEN this speaker sends on a session with `config`."""
    caps: list[Capability] = [Multiprotocol(afi, safi) for afi, safi in config.families]
    if config.route_refresh:
        caps.append(RouteRefreshCapability())
    if config.enhanced_route_refresh:
        caps.append(EnhancedRouteRefresh())
    if config.extended_message:
        caps.append(ExtendedMessage())
    if config.extended_next_hop:
        caps.append(ExtendedNextHop(config.extended_next_hop))
    if config.addpath:
        caps.append(AddPath(config.addpath))
    if config.graceful_restart_time is not None:
        # RFC 4724 3: our families, so that peers keep our routes while we restart.  The
        # F bit only when our forwarding state (the kernel routes) survived the restart:
        # otherwise a peer must drop our stale routes as soon as we are back (4.2).  The
        # R bit while we are coming back: the peer need not wait for our End-of-RIB.
        f_bit = _F_BIT if config.forwarding_preserved else 0
        families = tuple((afi, safi, f_bit) for afi, safi in config.families)
        flags = _R_BIT if config.restarting else 0
        caps.append(GracefulRestart(flags, config.graceful_restart_time, families))
    if config.role is not None:
        caps.append(Role(config.role))
    return Open.for_speaker(config.local_asn, config.hold_time, config.router_id, caps)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The facts of an established session, fixed by the two OPENs."""

    local_open: Open
    peer_open: Open
    peer_asn: int
    peer_id: str
    hold_time: int
    keepalive_time: int
    families: tuple[Family, ...]
    receive_context: CodecContext  # how the peer's messages are read
    send_context: CodecContext  # how ours are written
    route_refresh: bool
    enhanced_route_refresh: bool
    extended_next_hop: frozenset[tuple[int, int, int]]
    graceful_restart: GracefulRestart | None  # the peer's capability, if it sent one

    @property
    def external(self) -> bool:
        return self.send_context.external


def _error(subcode: int, reason: str, data: bytes = b"") -> MessageError:
    return MessageError(ErrorCode.OPEN_MESSAGE, subcode, data, reason)


def _families(message: Open) -> set[Family]:
    announced = {(c.afi, c.safi) for c in message.capability(Multiprotocol)}  # type: ignore[attr-defined]
    # RFC 4760 8 / common practice: a speaker without Multiprotocol capabilities
    # carries IPv4 unicast only.
    return announced or {IPV4_UNICAST}


def _has(message: Open, kind: type[Capability]) -> bool:
    return any(True for _ in message.capability(kind))


def check_open(config: SessionConfig, peer: Open) -> None:
    """RFC 4271 6.2 checks that depend on our configuration (decode_open did the rest)."""
    if peer.other_parameters:
        # RFC 4271 6.2: an optional parameter we do not recognise.
        raise _error(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, "unsupported optional parameter")
    if peer.asn != config.peer_asn:
        # RFC 4271 6.2: "If the Autonomous System field of the OPEN message is
        # unacceptable, then the Error Subcode MUST be set to Bad Peer AS."
        raise _error(OpenSubcode.BAD_PEER_AS, f"peer AS {peer.asn}, expected {config.peer_asn}")
    if peer.hold_time in (1, 2):
        # RFC 4271 6.2: a Hold Time of one or two seconds MUST be rejected.
        raise _error(OpenSubcode.UNACCEPTABLE_HOLD_TIME, f"hold time {peer.hold_time}")
    peer_id = ipaddress.IPv4Address(peer.bgp_id)
    # RFC 6286 2.2: zero is never valid; an internal peer may not share our identifier.
    if int(peer_id) == 0 or (config.internal and peer.bgp_id == config.router_id):
        raise _error(
            OpenSubcode.BAD_BGP_IDENTIFIER, f"BGP identifier {peer.bgp_id}", peer_id.packed
        )
    roles = [c.role for c in peer.capability(Role)]  # type: ignore[attr-defined]
    if config.role is not None and roles and (config.role, roles[0]) not in _ROLE_PAIRS:
        # RFC 9234 4.2: a role pair that is not allowed is a Role Mismatch.
        raise _error(OpenSubcode.ROLE_MISMATCH, f"role {roles[0]} against ours {config.role}")
    if config.role is not None and len(set(roles)) > 1:
        # RFC 9234 4.2: several Role capabilities that do not all agree: Role Mismatch.
        raise _error(OpenSubcode.ROLE_MISMATCH, f"roles {sorted(set(roles))} disagree")
    if not _families(peer) & set(config.families):
        # RFC 5492 5: nothing in common; the data is the capabilities at fault (ours).
        ours = b"".join(Multiprotocol(afi, safi).encode() for afi, safi in config.families)
        raise _error(OpenSubcode.UNSUPPORTED_CAPABILITY, "no address family in common", ours)


def negotiate(config: SessionConfig, ours: Open, peer: Open) -> Negotiated:
    """What the session runs with once `peer` has passed `check_open`."""
    # RFC 4271 4.2: the smaller of the two hold times; 0 means no keepalives at all.
    hold = min(ours.hold_time, peer.hold_time)
    if hold == 0:
        keepalive = 0
    else:
        wanted = config.keepalive_time if config.keepalive_time else hold // 3
        # RFC 4271 10: the KeepaliveTime is one third of the HoldTime (or less).
        keepalive = max(1, min(wanted, hold // 3))
    families = tuple(f for f in config.families if f in _families(peer))
    external = config.local_asn != config.peer_asn
    peer_enh = {entry for c in peer.capability(ExtendedNextHop) for entry in c.entries}  # type: ignore[attr-defined]
    grs = [c for c in peer.capability(GracefulRestart)]
    return Negotiated(
        local_open=ours,
        peer_open=peer,
        peer_asn=peer.asn,
        peer_id=peer.bgp_id,
        hold_time=hold,
        keepalive_time=keepalive,
        families=families,
        receive_context=context_for(peer, ours, external),
        send_context=context_for(ours, peer, external),
        route_refresh=_has(ours, RouteRefreshCapability) and _has(peer, RouteRefreshCapability),
        enhanced_route_refresh=_has(ours, EnhancedRouteRefresh)
        and _has(peer, EnhancedRouteRefresh),
        extended_next_hop=frozenset(peer_enh & set(config.extended_next_hop)),
        # RFC 4724 3: of several Graceful Restart capabilities, only the last counts.
        graceful_restart=grs[-1] if grs else None,  # type: ignore[arg-type]
    )
