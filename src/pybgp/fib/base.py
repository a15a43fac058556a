"""The kernel FIB interface: what a node asks of the kernel's routing table, and the data types.

A node (the job BIRD does inside a Calico node) turns its best BGP routes into kernel
routes tagged with its own routing protocol number (``proto bird``, RTPROT_BIRD = 12, as
in ``/etc/iproute2/rt_protos``), so that it can always tell its routes from everybody
else's and never touches the others.  The shapes it writes (rtnetlink(7)):

- BGP mode: ``10.244.85.192/26 via 198.18.0.11 dev eth0 proto bird``
- IPIP mode: ``10.244.85.192/26 via 198.18.0.11 dev tunl0 proto bird onlink``
  (RTNH_F_ONLINK: the gateway is not on the device's subnet, trust it anyway)
- ECMP: several best paths become one route with RTA_MULTIPATH
- local blocks: ``blackhole 10.244.58.192/26 proto bird`` (RTN_BLACKHOLE)

:class:`Fib` is the interface the runtime calls; :class:`~pybgp.fib.memory.MemoryFib`
implements it in memory (tests, ``pybgp sim``) and :class:`~pybgp.fib.netlink.NetlinkFib`
against the kernel.  Both share the bookkeeping of :class:`~pybgp.fib.batched.BatchedFib`,
so the semantics tested without root are the ones the kernel adapter runs.

Standard library only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = [
    "RTPROT_BIRD",
    "RT_TABLE_MAIN",
    "Fib",
    "FibKey",
    "FibSettings",
    "Hops",
    "KernelRoute",
    "NextHop",
    "Prefix",
    "ReconcileReport",
    "Wanted",
    "fib_key",
    "fib_prefix",
]

RTPROT_BIRD = 12  # include/uapi/linux/rtnetlink.h; "bird" in /etc/iproute2/rt_protos
RT_TABLE_MAIN = 254

Prefix = IPv4Network | IPv6Network

FibKey = bytes
"""A prefix as the FIB keeps it: the destination as the kernel's RTA_DST carries it (4 or
16 octets) followed by the prefix length, ``b"\x0a\xf4\x55\xc0\x1a"`` for
10.244.85.192/26.

