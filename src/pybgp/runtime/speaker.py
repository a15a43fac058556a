"""`Speaker`: the BGP daemon on an asyncio loop, and pybgp's library entry point.

    async with Speaker(config) as speaker:
        speaker.announce("10.244.1.0/26")
        ...

It listens where the configuration says, accepts connections only from configured
peers and peer ranges (anyone else is closed before an OPEN, with a log line),
runs one `PeerDriver` per neighbour, originates the configured prefixes, and answers
the control socket (`pybgp status`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from ..config import Announcement, Config, PeerConfig
from ..config.announce import announcement as parse_announcement
from ..fib.base import Fib
from ..fib.plan import NodeView
from ..rib import LocalRoute
from ..rib.decision import Options
from ..rib.originate import local_path
from ..rib.policy import ACCEPT_ALL, Chain, compile_chain
from ..rib.rib import Rib
from ..session import Event, SessionDown, SessionEstablished
from ..wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family
from ..wire.nlri import network_key
from . import transport
from .changes import Change, PeerChange, route_change
from .commands import handlers
from .control import ControlServer
from .fib_sync import FibSync
from .outbound import Outbound
from .peer import PeerDriver
from .restart import OwnRestart

log = logging.getLogger("pybgp.speaker")

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class LinkWatch(Protocol):
    """What watches the node's links (fib.monitor.LinkMonitor)."""

    def start(self) -> None: ...

    def close(self) -> None: ...


SHUTDOWN_MESSAGE = "pybgp shutting down"
CLOSE_TIMEOUT = 1.0  # seconds to let the final NOTIFICATIONs leave


def _network_order(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)


