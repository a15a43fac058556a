"""Bookkeeping shared by every :class:`~pybgp.fib.base.Fib`: queue, coalescing, retries.

A backend only says how to read our routes (:meth:`BatchedFib._read`) and how to apply
a list of :class:`Op` (:meth:`BatchedFib._write`, one answer per op).  Everything else,
what is queued, what is believed installed, what failed and why, reconciliation and
the rules for retrying, lives here once, so that ``MemoryFib`` (tested without root)
and ``NetlinkFib`` (the kernel) cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections import defaultdict, deque
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from types import MappingProxyType
from typing import NamedTuple

from pybgp.fib.base import Fib, FibSettings, KernelRoute, Prefix, ReconcileReport

__all__ = ["BatchedFib", "KernelState", "Op"]

log = logging.getLogger("pybgp.fib")

_EXAMPLES = 3  # refused routes named per reason in one log line
CHUNK = 8192  # ops per _write call: big enough to batch, small enough to pipeline
IN_FLIGHT = 2  # chunks handed to the backend and not yet applied


class Op(NamedTuple):
    """One kernel write: add ``route`` (``replace``: over our existing route for the
    prefix, NLM_F_REPLACE; else NLM_F_EXCL, so that another protocol's route is never
    replaced) or, with ``route is None``, delete our route for ``prefix``.

    A named tuple, not a dataclass: one is made per route and written, 100k at a time.
    """

    prefix: Prefix
    route: KernelRoute | None
    replace: bool = False


@dataclass(frozen=True, slots=True)
class KernelState:
    """What a backend read from the table: our routes (``None`` for one of ours that pybgp
    cannot represent, e.g. a device route: it is stale) and how many foreign ones."""

    own: Sequence[tuple[Prefix, KernelRoute | None]]
    foreign: int


class BatchedFib(Fib):
    """The queue and the books; subclasses implement :meth:`_read` and :meth:`_write`."""

    def __init__(self, settings: FibSettings | None = None) -> None:
        self.settings = settings or FibSettings()
        self._installed: dict[Prefix, KernelRoute] = {}
        self._pending: dict[Prefix, KernelRoute | None] = {}
        self._failed: dict[Prefix, str] = {}
        # What to retry for each failed prefix: the route (add) or None (delete).
        self._retry: dict[Prefix, KernelRoute | None] = {}
        self._lock: asyncio.Lock | None = None
        self._started = False
        self._closed = False

    # -- backend --------------------------------------------------------------------------
    @abstractmethod
    async def _read(self) -> KernelState:
        """Our routes and the count of foreign ones in ``settings.table``."""

    @abstractmethod
    async def _write(self, ops: Sequence[Op]) -> list[str | None]:
        """Apply ``ops`` in order; return, per op, ``None`` or the reason it was refused.

        Deleting a route that is not there counts as success (the goal is reached).
        """

    async def _before_write(self) -> None:
        """Called before each batch of writes (NetlinkFib re-reads devices here)."""

    # -- the interface ----------------------------------------------------------------------
    def set(self, route: KernelRoute) -> None:
        self._pending[route.prefix] = route

    def delete(self, prefix: Prefix) -> None:
        self._pending[prefix] = None

    def installed(self) -> Mapping[Prefix, KernelRoute]:
        return MappingProxyType(self._installed)

    @property
    def failed(self) -> Mapping[Prefix, str]:
        return MappingProxyType(self._failed)

    @property
    def pending(self) -> int:
        """How many prefixes have a change queued (for status output)."""
        return len(self._pending)

    def _get_lock(self) -> asyncio.Lock:
        # Created on first use, inside the running loop.
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def start(self, wanted: Iterable[KernelRoute]) -> ReconcileReport:
        """Read the table, then one batch: replace or delete what is stale, add what is
        missing.  Changes queued before ``start`` are written right after it."""
        if self._started:
            raise RuntimeError("Fib.start() called twice")
        return await self._reconcile(wanted)

    async def resync(self, wanted: Iterable[KernelRoute]) -> ReconcileReport:
        """Reconcile again with what the kernel holds now: after a device went away and
        came back (the kernel drops the routes on it without telling the owner), or an
        address changed.  What we believed installed is read afresh."""
        if not self._started:
            raise RuntimeError("Fib.resync() before start()")
        return await self._reconcile(wanted)

    async def _reconcile(self, wanted: Iterable[KernelRoute]) -> ReconcileReport:
        async with self._get_lock():
            self._installed.clear()
            state = await self._read()
            want = {route.prefix: route for route in wanted}
            report = ReconcileReport(foreign=state.foreign)
            own: defaultdict[Prefix, list[KernelRoute | None]] = defaultdict(list)
            for prefix, route in state.own:
                own[prefix].append(route)
            ops: list[Op] = []
            for prefix, found in own.items():
                route = want.get(prefix)
                if route is not None and len(found) == 1:
                    del want[prefix]
                    if found[0] == route:
                        self._installed[prefix] = route
                        report.kept += 1
                    else:  # one differing route of ours: replace it atomically
                        ops.append(Op(prefix, route, replace=True))
                else:  # not wanted, or several of ours (other metrics): delete each
                    ops.extend(Op(prefix, None) for _ in found)
            ops.extend(Op(prefix, route) for prefix, route in want.items())
            chunks = (ops[i : i + CHUNK] for i in range(0, len(ops), CHUNK))
            for done, results in await self._write_pipelined(chunks):
                for op, error in zip(done, results, strict=True):
                    if error is not None:
                        report.failed += op.route is not None
                    elif op.route is None:
                        report.removed += 1
                    else:
                        report.added += 1
                        report.removed += op.replace
            self._started = True
        log.info(
            "fib: table %d proto %d: kept %d, removed %d, added %d, refused %d, foreign %d",
            self.settings.table,
            self.settings.protocol,
            report.kept,
            report.removed,
            report.added,
            report.failed,
            report.foreign,
        )
        if self._pending:
            await self.flush()
        return report

    async def flush(self) -> None:
        """Write the queue plus every refused change, in pipelined chunks."""
        if not self._started:
            raise RuntimeError("Fib.flush() before start()")
        async with self._get_lock():
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if not self._pending and not self._retry:
            return
        # Queued changes win over the retry of an older refused change for the prefix.
        batch = self._retry | self._pending if self._retry else self._pending
        self._pending = {}
        items = iter(batch.items())
        chunks = (self._ops(part) for part in iter(lambda: list(islice(items, CHUNK)), []))
        await self._write_pipelined(chunks)

    def _ops(self, changes: Iterable[tuple[Prefix, KernelRoute | None]]) -> list[Op]:
        """The kernel writes ``changes`` need, given what is installed."""
        ops: list[Op] = []
        installed = self._installed
        for prefix, route in changes:
            current = installed.get(prefix)
            if route is None:
                if current is None:  # never got in (or already gone): nothing to remove
                    self._forget_failure(prefix)
                else:
                    ops.append(Op(prefix, None, False))
            elif current is not None and current == route:
                self._forget_failure(prefix)
            else:
                ops.append(Op(prefix, route, current is not None))
        return ops

    async def _write_pipelined(
        self, chunks: Iterator[list[Op]]
    ) -> list[tuple[list[Op], list[str | None]]]:
        """Hand chunks to :meth:`_write` without waiting for each, apply answers in order.

        While the kernel works on one chunk (the backend's thread, outside the GIL), this
        thread builds the next one and applies the answers to the previous one, so the
        kernel's time and Python's overlap.  The event loop runs between chunks.  Every
        chunk handed over is applied, also when the caller is cancelled: otherwise the
        books would miss writes the kernel did.
        """
        inflight: deque[tuple[list[Op], Awaitable[list[str | None]]]] = deque()
        done: list[tuple[list[Op], list[str | None]]] = []

        async def settle_oldest() -> None:
            ops, future = inflight.popleft()
            results = await future
            self._apply(ops, results)
            done.append((ops, results))

        await self._before_write()
        try:
            for ops in chunks:
                if ops:
                    inflight.append((ops, asyncio.ensure_future(self._write(ops))))
                await asyncio.sleep(0)  # let the write start, and other tasks run
                while len(inflight) > IN_FLIGHT:
                    await settle_oldest()
        finally:
            while inflight:
                # Shielded: a cancelled flush still books what the kernel did.
                ops, future = inflight[0]
                inflight[0] = (ops, asyncio.shield(future))
                await settle_oldest()
        return done

    def _forget_failure(self, prefix: Prefix) -> None:
        if self._failed.pop(prefix, None) is not None:
            del self._retry[prefix]

    def _apply(self, ops: Sequence[Op], results: Sequence[str | None]) -> None:
        """Update the books from the kernel's answers; log refusals grouped by reason."""
        installed, failed, retry = self._installed, self._failed, self._retry
        refused: dict[str, list[Op]] = {}
        for op, error in zip(ops, results, strict=True):
            prefix = op.prefix
            if error is None:
                if op.route is None:
                    installed.pop(prefix, None)
                else:
                    installed[prefix] = op.route
                if failed:
                    self._forget_failure(prefix)
            else:
                if failed.get(prefix) != error:
                    refused.setdefault(error, []).append(op)
                failed[prefix] = error
                retry[prefix] = op.route
        for reason, bad in refused.items():
            examples = ", ".join(str(op.route or f"delete {op.prefix}") for op in bad[:_EXAMPLES])
            more = f" and {len(bad) - _EXAMPLES} more" if len(bad) > _EXAMPLES else ""
            log.warning(
                "fib: kernel refused %d route(s), will retry: %s (%s%s)",
                len(bad),
                reason,
                examples,
                more,
            )

    async def close(self) -> None:
        """Remove our routes (``persist=False``) or write what is queued and leave them."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        async with self._get_lock():
            if self.settings.persist:
                await self._flush_locked()
                return
            self._pending = {}
            self._failed.clear()
            self._retry.clear()
            ops = [Op(prefix, None, False) for prefix in self._installed]
            await self._write_pipelined(ops[i : i + CHUNK] for i in range(0, len(ops), CHUNK))
