"""What one session needs to know about its peer and itself (plain values, no TOML).

The runtime builds a `SessionConfig` per peer from the user's configuration
(`pybgp.config`); tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.constants import IPV4_UNICAST, Family

# RFC 4271 10: suggested values.
DEFAULT_HOLD_TIME = 90
DEFAULT_CONNECT_RETRY = 120
LARGE_HOLD_TIME = 240  # RFC 4271 8.2.2: "a large value ... 4 minutes" in OpenSent


@dataclass(frozen=True, slots=True)
class SessionConfig:
    local_asn: int
    peer_asn: int
    router_id: str  # our BGP Identifier, dotted quad
    hold_time: int = DEFAULT_HOLD_TIME
    keepalive_time: int | None = None  # None: a third of the hold time (RFC 4271 10)
    connect_retry: int = DEFAULT_CONNECT_RETRY
    delay_open: int = 0  # RFC 4271 8.1.1 DelayOpen(Time); 0 = off
    passive: bool = False  # RFC 4271 8.1.1 PassiveTcpEstablishment
    families: tuple[Family, ...] = (IPV4_UNICAST,)
    route_refresh: bool = True  # RFC 2918
    enhanced_route_refresh: bool = True  # RFC 7313
    extended_message: bool = True  # RFC 8654
    extended_next_hop: tuple[tuple[int, int, int], ...] = ()  # RFC 8950 entries to offer
    addpath: tuple[tuple[int, int, int], ...] = ()  # RFC 7911 (afi, safi, send/receive)
    graceful_restart_time: int | None = None  # RFC 4724: advertise with this restart time
    # RFC 4724 3, while this speaker comes back from a restart: the Restart State (R) bit,
    # and the Forwarding State (F) bit of every family (its routes stayed in the kernel).
    restarting: bool = False
    forwarding_preserved: bool = False
    role: int | None = None  # RFC 9234 role of this speaker on the session
    damp_peer_oscillations: bool = True  # RFC 4271 8.1.1 DampPeerOscillations
    idle_hold_time: float = 1.0  # first IdleHoldTime; doubles while the peer flaps
    idle_hold_max: float = 60.0

    @property
    def internal(self) -> bool:
        return self.local_asn == self.peer_asn
