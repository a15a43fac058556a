"""`FibSync`: the kernel's routes follow the Loc-RIB (the node's job, issue 5).

It listens to the Loc-RIB like an update group does: best-path changes mark prefixes
dirty, coalesced, and a task on the loop turns them into kernel routes in batches
(`Fib.set` / `Fib.delete`, then one `flush`), so a table of 100k routes is written in a
few large netlink batches and a flapping prefix is written once with its final state.

- A learned best path (and the paths that tie with it up to the IGP cost step, RFC
  4271 9.1.2.2 (e): the ECMP set) becomes one route via their next hops, in the mode
  the node runs (`fib.plan`).
- Our own blocks are blackholes (as BIRD's Calico config installs them), whatever the
  RIB says: a remote copy of our block must not replace the blackhole.
- A prefix with no best path any more is removed.

Per change the work is dict lookups on bytes: the RIB's key becomes the FIB's key with
two slices, and the kernel next hops of a set of BGP next hops are planned once and
shared by every route that has them (`_plans`), so no `ipaddress` object is made for a
route unless a next hop set is new.  That is what lets a peer's 100k withdrawals reach
the kernel at the kernel's pace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable

from ..fib.base import Fib, FibKey, Hops, KernelRoute, fib_key
from ..fib.plan import NodeView, blackhole, kernel_route, unreachable_message, unreachable_next_hops
from ..rib.decision import Path, multipath
from ..rib.rib import Rib
from ..wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family
from ..wire.nlri import network_key, prefix_str

log = logging.getLogger("pybgp.fib")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_ADDRESS_SIZE = {IPV4_UNICAST: 4, IPV6_UNICAST: 16}  # the families that go to the kernel
_MAX_PLANS = 65536  # distinct next-hop sets remembered (one per node or ECMP set in practice)


def fib_key_of(family: Family, key: bytes) -> FibKey | None:
    """The FIB's key for a RIB key (`wire.nlri`: length octet, then the prefix's octets),
    or None for a family the kernel FIB does not hold."""
    size = _ADDRESS_SIZE.get(family)
    if size is None:
        return None
    return key[1:].ljust(size, b"\0") + key[:1]


def next_hop_address(next_hop: bytes | None) -> Address | None:
    """The kernel's gateway for a path's next hop octets (RFC 2545 3: of a global and a
    link-local IPv6 next hop, the global one)."""
    if next_hop is None:
        return None
    if len(next_hop) == 32:
        next_hop = next_hop[:16]
    if len(next_hop) not in (4, 16):
        return None
    address = ipaddress.ip_address(next_hop)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class FibSync:
    def __init__(
        self,
        rib: Rib,
        fib: Fib,
        view: NodeView,
        loop: asyncio.AbstractEventLoop,
        blocks: Iterable[Network] = (),
    ) -> None:
        self.rib = rib
        self.fib = fib
        self.view = view
        self.loop = loop
        self.blocks = {block: blackhole(block) for block in blocks}
        self._block_keys = {fib_key(block) for block in self.blocks}
        # (family, the best paths' next hop octets) -> the kernel's next hops (None: none
        # usable); valid for one NodeView.
        self._plans: dict[tuple[Family, tuple[bytes | None, ...]], Hops | None] = {}
        self._dirty: dict[Family, dict[bytes, None]] = {}
        self.stale = 0  # routes of a previous run kept in the kernel until settle()
        self._task: asyncio.Task[None] | None = None
        self.unreachable: dict[Address, str] = {}  # next hop -> why the kernel cannot use it
        # peer address -> the explanation, for `pybgp status` INFO of the peer whose
        # routes carry such a next hop
        self.unreachable_from: dict[str, str] = {}

    def _wanted(self) -> dict[FibKey, Hops]:
        """Every route the kernel should hold now: blocks' blackholes and best paths."""
        wanted: dict[FibKey, Hops] = dict.fromkeys(self._block_keys, ())
        for family in self.rib.families():
            for key, _ in self.rib.table(family):
                fkey = fib_key_of(family, key)
                if fkey is None or fkey in wanted:
                    continue
                hops = self._hops(family, key)
                if hops is not None:
                    wanted[fkey] = hops
        return wanted

    async def relink(self, addresses: Iterable[IPInterface]) -> None:
        """The node's links or addresses changed: plan every route again with the new
        addresses, and reconcile with what the kernel holds now (it drops the routes
        of a device that goes away, silently)."""
        view = self.view
        self.view = NodeView.from_interfaces(
            view.encapsulation, view.interface, addresses, view.tunnel
        )
        self.unreachable.clear()
        self.unreachable_from.clear()
        self._plans.clear()
        report = await self.fib.resync(self._wanted(), keep_stale=self.stale > 0)
        log.info(
            "links or addresses changed: kernel routes %d kept, %d removed, %d added",
            report.kept,
            report.removed,
            report.added,
        )

    async def start(self, keep_stale: bool = False) -> None:
        """Reconcile the kernel with what the RIB holds now, then follow it.

        `keep_stale`: our routes of a previous run stay until `settle()` (a restart,
        see `restart.OwnRestart`); `self.stale` says how many there were.
        """
        report = await self.fib.start(self._wanted(), keep_stale)
        self.stale = report.stale
        log.info(
            "kernel routes: %d kept, %d stale removed, %d added, %d of other protocols left"
            " alone, %d of the last run kept until the peers have re-sent theirs",
            report.kept,
            report.removed,
            report.added,
            report.foreign,
            report.stale,
        )
        self.rib.listeners.append(self)

    async def settle(self) -> int:
        """The restart is over: our routes of the last run that no peer sent again go.
        Returns how many were removed."""
        if not self.stale:
            return 0
        self.stale = 0
        report = await self.fib.resync(self._wanted())
        log.info("graceful restart done: %d stale kernel routes removed", report.removed)
        return report.removed

    async def idle(self) -> None:
        """Wait until every change made so far is written (or refused, see Fib.failed)."""
        while self._task is not None and not self._task.done():
            await self._task

    async def close(self, keep: bool = False) -> None:
        """Stop following the RIB; the kernel routes go unless [fib] persist or `keep`."""
        if self in self.rib.listeners:
            self.rib.listeners.remove(self)
        if self._task is not None:
            await self._task
        await self.fib.close(keep)

    def release(self, block: Network) -> bool:
        """A block with no pods left: its blackhole goes (and a route another node
        announces for it may take its place).  False if it was not one of ours."""
        if self.blocks.pop(block, None) is None:
            return False
        self._block_keys.discard(fib_key(block))
        family = IPV4_UNICAST if block.version == 4 else IPV6_UNICAST
        self.changed(family, network_key(block), None)
        return True

    def add_block(self, block: Network) -> bool:
        """A new local block: its blackhole goes in (over a route a peer announced for
        it).  False if it was one of ours already."""
        if block in self.blocks:
            return False
        self.blocks[block] = blackhole(block)
        self._block_keys.add(fib_key(block))
        family = IPV4_UNICAST if block.version == 4 else IPV6_UNICAST
        self.changed(family, network_key(block), None)
        return True

    def kernel_route(self, network: Network) -> KernelRoute | None:
        """What we installed for `network` (None: nothing)."""
        return self.fib.installed().get(network)

    # --- the RIB listener ----------------------------------------------------------------
    def changed(self, family: Family, key: bytes, best: Path | None) -> None:
        self._dirty.setdefault(family, {})[key] = None
        self._schedule()

    def changed_many(self, family: Family, keys: Iterable[bytes], best: Path | None) -> None:
        self._dirty.setdefault(family, {}).update(dict.fromkeys(keys))
        self._schedule()

    def _schedule(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._write())

    async def _write(self) -> None:
        """Write what changed, in batches, until nothing is left (changes made while a
        batch is being written are taken by the next round)."""
        while self._dirty:
            dirty, self._dirty = self._dirty, {}
            for family, keys in dirty.items():
                for key in keys:
                    self._apply(family, key)
            await self.fib.flush()

    def _apply(self, family: Family, key: bytes) -> None:
        fkey = fib_key_of(family, key)
        if fkey is None:
            return
        if fkey in self._block_keys:
            self.fib.set_key(fkey, ())  # our block: the blackhole stays, whatever peers say
            return
        hops = self._hops(family, key)
        if hops is None:
            self.fib.delete_key(fkey)
        else:
            self.fib.set_key(fkey, hops)

    def _hops(self, family: Family, key: bytes) -> Hops | None:
        """The kernel next hops for the prefix's best paths (None: no kernel route)."""
        chosen = self.rib.loc.best(family, key)
        if chosen is None:
            return None
        best = chosen[0]
        if best.source.address is None:
            return None  # our own route: nothing to install (blocks are handled apart)
        paths = multipath(self.rib.loc.paths(family, key), best, self.rib.loc.options)
        plan = (family, tuple(path.next_hop for path in paths))
        try:
            return self._plans[plan]
        except KeyError:
            pass
        network = ipaddress.ip_network(prefix_str(key, family[0]))
        hops = [hop for hop in map(next_hop_address, plan[1]) if hop]
        self._check_reachable(hops, network, str(best.source.address))
        route = kernel_route(network, hops, self.view)  # depends on the family only
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[plan] = planned = None if route is None else route.next_hops
        return planned

    def _check_reachable(self, hops: list[Address], network: Network, peer: str) -> None:
        """BGP mode across subnets: say which next hop the kernel cannot use, and what
        fixes it, once per next hop (the seed's section 5.3 failure, not silent)."""
        for hop in unreachable_next_hops(hops, self.view, network):
            if hop in self.unreachable:
                continue
            self.unreachable[hop] = why = unreachable_message(hop, self.view)
            self.unreachable_from[peer] = why
            log.warning("%s", why)
