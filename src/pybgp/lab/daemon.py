"""The common interface of the real BGP daemons a lab runs: BIRD 2, GoBGP, FRR, ExaBGP.

A :class:`PeerDaemon` is configured from plain data (:class:`Neighbor`, :class:`Route`),
writes that daemon's own configuration, runs it in a :class:`~pybgp.lab.netns.Namespace`
and reads back what it learned through the daemon's own CLI or JSON output, so that tests
can compare what a real implementation saw with what pybgp sent.

Conventions shared by all daemons:

- ``Route.as_path`` of an *announced* route is the path as originated, before the
  speaker prepends its own AS towards an eBGP neighbour; a *received* route carries the
  AS_PATH exactly as the daemon stored it.
- ``Route.next_hop`` ``None`` when announcing means "the daemon's own choice" (its
  session address).  ``local_pref`` only travels on iBGP sessions (RFC 4271 5.1.5).
- Timers are short (connect retry 1 s, short error wait) so that tests run fast.
- ``Neighbor.ttl_security`` is GTSM's hop count (RFC 5082) in every daemon's own words:
  BIRD ``ttl security on`` (+ ``multihop N``), FRR ``ttl-security hops N``, GoBGP
  ``ttl-min = 256 - N``, ExaBGP ``incoming-ttl 256 - N``, pybgp ``ttl-security = N``.
  ``Neighbor.multihop`` says the neighbour is not on a shared link (eBGP multihop).
- Route reflection (RFC 4456): ``Neighbor.rr_client`` makes an internal neighbour our
  reflection client (BIRD ``rr client``, FRR ``route-reflector-client``, GoBGP
  ``route-reflector-client``, pybgp ``rr-client``); the daemon's ``cluster_id`` (default:
  its router id, as every daemon does) is the CLUSTER_ID it adds to reflected routes.
  A received route reports ``originator_id`` and ``cluster_list`` as the daemon shows them.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pybgp.lab.netns import (
    CommandError,
    Lab,
    Namespace,
    Process,
    have_root,
    missing_tools,
    wait_until,
)

__all__ = [
    "DAEMONS",
    "FAMILIES",
    "Neighbor",
    "PeerDaemon",
    "Route",
    "available",
    "family_of",
    "shutdown_text",
]

FAMILIES = ("ipv4", "ipv6")  # unicast only

#: Daemon name -> class; every concrete :class:`PeerDaemon` registers itself here
#: (importing :mod:`pybgp.lab` imports them all).
DAEMONS: dict[str, type[PeerDaemon]] = {}
ORIGINS = ("igp", "egp", "incomplete")  # RFC 4271 5.1.1, in code order 0, 1, 2


def family_of(address_or_prefix: str) -> str:
    """``"ipv6"`` for an IPv6 address or prefix, else ``"ipv4"``."""
    return "ipv6" if ":" in address_or_prefix else "ipv4"


@dataclass(frozen=True)
class Neighbor:
    """One BGP neighbour of a daemon.  iBGP when ``asn`` equals the daemon's own AS."""

    address: str
    asn: int
    local_address: str
    password: str | None = None  # TCP MD5 signature (RFC 2385)
    passive: bool = False  # never connect, only accept
    hold_time: int = 90
    families: tuple[str, ...] = ("ipv4",)
    port: int = 179  # the neighbour's port, for connecting out
    #: GTSM (RFC 5082): send with TTL 255 and accept only TTL >= 256 - N, N hops at most.
    ttl_security: int | None = None
    #: The neighbour is not on a shared link but up to this many hops away (eBGP
    #: multihop: the TTL sent without GTSM; with GTSM the TTL is 255 whatever this says).
    multihop: int | None = None
    #: RFC 4456: this internal neighbour is a route reflection client of ours.
    rr_client: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}: {unknown}")
        # RFC 5082 3: the hop count leaves a minimum TTL of 255 - (N - 1), 2..255.
        if self.ttl_security is not None and not 1 <= self.ttl_security <= 254:
            raise ValueError(f"ttl_security must be a hop count 1..254, not {self.ttl_security}")
        if self.multihop is not None and not 1 <= self.multihop <= 255:
            raise ValueError(f"multihop must be a TTL 1..255, not {self.multihop}")
        if family_of(self.address) != family_of(self.local_address):
            raise ValueError(f"{self.address} and {self.local_address} differ in family")

    @property
    def transport(self) -> str:
        """The address family the TCP session runs over."""
        return family_of(self.address)

    @property
    def min_ttl(self) -> int | None:
        """The lowest TTL GTSM accepts from this neighbour, ``None`` without GTSM."""
        if self.ttl_security is None:
            return None
        return 256 - self.ttl_security  # RFC 5082 3 (1): TTL >= 255 - (hops - 1)


