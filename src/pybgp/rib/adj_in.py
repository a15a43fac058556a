"""Adj-RIB-In (RFC 4271 3.2): the routes one peer sent us, as received.

Keyed by family and prefix key (wire bytes, with the ADD-PATH path identifier when
negotiated), each holding the interned `PathAttributes` and the next hop as received.
It keeps routes before any import policy, so a policy change can be applied again
without asking the peer to re-send (RFC 4271 9.1, "soft reconfiguration").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat

from ..wire.attributes import PathAttributes
from ..wire.constants import Family
from ..wire.update import Update


@dataclass(frozen=True, slots=True)
class ReceivedRoute:
    family: Family
    key: bytes  # prefix key, path identifier first under ADD-PATH
    next_hop: bytes | None  # NEXT_HOP octets (IPv4) or MP_REACH next hop (4, 16 or 32)
    attributes: PathAttributes


class AdjRibIn:
    def __init__(self) -> None:
        self._tables: dict[Family, dict[bytes, tuple[bytes | None, PathAttributes]]] = {}

    def apply(self, update: Update) -> tuple[int, int]:
        """Apply one UPDATE; returns (routes added or replaced, routes withdrawn)."""
        removed = 0
        for family, keys in update.withdrawals():
            table = self._tables.get(family)
            if table:
                before = len(table)
                # table.pop for every key, at C speed (a full withdrawal is 500 a message).
                deque(map(table.pop, keys, repeat(None)), maxlen=0)
                removed += before - len(table)
        added = 0
        attributes = update.attributes
        if attributes is not None:
            for family, next_hop, keys in update.announcements():
                table = self._tables.get(family)
                if table is None:
                    table = self._tables[family] = {}
                # One shared entry for the whole NLRI, stored at C speed.
                table.update(dict.fromkeys(keys, (next_hop, attributes)))
                added += len(keys)
        return added, removed

    def remove(self, family: Family, keys: list[bytes]) -> None:
        """Forget `keys` of `family` (as a withdrawal would)."""
        table = self._tables.get(family)
        if table:
            deque(map(table.pop, keys, repeat(None)), maxlen=0)

    def clear(self, family: Family | None = None) -> int:
        """Forget every route (of one family); returns how many there were."""
        if family is None:
            count = len(self)
            self._tables.clear()
            return count
        return len(self._tables.pop(family, {}))

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def count(self, family: Family) -> int:
        return len(self._tables.get(family, {}))

    def families(self) -> Iterator[Family]:
        return iter(self._tables)

    def keys(self, family: Family) -> list[bytes]:
        return list(self._tables.get(family, ()))

    def grouped(self, family: Family) -> Iterator[tuple[bytes | None, PathAttributes, list[bytes]]]:
        """(next hop, attributes, keys): the routes of `family` by the entry they share."""
        groups: dict[int, tuple[bytes | None, PathAttributes, list[bytes]]] = {}
        for key, entry in self._tables.get(family, {}).items():
            group = groups.get(id(entry))
            if group is None:
                group = groups[id(entry)] = (entry[0], entry[1], [])
            group[2].append(key)
        return iter(groups.values())

    def routes(self, family: Family | None = None) -> Iterator[ReceivedRoute]:
        for fam, table in self._tables.items():
            if family is not None and fam != family:
                continue
            for key, (next_hop, attributes) in table.items():
                yield ReceivedRoute(fam, key, next_hop, attributes)
