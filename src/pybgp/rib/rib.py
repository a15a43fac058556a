"""`Rib`: the route tables of one speaker, from a received UPDATE to a best-path change.

    UPDATE -> Adj-RIB-In (as received) -> loop check and import policy -> Loc-RIB
           -> best-path changes -> every listener (the update groups; `watch()`)

One `PeerRib` per established session holds that peer's Adj-RIB-In and import policy.
Work is done per UPDATE, not per prefix, wherever the RFC allows: one loop check, one
policy run and one interned `Path` per attribute set, then plain dictionary work for the
500 prefixes that share them.  A peer that goes down takes all its paths in one call
(`drop_peer`), and the listeners hear of the whole change at once, so the withdrawals
go out packed, not one UPDATE per prefix.

Standard library only, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..wire.attributes import PathAttributes
from ..wire.constants import Family
from ..wire.update import Update
from .adj_in import AdjRibIn
from .decision import DEFAULT_OPTIONS, LOCAL, Options, Path, PathInterner, Source
from .loc_rib import ONLY_PATH, BestChange, LocRib
from .policy import ACCEPT_ALL, Chain
from .rules import import_loop

# The next-hop resolvability hook (RFC 4271 9.1.2 (c)): the IGP cost to reach a next hop,
# or None when it cannot be reached (the path is then not eligible).
NextHopCost = Callable[[Family, bytes | None], int | None]


class Listener(Protocol):
    """What follows the Loc-RIB's best paths (an update group)."""

    def changed(self, family: Family, key: bytes, best: Path | None) -> None: ...

    def changed_many(self, family: Family, keys: Iterable[bytes], best: Path | None) -> None: ...


@dataclass(eq=False)
class PeerRib:
    """One established peer's share of the RIB."""

    source: Source
    import_policy: Chain = ACCEPT_ALL
    adj_in: AdjRibIn = field(default_factory=AdjRibIn)
    # Received routes not in the Loc-RIB: loops (RFC 4271 9.1.2, RFC 4456 8), policy
    # rejects and unresolvable next hops.  Usually empty.
    filtered: dict[Family, set[bytes]] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return len(self.adj_in) - sum(len(keys) for keys in self.filtered.values())


