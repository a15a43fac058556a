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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

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
    def __init__(self, export: Export, context: CodecContext) -> None:
        self.export = export
        self.context = context
        self.sent: dict[Family, dict[bytes, Exported]] = {}
        self._dirty: dict[Family, dict[bytes, Path | None]] = {}

    # --- what changed ------------------------------------------------------------------
    def changed(self, family: Family, key: bytes, best: Path | None) -> None:
        """The prefix's best path is now `best` (None: gone); coalesces with earlier ones."""
        dirty = self._dirty.get(family)
        if dirty is None:
            dirty = self._dirty[family] = {}
        dirty[key] = best

    def changed_many(self, family: Family, keys: Iterable[bytes], best: Path | None) -> None:
        """Many prefixes now share the best path `best` (or are all gone)."""
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
            self.sent.pop(family, None)
        dirty = self._dirty.setdefault(family, {})
        for key, best in table:
            dirty[key] = best

    def adopt(self, other: UpdateGroup) -> None:
        """Start from what `other` has sent and re-examine every prefix: a member moves
        here from `other` (its export changed) and gets only the differences."""
        for family, sent in other.sent.items():
            self.sent[family] = dict(sent)
            dirty = self._dirty.setdefault(family, {})
            dirty.update(dict.fromkeys(sent, None))  # gone, unless the table says otherwise
        for family, dirty in other._dirty.items():
            self._dirty.setdefault(family, {}).update(dirty)

    def pending_in(self, family: Family) -> int:
        return len(self._dirty.get(family, ()))

    @property
    def pending(self) -> int:
        """Prefixes waiting to be considered."""
        return sum(len(d) for d in self._dirty.values())

    def advertised(self) -> int:
        return sum(len(sent) for sent in self.sent.values())

    # --- UPDATEs -------------------------------------------------------------------------
    def produce(self, limit: int | None = None) -> list[Outgoing]:
        """UPDATE messages for dirty prefixes, about `limit` octets of them (all if None).

        Prefixes whose export did not change produce nothing.  Withdrawals of one family
        are packed together, announcements per attribute set, next hop and source.
        """
        out: list[Outgoing] = []
        octets = 0
        budget = limit if limit is not None else -1
        for family in list(self._dirty):
            dirty = self._dirty[family]
            sent = self.sent.setdefault(family, {})
            while dirty and (budget < 0 or octets < budget):
                batch = _take(dirty, budget - octets if budget >= 0 else -1)
                for outgoing in self._encode(family, batch, sent):
                    out.append(outgoing)
                    octets += len(outgoing.message)
            if not dirty:
                del self._dirty[family]
            if budget >= 0 and octets >= budget:
                break
        return out

    def _encode(
        self, family: Family, batch: list[tuple[bytes, Path | None]], sent: dict[bytes, Exported]
    ) -> list[Outgoing]:
        export = self.export
        withdraw: list[bytes] = []
        # Grouped by the attributes' identity (they are interned), next hop and source.
        announce: dict[tuple[int, bytes | None, Address | None], _Batch] = {}
        last_best: Path | None = None
        last_exported: Exported | None = None
        last_batch: _Batch | None = None
        for key, best in batch:
            if best is None:
                exported = None
            elif best is last_best:
                exported = last_exported
            else:
                exported = export(family, key, best)
                last_best, last_exported, last_batch = best, exported, None
            before = sent.get(key)
            if exported is None:
                if before is not None:
                    del sent[key]
                    withdraw.append(key)
                continue
            if before is not None and before[0] is exported[0] and before[1] == exported[1]:
                continue  # the same attributes object and next hop: nothing to say
            sent[key] = exported
            if last_batch is None:
                assert best is not None
                group = (id(exported[0]), exported[1], best.source.address)
                last_batch = announce.get(group)
                if last_batch is None:
                    last_batch = announce[group] = _Batch(exported, best.source.address)
            last_batch.keys.append(key)
            if before is not None:
                last_batch.replaced.append(key)
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


class _Batch:
    __slots__ = ("exported", "keys", "replaced", "source")

    def __init__(self, exported: Exported, source: Address | None) -> None:
        self.exported = exported
        self.source = source
        self.keys: list[bytes] = []
        self.replaced: list[bytes] = []  # keys the members held something else for


def _take(dirty: dict[bytes, Path | None], room: int) -> list[tuple[bytes, Path | None]]:
    """Take dirty prefixes out, oldest first: all of them, or about enough for `room`
    octets (a prefix costs at most 17 octets of NLRI, so room // 17 at least)."""
    count = len(dirty) if room < 0 else max(1, room // 17)
    if count >= len(dirty):
        batch = list(dirty.items())
        dirty.clear()
        return batch
    batch = list(islice(dirty.items(), count))
    for key, _ in batch:
        del dirty[key]
    return batch
