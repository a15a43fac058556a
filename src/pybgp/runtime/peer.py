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
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import PeerConfig
from ..rib import AdjRibIn, LocalRoute, export_local
from ..session import (
    CloseConnection,
    EndOfRib,
    Event,
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
from ..wire.nlri import prefix_str
from ..wire.route_refresh import BEGIN_OF_ROUTE_REFRESH, END_OF_ROUTE_REFRESH
from ..wire.update import end_of_rib, pack_announcements, pack_withdrawals
from . import transport
from .link import Link

if TYPE_CHECKING:
    from ..wire.attributes import PathAttributes

log = logging.getLogger("pybgp.peer")

FAMILY_NAMES = {(1, 1): "ipv4", (2, 1): "ipv6"}


def session_config(peer: PeerConfig, asn: int, router_id: str, damp: bool) -> SessionConfig:
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
    )


@dataclass
class PeerStats:
    since: float = field(default_factory=time.time)  # wall clock of the last state change
    advertised: int = 0
    end_of_rib: set[Family] = field(default_factory=set)


class PeerDriver:
    def __init__(
        self,
        peer: PeerConfig,
        *,
        asn: int,
        router_id: str,
        damp: bool,
        loop: asyncio.AbstractEventLoop,
        local_routes: Callable[[], Iterable[LocalRoute]],
        dynamic: bool = False,
        on_down: Callable[[PeerDriver], None] | None = None,
    ) -> None:
        self.peer = peer
        self.asn = asn
        self.router_id = router_id
        self.loop = loop
        self.dynamic = dynamic
        self.local_routes = local_routes
        self.on_down = on_down
        self.config = session_config(peer, asn, router_id, damp)
        self.damper = OscillationDamper(damp, self.config.idle_hold_time, self.config.idle_hold_max)
        self.primary = self._new_link()
        self.secondary: Link | None = None
        self.adj_in = AdjRibIn()
        self.stats = PeerStats()
        self.admin_down = False
        self._connect_task: asyncio.Task[None] | None = None
        self._sent: dict[Family, set[bytes]] = {}  # what the peer has from us (Adj-RIB-Out)

    @property
    def name(self) -> str:
        return f"peer {self.peer.address}"

    @property
    def session(self) -> Session:
        return self.primary.session

    def _new_link(self) -> Link:
        return Link(Session(self.config, damper=self.damper), self.loop, self._on_event)

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
            self._send_table(link)
        elif isinstance(event, UpdateReceived):
            self.adj_in.apply(event.update)
        elif isinstance(event, EndOfRib):
            self.stats.end_of_rib.add(event.family)
        elif isinstance(event, RouteRefreshReceived):
            if event.subtype == 0:
                self._send_table(link, families=(event.family,), refresh=True)
        elif isinstance(event, SessionDown):
            self._session_down(link, event)

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
        if event.was_established:
            withdrawn = self.adj_in.clear()
            log.warning(
                "%s: session down: %s (%d routes withdrawn)", self.name, event.reason, withdrawn
            )
        else:
            log.info("%s: %s", self.name, event.reason)
        self._sent.clear()
        self.stats.advertised = 0
        self.stats.end_of_rib.clear()
        if self.on_down is not None:
            self.on_down(self)

    # --- our routes --------------------------------------------------------------------------
    def _local_address(self, link: Link) -> transport.IPAddress | None:
        tr = link.transport
        sock = tr.get_extra_info("socket") if tr is not None else None
        if sock is None:
            return None
        return transport.local_of(sock)[0]  # type: ignore[arg-type]

    def _send_table(
        self, link: Link, families: Iterable[Family] | None = None, refresh: bool = False
    ) -> None:
        """Send every local route the peer may have, then End-of-RIB (RFC 4724 2)."""
        session = link.session
        negotiated = session.negotiated
        local = self._local_address(link)
        if negotiated is None or local is None:
            return
        wanted = tuple(families or negotiated.families)
        enhanced = refresh and negotiated.enhanced_route_refresh
        for family in wanted:
            if family not in negotiated.families:
                continue
            if enhanced:  # RFC 7313 4: bracket a re-sent table with BoRR / EoRR
                session.send_route_refresh(family, BEGIN_OF_ROUTE_REFRESH)
            self._send_routes(link, family, self.local_routes())
            if enhanced:
                session.send_route_refresh(family, END_OF_ROUTE_REFRESH)
            elif not refresh:
                session.send_update(end_of_rib(family))
        link.service()

    def _send_routes(self, link: Link, family: Family, routes: Iterable[LocalRoute]) -> None:
        """UPDATEs for `routes` of `family`, packed per attribute set (one encode each)."""
        session = link.session
        negotiated = session.negotiated
        local = self._local_address(link)
        if negotiated is None or local is None or family not in negotiated.families:
            return
        # RFC 8950: IPv4 routes may carry our IPv6 address if the peer agreed.
        enh = (family[0], family[1], 2) in negotiated.extended_next_hop
        groups: dict[PathAttributes, tuple[bytes, list[bytes]]] = {}
        for route in routes:
            if route.family != family:
                continue
            exported = export_local(route, self.asn, negotiated.external, local, enh)
            if exported is None:
                log.warning(
                    "%s: no usable next hop for %s over this session",
                    self.name,
                    prefix_str(route.key, family[0]),
                )
                continue
            attributes, next_hop = exported
            groups.setdefault(attributes, (next_hop, []))[1].append(route.key)
        sent = self._sent.setdefault(family, set())
        for attributes, (next_hop, keys) in groups.items():
            for message in pack_announcements(
                attributes, keys, negotiated.send_context, family, next_hop
            ):
                session.send_update(message)
            sent.update(keys)
        self.stats.advertised = sum(len(keys) for keys in self._sent.values())

    def withdraw_local(self, family: Family, keys: list[bytes]) -> None:
        """Tell the peer that local routes `keys` are gone."""
        session = self.session
        negotiated = session.negotiated
        sent = self._sent.get(family)
        if negotiated is None or family not in negotiated.families or not sent:
            return
        gone = [key for key in keys if key in sent]
        if not gone:
            return
        for message in pack_withdrawals(gone, negotiated.send_context, family):
            session.send_update(message)
        sent.difference_update(gone)
        self.stats.advertised = sum(len(k) for k in self._sent.values())
        self.primary.service()

    def announce_local(self, routes: list[LocalRoute]) -> None:
        """Send new or changed local routes (after `Speaker.announce()`)."""
        if self.session.state is not State.ESTABLISHED:
            return  # they go out with the table when the session comes up
        for family in {route.family for route in routes}:
            self._send_routes(self.primary, family, routes)
        self.primary.service()

    # --- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        session = self.session
        negotiated = session.negotiated
        families = negotiated.families if negotiated else self.peer.families
        received = len(self.adj_in)
        info = session.info
        if self.admin_down and not info:
            info = "Administratively down"
        return {
            "address": str(self.peer.address),
            "asn": self.peer.asn,
            "type": self.peer.type,
            "state": session.state.value,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.stats.since)),
            "info": "" if session.state is State.ESTABLISHED else info,
            "received": received,
            "accepted": received,
            "advertised": self.stats.advertised,
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
