"""Loc-RIB (RFC 4271 3.2, 9.1): every prefix's candidate paths and the best of them.

Each prefix holds its paths (one per source: a peer, or ourselves) and the best path
with the step that chose it.  Most prefixes have a single path: for them the table holds
that (shared, interned) `Path` itself, and nothing per prefix besides the dict slot.
A change of paths runs the decision process for that prefix only (RFC 4271 9.1.2:
"upon ... an UPDATE"), and reports a `BestChange` when the best path (or its absence)
changed, which is what the Adj-RIBs-Out and the FIB follow.  A peer that goes down
takes all its paths in one call (`remove_many`).

Standard library only, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from ..wire.constants import Family
from .decision import DEFAULT_OPTIONS, Options, Path, Source, compare, select

ONLY_PATH = "only path"
_sources = attrgetter("source")


@dataclass(frozen=True, slots=True)
class BestChange:
    family: Family
    key: bytes
    best: Path | None  # None: the prefix has no path any more
    reason: str
    previous: Path | None


@dataclass(slots=True, eq=False)
class _Entry:
    paths: tuple[Path, ...]
    best: Path
    reason: str


class LocRib:
    def __init__(self, options: Options = DEFAULT_OPTIONS) -> None:
        self.options = options
        # key -> the only Path, or an _Entry when there are several.
        self._tables: dict[Family, dict[bytes, Path | _Entry]] = {}

    def set_path(self, family: Family, key: bytes, path: Path) -> BestChange | None:
        """Add `path`, or replace the path from the same source."""
        table = self._tables.setdefault(family, {})
        held = table.get(key)
        if held is None:
            table[key] = path
            return BestChange(family, key, path, ONLY_PATH, None)
        if isinstance(held, Path):
            if held.source is path.source:
                table[key] = path
                return None if held is path else BestChange(family, key, path, ONLY_PATH, held)
            return self._decide(family, key, held, (held, path))
        source = path.source
        if not self.options.deterministic_med and id(source) not in map(
            id, map(_sources, held.paths)
        ):
            # A new source: the scan over (old paths..., path) would end by comparing
            # the old best with `path`, so that one comparison is the whole decision.
            best, reason = compare(held.best, path, self.options)
            paths = (*held.paths, path)
            table[key] = _Entry(paths, best, reason)
            if best is held.best:
                return None
            return BestChange(family, key, best, reason, held.best)
        others = tuple(p for p in held.paths if p.source is not source)
        return self._decide(family, key, held.best, (*others, path))

    def remove_path(self, family: Family, key: bytes, source: Source) -> BestChange | None:
        """Withdraw the path `source` gave for `key` (nothing happens if it gave none)."""
        held = self._tables.get(family, {}).get(key)
        if held is None:
            return None
        if isinstance(held, Path):
            if held.source is not source:
                return None
            del self._tables[family][key]
            return BestChange(family, key, None, "withdrawn", held)
        paths = tuple(p for p in held.paths if p.source is not source)
        if len(paths) == len(held.paths):
            return None
        return self._decide(family, key, held.best, paths)

    def set_many(
        self, family: Family, keys: list[bytes], path: Path
    ) -> tuple[list[bytes], list[BestChange]]:
        """`set_path` for many prefixes that got the same path (one UPDATE's NLRI).

        Returns the keys whose best path is now `path` with reason "only path" (the common
        case, kept as plain keys so that a big UPDATE costs no object per prefix), and
        the other best-path changes.  New prefixes, the usual case of a table arriving,
        are stored at C speed.
        """
        table = self._tables.get(family)
        if table is None:
            table = self._tables[family] = {}
        held = list(map(table.get, keys))
        if held.count(None) == len(keys):
            table.update(dict.fromkeys(keys, path))
            return keys, []
        source = path.source
        plain: list[bytes] = []
        others: list[BestChange] = []
        for key, old in zip(keys, held, strict=True):
            if old is None or (old.__class__ is Path and old.source is source):  # type: ignore[union-attr]
                table[key] = path
                if old is not path:
                    plain.append(key)
                continue
            change = self.set_path(family, key, path)
            if change is not None:
                others.append(change)
        return plain, others

    def remove_many(
        self, family: Family, keys: list[bytes], source: Source
    ) -> tuple[list[bytes], list[BestChange]]:
        """`remove_path` for many prefixes: the keys now without any path, and the other
        best-path changes."""
        table = self._tables.get(family)
        gone: list[bytes] = []
        others: list[BestChange] = []
        if not table:
            return gone, others
        held = list(map(table.get, keys))
        try:
            sources = list(map(_sources, held))  # None and _Entry have no .source
        except AttributeError:
            pass
        else:
            if sources.count(source) == len(keys):
                # Every prefix held only this source's path (a peer's table going away):
                # all of them go, at C speed.
                deque(map(table.__delitem__, keys), maxlen=0)
                return list(keys), others
        get = table.get
        for key in keys:
            held = get(key)
            if held is None:
                continue
            if held.__class__ is Path:
                if held.source is source:  # type: ignore[union-attr]
                    gone.append(key)
                continue
            change = self.remove_path(family, key, source)
            if change is not None:
                others.append(change)
        deque(map(table.__delitem__, gone), maxlen=0)  # del table[key] each, at C speed
        return gone, others

    def remove_source(
        self, source: Source, keys: Iterable[tuple[Family, bytes]]
    ) -> list[BestChange]:
        """Withdraw every path `source` gave (its Adj-RIB-In's keys): a peer went down."""
        changes = []
        for family, key in keys:
            change = self.remove_path(family, key, source)
            if change is not None:
                changes.append(change)
        return changes

    def _decide(
        self, family: Family, key: bytes, previous: Path, paths: tuple[Path, ...]
    ) -> BestChange | None:
        table = self._tables[family]
        if len(paths) == 1:
            table[key] = best = paths[0]
            reason = ONLY_PATH
        else:
            chosen = select(paths, self.options)
            assert chosen is not None
            best, reason = chosen
            table[key] = _Entry(paths, best, reason)
        if best is previous:
            return None
        return BestChange(family, key, best, reason, previous)

    # --- reading -------------------------------------------------------------------------
    def best(self, family: Family, key: bytes) -> tuple[Path, str] | None:
        held = self._tables.get(family, {}).get(key)
        if held is None:
            return None
        return (held, ONLY_PATH) if isinstance(held, Path) else (held.best, held.reason)

    def paths(self, family: Family, key: bytes) -> tuple[Path, ...]:
        held = self._tables.get(family, {}).get(key)
        if held is None:
            return ()
        return (held,) if isinstance(held, Path) else held.paths

    def items(self, family: Family) -> Iterator[tuple[bytes, Path, str]]:
        for key, held in self._tables.get(family, {}).items():
            if isinstance(held, Path):
                yield key, held, ONLY_PATH
            else:
                yield key, held.best, held.reason

    def families(self) -> list[Family]:
        return [family for family, table in self._tables.items() if table]

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())
