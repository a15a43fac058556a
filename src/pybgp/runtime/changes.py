"""What `Speaker.watch()` yields: best-path changes and session changes.

Plain frozen dataclasses with text fields, built only while someone watches (the
RIB's hot path keeps prefixes as wire keys and never builds these for itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rib.decision import Path
from ..rib.loc_rib import BestChange
from ..wire.nlri import address_str, prefix_str


@dataclass(frozen=True, slots=True)
class RouteChange:
    """The best path of `prefix` changed; `best` is None when the prefix is gone."""

    prefix: str  # '10.244.1.0/26'
    best: Path | None
    reason: str  # the decision step that chose it ('only path', 'local-pref', ...)
    next_hop: str | None  # of the best path
    peer: str | None  # where the best path came from; None for our own routes

    @property
    def withdrawn(self) -> bool:
        return self.best is None


@dataclass(frozen=True, slots=True)
class PeerChange:
    """A session came up ("established") or went down ("down", with the reason)."""

    peer: str
    state: str
    reason: str = ""


Change = RouteChange | PeerChange


def next_hop_text(next_hop: bytes | None) -> str | None:
    if next_hop is None:
        return None
    if len(next_hop) == 32:  # RFC 2545 3: global, then link-local
        return address_str(next_hop[:16])
    return address_str(next_hop)


def route_change(change: BestChange) -> RouteChange:
    best = change.best
    return RouteChange(
        prefix=prefix_str(change.key, change.family[0]),
        best=best,
        reason=change.reason,
        next_hop=next_hop_text(best.next_hop) if best is not None else None,
        peer=(
            str(best.source.address)
            if best is not None and best.source.address is not None
            else None
        ),
    )
