"""The validated configuration of `pybgp speak`, as frozen dataclasses.

`parse.py` builds these from TOML and does all the checking; nothing here validates, so
tests and the runtime may also build them directly (the defaults match the TOML ones).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pybgp.rib.policy import PolicyDefinition
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BGP_PORT = 179  # the IANA-assigned BGP port
DEFAULT_HOLD_TIME = 90
DEFAULT_CONNECT_RETRY = 5
DEFAULT_DELAY_OPEN = 0  # RFC 4271 8.1.1: DelayOpen is off unless configured
DEFAULT_PEER_TYPE = "global"
DEFAULT_CONTROL_SOCKET = "/run/pybgp/pybgp.sock"
DEFAULT_LISTEN: tuple[tuple[str, int], ...] = (("0.0.0.0", BGP_PORT), ("::", BGP_PORT))
# [node] / [fib] (config/node.py); the words match pybgp.fib.plan's.
ENCAPSULATIONS = ("ipip", "none", "cross-subnet")
DEFAULT_ENCAPSULATION = "none"  # BGP mode: what a router does without being told otherwise
DEFAULT_INTERFACE = "eth0"  # a Calico node container's underlay interface
DEFAULT_FIB_PROTOCOL = 12  # RTPROT_BIRD: `proto bird`, what Calico's tools look for
DEFAULT_FIB_TABLE = 254  # RT_TABLE_MAIN


def family_of(address: IPAddress | IPNetwork) -> Family:
    """The unicast family of an address or prefix."""
    return IPV4_UNICAST if address.version == 4 else IPV6_UNICAST


@dataclass(frozen=True, slots=True)
class Timers:
    """One peer's timers in seconds, resolved from the speaker default or its override."""

    hold_time: int = DEFAULT_HOLD_TIME
    keepalive_time: int = DEFAULT_HOLD_TIME // 3  # RFC 4271 10: one third of HoldTime
    connect_retry: int = DEFAULT_CONNECT_RETRY
    delay_open: int = DEFAULT_DELAY_OPEN  # 0 = DelayOpen off


@dataclass(frozen=True, slots=True)
class Announcement:
    """A prefix this speaker originates, with the attributes to send it with."""

    prefix: IPNetwork
    next_hop: IPAddress | None = None  # None = the session's local address (next-hop self)
    origin: int = 0  # 0 IGP, 1 EGP, 2 INCOMPLETE
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()  # 32-bit values as in wire.attributes.PathAttributes
    large_communities: tuple[tuple[int, int, int], ...] = ()
    as_path: tuple[int, ...] = ()  # extra ASNs after our own


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """A configured neighbour (a [[peer]], or a dynamic one from a [[peer-range]])."""

    address: IPAddress
    asn: int
    type: str = DEFAULT_PEER_TYPE  # free-text label for `pybgp status`
    passive: bool = False
    port: int = BGP_PORT
    local_address: IPAddress | None = None
    password: str | None = None  # RFC 2385 TCP MD5 key
    ttl_security: int | None = None  # RFC 5082 GTSM hop count
    families: tuple[Family, ...] = ()  # () = the family of address
    timers: Timers = Timers()
    rr_client: bool = False  # RFC 4456: this internal peer is our reflection client
    next_hop_self: bool = False  # our address as NEXT_HOP on every route to this peer
    import_policy: tuple[str, ...] = ()  # names of [[policy]] tables, applied in order
    export_policy: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.families:
            object.__setattr__(self, "families", (family_of(self.address),))