@dataclass(frozen=True)
class Route:
    """A route as a daemon announces it, or as it reports having received it."""

    prefix: str
    next_hop: str | None = None
    as_path: tuple[int, ...] = ()
    origin: str = "igp"  # "igp" | "egp" | "incomplete"
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[str, ...] = ()  # "64512:100"
    large_communities: tuple[str, ...] = ()  # "64512:1:2"
    #: RFC 4456 ORIGINATOR_ID and CLUSTER_LIST (first = last reflector) of a received
    #: route; a daemon announcing a route ignores them.
    originator_id: str | None = None
    cluster_list: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, not {self.origin!r}")
        # Normalise the prefix ("10.0.0.1/24" is refused, "2001:DB8::/32" lower-cased).
        object.__setattr__(self, "prefix", str(ipaddress.ip_network(self.prefix)))

    @property
    def family(self) -> str:
        return family_of(self.prefix)


def shutdown_text(data: bytes) -> str | None:
    """The RFC 9003 shutdown communication in a Cease NOTIFICATION's data, if any.

    RFC 9003 2: one length octet, then that many octets of UTF-8.
    """
    if not data or data[0] == 0 or len(data) < 1 + data[0]:
        return None
    return data[1 : 1 + data[0]].decode("utf-8", "replace")


class PeerDaemon(ABC):
    """A real BGP daemon in a namespace, configured for ``neighbors`` and ``announce``."""

    name: ClassVar[str]
    binaries: ClassVar[tuple[str, ...]]
    #: Whether :meth:`admin_shutdown` sends the caller's text (ExaBGP sends a fixed one).
    custom_shutdown_text: ClassVar[bool] = True
    #: Whether the daemon runs in its own UTS namespace (it announces the host name).
    unshare_uts: ClassVar[bool] = False
    #: The host name in that UTS namespace.
    hostname: str | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            DAEMONS[cls.name] = cls

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        asn: int,
        router_id: str,
        neighbors: Sequence[Neighbor],
        announce: Sequence[Route] = (),
        listen: Sequence[str] = (),
        config_text: str | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """``config_text``, if given, is the daemon's configuration verbatim instead of one
        generated from ``neighbors`` and ``announce`` (ExaBGP: its ``neighbor`` blocks),
        for sessions that need features the structured form lacks (golden captures).
        ``cluster_id``: the RFC 4456 CLUSTER_ID when reflecting (``None``: the daemon's
        default, its router id); only meaningful with ``rr_client`` neighbours."""
        if not neighbors and config_text is None:
            raise ValueError("a daemon needs at least one neighbor")
        for neighbor in neighbors:
            if neighbor.rr_client and neighbor.asn != asn:
                raise ValueError(f"rr_client {neighbor.address} is not an internal neighbour")
        if cluster_id is not None:
            cluster_id = str(ipaddress.IPv4Address(cluster_id))  # a 4-octet dotted quad
        self.lab = lab
        self.ns = ns
        self.asn = asn
        self.router_id = router_id
        self.neighbors = tuple(neighbors)
        self.announce = tuple(announce)
        self.listen = tuple(listen)
        self.config_text = config_text
        self.cluster_id = cluster_id
        self.label = lab.unique_name(f"{self.name}-{ns.role}")
        self.dir = lab.workdir / self.label
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: Process | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} AS{self.asn} {self.router_id} in {self.ns.name}>"

    # -- helpers for subclasses ---------------------------------------------------------
    def neighbor(self, address: str) -> Neighbor:
        """The configured neighbour with ``address``."""
        wanted = ipaddress.ip_address(address)
        for neighbor in self.neighbors:
            if ipaddress.ip_address(neighbor.address) == wanted:
                return neighbor
        raise KeyError(f"{self.name} has no neighbor {address}")

    def is_ibgp(self, neighbor: Neighbor) -> bool:
        return neighbor.asn == self.asn

    @property
    def reflects(self) -> bool:
        """True when some neighbour is a route reflection client of this daemon."""
        return any(neighbor.rr_client for neighbor in self.neighbors)

    def own_address(self, family: str, neighbor: Neighbor) -> str:
        """Our address of ``family`` towards ``neighbor``: its local address, or a global
        address of ``family`` on the same device when the session runs over the other
        family (a next hop for IPv6 routes over an IPv4 session, say)."""
        if family == neighbor.transport:
            return neighbor.local_address
        for cidrs in self.ns.addresses().values():
            hosts = [ipaddress.ip_address(cidr.split("/")[0]) for cidr in cidrs]
            if ipaddress.ip_address(neighbor.local_address) in hosts:
                for host in hosts:
                    if family_of(str(host)) == family and not host.is_link_local:
                        return str(host)
        raise LookupError(f"{self.label}: no {family} address next to {neighbor.local_address}")

    def routes_of(self, family: str) -> list[Route]:
        """The announced routes of ``family``."""
        return [route for route in self.announce if route.family == family]

    def write(self, filename: str, text: str) -> Path:
        """Write a file into this daemon's directory and return its path."""
        path = self.dir / filename
        path.write_text(text)
        return path

    # -- what each daemon supplies ------------------------------------------------------
    @abstractmethod
    def _prepare(self) -> None:
        """Write the configuration files (called before every start)."""

    @abstractmethod
    def _argv(self) -> list[str]:
        """The command line that runs the daemon in the foreground."""

    @abstractmethod
    def _check_argv(self) -> list[str]:
        """The command line of the daemon's own configuration check."""

    def _env(self) -> Mapping[str, str] | None:
        """The environment of the daemon (``None``: inherit ours)."""
        return None

    @abstractmethod
    def _wait_ready(self) -> None:
        """Block until the daemon's control interface answers."""

    def _after_start(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Work to do once the daemon is ready (announcing routes through its CLI)."""

    def add_route(self, route: Route) -> None:
        """Originate ``route`` on the running daemon (and after restarts: it joins
        ``announce``).  Daemons that cannot do so at run time raise NotImplementedError."""
        raise NotImplementedError(f"{self.name} cannot add routes at run time")

    def delete_route(self, prefix: str, family: str = "ipv4") -> None:
        """Withdraw the announced route of ``prefix`` from the running daemon (and from
        ``announce``).  ``family`` is that of ``prefix``, for daemons that want it."""
        raise NotImplementedError(f"{self.name} cannot withdraw routes at run time")

    def _without(self, prefix: str) -> tuple[Route, ...]:
        """``announce`` without the route of ``prefix`` (KeyError if there is none)."""
        wanted = str(ipaddress.ip_network(prefix))
        kept = tuple(route for route in self.announce if route.prefix != wanted)
        if len(kept) == len(self.announce):
            raise KeyError(f"{self.label} announces no {wanted}")
        return kept

    @abstractmethod
    def established(self, neighbor: str) -> bool:
        """True while the session with ``neighbor`` (an address) is Established."""

    @abstractmethod
    def received_routes(self, family: str = "ipv4") -> list[Route]:
        """The routes of ``family`` learned from neighbours, attributes as parsed from the
        daemon's own JSON or CLI output, sorted by prefix."""

    def kept_routes(self, family: str = "ipv4") -> list[Route]:
        """The learned paths of ``family`` the daemon keeps for route selection, after
        its import checks (AS_PATH, ORIGINATOR_ID and CLUSTER_LIST loops, policy).  By
        default :meth:`received_routes`: BIRD's tables, for one, hold accepted routes
        only.  Daemons whose received view keeps refused routes (pybgp's Adj-RIB-In)
        override it."""
        return self.received_routes(family)

    @abstractmethod
    def shutdown_message(self, neighbor: str) -> str | None:
        """The RFC 9003 text of the last Cease / Administrative Shutdown (or Reset)
        NOTIFICATION received from ``neighbor``, as the daemon reports it; ``None`` if none."""

    @abstractmethod
    def admin_shutdown(self, neighbor: str, text: str) -> None:
        """Bring the session with ``neighbor`` down with Cease / Administrative Shutdown,
        carrying ``text`` as the RFC 9003 shutdown communication where the daemon can."""

    @abstractmethod
    def enable(self, neighbor: str) -> None:
        """Let the session with ``neighbor`` come back after :meth:`admin_shutdown`."""

    def check_config(self) -> None:
        """Write the configuration and have the daemon's own checker read it; raise
        :class:`~pybgp.lab.netns.CommandError` if it refuses.  Nothing is started."""
        self._prepare()
        argv = self._check_argv()
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=self._env(), check=False
        )
        if done.returncode != 0:
            raise CommandError(done.returncode, argv, done.stdout, done.stderr)

    # -- life cycle ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.alive()

    def start(self) -> None:
        """Write the configuration, start the daemon and wait until it can be driven."""
        if self.running:
            raise RuntimeError(f"{self.label} is already running")
        self._prepare()
        self.process = self.lab.spawn(
            self.ns,
            self._argv(),
            self.label,
            env=self._env(),
            unshare_uts=self.unshare_uts,
            hostname=self.hostname,
        )
        try:
            self._wait_ready()
        except TimeoutError as exc:
            exc.add_note(f"--- log of {self.label} ---\n{self.log_text()[-3000:]}")
            raise
        self._after_start()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL after ``grace`` seconds."""
        if self.process is not None:
            self.process.stop(grace)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the daemon keeps its sockets but stops answering (hold timer tests)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def wait_established(self, neighbor: str, timeout: float = 30) -> None:
        try:
            wait_until(
                lambda: self.established(neighbor),
                timeout,
                f"{self.label} session with {neighbor} Established",
                interval=0.2,
            )
        except TimeoutError as exc:
            exc.add_note(f"--- log of {self.label} ---\n{self.log_text()[-3000:]}")
            raise

    def wait_routes(
        self, prefixes: Sequence[str], family: str = "ipv4", timeout: float = 15
    ) -> list[Route]:
        """Block until every one of ``prefixes`` is among the received routes; return them."""
        wanted = {str(ipaddress.ip_network(p)) for p in prefixes}
        found: list[Route] = []

        def arrived() -> bool:
            found[:] = self.received_routes(family)
            return wanted <= {route.prefix for route in found}

        wait_until(arrived, timeout, f"{self.label} to receive {sorted(wanted)}", interval=0.2)
        return found

    def log_text(self) -> str:
        """Everything the daemon has logged (its stdout and stderr) in this lab."""
        path = self.lab.workdir / f"{self.label}.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def available(kind: type[PeerDaemon]) -> str | None:
    """``None`` if ``kind`` can run here, else why not (a pytest skip reason)."""
    if not have_root():
        return f"{kind.name}: needs root (network namespaces)"
    missing = missing_tools("ip", "ss", *kind.binaries)
    if missing:
        return f"{kind.name} not installed (missing: {', '.join(missing)})"
    return None