class Rib:
    def __init__(
        self,
        local_asn: int,
        router_id: str,
        cluster_id: str | None = None,
        options: Options = DEFAULT_OPTIONS,
        next_hop_cost: NextHopCost | None = None,
    ) -> None:
        self.local_asn = local_asn
        self.router_id = bytes(int(part) for part in router_id.split("."))
        self.cluster_id: bytes | None = None
        self.set_cluster_id(cluster_id)
        self.loc = LocRib(options)
        self.paths = PathInterner()
        self.next_hop_cost = next_hop_cost
        self.listeners: list[Listener] = []
        # Called with each BestChange; building them costs an object per prefix, so only
        # while someone watches.
        self.watchers: list[Callable[[BestChange], None]] = []

    def set_cluster_id(self, cluster_id: str | None) -> None:
        """Reflect with this CLUSTER_ID (RFC 4456 7), or not at all (None).  Routes
        already accepted are not checked again: the peers' sessions carry on."""
        self.cluster_id = bytes(int(part) for part in cluster_id.split(".")) if cluster_id else None

    # --- peers ---------------------------------------------------------------------------
    def receive(self, peer: PeerRib, update: Update) -> None:
        """Apply one UPDATE from `peer` (RFC 4271 9.1: Phase 1 and 2 for its prefixes)."""
        peer.adj_in.apply(update)
        source = peer.source
        for family, keys in update.withdrawals():
            filtered = peer.filtered.get(family)
            if filtered:
                filtered.difference_update(keys)
            self._publish_removal(family, *self.loc.remove_many(family, keys, source))
        attributes = update.attributes
        if attributes is None:
            return
        for family, next_hop, keys in update.announcements():
            self._import(peer, family, next_hop, keys, attributes)

    def _import(
        self,
        peer: PeerRib,
        family: Family,
        next_hop: bytes | None,
        keys: list[bytes],
        attributes: PathAttributes,
    ) -> None:
        source = peer.source
        if import_loop(attributes, self.local_asn, self.router_id, self.cluster_id):
            self._reject(peer, family, keys)
            return
        cost = 0 if self.next_hop_cost is None else self.next_hop_cost(family, next_hop)
        if cost is None:
            self._reject(peer, family, keys)
            return
        policy = peer.import_policy
        if policy is ACCEPT_ALL or not policy.prefix_dependent:
            result = (
                attributes if policy is ACCEPT_ALL else policy.apply(family, keys[0], attributes)
            )
            if result is None:
                self._reject(peer, family, keys)
                return
            self._accept(peer, family, keys)
            path = self.paths.get(result, source, next_hop, cost)
            plain, others = self.loc.set_many(family, keys, path)
            self._publish(family, plain, path, others)
            return
        # A policy that looks at prefixes: one run per prefix, grouped by outcome.
        outcomes: dict[int, tuple[PathAttributes, list[bytes]]] = {}
        rejected = []
        for key in keys:
            result = policy.apply(family, key, attributes)
            if result is None:
                rejected.append(key)
            else:
                outcomes.setdefault(id(result), (result, []))[1].append(key)
        if rejected:
            self._reject(peer, family, rejected)
        for result, accepted in outcomes.values():
            self._accept(peer, family, accepted)
            path = self.paths.get(result, source, next_hop, cost)
            plain, others = self.loc.set_many(family, accepted, path)
            self._publish(family, plain, path, others)

    def _reject(self, peer: PeerRib, family: Family, keys: list[bytes]) -> None:
        peer.filtered.setdefault(family, set()).update(keys)
        self._publish_removal(family, *self.loc.remove_many(family, keys, peer.source))

    @staticmethod
    def _accept(peer: PeerRib, family: Family, keys: list[bytes]) -> None:
        filtered = peer.filtered.get(family)
        if filtered:
            filtered.difference_update(keys)

    def drop_peer(self, peer: PeerRib) -> int:
        """The peer's session went down: all its paths leave the Loc-RIB at once."""
        count = len(peer.adj_in)
        for family in list(peer.adj_in.families()):
            keys = peer.adj_in.keys(family)
            self._publish_removal(family, *self.loc.remove_many(family, keys, peer.source))
        peer.adj_in.clear()
        peer.filtered.clear()
        return count

    def purge(self, peer: PeerRib, family: Family, keys: list[bytes]) -> None:
        """Remove routes `keys` of `peer` as if it had withdrawn them (stale routes after
        a graceful restart, RFC 4724 4.2)."""
        peer.adj_in.remove(family, keys)
        filtered = peer.filtered.get(family)
        if filtered:
            filtered.difference_update(keys)
        self._publish_removal(family, *self.loc.remove_many(family, keys, peer.source))

    def reimport(self, peer: PeerRib, policy: Chain) -> None:
        """A new import policy for `peer`: its Adj-RIB-In is evaluated again (RFC 4271
        9.1: the Adj-RIB-In keeps routes as received for exactly this), no refresh."""
        peer.import_policy = policy
        peer.filtered.clear()
        for family in list(peer.adj_in.families()):
            for next_hop, attributes, keys in peer.adj_in.grouped(family):
                self._import(peer, family, next_hop, keys, attributes)

    # --- our own routes --------------------------------------------------------------------
    def originate_many(
        self, family: Family, keys: list[bytes], attributes: PathAttributes, next_hop: bytes | None
    ) -> None:
        """Our own routes, sharing one attribute set, as a peer's UPDATE would bring them."""
        path = self.paths.get(attributes, LOCAL, next_hop)
        plain, others = self.loc.set_many(family, keys, path)
        self._publish(family, plain, path, others)

    def withdraw_local(self, family: Family, key: bytes) -> None:
        self._publish_removal(family, *self.loc.remove_many(family, [key], LOCAL))

    # --- reading ---------------------------------------------------------------------------
    def table(self, family: Family) -> Iterator[tuple[bytes, Path]]:
        for key, best, _ in self.loc.items(family):
            yield key, best

    def families(self) -> list[Family]:
        return self.loc.families()

    # --- telling the listeners ---------------------------------------------------------------
    def _publish(
        self, family: Family, plain: list[bytes], path: Path | None, others: list[BestChange]
    ) -> None:
        """`plain`: prefixes whose best path is now `path` alone (None: they are gone);
        `others`: changes of their own."""
        for listener in self.listeners:
            if plain:
                listener.changed_many(family, plain, path)
            for change in others:
                listener.changed(family, change.key, change.best)
        if self.watchers:
            reason = ONLY_PATH if path is not None else "withdrawn"
            changes = [BestChange(family, key, path, reason, None) for key in plain]
            self._tell_watchers(changes + others)

    def _publish_removal(self, family: Family, gone: list[bytes], others: list[BestChange]) -> None:
        self._publish(family, gone, None, others)

    def _tell_watchers(self, changes: list[BestChange]) -> None:
        for watcher in self.watchers:
            for change in changes:
                watcher(change)
