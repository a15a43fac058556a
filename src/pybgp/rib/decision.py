"""The decision process (RFC 4271 9.1.2.2, with RFC 4456 9): which path is best, and why.

Each step is a separate comparison in `STEPS`, in the RFC's order, named as `pybgp
routes` reports it (GoBGP's `table/` is the model).  `compare(a, b)` walks the steps
and returns the winner with the name of the step that decided; `select(paths)` picks
the best of a prefix's paths, with deterministic MED when asked, and `multipath(...)`
the paths equal to the best up to the IGP cost step (an ECMP set for the kernel).

Standard library only, no I/O.  A path's next hop is checked by the caller's hook
before it gets here (RFC 4271 9.1.2 (c): an unresolvable next hop excludes the path).
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..wire.attributes import PathAttributes
from ..wire.constants import AS_CONFED_SEQUENCE, AS_CONFED_SET, AS_SET

DEFAULT_LOCAL_PREF = 100  # what a path without LOCAL_PREF is ranked with (every daemon's)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """Where a path came from: the peer (or ourselves, for a local route).

    One object per session (and `LOCAL` for our own routes), compared by identity: a
    session that comes back is a new source, and its old paths are gone by then.
    """

    address: Address | None  # None: originated by this speaker
    router_id: int  # the BGP Identifier from the peer's OPEN (ours for local routes)
    external: bool = False  # learned over eBGP
    client: bool = False  # an internal peer that is our route-reflection client (RFC 4456)


LOCAL = Source(address=None, router_id=0)


@dataclass(frozen=True, slots=True, weakref_slot=True, eq=False)
class Path:
    """One candidate path for a prefix.

    Many prefixes share one path (a peer sends thousands of prefixes with one attribute
    set and one next hop): `PathInterner` hands out one object for them all.  Paths
    compare by identity, so that a list of a million of them is searched at C speed.
    """

    attributes: PathAttributes
    source: Source
    next_hop: bytes | None = None
    igp_cost: int = 0  # cost to the next hop, from the IGP cost hook (0 when none)
    # The first three steps as one tuple (lower is better), compared at C speed.
    rank: tuple[int, int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        lp = self.attributes.local_pref
        origin = self.attributes.origin
        rank = (
            -(DEFAULT_LOCAL_PREF if lp is None else lp),
            as_path_length(self.attributes),
            2 if origin is None else origin,
        )
        object.__setattr__(self, "rank", rank)


class PathInterner:
    """One `Path` object per (attributes, source, next hop, IGP cost) in use.

    Keyed by the attributes' identity: the codec interns attribute sets already
    (`wire.AttributeCache`), so equal sets are the same object, and the cache keeps each
    one alive while a Path refers to it.  Entries go when no route holds the Path.
    """

    def __init__(self) -> None:
        self._paths: weakref.WeakValueDictionary[tuple[object, ...], Path] = (
            weakref.WeakValueDictionary()
        )

    def get(
        self,
        attributes: PathAttributes,
        source: Source,
        next_hop: bytes | None,
        igp_cost: int = 0,
    ) -> Path:
        key = (id(attributes), source, next_hop, igp_cost)
        path = self._paths.get(key)
        if path is None or path.attributes is not attributes:
            path = Path(attributes, source, next_hop, igp_cost)
            self._paths[key] = path
        return path

    def __len__(self) -> int:
        return len(self._paths)


@dataclass(frozen=True, slots=True)
class Options:
    always_compare_med: bool = False  # compare MED across neighbouring ASes too
    deterministic_med: bool = False  # choose within each neighbouring AS first
    med_missing_as_worst: bool = False  # RFC 4271 says a missing MED is the lowest


DEFAULT_OPTIONS = Options()


def as_path_length(attributes: PathAttributes) -> int:
    """RFC 4271 9.1.2.2 (a): an AS_SET counts 1 however many ASes it holds; RFC 5065 5.3:
    confederation segments do not count."""
    length = 0
    for kind, asns in attributes.as_path:
        if kind in (AS_CONFED_SEQUENCE, AS_CONFED_SET):
            continue
        length += 1 if kind == AS_SET else len(asns)
    return length


def neighbor_as(attributes: PathAttributes) -> int:
    """RFC 4271 9.1.2.2 (c): the AS the path came from, the first of its AS_PATH (0 for a
    path with none: our own or an iBGP peer's local route)."""
    for kind, asns in attributes.as_path:
        if kind in (AS_CONFED_SEQUENCE, AS_CONFED_SET):
            continue
        return asns[0] if asns else 0
    return 0


def _local_pref(path: Path) -> int:
    lp = path.attributes.local_pref
    return DEFAULT_LOCAL_PREF if lp is None else lp


def _med(path: Path, options: Options) -> int:
    med = path.attributes.med
    if med is None:
        return 0xFFFFFFFF if options.med_missing_as_worst else 0
    return med


def _origin(path: Path) -> int:
    origin = path.attributes.origin
    return 2 if origin is None else origin


def _bgp_id(path: Path) -> int:
    # RFC 4456 9: "the ORIGINATOR_ID SHOULD be treated as the BGP Identifier".
    originator = path.attributes.originator_id
    return int.from_bytes(originator, "big") if originator else path.source.router_id


def _address_key(path: Path) -> tuple[int, int]:
    address = path.source.address
    return (0, 0) if address is None else (address.version, int(address))


# Each step: (name, compare(a, b, options) -> negative when a is better, 0 when equal).
Step = tuple[str, Callable[[Path, Path, Options], int]]


def _lower(a: int, b: int) -> int:
    return (a > b) - (a < b)


STEPS: tuple[Step, ...] = (
    # RFC 4271 9.1.1: the degree of preference, LOCAL_PREF (higher is better).
    ("local-pref", lambda a, b, o: _lower(_local_pref(b), _local_pref(a))),
    # 9.1.2.2 (a): the shortest AS_PATH.
    (
        "as-path-length",
        lambda a, b, o: _lower(as_path_length(a.attributes), as_path_length(b.attributes)),
    ),
    # 9.1.2.2 (b): the lowest ORIGIN (IGP < EGP < INCOMPLETE).
    ("origin", lambda a, b, o: _lower(_origin(a), _origin(b))),
    # 9.1.2.2 (c): the lowest MED, only between paths from the same neighbouring AS
    # (unless always-compare-med).
    (
        "med",
        lambda a, b, o: (
            _lower(_med(a, o), _med(b, o))
            if o.always_compare_med or neighbor_as(a.attributes) == neighbor_as(b.attributes)
            else 0
        ),
    ),
    # 9.1.2.2 (d): a path learned over eBGP over one learned over iBGP.
    ("ebgp-over-ibgp", lambda a, b, o: _lower(not a.source.external, not b.source.external)),
    # 9.1.2.2 (e): the lowest interior cost to the next hop.
    ("igp-cost", lambda a, b, o: _lower(a.igp_cost, b.igp_cost)),
    # 9.1.2.2 (f): the lowest BGP Identifier (ORIGINATOR_ID when present, RFC 4456 9).
    ("router-id", lambda a, b, o: _lower(_bgp_id(a), _bgp_id(b))),
    # RFC 4456 9, between (f) and (g): the shorter CLUSTER_LIST.
    (
        "cluster-list-length",
        lambda a, b, o: _lower(len(a.attributes.cluster_list), len(b.attributes.cluster_list)),
    ),
    # 9.1.2.2 (g): the lowest peer address.
    ("peer-address", lambda a, b, o: _lower(_address_key(a), _address_key(b))),
)
_MULTIPATH_STEPS = 6  # steps up to and including igp-cost: ECMP peers tie on these


_RANK_STEPS = ("local-pref", "as-path-length", "origin")  # Path.rank, in order


def compare(a: Path, b: Path, options: Options = DEFAULT_OPTIONS) -> tuple[Path, str]:
    """The better of two paths and the name of the step that chose it."""
    ra, rb = a.rank, b.rank
    if ra != rb:  # decided by one of the first three steps: no need to walk them
        for index, name in enumerate(_RANK_STEPS):
            if ra[index] != rb[index]:
                return (a if ra[index] < rb[index] else b), name
    for name, step in STEPS[len(_RANK_STEPS) :]:
        order = step(a, b, options)
        if order:
            return (a if order < 0 else b), name
    return a, "equal"


def _scan(paths: Sequence[Path], options: Options) -> tuple[Path, str]:
    best, reason = paths[0], "only path"
    for path in paths[1:]:
        best, reason = compare(best, path, options)
    return best, reason


def select(paths: Sequence[Path], options: Options = DEFAULT_OPTIONS) -> tuple[Path, str] | None:
    """The best of a prefix's paths and why (None when there is none).

    With deterministic MED the paths are first grouped by neighbouring AS and the best of
    each group found, so that the outcome does not depend on the order paths arrived in
    (the MED step alone is not transitive across ASes).
    """
    if not paths:
        return None
    if not options.deterministic_med or options.always_compare_med:
        return _scan(paths, options)
    groups: dict[int, list[Path]] = {}
    for path in paths:
        groups.setdefault(neighbor_as(path.attributes), []).append(path)
    winners = [_scan(group, options)[0] for group in groups.values()]
    best, reason = _scan(winners, options)
    if len(winners) == 1 and len(paths) > 1:
        reason = _scan(paths, options)[1]  # within one AS: the step that decided there
    return best, reason


def multipath(paths: Sequence[Path], best: Path, options: Options = DEFAULT_OPTIONS) -> list[Path]:
    """The paths that tie with `best` up to the IGP cost step: an ECMP set, best first.

    Like BIRD's `merge paths` and FRR's `maximum-paths`: equal LOCAL_PREF, AS_PATH length,
    ORIGIN, MED, eBGP/iBGP and IGP cost, with distinct next hops.
    """
    chosen = [best]
    hops = {best.next_hop}
    for path in paths:
        if path is best or path.next_hop in hops:
            continue
        if all(step(path, best, options) == 0 for _, step in STEPS[:_MULTIPATH_STEPS]):
            chosen.append(path)
            hops.add(path.next_hop)
    return chosen
