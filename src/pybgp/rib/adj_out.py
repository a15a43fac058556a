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

Standard library only, no I/O.  Not yet wired into the runtime (issue 4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..wire.attributes import PathAttributes
from ..wire.constants import IPV4_UNICAST, Family
from ..wire.context import CodecContext
from ..wire.update import pack_announcements, pack_withdrawals
from .decision import Path

# What a prefix's best path becomes for this group: attributes and next-hop octets (the
# MP_REACH next hop; for IPv4 routes the NEXT_HOP inside the attributes), or None when
# the group does not get it (export rules, policy).
Exported = tuple[PathAttributes, bytes | None]
Export = Callable[[Family, bytes, Path], Exported | None]


class UpdateGroup:
    def __init__(self, export: Export, context: CodecContext) -> None:
        self.export = export
        self.context = context
        self.sent: dict[Family, dict[bytes, Exported]] = {}
        self._dirty: dict[Family, dict[bytes, Path | None]] = {}

    # --- what changed ------------------------------------------------------------------
    def changed(self, family: Family, key: bytes, best: Path | None) -> None:
        """The prefix's best path is now `best` (None: gone); coalesces with earlier ones."""
        self._dirty.setdefault(family, {})[key] = best

    def resend(self, family: Family, table: Iterable[tuple[bytes, Path]]) -> None:
        """Queue a whole table again (a new member, a ROUTE-REFRESH): what was sent is
        forgotten, so every exported prefix goes out."""
        self.sent.pop(family, None)
        dirty = self._dirty.setdefault(family, {})
        for key, best in table:
            dirty[key] = best

    @property
    def pending(self) -> int:
        """Prefixes waiting to be considered."""
        return sum(len(d) for d in self._dirty.values())

    # --- UPDATEs -------------------------------------------------------------------------
    def produce(self, limit: int | None = None) -> list[bytes]:
        """UPDATE messages for dirty prefixes, about `limit` octets of them (all if None).

        Prefixes whose export did not change produce nothing.  Withdrawals of one family
        are packed together, announcements per attribute set and next hop.
        """
        out: list[bytes] = []
        octets = 0
        budget = limit if limit is not None else -1
        for family in list(self._dirty):
            dirty = self._dirty[family]
            sent = self.sent.setdefault(family, {})
            while dirty and (budget < 0 or octets < budget):
                batch = self._take(dirty, budget - octets if budget >= 0 else -1)
                for message in self._encode(family, batch, sent):
                    out.append(message)
                    octets += len(message)
            if not dirty:
                del self._dirty[family]
            if budget >= 0 and octets >= budget:
                break
        return out

    def _take(self, dirty: dict[bytes, Path | None], room: int) -> list[tuple[bytes, Path | None]]:
        """Take dirty prefixes out, oldest first: all of them, or about enough for `room`
        octets (a prefix costs at most 17 octets of NLRI, so room // 17 at least)."""
        count = len(dirty) if room < 0 else max(1, room // 17)
        batch = []
        for key in dirty:
            batch.append((key, dirty[key]))
            if len(batch) >= count:
                break
        for key, _ in batch:
            del dirty[key]
        return batch

    def _encode(
        self, family: Family, batch: list[tuple[bytes, Path | None]], sent: dict[bytes, Exported]
    ) -> list[bytes]:
        withdraw: list[bytes] = []
        # Grouped by the attributes' identity (they are interned), not their hash.
        announce: dict[tuple[int, bytes | None], tuple[Exported, list[bytes]]] = {}
        for key, best in batch:
            exported = self.export(family, key, best) if best is not None else None
            before = sent.get(key)
            if exported is None:
                if before is not None:
                    del sent[key]
                    withdraw.append(key)
                continue
            if before is not None and before[0] is exported[0] and before[1] == exported[1]:
                continue  # the same attributes object and next hop: nothing to say
            sent[key] = exported
            group = (id(exported[0]), exported[1])
            announce.setdefault(group, (exported, []))[1].append(key)
        messages = list(pack_withdrawals(withdraw, self.context, family)) if withdraw else []
        for (attributes, next_hop), keys in announce.values():
            hop = None if family == IPV4_UNICAST and attributes.next_hop else next_hop
            messages.extend(pack_announcements(attributes, keys, self.context, family, hop))
        return messages
