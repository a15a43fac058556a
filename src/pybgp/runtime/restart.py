"""`OwnRestart`: this node coming back from a restart keeps forwarding (RFC 4724 4.1).

When `pybgp speak` starts and finds routes of its own protocol in the kernel (the last
run stopped with `[fib] persist = true`, or died), they are the node's forwarding state:
pods keep reaching the other nodes through them.  Removing them at once and adding them
back when the peers have re-sent their tables would cut traffic for that long, so they
stay (`Fib.start(keep_stale=True)`) until every configured peer is Established and has
sent End-of-RIB for each family of its session, or the restart time runs out (RFC 4724
4.1's selection deferral); then a reconcile removes the ones no peer sent again.

Meanwhile our OPENs carry the Restart State bit and the Forwarding State bit of every
family (RFC 4724 3): a peer that kept our routes through our restart keeps them until
our End-of-RIB rather than dropping them when the session comes back.

BIRD does the same with `graceful restart` on its kernel protocol, and Calico's BIRD
configuration asks for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..session import State

if TYPE_CHECKING:
    from .peer import PeerDriver

log = logging.getLogger("pybgp.fib")


def converged(driver: PeerDriver) -> bool:
    """Established and End-of-RIB received for every family of the session."""
    negotiated = driver.session.negotiated
    return (
        driver.session.state is State.ESTABLISHED
        and negotiated is not None
        and set(negotiated.families) <= driver.stats.end_of_rib
    )


class OwnRestart:
    """Waits for the peers after our restart, then calls `on_done(reason)` once."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: float,
        peers: Callable[[], Iterable[PeerDriver]],
        on_done: Callable[[str], None],
    ) -> None:
        self._peers = peers
        self._on_done = on_done
        self.done = False
        self._timer = loop.call_later(limit, self.finish, f"restart time ({limit:g} s) ran out")

    def check(self) -> None:
        """A peer came up, went down or sent End-of-RIB: are we there yet?

        Dynamic neighbours ([[peer-range]]) are not waited for (nobody knows whether
        they will come), nor peers an operator disabled.
        """
        if self.done:
            return
        waited = [d for d in self._peers() if not d.dynamic and not d.admin_down]
        if all(converged(driver) for driver in waited):
            self.finish("every peer sent End-of-RIB")

    def finish(self, reason: str) -> None:
        if self.done:
            return
        self.done = True
        self._timer.cancel()
        for driver in self._peers():
            driver.set_restarting(False)
        self._on_done(reason)

    def cancel(self) -> None:
        self.done = True
        self._timer.cancel()
