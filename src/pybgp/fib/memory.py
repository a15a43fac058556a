"""``MemoryFib``: the :class:`~pybgp.fib.base.Fib` semantics on a simulated kernel table.

For unit tests of code that programs routes (the runtime, the RIB hook) and for
``pybgp sim``, where thousands of nodes share one process and none may touch the kernel.
The simulated table follows the kernel rules that matter to the adapter: one route per
prefix and metric whatever the protocol (so another protocol's route blocks ours with
EEXIST), NLM_F_REPLACE replaces, deleting a missing route is a no-op, a next hop on an
unknown device is refused.  Tests inject what a real kernel would hold or refuse:
:meth:`MemoryFib.add_foreign`, :meth:`MemoryFib.add_own`, :meth:`MemoryFib.refuse`,
``devices``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pybgp.fib.base import FibSettings, KernelRoute, Prefix, fib_key
from pybgp.fib.batched import BatchedFib, KernelState, Op

__all__ = ["RTPROT_STATIC", "MemoryFib"]

RTPROT_STATIC = 4  # what `ip route add` writes by default is RTPROT_BOOT (3); admins use static

EEXIST = "EEXIST (File exists): a route for this prefix with the same metric exists"


class MemoryFib(BatchedFib):
    """A :class:`Fib` whose "kernel" is :attr:`table`: prefix -> [(protocol, route), ...].

    ``devices``: the device names that exist; ``None`` (default) accepts any device.
    :attr:`writes` counts the ops written and :attr:`batches` the write calls, so tests
    can check coalescing and batching.
    """

    def __init__(
        self, settings: FibSettings | None = None, devices: Iterable[str] | None = None
    ) -> None:
        super().__init__(settings)
        self.table: dict[Prefix, list[tuple[int, KernelRoute]]] = {}
        self.devices: set[str] | None = None if devices is None else set(devices)
        self.refusals: dict[Prefix, str] = {}
        self.writes = 0
        self.batches = 0

    # -- what tests inject ------------------------------------------------------------------
    def add_foreign(self, route: KernelRoute, protocol: int = RTPROT_STATIC) -> None:
        """Put another protocol's route in the table (it must be left alone)."""
        if protocol == self.settings.protocol:
            raise ValueError("a foreign route needs another protocol number")
        self.table.setdefault(route.prefix, []).append((protocol, route))

    def add_own(self, route: KernelRoute) -> None:
        """Put a route of ours in the table, as a previous run (``persist``) left it."""
        self.table.setdefault(route.prefix, []).append((self.settings.protocol, route))

    def refuse(self, prefix: Prefix, reason: str = "ENETUNREACH (Network is unreachable)") -> None:
        """Make the "kernel" refuse writes for ``prefix`` with ``reason`` until :meth:`allow`."""
        self.refusals[prefix] = reason

    def allow(self, prefix: Prefix) -> None:
        """Stop refusing ``prefix``."""
        self.refusals.pop(prefix, None)

    def add_device(self, name: str) -> None:
        """A device appears (only meaningful when ``devices`` was given)."""
        if self.devices is not None:
            self.devices.add(name)

    def routes(self, protocol: int | None = None) -> dict[Prefix, KernelRoute]:
        """The table's routes (the first per prefix) of ``protocol`` (default: ours)."""
        proto = self.settings.protocol if protocol is None else protocol
        found: dict[Prefix, KernelRoute] = {}
        for prefix, entries in self.table.items():
            for p, route in entries:
                if p == proto:
                    found[prefix] = route
                    break
        return found

    # -- backend --------------------------------------------------------------------------
    async def _read(self) -> KernelState:
        ours = self.settings.protocol
        own = [
            (fib_key(prefix), route.next_hops)
            for prefix, entries in self.table.items()
            for protocol, route in entries
            if protocol == ours
        ]
        foreign = sum(1 for es in self.table.values() for p, _ in es if p != ours)
        return KernelState(own, foreign)

    async def _write(self, ops: Sequence[Op]) -> dict[int, str]:
        self.batches += 1
        self.writes += len(ops)
        answers = ((i, self._write_one(op)) for i, op in enumerate(ops))
        return {i: error for i, error in answers if error is not None}

    def _write_one(self, op: Op) -> str | None:
        ours = self.settings.protocol
        prefix, route = op.prefix, op.route()
        refusal = self.refusals.get(prefix)
        if refusal is not None:
            return refusal
        entries = self.table.setdefault(prefix, [])
        if route is None:
            for i, (p, _) in enumerate(entries):
                if p == ours:
                    del entries[i]
                    break
            if not entries:
                del self.table[prefix]
            return None  # ESRCH counts as done
        if self.devices is not None:
            for nh in route.next_hops:
                if nh.device not in self.devices:
                    if not entries:
                        del self.table[prefix]
                    return f"ENODEV (No such device): no device {nh.device}"
        if not entries:
            entries.append((ours, route))
        elif op.replace:
            # Like fib_table_insert(): NLM_F_REPLACE takes the first route of that metric.
            entries[0] = (ours, route)
        else:
            return EEXIST
        return None