Why not ``IPv4Network``: its hash is computed in Python on every dict operation (about
0.3 µs) and each object with its addresses takes some 300 octets, which made the
bookkeeping, not the kernel, the cost of writing 100k routes.  A short ``bytes`` hashes
in C once and caches it, and is what the netlink message needs anyway.
"""


def fib_key(prefix: Prefix) -> FibKey:
    """10.244.85.192/26 -> its :data:`FibKey`."""
    return prefix.network_address.packed + bytes((prefix.prefixlen,))


def fib_prefix(key: FibKey) -> Prefix:
    """A :data:`FibKey` -> the network it stands for."""
    return ip_network((ip_address(key[:-1]), key[-1]))


def _nh_order(nh: NextHop) -> tuple[int, int, str, bool]:
    return (nh.gateway.version, int(nh.gateway), nh.device, nh.onlink)


@dataclass(frozen=True, slots=True)
class NextHop:
    """One gateway of a route: ``via GATEWAY dev DEVICE [onlink]``."""

    gateway: IPv4Address | IPv6Address
    device: str  # "eth0" (BGP mode), "tunl0" (IPIP mode)
    onlink: bool = False  # RTNH_F_ONLINK: IPIP mode, the gateway is not on tunl0's subnet


Hops = tuple[NextHop, ...]
"""Where a route goes, as the FIB keeps it: ``KernelRoute.next_hops``, and ``()`` for a
blackhole.  Many routes share one tuple (all routes via one node), which keeps the
tables small and makes comparing a route with what is installed an identity check."""


@dataclass(frozen=True, slots=True)
class KernelRoute:
    """A route this node wants in the kernel.

    ``next_hops`` with one entry is a plain route, with several one ECMP multipath route;
    ``()`` together with ``blackhole=True`` is a blackhole route.  Several next hops are
    kept sorted, because the kernel does not promise to return the members of a multipath
    route in the order they were given (IPv6 appends siblings): two routes with the same
    set of next hops then compare equal, which is what reconciliation needs.
    """

    prefix: IPv4Network | IPv6Network
    next_hops: tuple[NextHop, ...] = ()
    blackhole: bool = False

    def __post_init__(self) -> None:
        if self.blackhole:
            if self.next_hops:
                raise ValueError(f"{self.prefix}: a blackhole route has no next hops")
            return
        if not self.next_hops:
            raise ValueError(f"{self.prefix}: a route needs a next hop or blackhole=True")
        version = self.prefix.version
        for nh in self.next_hops:
            # RTA_VIA (an IPv6 gateway for an IPv4 prefix) is not supported: Calico never
            # writes one and the IPv4 FIB of older kernels refuses it.
            if nh.gateway.version != version:
                raise ValueError(f"{self.prefix}: next hop {nh.gateway} is of another family")
        if len(self.next_hops) > 1:
            ordered = tuple(sorted(self.next_hops, key=_nh_order))
            if ordered != self.next_hops:
                object.__setattr__(self, "next_hops", ordered)

    @classmethod
    def of(cls, prefix: Prefix, hops: Hops) -> KernelRoute:
        """The route for ``prefix`` with ``hops`` (``()``: a blackhole)."""
        return cls(prefix, hops, blackhole=not hops)

    def __str__(self) -> str:
        if self.blackhole:
            return f"blackhole {self.prefix}"
        hops = " ".join(
            f"nexthop via {nh.gateway} dev {nh.device}" + (" onlink" if nh.onlink else "")
            for nh in self.next_hops
        )
        if len(self.next_hops) == 1:
            hops = hops.removeprefix("nexthop ")
        return f"{self.prefix} {hops}"


Wanted = Iterable[KernelRoute] | Mapping[FibKey, Hops]
"""What a reconcile should leave in the table: routes, or (faster, no ``ipaddress``
object per route) a mapping of keys to next hops as ``Fib.set_key`` takes them."""


@dataclass(frozen=True, slots=True)
class FibSettings:
    """Which routes are ours and what happens to them when the node stops.

    The kernel's own default metric is used (0 for IPv4, 1024 for IPv6), as Calico's
    BIRD does; a route of another protocol for the same prefix with the same metric is
    therefore a conflict the kernel reports (EEXIST), see :class:`Fib`.
    """

    protocol: int = RTPROT_BIRD
    table: int = RT_TABLE_MAIN
    persist: bool = False  # on close: True leaves our routes in the kernel (BIRD's `persist`)

    def __post_init__(self) -> None:
        if not 0 < self.protocol < 256:
            raise ValueError(f"protocol {self.protocol}: a routing protocol is 1..255")
        if not 0 < self.table < 2**32:
            raise ValueError(f"table {self.table}: a table id is 1..2**32-1")


@dataclass(slots=True)
class ReconcileReport:
    """What :meth:`Fib.start` found and did.

    A route of ours that differs from the wanted one is replaced in place (one atomic
    NLM_F_REPLACE) and counts as both ``removed`` and ``added``.  ``failed`` counts the
    wanted routes the kernel refused (they are in :attr:`Fib.failed` and retried).
    """

    kept: int = 0
    removed: int = 0
    added: int = 0
    foreign: int = 0  # routes of other protocols in the table, seen and left alone
    failed: int = 0
    # Our routes not wanted now but left in place (``keep_stale``): a restarting node's
    # forwarding state, removed by a later reconcile unless the RIB wants them again.
    stale: int = 0


class Fib(ABC):
    """A node's routes in one kernel table, written in batches, never losing a change.

    ``set`` and ``delete`` only queue (they are cheap and synchronous, so the RIB can call
    them for every Loc-RIB change); queued changes for one prefix coalesce, so a flapping
    prefix costs one kernel write per flush.  ``flush`` writes the queue in batches and
    returns when the kernel has answered every message.

    A change the kernel refuses is never dropped: it appears in :attr:`failed` with the
    kernel's reason and is retried on every later flush (and by a timer in
    ``NetlinkFib``), because the reason is usually transient: the device (tunl0) or the
    route to the next hop appears a moment later.

    Only routes of ``settings.protocol`` in ``settings.table`` are ever changed.  A route
    of another protocol for the same prefix and the same metric blocks ours (the kernel
    keeps one route per prefix, TOS and metric): adding ours is refused with EEXIST rather
    than replacing the other protocol's, and retried, so ours appears once the other one
    is gone.
    """

    settings: FibSettings

    @abstractmethod
    async def start(self, wanted: Wanted, keep_stale: bool = False) -> ReconcileReport:
        """Reconcile the table with ``wanted``: keep our routes equal to a wanted one,
        remove our stale ones, add the missing ones; never touch other protocols' routes.

        ``keep_stale``: leave our routes that are not wanted in place (and believe them
        installed) instead of removing them.  A node coming back from a restart keeps
        forwarding with them until its peers have sent their tables again (RFC 4724
        4.1's idea, applied to the kernel); a later ``resync`` removes what is left.
        """

    @abstractmethod
    async def resync(self, wanted: Wanted, keep_stale: bool = False) -> ReconcileReport:
        """As ``start``, again: the kernel may have dropped routes (a device went), or a
        restart's stale routes are to go now."""

    @abstractmethod
    def set(self, route: KernelRoute) -> None:
        """Queue ``route`` (add or replace; replaces what is queued for its prefix)."""

    @abstractmethod
    def delete(self, prefix: Prefix) -> None:
        """Queue the removal of our route for ``prefix`` (a no-op if there is none)."""

    @abstractmethod
    def set_key(self, key: FibKey, hops: Hops) -> None:
        """``set``, for a prefix given as its :data:`FibKey`; ``hops`` as a valid
        ``KernelRoute.next_hops`` holds them (``()``: blackhole).  No ``ipaddress``
        object is made: this is the path for a RIB that changes 100k routes at once."""

    @abstractmethod
    def delete_key(self, key: FibKey) -> None:
        """``delete``, for a prefix given as its :data:`FibKey`."""

    @abstractmethod
    async def flush(self) -> None:
        """Write everything queued and retry the refused; return when the kernel answered."""

    @abstractmethod
    def installed(self) -> Mapping[Prefix, KernelRoute]:
        """What we believe is in the kernel (a read-only view)."""

    @property
    @abstractmethod
    def failed(self) -> Mapping[Prefix, str]:
        """Prefixes whose last change the kernel refused -> the reason (read-only view)."""

    @abstractmethod
    async def close(self, keep: bool = False) -> None:
        """Stop; remove all our routes unless ``settings.persist`` or ``keep`` (a
        graceful restart: the next run takes them over), then leave them."""
