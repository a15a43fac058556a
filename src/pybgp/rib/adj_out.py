"""Adj-RIB-Out (RFC 4271 3.2, 9.2) as state, shared by an update group.

Peers whose export gives the same result (same kind of peer, same next hop, same codec
context) form one group and receive the very same UPDATE bytes: one export and one
encode per group, not per peer.  The group keeps two tables:

* `sent`: what its members have been told, per prefix (attributes and next hop);
* `dirty`: the prefixes whose best path changed since, each with its latest best path
  only.  A prefix that flaps ten times while a slow peer is busy is sent once, with
  its final state: memory stays bounded by the table, never by the churn.

`produce(limit)` turns dirty prefixes into UPDATEs, as many as fit in about `limit`
octets, packing every prefix that shares an attribute set into as few messages as the
size limit allows (RFC 4271 9.2: "MAY ... in one UPDATE message").  The driver calls it
when its members can take more, so the pace is the group's slowest member.

Standard library only, no I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby, islice

from ..wire.attributes import PathAttributes
from ..wire.constants import IPV4_UNICAST, Family
from ..wire.context import CodecContext
from ..wire.update import pack_announcements, pack_withdrawals
from .decision import Address, Path

# What a prefix's best path becomes for this group: attributes and next-hop octets (the
# MP_REACH next hop; None when the NEXT_HOP attribute carries it), or None when
# the group does not get it (export rules, policy).
Exported = tuple[PathAttributes, bytes | None]
Export = Callable[[Family, bytes, Path], Exported | None]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One UPDATE for every member, except the peer the routes in it came from.

    A route is never sent back to the peer it was learned from (as BIRD and GoBGP do;
    the peer would drop it anyway, RFC 4271 9.1.2 / RFC 4456 8): that member gets
    `instead`, the withdrawals of what it held from us for those prefixes (the best
    path moved to its own).
    """

    message: bytes
    source: Address | None = None
    instead: tuple[bytes, ...] = ()

    def for_member(self, address: Address | None) -> tuple[bytes, ...]:
        if self.source is not None and address == self.source:
            return self.instead
        return (self.message,)


