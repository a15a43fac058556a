"""Graceful restart, receiving speaker (RFC 4724 4.2): a restarting peer's routes stay.

When the session of a peer that announced the Graceful Restart capability ends without
a NOTIFICATION (its process restarts, the TCP connection breaks), its routes of the
families it listed are kept, in the Loc-RIB and so in the kernel, marked stale.  When it
comes back it re-sends them; its End-of-RIB for a family removes what it did not
re-send, and the peer's restart time bounds the whole wait.  Families it did not list,
or listed without the F bit when it comes back (forwarding state not preserved), lose
their routes at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from ..rib.rib import PeerRib, Rib
from ..wire.constants import Family
from ..wire.update import Update

log = logging.getLogger("pybgp.peer")

F_BIT = 0x80  # RFC 4724 3: "Forwarding State" for an address family


class Retention:
    """The stale routes of one restarting peer."""

    def __init__(
        self,
        rib: Rib,
        peer_rib: PeerRib,
        families: Iterable[Family],
        restart_time: float,
        loop: asyncio.AbstractEventLoop,
        on_expired: Callable[[], None],
    ) -> None:
        self.rib = rib
        self.peer_rib = peer_rib
        self.restart_time = restart_time
        kept = set(families)
        for family in list(peer_rib.adj_in.families()):
            if family not in kept:  # not in its capability: no reason to wait
                rib.purge(peer_rib, family, peer_rib.adj_in.keys(family))
        self.stale: dict[Family, set[bytes]] = {
            family: set(peer_rib.adj_in.keys(family)) for family in kept
        }
        self._timer = loop.call_later(restart_time, on_expired)

    @property
    def count(self) -> int:
        return sum(len(keys) for keys in self.stale.values())

    def came_back(self, forwarding: Iterable[Family]) -> None:
        """The new session is up; `forwarding`: families its capability lists with the
        F bit.  The others' stale routes go now (RFC 4724 4.2)."""
        kept = set(forwarding)
        for family in list(self.stale):
            if family not in kept:
                self._purge(family)

    def refreshed(self, update: Update) -> None:
        """Routes the peer sent again (or withdrew) are no longer stale."""
        for family, keys in update.withdrawals():
            stale = self.stale.get(family)
            if stale:
                stale.difference_update(keys)
        for family, _, keys in update.announcements():
            stale = self.stale.get(family)
            if stale:
                stale.difference_update(keys)

    def end_of_rib(self, family: Family) -> bool:
        """The peer's End-of-RIB: what it did not re-send goes.  True when no family is
        left waiting."""
        if family in self.stale:
            self._purge(family)
        return not self.stale

    def expire(self) -> None:
        """The restart time ran out: every route still stale goes."""
        for family in list(self.stale):
            self._purge(family)

    def cancel(self) -> None:
        self._timer.cancel()

    def _purge(self, family: Family) -> None:
        keys = list(self.stale.pop(family, ()))
        if keys:
            log.info("graceful restart: %d stale routes of %s removed", len(keys), family)
            self.rib.purge(self.peer_rib, family, keys)
        if not self.stale:
            self._timer.cancel()
