"""`PeerDriver`: everything the daemon does for one neighbour.

It keeps one `Session` (the primary `Link`) per peer, and during a connection
collision a second one for the peer's incoming connection; `session.resolve_collision`
(RFC 4271 6.8) decides which survives, and the survivor becomes the primary.  It
opens outgoing connections when the session asks, keeps the peer's Adj-RIB-In,
sends our routes when the session is established and again on ROUTE-REFRESH, and
remembers what `pybgp status` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import PeerConfig
from ..rib import AdjRibIn
from ..rib.decision import Source
from ..rib.export import ExportView
from ..rib.policy import ACCEPT_ALL, Chain
from ..rib.rib import PeerRib, Rib
from ..rib.rules import Kind
from ..session import (
    CloseConnection,
    EndOfRib,
    Event,
    Negotiated,
    OpenConnection,
    OscillationDamper,
    RouteRefreshReceived,
    Session,
    SessionConfig,
    SessionDown,
    SessionEstablished,
    State,
    StateChanged,
    UpdateReceived,
    resolve_collision,
)
from ..wire.constants import IPV4_UNICAST, Family
from . import transport
from .graceful import F_BIT, Retention
from .link import Link
from .outbound import Outbound

log = logging.getLogger("pybgp.peer")

FAMILY_NAMES = {(1, 1): "ipv4", (2, 1): "ipv6"}


def session_config(
    peer: PeerConfig, asn: int, router_id: str, damp: bool, restart_time: int = 0
) -> SessionConfig:
    timers = peer.timers
    # RFC 8950: IPv4 routes over an IPv6 session need the extended next hop.
    enh = ((1, 1, 2),) if peer.address.version == 6 and IPV4_UNICAST in peer.families else ()
    return SessionConfig(
        local_asn=asn,
        peer_asn=peer.asn,
        router_id=router_id,
        hold_time=timers.hold_time,
        keepalive_time=timers.keepalive_time or None,
        connect_retry=timers.connect_retry,
        delay_open=timers.delay_open,
        passive=peer.passive,
        families=peer.families,
        extended_next_hop=enh,
        damp_peer_oscillations=damp,
        # RFC 4724 3: announced (no families: we keep no forwarding state of our own)
        # so that restarting peers know we keep their routes while they restart.
        graceful_restart_time=restart_time or None,
    )


@dataclass
class PeerStats:
    since: float = field(default_factory=time.time)  # wall clock of the last state change
    end_of_rib: set[Family] = field(default_factory=set)


# Compiles a peer's list of policy names (config.policy); ACCEPT_ALL for none.
PolicyCompiler = Callable[[tuple[str, ...]], Chain]


class PeerDriver:
    def __init__(
        self,
        peer: PeerConfig,
        *,
        asn: int,
        router_id: str,
        damp: bool,
        restart_time: int = 0,
        loop: asyncio.AbstractEventLoop,
        rib: Rib,
        outbound: Outbound,
        cluster_id: str | None = None,
        policies: PolicyCompiler | None = None,
        dynamic: bool = False,
        on_down: Callable[[PeerDriver], None] | None = None,
        on_state: Callable[[PeerDriver, Event], None] | None = None,
    ) -> None:
        self.peer = peer
        self.asn = asn
        self.router_id = router_id
        self.loop = loop
        self.dynamic = dynamic
        self.rib = rib
        self.outbound = outbound
        self.cluster_id = cluster_id
        self.compile_policy = policies or (lambda names: ACCEPT_ALL)
        self.on_down = on_down
        self.on_state = on_state
        self.config = session_config(peer, asn, router_id, damp, restart_time)
        self.retention: Retention | None = None  # a restarting peer's stale routes
        self._last_negotiated: Negotiated | None = None
        self.damper = OscillationDamper(damp, self.config.idle_hold_time, self.config.idle_hold_max)
        self.primary = self._new_link()
        self.secondary: Link | None = None
        self.peer_rib: PeerRib | None = None  # while established
        self.stats = PeerStats()
        self.admin_down = False
        self._connect_task: asyncio.Task[None] | None = None

    @property
    def adj_in(self) -> AdjRibIn:
        return self.peer_rib.adj_in if self.peer_rib is not None else AdjRibIn()

    @property
    def name(self) -> str:
        return f"peer {self.peer.address}"

    @property
    def session(self) -> Session:
        return self.primary.session

    def set_restarting(self, restarting: bool) -> None:
        """Our own restart (`restart.OwnRestart`): the R bit, and the F bit of every
        family, in the OPENs sent from now on (RFC 4724 3), or neither."""
        self.config = replace(self.config, restarting=restarting, forwarding_preserved=restarting)
        for link in (self.primary, self.secondary):
            if link is not None:
                link.session.config = self.config  # the next OPEN is built from it

    def _new_link(self) -> Link:
        link = Link(Session(self.config, damper=self.damper), self.loop, self._on_event)
        link.on_drain = lambda: self.outbound.pull(self) if link is self.primary else None
        return link

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.admin_down = False
        self.session.start(self.loop.time())
        self.primary.service()

    def stop(self, message: str = "", restart: bool = False) -> None:
        """Administrative shutdown (RFC 9003 message) or, with `restart`, a reset."""
        self.admin_down = not restart
        if self.secondary is not None:
            self._drop_secondary()
        self._cancel_connect()
        self.session.stop(self.loop.time(), message, restart=restart)
        self.primary.service()

    async def wait_closed(self, timeout: float) -> None:
        """Wait (up to `timeout`) for the final NOTIFICATIONs to leave."""
        await self.primary.wait_closed(timeout)

    def retire(self) -> None:
        self._cancel_connect()
        self.primary.retire()
        if self.secondary is not None:
            self.secondary.retire()

    # --- connections -----------------------------------------------------------------------
    def _connect(self) -> None:
        self._cancel_connect()
        self._connect_task = self.loop.create_task(self._connect_once())

    def _cancel_connect(self) -> None:
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        self._connect_task = None

    async def _connect_once(self) -> None:
        peer = self.peer
        link = self.primary
        try:
            sock = await transport.connect(
                peer.address,
                peer.port,
                local_address=peer.local_address,
                password=peer.password,
                ttl_security=peer.ttl_security,
                timeout=max(1.0, float(self.config.connect_retry)),
            )
        except (OSError, TimeoutError) as exc:
            if link is self.primary and not link.closed:
                text = str(exc).split(": ", 1)[-1] if isinstance(exc, OSError) else str(exc)
                link.session.connection_failed(self.loop.time(), f"Socket: {text}")
                link.service()
            return
        session = link.session
        if (
            link is not self.primary
            or link.closed
            or session.connected
            or (session.state is not State.CONNECT)
        ):
            sock.close()  # the session moved on (an incoming connection won, a stop)
            return
        try:
            await self.loop.create_connection(lambda: link.protocol(outgoing=True), sock=sock)
        except OSError as exc:
            sock.close()
            session.connection_failed(self.loop.time(), f"Socket: {exc}")
            link.service()

    def accept(self, sock: socket.socket) -> bool:
        """The peer connected to us; False (and a log line) if the connection is refused."""
        session = self.session
        try:
            transport.accepted(sock, self.peer.ttl_security)
        except transport.TransportError as exc:
            log.warning("%s: refused connection: %s", self.name, exc)
            return False
        if self.admin_down or session.state is State.IDLE:
            # RFC 4271 8.2.2 Idle: "refuses all incoming BGP connections".
            log.info("%s: refused connection in state %s", self.name, session.state)
            return False
        if session.state is State.ACTIVE and not session.connected:
            self._adopt(self.primary, sock)
            return True
        if self.secondary is not None:
            log.info("%s: refused a third connection during a collision", self.name)
            return False
        # Connect (our attempt in flight), OpenSent, OpenConfirm or Established: a second
        # connection, kept apart until its OPEN decides (RFC 4271 6.8).
        link = self._new_link()
        link.session.start(self.loop.time(), passive=True)
        self.secondary = link
        self._adopt(link, sock)
        return True

    def _adopt(self, link: Link, sock: socket.socket) -> None:
        task = self.loop.create_task(
            self.loop.connect_accepted_socket(lambda: link.protocol(outgoing=False), sock)
        )

        def done(task: asyncio.Task[Any]) -> None:
            if task.cancelled() or task.exception() is not None:
                with contextlib.suppress(OSError):
                    sock.close()

        task.add_done_callback(done)

    def _drop_secondary(self) -> None:
        if self.secondary is not None:
            self.secondary.retire()
            self.secondary = None

    # --- session events ----------------------------------------------------------------------
    def _on_event(self, link: Link, event: Event) -> None:
        primary = link is self.primary
        if isinstance(event, OpenConnection):
            if primary:
                self._connect()
        elif isinstance(event, StateChanged):
            self._state_changed(link, event)
        elif isinstance(event, CloseConnection):
            if primary:
                self._cancel_connect()
        elif isinstance(event, SessionEstablished):
            log.info("%s: Established (hold time %ds)", self.name, event.negotiated.hold_time)
            self._established(link)
        elif isinstance(event, UpdateReceived):
            if self.peer_rib is not None and link is self.primary:
                self.rib.receive(self.peer_rib, event.update)
                if self.retention is not None:
                    self.retention.refreshed(event.update)
                self.outbound.schedule()
        elif isinstance(event, EndOfRib):
            self.stats.end_of_rib.add(event.family)
            if self.retention is not None and self.retention.end_of_rib(event.family):
                self.retention = None
                self.outbound.schedule()
        elif isinstance(event, RouteRefreshReceived):
            negotiated = link.session.negotiated
            if event.subtype == 0 and negotiated is not None and link is self.primary:
                self.outbound.refresh(self, event.family, negotiated.enhanced_route_refresh)
        elif isinstance(event, SessionDown):
            self._session_down(link, event)
        watched = isinstance(event, (SessionEstablished, SessionDown, EndOfRib))
        if watched and self.on_state is not None and link is self.primary:
            self.on_state(self, event)

    def _state_changed(self, link: Link, event: StateChanged) -> None:
        if link is self.primary:
            self.stats.since = time.time()
        if event.new is not State.OPEN_CONFIRM:
            return
        # An OPEN arrived on this link: the moment RFC 4271 6.8 collision detection runs.
        other = self.secondary if link is self.primary else self.primary
        if (
            link is self.secondary
            and other is not None
            and other.session.state
            in (
                State.IDLE,
                State.CONNECT,
                State.ACTIVE,
            )
        ):
            # Our own attempt never got as far: the peer's connection simply takes over.
            self._promote(link)
            return
        negotiated = link.session.negotiated
        assert negotiated is not None
        loser = resolve_collision(
            self.router_id, negotiated.peer_id, link.session, other.session if other else None
        )
        if loser is None:
            return
        log.info(
            "%s: connection collision, closing the %s connection",
            self.name,
            "outgoing" if loser.outgoing else "incoming",
        )
        loser_link = link if loser is link.session else other
        assert loser_link is not None
        loser.collision_dump(self.loop.time())
        if loser_link is self.primary and self.secondary is not None:
            loser_link.service()
            self._promote(self.secondary)
        else:
            loser_link.service()
            if loser_link is self.secondary:
                self._drop_secondary()

    def _promote(self, link: Link) -> None:
        """`link` (the peer's incoming connection) becomes the peer's one session."""
        old = self.primary
        self._cancel_connect()
        old.retire()
        self.primary = link
        self.secondary = None
        self.stats.since = time.time()

    def _session_down(self, link: Link, event: SessionDown) -> None:
        if link is self.secondary:
            self._drop_secondary()
            return
        self.outbound.leave(self)
        withdrawn = 0
        kept = self._retain(link, event)
        if kept:
            log.warning(
                "%s: session down: %s (graceful restart: %d routes kept, stale, for up to %ds)",
                self.name,
                event.reason,
                kept,
                self.retention.restart_time if self.retention else 0,
            )
        elif self.peer_rib is not None:
            # All the peer's routes leave the Loc-RIB at once; the other peers' update
            # groups send the withdrawals packed (not one UPDATE per prefix).
            withdrawn = self.rib.drop_peer(self.peer_rib)
            self.peer_rib = None
            self.outbound.schedule()
        if kept:
            pass
        elif event.was_established and not self.admin_down:
            log.warning(
                "%s: session down: %s (%d routes withdrawn)", self.name, event.reason, withdrawn
            )
        else:
            log.info("%s: %s (%d routes withdrawn)", self.name, event.reason, withdrawn)
        self.stats.end_of_rib.clear()
        if self.on_down is not None:
            self.on_down(self)

    # --- graceful restart (RFC 4724 4.2, receiving speaker) --------------------------------
    def _retain(self, link: Link, event: SessionDown) -> int:
        """Keep the peer's routes as stale if it may be restarting; how many were kept.

        Only when we announced the capability, the peer announced it with families and
        a restart time, and the session ended without a NOTIFICATION (RFC 4724 4.2; a
        NOTIFICATION ends it the ordinary way, RFC 4724 without RFC 8538).
        """
        negotiated = self._last_negotiated  # the session's own is gone with it
        capability = negotiated.graceful_restart if negotiated is not None else None
        if (
            self.peer_rib is None
            or not event.was_established
            or event.notification is not None
            or self.admin_down
            or not self.config.graceful_restart_time
            or capability is None
            or not capability.restart_time
        ):
            return 0
        families = {(afi, safi) for afi, safi, _ in capability.families}
        families &= set(negotiated.families) if negotiated is not None else set()
        if not families:
            return 0
        if self.retention is not None:
            self.retention.cancel()
        self.retention = Retention(
            self.rib,
            self.peer_rib,
            families,
            capability.restart_time,
            self.loop,
            self._restart_expired,
        )
        self.peer_rib = None
        self.outbound.schedule()
        return self.retention.count

    def _restart_expired(self) -> None:
        """The peer's restart time ran out: its stale routes go (all of them, if it has
        not come back at all)."""
        retention, self.retention = self.retention, None
        if retention is None:
            return
        log.warning("%s: graceful restart time ran out: stale routes removed", self.name)
        retention.expire()
        if self.peer_rib is not retention.peer_rib:  # not back: nothing else of it stays
            self.rib.drop_peer(retention.peer_rib)
        self.outbound.schedule()

    # --- routes ------------------------------------------------------------------------------
    def _local_address(self, link: Link) -> transport.IPAddress | None:
        """Our address on the link's connection (198.18.0.1, not ::ffff:198.18.0.1 as a
        dual-stack socket reports it): the NEXT_HOP we rewrite to."""
        tr = link.transport
        sock = tr.get_extra_info("socket") if tr is not None else None
        if sock is None:
            return None
        local = transport.local_of(sock)[0]
        if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
            return local.ipv4_mapped
        return local  # type: ignore[return-value]

    @property
    def kind(self) -> Kind:
        negotiated = self.session.negotiated
        external = negotiated.external if negotiated else self.peer.asn != self.asn
        if external:
            return Kind.EBGP
        return Kind.CLIENT if self.peer.rr_client else Kind.IBGP

    def _established(self, link: Link) -> None:
        """Join the RIB: our routes in, then the table out (and End-of-RIB, RFC 4724 2)."""
        negotiated = link.session.negotiated
        local = self._local_address(link)
        if negotiated is None or local is None:
            return
        kind = self.kind
        source = Source(
            address=self.peer.address,
            router_id=int(ipaddress.IPv4Address(negotiated.peer_id)),
            external=kind is Kind.EBGP,
            client=kind is Kind.CLIENT,
        )
        self._last_negotiated = negotiated
        if self.retention is not None:
            # Back from a restart: its routes (and their source) carry on, re-sent ones
            # replace the stale ones; families it keeps no forwarding state for go now.
            self.peer_rib = self.retention.peer_rib
            capability = negotiated.graceful_restart
            forwarding = [
                (afi, safi)
                for afi, safi, flags in (capability.families if capability else ())
                if flags & F_BIT
            ]
            self.retention.came_back(forwarding)
            if not self.retention.stale:
                self.retention = None
        else:
            self.peer_rib = PeerRib(source, self.compile_policy(self.peer.import_policy))
        self.outbound.join(
            self, self.export_view(local), negotiated.families, negotiated.send_context
        )

    def export_view(self, local: transport.IPAddress) -> ExportView:
        negotiated = self.session.negotiated
        assert negotiated is not None
        # RFC 8950: IPv4 routes may carry our IPv6 address if the peer agreed.
        enh = (IPV4_UNICAST[0], IPV4_UNICAST[1], 2) in negotiated.extended_next_hop
        return ExportView(
            to=self.kind,
            local_asn=self.asn,
            local_address=local,
            cluster_id=self.rib.cluster_id,
            next_hop_self=self.peer.next_hop_self,
            extended_next_hop=enh,
            policy=self.compile_policy(self.peer.export_policy),
            policy_names=self.peer.export_policy,
        )

    def policies_changed(self, peer: PeerConfig) -> None:
        """New import/export policies (a reload): applied without a session restart."""
        self.peer = peer
        if self.peer_rib is not None:
            chain = self.compile_policy(peer.import_policy)
            if chain != self.peer_rib.import_policy:  # equal when the definitions are
                self.rib.reimport(self.peer_rib, chain)
        local = self._local_address(self.primary)
        negotiated = self.session.negotiated
        group = self.outbound.group_of(self)
        if group is not None and local is not None and negotiated is not None:
            view = self.export_view(local)
            if view.signature != group.view.signature:
                self.outbound.rejoin(self, view)
        self.outbound.schedule()

    def _advertised(self) -> int:
        group = self.outbound.group_of(self)
        return group.updates.advertised(self.peer.address) if group is not None else 0

    # --- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        session = self.session
        negotiated = session.negotiated
        families = negotiated.families if negotiated else self.peer.families
        received = len(self.adj_in)
        accepted = self.peer_rib.accepted if self.peer_rib is not None else 0
        info = session.info
        if self.admin_down and not info:
            info = "Administratively down"
        if self.retention is not None and session.state is not State.ESTABLISHED:
            info = f"{info}; graceful restart: {self.retention.count} routes kept (stale)"
        return {
            "address": str(self.peer.address),
            "asn": self.peer.asn,
            "type": self.peer.type,
            "state": session.state.value,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.stats.since)),
            "info": "" if session.state is State.ESTABLISHED else info,
            "received": received,
            "accepted": accepted,
            "advertised": self._advertised(),
            "families": [FAMILY_NAMES.get(f, f"{f[0]}/{f[1]}") for f in families],
            "messages": {
                "sent": dict(session.counters.sent),
                "received": dict(session.counters.received),
            },
            "last_error": info or None,
            "end_of_rib": sorted(FAMILY_NAMES.get(f, str(f)) for f in self.stats.end_of_rib),
            "dynamic": self.dynamic,
            "peer_id": negotiated.peer_id if negotiated else None,
            "hold_time": negotiated.hold_time if negotiated else None,
        }