class UpdateGroup:
    def __init__(
        self,
        export: Export,
        context: CodecContext,
        per_prefix: bool = False,
        families: Iterable[Family] | None = None,
    ) -> None:
        self.export = export
        self.context = context
        # The families the members negotiated (RFC 4760 6: nothing else may be sent);
        # None: all.
        self.families = frozenset(families) if families is not None else None
        # The export looks at each prefix (a prefix-list policy): no run shares a result.
        self.per_prefix = per_prefix
        self.sent: dict[Family, dict[bytes, Exported]] = {}
        self._dirty: dict[Family, dict[bytes, Path | None]] = {}
        self._draining: dict[Family, _Draining] = {}
        self._tally = _Tally()

    # --- what changed ------------------------------------------------------------------
    def changed(self, family: Family, key: bytes, best: Path | None) -> None:
        """The prefix's best path is now `best` (None: gone); coalesces with earlier ones."""
        if self.families is not None and family not in self.families:
            return
        dirty = self._dirty.get(family)
        if dirty is None:
            dirty = self._dirty[family] = {}
        dirty[key] = best

    def changed_many(self, family: Family, keys: Iterable[bytes], best: Path | None) -> None:
        """Many prefixes now share the best path `best` (or are all gone)."""
        if self.families is not None and family not in self.families:
            return
        dirty = self._dirty.get(family)
        if dirty is None:
            dirty = self._dirty[family] = {}
        dirty.update(dict.fromkeys(keys, best))

    def resend(
        self, family: Family, table: Iterable[tuple[bytes, Path]], forget: bool = True
    ) -> None:
        """Queue a whole table again (a new member, a ROUTE-REFRESH): what was sent is
        forgotten (unless not `forget`), so every exported prefix goes out."""
        if forget:
            self._tally.remove(list(self.sent.pop(family, {}).values()))
            self._draining.pop(family, None)  # the whole table follows anyway
        dirty = self._dirty.setdefault(family, {})
        for key, best in table:
            dirty[key] = best

    def adopt(self, other: UpdateGroup) -> None:
        """Start from what `other` has sent and re-examine every prefix: a member moves
        here from `other` (its export changed) and gets only the differences."""
        self._tally.counts = other._tally.counts.copy()
        self._tally.origin = dict(other._tally.origin)
        for family, sent in other.sent.items():
            self.sent[family] = dict(sent)
            dirty = self._dirty.setdefault(family, {})
            dirty.update(dict.fromkeys(sent, None))  # gone, unless the table says otherwise
        for family, draining in other._draining.items():
            # All of the snapshot: what `other` already sent of it is in the copied
            # `sent`, so it is recognised as unchanged.
            self._dirty.setdefault(family, {}).update(draining.snapshot)
        for family, dirty in other._dirty.items():
            self._dirty.setdefault(family, {}).update(dirty)

    def pending_in(self, family: Family) -> int:
        draining = self._draining.get(family)
        return len(self._dirty.get(family, ())) + (draining.left if draining else 0)

    @property
    def pending(self) -> int:
        """Prefixes waiting to be considered."""
        return sum(len(d) for d in self._dirty.values()) + sum(
            d.left for d in self._draining.values()
        )

    def advertised(self, member: Address | None = None) -> int:
        """Prefixes the members have been sent; for `member`, less its own routes (it
        is never sent those)."""
        total = sum(len(sent) for sent in self.sent.values())
        return total - self._tally.counts[member] if member is not None else total

    # --- UPDATEs -------------------------------------------------------------------------
    def produce(self, limit: int | None = None) -> list[Outgoing]:
        """UPDATE messages for dirty prefixes, about `limit` octets of them (all if None).

        Prefixes whose export did not change produce nothing.  Withdrawals of one family
        are packed together, announcements per attribute set, next hop and source.
        """
        out: list[Outgoing] = []
        octets = 0
        budget = limit if limit is not None else -1
        for family in {*self._draining, *self._dirty}:
            sent = self.sent.setdefault(family, {})
            while budget < 0 or octets < budget:
                keys, values = self._take(family, budget - octets if budget >= 0 else -1)
                if not keys:
                    if self.pending_in(family):
                        continue  # all of that batch had changed again: take the next
                    break
                for outgoing in self._encode(family, keys, values, sent):
                    out.append(outgoing)
                    octets += len(outgoing.message)
            if budget >= 0 and octets >= budget:
                break
        return out

    def _take(self, family: Family, room: int) -> tuple[list[bytes], list[Path | None]]:
        """Dirty prefixes, oldest first: about as many as fit in `room` octets of NLRI
        (judged by a key's length), or all of them.

        The dirty dict is taken whole as a snapshot and read through one iterator, so
        each take continues where the last stopped (deleting from the front of a dict
        instead would leave holes that every later read walks over again).  Changes
        made meanwhile go to a new dirty dict; a snapshot entry that changed again is
        skipped, as the newer state will be sent.
        """
        draining = self._draining.get(family)
        if draining is None:
            snapshot = self._dirty.pop(family, None)
            if not snapshot:
                return [], []
            draining = self._draining[family] = _Draining(snapshot)
        count = draining.left if room < 0 else max(1, room // draining.key_length)
        # Keys and values as two lists, not a list of pairs: no tuple per prefix (and so
        # no garbage-collector work for them).
        keys = list(islice(draining.keys, count))
        values = list(islice(draining.values, count))
        draining.left -= len(keys)
        if draining.left <= 0:
            del self._draining[family]
        fresh = self._dirty.get(family)
        if fresh:
            kept = [i for i, key in enumerate(keys) if key not in fresh]
            keys = [keys[i] for i in kept]
            values = [values[i] for i in kept]
        return keys, values

    def _encode(
        self,
        family: Family,
        batch_keys: list[bytes],
        values: list[Path | None],
        sent: dict[bytes, Exported],
    ) -> list[Outgoing]:
        """Runs of prefixes with the same best path are handled whole, at C speed: a
        table arriving is long runs of one path each."""
        withdraw: list[bytes] = []
        # Grouped by the attributes' identity (they are interned), next hop and source.
        announce: dict[tuple[int, bytes | None, Address | None], _Batch] = {}
        start = 0
        # Runs of one best path (consecutive identical objects; == starts with identity).
        for best, run in groupby(values):
            end = start + len(list(run))
            keys = batch_keys[start:end]
            start = end
            if best is not None and self.per_prefix:
                # An export policy that looks at prefixes: one prefix at a time.
                for key in keys:
                    exported = self.export(family, key, best)
                    _apply_run([key], best, exported, sent, announce, withdraw, self._tally)
                continue
            exported = self.export(family, keys[0], best) if best is not None else None
            _apply_run(keys, best, exported, sent, announce, withdraw, self._tally)
        context = self.context
        out = [Outgoing(m) for m in pack_withdrawals(withdraw, context, family)] if withdraw else []
        for entry in announce.values():
            attributes, next_hop = entry.exported
            hop = None if family == IPV4_UNICAST and attributes.next_hop else next_hop
            source = entry.source
            messages = list(pack_announcements(attributes, entry.keys, context, family, hop))
            instead: tuple[bytes, ...] = ()
            if source is not None and entry.replaced:
                instead = tuple(pack_withdrawals(entry.replaced, context, family))
            for index, message in enumerate(messages):
                out.append(Outgoing(message, source, instead if index == 0 else ()))
        return out


class _Draining:
    """A dirty dict being turned into UPDATEs, and how far that has got."""

    __slots__ = ("key_length", "keys", "left", "snapshot", "values")

    def __init__(self, snapshot: dict[bytes, Path | None]) -> None:
        self.snapshot = snapshot
        self.keys = iter(snapshot)  # the snapshot never changes: both stay in step
        self.values = iter(snapshot.values())
        self.left = len(snapshot)
        self.key_length = len(next(iter(snapshot)))  # to judge how many fit a budget


class _Batch:
    __slots__ = ("exported", "keys", "replaced", "source")

    def __init__(self, exported: Exported, source: Address | None) -> None:
        self.exported = exported
        self.source = source
        self.keys: list[bytes] = []
        self.replaced: list[bytes] = []  # keys the members held something else for


class _Tally:
    """How many of the sent prefixes each source's paths account for: a member is not
    sent its own routes, so its count of routes advertised leaves those out."""

    __slots__ = ("counts", "origin")

    def __init__(self) -> None:
        self.counts: Counter[Address | None] = Counter()
        self.origin: dict[int, Address | None] = {}  # id(Exported) -> its path's source

    def add(self, exported: Exported, source: Address | None, count: int) -> None:
        self.origin[id(exported)] = source
        self.counts[source] += count

    def remove(self, olds: list[Exported]) -> None:
        for ident, count in Counter(map(id, olds)).items():  # counted at C speed
            self.counts[self.origin.get(ident)] -= count


def _apply_run(
    keys: list[bytes],
    best: Path | None,
    exported: Exported | None,
    sent: dict[bytes, Exported],
    announce: dict[tuple[int, bytes | None, Address | None], _Batch],
    withdraw: list[bytes],
    tally: _Tally,
) -> None:
    """Prefixes `keys` now export as `exported` (None: not at all): update `sent` and
    collect what must be said, comparing with what was sent at C speed."""
    before = list(map(sent.get, keys))
    unsent = before.count(None)
    if exported is None:
        if unsent == len(keys):
            return  # none of them was sent: nothing to withdraw
        if unsent:
            pairs = [(key, old) for key, old in zip(keys, before, strict=True) if old is not None]
            keys = [key for key, _ in pairs]
            before = [old for _, old in pairs]
        deque(map(sent.__delitem__, keys), maxlen=0)
        withdraw.extend(keys)
        tally.remove(before)  # type: ignore[arg-type]
        return
    assert best is not None
    same = before.count(exported)  # identity first: exports are memoised per path
    if same == len(keys):
        return  # the same attributes object and next hop: nothing to say
    if same or unsent != len(keys):
        pairs = [(key, old) for key, old in zip(keys, before, strict=True) if old is not exported]
        keys = [key for key, _ in pairs]
        olds = [(key, old) for key, old in pairs if old is not None]
        replaced = [key for key, _ in olds]
        tally.remove([old for _, old in olds])  # type: ignore[misc]
    else:
        replaced = []
    sent.update(dict.fromkeys(keys, exported))
    source = best.source.address
    tally.add(exported, source, len(keys))
    group = (id(exported[0]), exported[1], source)
    entry = announce.get(group)
    if entry is None:
        entry = announce[group] = _Batch(exported, source)
    entry.keys.extend(keys)
    # The members held other paths for these: the route's own source must hear them
    # withdrawn (it does not get its own route back).
    entry.replaced.extend(replaced)