def _family(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Family:
    return IPV4_UNICAST if network.version == 4 else IPV6_UNICAST


def local_route(announcement: Announcement) -> LocalRoute:
    return LocalRoute(
        family=_family(announcement.prefix),
        key=network_key(announcement.prefix),
        next_hop=announcement.next_hop,
        origin=announcement.origin,
        med=announcement.med,
        local_pref=announcement.local_pref,
        communities=announcement.communities,
        large_communities=announcement.large_communities,
        as_path=announcement.as_path,
    )


class Speaker:
    """The daemon: `speak` runs it as a node, `reflect` with `reflector=True`.

    A reflector uses `cluster-id` (the router id when unset, as BIRD and FRR do); so does
    a speaker with any `rr-client` peer.
    """

    def __init__(
        self,
        config: Config,
        *,
        control: bool = True,
        reflector: bool = False,
        fib: Fib | None = None,
        node_addresses: Iterable[IPInterface] = (),
        read_addresses: Callable[[], Iterable[IPInterface]] | None = None,
        link_monitor: Callable[[Callable[[], None]], LinkWatch] | None = None,
    ) -> None:
        """`fib`: where a node writes its learned routes and its blocks' blackholes (the
        CLI gives `speak` a NetlinkFib when [fib] is enabled; tests give a MemoryFib).
        `node_addresses`: the node's own addresses with their prefix lengths, to tell
        on-link next hops from the others (cross-subnet mode, the unreachable warning).
        `link_monitor(on_change)`: watches the node's links and addresses; on a change
        they are read again with `read_addresses` and the kernel routes re-planned.
        """
        self.config = config
        self._fib = fib if config.node is not None and not reflector else None
        self._node_addresses = tuple(node_addresses)
        self._read_addresses = read_addresses
        self._link_monitor = link_monitor
        self._monitor: LinkWatch | None = None
        self._relinking: asyncio.Task[None] | None = None
        self.fib_sync: FibSync | None = None
        self.speaker = config.speaker
        self._reflect_mode = reflector
        self.rib = Rib(
            self.speaker.asn,
            self.speaker.router_id,
            self._cluster_id(config),
            Options(
                always_compare_med=self.speaker.always_compare_med,
                deterministic_med=self.speaker.deterministic_med,
            ),
        )
        self._outbound: Outbound | None = None
        self._chains: dict[tuple[str, ...], Chain] = {}
        self._state_watchers: list[asyncio.Queue[Change]] = []
        self.started_at = time.time()
        self._control_enabled = control
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[socket.socket] = []
        self._accept_tasks: list[asyncio.Task[None]] = []
        self._control: ControlServer | None = None
        self.peers: dict[transport.IPAddress, PeerDriver] = {}
        self._routes: dict[tuple[Family, bytes], LocalRoute] = {}
        self._local_attributes: dict[Any, Any] = {}
        self._originate_many(local_route(a) for a in self.speaker.announce)
        if config.node is not None:  # our IPAM blocks are announced (and blackholed)
            self._originate_many(
                local_route(Announcement(prefix=block)) for block in config.node.blocks
            )
        self._stopped = asyncio.Event()
        self._own_restart: OwnRestart | None = None  # while coming back from a restart
        # `pybgp stop` (control socket): what the daemon serving us waits for besides signals.
        self.stop_requested = asyncio.Event()
        self.stop_graceful = False
        self._settling: asyncio.Task[int] | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Speaker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outbound = Outbound(self.rib, self._loop)
        if self._control_enabled:
            # First, so that a second daemon on the same socket stops before any peer
            # hears from it.
            self._control = ControlServer(self.speaker.control_socket, handlers(self))
            await self._control.start()
        if self._fib is not None and self.config.node is not None:
            # Before any peer: the kernel is reconciled with what we hold now, and every
            # route learned afterwards reaches it.
            node = self.config.node
            view = NodeView.from_interfaces(
                node.encapsulation, node.interface, self._node_addresses
            )
            self.fib_sync = FibSync(self.rib, self._fib, view, self._loop, node.blocks)
            restart_time = self.speaker.graceful_restart_time
            await self.fib_sync.start(keep_stale=restart_time > 0 and bool(self.config.peers))
            if self.fib_sync.stale:
                log.info(
                    "graceful restart: %d routes of the last run stay in the kernel until"
                    " every peer has sent End-of-RIB (at most %d s)",
                    self.fib_sync.stale,
                    restart_time,
                )
                self._own_restart = OwnRestart(
                    self._loop, restart_time, lambda: list(self.peers.values()), self._restarted
                )
            if self._link_monitor is not None:
                self._monitor = self._link_monitor(self._links_changed)
                self._monitor.start()
        # No await from here on: an accept that ran before the configured peers exist
        # would take one of them for a dynamic neighbour and leave a second driver behind.
        try:
            self._open_listeners()
        except BaseException:
            if self._control is not None:
                await self._control.close()
            raise
        for peer in self.config.peers:
            self._add_peer(peer, dynamic=False).start()
        log.info(
            "pybgp AS %d, router id %s: %d peers, %d peer ranges, %d local routes",
            self.speaker.asn,
            self.speaker.router_id,
            len(self.config.peers),
            len(self.config.peer_ranges),
            len(self._routes),
        )

    async def close(self, message: str = SHUTDOWN_MESSAGE, graceful: bool = False) -> None:
        """Cease every session with an RFC 9003 message, then stop listening.

        `graceful`: a restart is coming (RFC 4724 4.2, BIRD's `graceful restart`):
        the connections close without a NOTIFICATION, so that peers keep our routes as
        stale for our restart time, and the kernel routes stay for the next run (which
        keeps them until its peers have re-sent theirs, see `restart.OwnRestart`).
        """
        if self._own_restart is not None:
            self._own_restart.cancel()  # sessions going down now are not a convergence
        for task in self._accept_tasks:
            task.cancel()
        for sock in self._listeners:
            sock.close()
        self._listeners.clear()
        drivers = list(self.peers.values())
        if not graceful:
            for driver in drivers:
                driver.stop(message)
            # The Cease NOTIFICATIONs leave before the loop stops (a second at most).
            await asyncio.gather(*(driver.wait_closed(CLOSE_TIMEOUT) for driver in drivers))
        for driver in list(self.peers.values()):
            driver.retire()  # gracefully: TCP closes after what is queued, no NOTIFICATION
        if self._monitor is not None:
            self._monitor.close()
        for task in (self._relinking, self._settling):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        if self.fib_sync is not None:
            # Our routes go, unless [fib] persist = true or a restart is coming.
            await self.fib_sync.close(keep=graceful)
        if self._control is not None:
            await self._control.close()
        self._stopped.set()

    async def wait_closed(self) -> None:
        await self._stopped.wait()

    def request_stop(self, graceful: bool = False) -> None:
        """Ask the daemon serving this speaker (`pybgp speak`) to stop; see `close`."""
        self.stop_graceful = graceful
        self.stop_requested.set()

    # --- listening ---------------------------------------------------------------------------
    def _md5_keys(self, version: int) -> list[tuple[Any, str]]:
        keys: list[tuple[Any, str]] = []
        for peer in self.config.peers:
            if peer.password and (version == 6 or peer.address.version == 4):
                keys.append((peer.address, peer.password))
        for peer_range in self.config.peer_ranges:
            if peer_range.password and (version == 6 or peer_range.prefix.version == 4):
                keys.append((peer_range.prefix, peer_range.password))
        return keys

    def _gtsm(self, version: int) -> tuple[int | None, bool]:
        """The listener's GTSM setting for one family: (hop count, send with TTL 255).

        The hop count is set only when every peer of that family asks for GTSM, so that
        the check (RFC 5082 3) covers the SYN too; each accepted connection then gets its
        own peer's hop count (`transport.accepted`, which checks the saved SYN).  When only
        some do, the listener still sends with TTL 255, or its SYN-ACK would fail those
        peers' own check.
        """
        hops = [p.ttl_security for p in self.config.peers if p.address.version == version]
        hops += [r.ttl_security for r in self.config.peer_ranges if r.prefix.version == version]
        wanted = [h for h in hops if h is not None]
        if not wanted:
            return None, False
        return (max(wanted) if len(wanted) == len(hops) else None), True

    def _open_listeners(self) -> None:
        assert self._loop is not None
        for host, port in self.speaker.listen:
            version = ipaddress.ip_address(host.split("%")[0]).version
            try:
                hops, max_ttl = self._gtsm(version)
                sock = transport.open_listener(
                    host,
                    port,
                    self._md5_keys(version),
                    ttl_security=hops,
                    max_ttl=max_ttl,
                    save_syn=max_ttl,
                )
            except transport.TransportError as exc:
                if host in ("0.0.0.0", "::") and self.speaker.listen == (
                    ("0.0.0.0", port),
                    ("::", port),
                ):
                    log.warning("not listening on %s: %s", host, exc)
                    continue
                raise
            self._listeners.append(sock)
            self._accept_tasks.append(self._loop.create_task(self._accept_loop(sock)))
            log.info("listening on %s", transport.local_of(sock))

    async def _accept_loop(self, listener: socket.socket) -> None:
        assert self._loop is not None
        while True:
            try:
                sock, _ = await self._loop.sock_accept(listener)
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            self._incoming(sock)

    def _incoming(self, sock: socket.socket) -> None:
        address, port = transport.peer_of(sock)
        driver = self.peers.get(address)
        if driver is None:
            peer = self.config.match(address)
            if peer is None:
                # No OPEN for strangers: close at once, and say so.
                log.warning(
                    "refused connection from %s port %d: not a configured peer", address, port
                )
                sock.close()
                return
            driver = self._add_peer(peer, dynamic=True)
            driver.start()
        if not driver.accept(sock):  # it logged why
            sock.close()

    def _add_peer(self, peer: PeerConfig, dynamic: bool) -> PeerDriver:
        assert self._loop is not None
        driver = PeerDriver(
            peer,
            asn=self.speaker.asn,
            router_id=self.speaker.router_id,
            damp=self.speaker.damp_peer_oscillations,
            restart_time=self.speaker.graceful_restart_time,
            loop=self._loop,
            rib=self.rib,
            outbound=self.outbound,
            policies=self._compile,
            dynamic=dynamic,
            on_down=self._peer_down if dynamic else None,
            on_state=self._peer_state,
        )
        if self._own_restart is not None and not self._own_restart.done:
            driver.set_restarting(True)
        self.peers[peer.address] = driver
        return driver

    def _restarted(self, reason: str) -> None:
        """Our own restart is over (restart.OwnRestart): the kernel drops what no peer
        sent again."""
        log.info("graceful restart: %s", reason)
        assert self._loop is not None and self.fib_sync is not None
        self._settling = self._loop.create_task(self.fib_sync.settle())

    def _peer_down(self, driver: PeerDriver) -> None:
        """A dynamic neighbour that went down is forgotten, as BIRD and FRR do."""
        if self.peers.get(driver.peer.address) is driver:
            del self.peers[driver.peer.address]
        assert self._loop is not None
        self._loop.call_soon(driver.retire)

    def _cluster_id(self, config: Config) -> str | None:
        """Our CLUSTER_ID (RFC 4456 7) when we reflect, else None."""
        reflecting = (
            self._reflect_mode
            or any(p.rr_client for p in config.peers)
            or any(r.rr_client for r in config.peer_ranges)
        )
        if not reflecting:
            return None
        return config.speaker.cluster_id or config.speaker.router_id

    @property
    def reflector(self) -> bool:
        return self.rib.cluster_id is not None

    @property
    def outbound(self) -> Outbound:
        if self._outbound is None:
            raise RuntimeError("the speaker has not started")
        return self._outbound

    def _compile(self, names: tuple[str, ...]) -> Chain:
        """One compiled chain per list of policy names (peers with equal lists share it,
        and so can share an update group)."""
        if not names:
            return ACCEPT_ALL
        chain = self._chains.get(names)
        if chain is None:
            chain = self._chains[names] = compile_chain(names, self.config.policies)
        return chain

    # --- routes ------------------------------------------------------------------------------
    def announce(self, prefix: str, **attributes: Any) -> None:
        """Originate `prefix`, or change the attributes it goes out with.

        Attributes are those of an announce entry in the configuration, as keyword
        arguments: next_hop, origin ("igp", "egp", "incomplete"), med, local_pref,
        communities ("64512:100", "no-export" or 32-bit ints), large_communities
        ("64512:1:2" or 3-tuples), as_path (ASNs after ours).  A bad value raises
        ConfigError naming it (`announce.med: ...`); nothing is announced then.
        """
        entry: dict[str, Any] = {"prefix": str(prefix)}
        for name, value in attributes.items():
            if name == "communities":
                value = [_community_text(c) for c in value]
            elif name == "large_communities":
                value = [c if isinstance(c, str) else ":".join(map(str, c)) for c in value]
            elif name == "next_hop":
                value = str(value)
            elif name == "as_path":
                value = list(value)
            entry[name.replace("_", "-")] = value
        self._originate(local_route(parse_announcement(entry, "announce")))
        if self._outbound is not None:
            self._outbound.schedule()

    def withdraw(self, prefix: str) -> None:
        """Stop originating `prefix` (nothing happens if it was not announced)."""
        network = ipaddress.ip_network(prefix)
        family = _family(network)
        key = network_key(network)
        if self._routes.pop((family, key), None) is None:
            return
        self.rib.withdraw_local(family, key)
        if self._outbound is not None:
            self._outbound.schedule()

    def _originate(self, route: LocalRoute) -> None:
        self._originate_many([route])

    def _originate_many(self, routes: Iterable[LocalRoute]) -> None:
        """Our routes into the Loc-RIB, those with equal attributes together (one
        attribute object for them all, so they also share UPDATEs)."""
        batches: dict[tuple[Any, ...], list[bytes]] = {}
        for route in routes:
            self._routes[(route.family, route.key)] = route
            wanted = (
                route.family,
                route.next_hop,
                route.origin,
                route.med,
                route.local_pref,
                route.communities,
                route.large_communities,
                route.as_path,
            )
            batches.setdefault(wanted, []).append(route.key)
        for wanted, keys in batches.items():
            held = self._local_attributes.get(wanted)
            if held is None:
                route = self._routes[(wanted[0], keys[0])]
                held = self._local_attributes[wanted] = local_path(route)
            attributes, next_hop = held
            self.rib.originate_many(wanted[0], keys, attributes, next_hop)

    async def watch(self) -> AsyncIterator[Change]:
        """Best-path changes (`RouteChange`) and session changes (`PeerChange`), as they
        happen, until the caller stops iterating.  Nothing is dropped: a watcher that
        does not keep up holds the changes in memory."""
        queue: asyncio.Queue[Change] = asyncio.Queue()

        def on_change(change: Any) -> None:
            queue.put_nowait(route_change(change))

        self.rib.watchers.append(on_change)
        self._state_watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self.rib.watchers.remove(on_change)
            self._state_watchers.remove(queue)

    def _peer_state(self, driver: PeerDriver, event: Event) -> None:
        if self._own_restart is not None:
            self._own_restart.check()
        if not self._state_watchers or not isinstance(event, SessionEstablished | SessionDown):
            return
        down = isinstance(event, SessionDown)
        change = PeerChange(
            peer=str(driver.peer.address),
            state="down" if down else "established",
            reason=event.reason if isinstance(event, SessionDown) else "",
        )
        for queue in self._state_watchers:
            queue.put_nowait(change)

    # --- reload ----------------------------------------------------------------------------
    def reload(self, config: Config | None = None) -> str:
        """Apply a new configuration (by default the same file read again) without
        restarting sessions it does not change.

        - policies: each peer's import policy runs again over its Adj-RIB-In, and its
          export is recomputed, sending only the differences (no ROUTE-REFRESH needed);
        - peers added are started, peers removed are stopped with a Cease;
        - a peer whose session settings changed (AS, address, timers...) is reset;
        - announce entries added or removed are originated or withdrawn;
        - [node] blocks added are announced and blackholed, blocks removed released.
        Changes to [speaker] other than announce, and to [node] or [fib] other than
        blocks, need a restart and are reported.
        """
        if config is None:
            from ..config import load_config

            config = load_config(self.config.source)
        old = self.config
        changed_speaker = [
            name
            for name in ("asn", "router_id", "listen", "control_socket")
            if getattr(old.speaker, name) != getattr(config.speaker, name)
        ]
        self.config = config
        self._chains.clear()
        notes = []
        cluster_id = self._cluster_id(config)
        if cluster_id != self._cluster_id(old):
            # Reflection starts, stops or changes cluster: every peer's export changes
            # (each one moves to a new update group below) and so does the import check.
            self.rib.set_cluster_id(cluster_id)
            notes.append(f"cluster id {cluster_id}" if cluster_id else "not reflecting")
        wanted = {peer.address: peer for peer in config.peers}
        for address, driver in list(self.peers.items()):
            new = wanted.get(address) if not driver.dynamic else config.match(address)
            if new is None:
                driver.stop("removed from the configuration")
                self.peers.pop(address, None)
                driver.retire()
                notes.append(f"removed {address}")
            elif _session_settings(new) != _session_settings(driver.peer):
                driver.stop("configuration changed", restart=True)
                self.peers.pop(address, None)
                driver.retire()
                self._add_peer(new, dynamic=driver.dynamic).start()
                notes.append(f"reset {address}")
            else:
                driver.policies_changed(new)
        for peer in config.peers:
            if peer.address not in self.peers:
                self._add_peer(peer, dynamic=False).start()
                notes.append(f"added {peer.address}")
        wanted_routes = {}
        for announcement in config.speaker.announce:
            route = local_route(announcement)
            wanted_routes[(route.family, route.key)] = route
        # [node] blocks are announced like announce entries (and blackholed): a block
        # added to the file is announced, one taken out is released.
        blocks = config.node.blocks if config.node is not None else ()
        for block in blocks:
            route = local_route(Announcement(prefix=block))
            wanted_routes[(route.family, route.key)] = route
        notes.extend(self._reload_node(old, config))
        for family, key in list(self._routes):
            if (family, key) not in wanted_routes:
                self._routes.pop((family, key))
                self.rib.withdraw_local(family, key)
        for route in wanted_routes.values():
            if self._routes.get((route.family, route.key)) != route:
                self._originate(route)
        self.speaker = config.speaker
        self.outbound.schedule()
        if changed_speaker:
            notes.append("restart needed for: " + ", ".join(changed_speaker))
        summary = "reloaded " + config.source + (": " + "; ".join(notes) if notes else "")
        log.info("%s", summary)
        return summary

    def _reload_node(self, old: Config, new: Config) -> list[str]:
        """The kernel side of a reload: blackholes follow [node] blocks.  Returns notes."""
        notes = []

        def shape(config: Config) -> object:
            node = config.node
            return config.fib, node is not None and (node.encapsulation, node.interface)

        if shape(old) != shape(new):
            notes.append("restart needed for: [node] encapsulation/interface, [fib]")
        if self.fib_sync is not None:
            wanted = set(new.node.blocks) if new.node is not None else set()
            held = set(self.fib_sync.blocks)
            for block in sorted(held - wanted, key=_network_order):
                self.fib_sync.release(block)
                notes.append(f"block {block} released")
            for block in sorted(wanted - held, key=_network_order):
                self.fib_sync.add_block(block)
                notes.append(f"block {block} added")
        return notes

    def _links_changed(self) -> None:
        """A link or address of the node changed: re-plan the kernel routes (one run at a
        time; a change during a run starts another after it)."""
        if self._relinking is not None and not self._relinking.done():
            self._relinking.add_done_callback(lambda _: self._links_changed())
            return
        assert self._loop is not None
        self._relinking = self._loop.create_task(self._relink())

    async def _relink(self) -> None:
        if self.fib_sync is None:
            return
        addresses: Iterable[IPInterface] = self._node_addresses
        if self._read_addresses is not None:
            addresses = await asyncio.to_thread(self._read_addresses)
        try:
            await self.fib_sync.relink(addresses)
        except Exception:
            log.exception("re-planning the kernel routes after a link change failed")

    def reload_logged(self) -> None:
        """SIGHUP: reload, and log (not raise) a configuration error."""
        from ..config import ConfigError

        try:
            self.reload()
        except ConfigError as exc:
            log.error("reload refused, the running configuration stays: %s", exc)

    # --- control socket ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        peers = sorted(self.peers.values(), key=lambda d: (d.peer.address.version, d.peer.address))
        return {
            "router_id": self.speaker.router_id,
            "asn": self.speaker.asn,
            "uptime": round(time.time() - self.started_at, 3),
            "peers": [self._peer_status(driver) for driver in peers],
        }

    def _peer_status(self, driver: PeerDriver) -> dict[str, Any]:
        row = driver.status()
        if self.fib_sync is not None and not row["info"]:
            # A node whose learned next hops the kernel cannot use says so here.
            row["info"] = self.fib_sync.unreachable_from.get(row["address"], "")
        return row


def _community_text(value: int | str) -> str:
    return value if isinstance(value, str) else f"{value >> 16}:{value & 0xFFFF}"


def _session_settings(peer: PeerConfig) -> tuple[object, ...]:
    """What a peer's session is built from: a change here needs a new session."""
    return (
        peer.asn,
        peer.passive,
        peer.port,
        peer.local_address,
        peer.password,
        peer.ttl_security,
        peer.families,
        peer.timers,
        peer.rr_client,
        peer.next_hop_self,
    )