@dataclass(frozen=True, slots=True)
class PeerRangeConfig:
    """Dynamic neighbours: a session is accepted from any address inside `prefix`."""

    prefix: IPNetwork
    asn: int
    type: str = DEFAULT_PEER_TYPE
    password: str | None = None
    ttl_security: int | None = None
    families: tuple[Family, ...] = ()  # () = the family of prefix
    timers: Timers = Timers()
    rr_client: bool = False
    next_hop_self: bool = False
    import_policy: tuple[str, ...] = ()
    export_policy: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.families:
            object.__setattr__(self, "families", (family_of(self.prefix),))

    def peer_for(self, address: IPAddress) -> PeerConfig:
        """The PeerConfig of a dynamic neighbour at `address`: passive, port 179."""
        if address not in self.prefix:
            raise ValueError(f"{address} is not inside peer-range {self.prefix}")
        return PeerConfig(
            address=address,
            asn=self.asn,
            type=self.type,
            passive=True,  # we cannot know where dynamic neighbours are: only accept
            port=BGP_PORT,
            local_address=None,
            password=self.password,
            ttl_security=self.ttl_security,
            families=self.families,
            timers=self.timers,
            rr_client=self.rr_client,
            next_hop_self=self.next_hop_self,
            import_policy=self.import_policy,
            export_policy=self.export_policy,
        )


@dataclass(frozen=True, slots=True)
class SpeakerConfig:
    """The [speaker] section: who we are, where we listen, what we originate."""

    asn: int
    router_id: str  # dotted quad, never 0.0.0.0
    listen: tuple[tuple[str, int], ...] = DEFAULT_LISTEN  # (host, port); () = do not listen
    control_socket: str = DEFAULT_CONTROL_SOCKET
    timers: Timers = Timers()
    damp_peer_oscillations: bool = True  # RFC 4271 8.1.1 DampPeerOscillations
    announce: tuple[Announcement, ...] = ()
    cluster_id: str | None = None  # RFC 4456 7; None = the router id (when reflecting)
    always_compare_med: bool = False  # compare MED across neighbouring ASes
    deterministic_med: bool = False  # best per neighbouring AS first (order-independent)
    graceful_restart_time: int = 120  # RFC 4724: keep a restarting peer's routes; 0 = off


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The [node] section: this speaker is a node that hosts pods, not only a router."""

    blocks: tuple[IPNetwork, ...] = ()  # local IPAM blocks: announced and blackholed
    encapsulation: str = DEFAULT_ENCAPSULATION  # one of ENCAPSULATIONS
    interface: str = DEFAULT_INTERFACE  # the underlay link learned routes leave by


@dataclass(frozen=True, slots=True)
class FibConfig:
    """The [fib] section: how learned routes are written to the kernel."""

    enabled: bool = False  # parse.py: true when there is a [node] and it is not set
    protocol: int = DEFAULT_FIB_PROTOCOL  # rtm_protocol our routes carry (and are found by)
    table: int = DEFAULT_FIB_TABLE
    persist: bool = False  # leave our routes in the kernel when the speaker stops


def _unmapped(address: IPAddress) -> IPAddress:
    """198.18.0.2 for ::ffff:198.18.0.2, as a dual-stack socket reports an IPv4 peer."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, valid configuration of `pybgp speak`."""

    speaker: SpeakerConfig
    peers: tuple[PeerConfig, ...] = ()
    peer_ranges: tuple[PeerRangeConfig, ...] = ()
    source: str = "<config>"  # file name, for messages
    # [[policy]] tables by name, in file order; peers name them in import / export.
    # Left out of the hash: a mapping has none (equality still compares it).
    policies: Mapping[str, PolicyDefinition] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    node: NodeConfig | None = None  # None = not a node: no blocks, no encapsulation
    fib: FibConfig = FibConfig()

    def match(self, address: IPAddress) -> PeerConfig | None:
        """The configured peer at address, else a PeerConfig from the most specific
        peer-range holding it, else None.  An IPv4-mapped IPv6 address counts as IPv4."""
        address = _unmapped(address)
        for peer in self.peers:
            if peer.address == address:
                return peer
        best: PeerRangeConfig | None = None
        for peer_range in self.peer_ranges:
            if address in peer_range.prefix and (
                best is None or peer_range.prefix.prefixlen > best.prefix.prefixlen
            ):
                best = peer_range
        return best.peer_for(address) if best is not None else None
