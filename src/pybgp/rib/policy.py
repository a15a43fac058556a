"""Import and export policy: which routes to take or send, and what to change on them.

A *policy* is an ordered list of *terms*.  A term matches a route when every condition it
has holds (its prefix is in the term's prefix list, its AS_PATH matches the term's regular
expression, it carries all the term's communities and large communities); a term without
conditions matches every route.  The first term that matches decides: `accept` (after
setting LOCAL_PREF, MED, communities...) or `reject`.  When no term matches, the policy's
default decides.  A *chain* is the policies one peer applies in one direction, in order:
each accepted route goes on to the next policy with its changed attributes, and a reject
anywhere rejects.

This module is sans-I/O: the configuration (`pybgp.config.policy`) builds the frozen
`PolicyDefinition` model below, `compile_chain` turns a list of names into a `Chain`, and
the RIB calls `Chain.apply` for every route it imports or exports.  Nothing here keeps
routes, so applying a changed policy is compiling a new chain and running the routes the
RIB already holds (Adj-RIB-In keeps them before import policy) through it again: sessions
need not restart.

`apply` is on the hot path (every prefix of every UPDATE), and downstream code groups
routes by the *identity* of their attributes object to pack UPDATEs.  So a chain remembers
what it made of each attributes object: the same input object gives the very same output
object, and unchanged attributes come back as the input object itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..wire.attributes import PathAttributes
from ..wire.constants import (
    AS_CONFED_SEQUENCE,
    AS_CONFED_SET,
    AS_SET,
    BLACKHOLE,
    NO_ADVERTISE,
    NO_EXPORT,
    NO_EXPORT_SUBCONFED,
    NOPEER,
    Afi,
    Family,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LargeCommunity = tuple[int, int, int]

# How many attributes objects each memo remembers per generation (see `_Memo`).
MEMO_LIMIT = 32_768

# RFC 1997 (and RFC 3765, RFC 7999): names of well-known communities, for display.
WELL_KNOWN_NAMES = {
    NO_EXPORT: "no-export",
    NO_ADVERTISE: "no-advertise",
    NO_EXPORT_SUBCONFED: "no-export-subconfed",
    NOPEER: "no-peer",
    BLACKHOLE: "blackhole",
}


def community_str(value: int) -> str:
    """A 32-bit community as written in the configuration: '65000:100' or 'no-export'."""
    name = WELL_KNOWN_NAMES.get(value)
    # RFC 1997: conventionally the high 16 bits are an AS number, the low 16 bits a value.
    return name if name is not None else f"{value >> 16}:{value & 0xFFFF}"


def large_community_str(value: LargeCommunity) -> str:
    """RFC 8092 3: Global Administrator, Local Data Part 1, Local Data Part 2."""
    return ":".join(str(part) for part in value)


# ---------------------------------------------------------------------------------------
# The model: what the configuration builds.  Frozen and hashable, so two chains compiled
# from the same definitions compare equal (a reload can tell that nothing changed).


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    """One prefix-list entry: routes inside `prefix` whose length is in ge..le.

    As in FRR and BIRD, `10.0.0.0/8` alone matches exactly 10.0.0.0/8, `le 24` matches
    10.0.0.0/8 and its more specifics up to /24, and `ge 16` those from /16 to the full
    address length.  The configuration resolves ge and le, so both are always set here.
    """

    prefix: IPNetwork
    ge: int
    le: int

    def __str__(self) -> str:
        """Written so that the configuration reads it back as the same entry."""
        length, bits = self.prefix.prefixlen, self.prefix.max_prefixlen
        if self.ge == length:
            return str(self.prefix) + (f" le {self.le}" if self.le != length else "")
        if self.le == bits:
            return f"{self.prefix} ge {self.ge}"
        return f"{self.prefix} ge {self.ge} le {self.le}"


@dataclass(frozen=True, slots=True)
class Term:
    """One rule of a policy: conditions (all must hold) and what to do with a match."""

    accept: bool
    prefixes: tuple[PrefixMatch, ...] = ()  # any one of them; () = every prefix
    as_path: str | None = None  # a regex over `as_path_text`, '_' as in FRR; None = any
    communities: tuple[int, ...] = ()  # all must be present (RFC 1997 values)
    large_communities: tuple[LargeCommunity, ...] = ()  # all must be present (RFC 8092)
    set_local_pref: int | None = None
    set_med: int | None = None
    add_communities: tuple[int, ...] = ()  # removals happen before additions
    remove_communities: tuple[int, ...] = ()
    add_large_communities: tuple[LargeCommunity, ...] = ()
    remove_large_communities: tuple[LargeCommunity, ...] = ()

    def __str__(self) -> str:
        parts: list[str] = []
        if self.prefixes:
            parts.append("prefix " + ", ".join(str(p) for p in self.prefixes))
        if self.as_path is not None:
            parts.append(f"as-path {self.as_path!r}")
        if self.communities:
            parts.append("community " + " ".join(map(community_str, self.communities)))
        if self.large_communities:
            large = " ".join(map(large_community_str, self.large_communities))
            parts.append("large-community " + large)
        match = " and ".join(parts) if parts else "any"
        sets: list[str] = []
        if self.set_local_pref is not None:
            sets.append(f"local-pref {self.set_local_pref}")
        if self.set_med is not None:
            sets.append(f"med {self.set_med}")
        sets += ["-" + community_str(value) for value in self.remove_communities]
        sets += ["+" + community_str(value) for value in self.add_communities]
        sets += ["-" + large_community_str(value) for value in self.remove_large_communities]
        sets += ["+" + large_community_str(value) for value in self.add_large_communities]
        action = "accept" if self.accept else "reject"
        return f"{match} -> {action}" + (f" ({', '.join(sets)})" if sets else "")

    @property
    def sets_anything(self) -> bool:
        """Whether an accept by this term may change the attributes."""
        return (
            self.set_local_pref is not None
            or self.set_med is not None
            or bool(self.add_communities or self.remove_communities)
            or bool(self.add_large_communities or self.remove_large_communities)
        )


@dataclass(frozen=True, slots=True)
class PolicyDefinition:
    """A named policy ([[policy]] in the configuration): terms tried in order."""

    name: str
    terms: tuple[Term, ...] = ()
    default_accept: bool = True  # the outcome when no term matches

    def describe(self) -> str:
        """Several lines, one per term, for logs and `--check` output."""
        lines = [f"policy {self.name}:"]
        lines += [f"  {i}: {term}" for i, term in enumerate(self.terms)]
        lines.append(f"  otherwise: {'accept' if self.default_accept else 'reject'}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# AS_PATH as text, and FRR-style regular expressions over it.

# RFC 4271 4.3 and RFC 5065 3: how FRR writes each segment type (an AS_SEQUENCE is bare).
_SEGMENT_FORMS = {
    AS_SET: ("{", ",", "}"),
    AS_CONFED_SEQUENCE: ("(", " ", ")"),
    AS_CONFED_SET: ("[", " ", "]"),
}
# FRR's '_': an AS separator, a segment bracket, or the start or end of the path.
_UNDERSCORE = r"(?:^|[ ,{}()\[\]]|$)"


def as_path_text(as_path: Sequence[tuple[int, Sequence[int]]]) -> str:
    """'64512 64513 {64600,64601}': the AS_PATH as FRR and BIRD show it, ASNs in asplain."""
    words: list[str] = []
    for segment_type, asns in as_path:
        form = _SEGMENT_FORMS.get(segment_type)
        if form is None:
            words.extend(map(str, asns))
        else:
            opening, separator, closing = form
            words.append(opening + separator.join(map(str, asns)) + closing)
    return " ".join(words)


def compile_as_path_regex(pattern: str) -> re.Pattern[str]:
    """The compiled form of an as-path match; '_' stands for `_UNDERSCORE`.

    Like FRR, the expression is searched for anywhere in the text, so '_64512_' means "64512
    is in the path" and '^64512_' "the neighbour is AS 64512".  A literal '_' cannot occur
    in the text, so replacing every one of them loses nothing.  Raises `re.error`.
    """
    return re.compile(pattern.replace("_", _UNDERSCORE))


# ---------------------------------------------------------------------------------------
# Compiled form.


class _Memo:
    """What was computed for each attributes object, keyed by `id()`, bounded.

    The entry holds the object itself, which keeps it alive and so its id unique for as
    long as the entry exists; the `is` check is a guard, not a necessity.  Two generations
    make it an approximate LRU in O(1): hits are promoted to the young one, and when that
    fills up the old one is dropped whole.  `PathAttributes` has `__slots__` and no weak
    references, and hashing it by value would walk its tuples on every call.
    """

    __slots__ = ("_limit", "_old", "_young")

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._young: dict[int, tuple[PathAttributes, Any]] = {}
        self._old: dict[int, tuple[PathAttributes, Any]] = {}

    def get(self, attributes: PathAttributes) -> Any:
        """The stored value, or `_MISSING`."""
        ident = id(attributes)
        entry = self._young.get(ident)
        if entry is None:
            entry = self._old.pop(ident, None)
            if entry is None or entry[0] is not attributes:
                return _MISSING
            self._store(ident, entry)
        elif entry[0] is not attributes:
            return _MISSING
        return entry[1]

    def put(self, attributes: PathAttributes, value: Any) -> None:
        self._store(id(attributes), (attributes, value))

    def _store(self, ident: int, entry: tuple[PathAttributes, Any]) -> None:
        if len(self._young) >= self._limit:
            self._old, self._young = self._young, {}
        self._young[ident] = entry

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


_MISSING: Any = object()

# Per route prefix length: (shift, set of entry networks) pairs; a route whose address
# shifted right by `shift` is in the set is inside an entry that admits its length.
_LengthTable = tuple[tuple[tuple[int, frozenset[int]], ...], ...]


def _length_table(entries: Sequence[PrefixMatch], bits: int) -> _LengthTable:
    """Precompute, for each route length 0..bits, the entries that admit it.

    A route /n is given as the integer of its n-bit key octets (8 * ceil(n / 8) bits), so
    an entry /m contains it exactly when that integer shifted right by 8 * ceil(n / 8) - m
    equals the entry's network shifted right by bits - m.
    """
    table: list[tuple[tuple[int, frozenset[int]], ...]] = []
    for length in range(bits + 1):
        width = 8 * ((length + 7) // 8)
        by_length: dict[int, set[int]] = {}
        for entry in entries:
            if entry.ge <= length <= entry.le:
                m = entry.prefix.prefixlen
                network = int(entry.prefix.network_address) >> (bits - m)
                by_length.setdefault(m, set()).add(network)
        table.append(tuple((width - m, frozenset(nets)) for m, nets in sorted(by_length.items())))
    return tuple(table)


def _prefix_matcher(entries: Sequence[PrefixMatch]) -> Callable[[Family, bytes], bool]:
    """A function telling whether a route key is in the prefix list."""
    v4 = _length_table([e for e in entries if e.prefix.version == 4], 32)
    v6 = _length_table([e for e in entries if e.prefix.version == 6], 128)
    tables: dict[int, _LengthTable] = {Afi.IPV4: v4, Afi.IPV6: v6}

    def matches(family: Family, key: bytes) -> bool:
        table = tables.get(family[0])
        if table is None or not key:
            return False  # another family, or a key that is no prefix: no match
        length = key[0]
        if length >= len(table):
            return False
        candidates = table[length]
        if not candidates:
            return False
        address = int.from_bytes(key[1:], "big")
        for shift, networks in candidates:  # noqa: SIM110 (cheaper than any() on a generator)
            if address >> shift in networks:
                return True
        return False

    return matches


def _changed(
    old: tuple[Any, ...], remove: tuple[Any, ...], add: tuple[Any, ...]
) -> tuple[Any, ...]:
    """`old` without `remove`, then with each of `add` it lacks appended (order kept)."""
    kept = tuple(value for value in old if value not in remove) if remove else old
    extra = tuple(value for value in add if value not in kept)
    return kept + extra if extra else kept


class _CompiledTerm:
    """A term with its regex compiled and its prefix list turned into lookup tables."""

    __slots__ = ("as_path", "match_prefix", "term")

    def __init__(self, term: Term) -> None:
        self.term = term
        self.as_path = compile_as_path_regex(term.as_path) if term.as_path is not None else None
        self.match_prefix = _prefix_matcher(term.prefixes) if term.prefixes else None

    def matches_attributes(self, attributes: PathAttributes, path_text: list[str]) -> bool:
        """The conditions that do not depend on the prefix; `path_text` caches the text."""
        term = self.term
        if term.communities:
            present = attributes.communities
            if not all(value in present for value in term.communities):
                return False
        if term.large_communities:
            present_large = attributes.large_communities
            if not all(value in present_large for value in term.large_communities):
                return False
        if self.as_path is not None:
            if not path_text:
                path_text.append(as_path_text(attributes.as_path))
            if self.as_path.search(path_text[0]) is None:
                return False
        return True

    def outcome(self, attributes: PathAttributes) -> PathAttributes | None:
        """None for a reject; for an accept the attributes with the sets applied (the
        input object itself when they change nothing)."""
        term = self.term
        if not term.accept:
            return None
        if not term.sets_anything:
            return attributes
        changes: dict[str, Any] = {}
        if term.set_local_pref is not None and attributes.local_pref != term.set_local_pref:
            changes["local_pref"] = term.set_local_pref
        if term.set_med is not None and attributes.med != term.set_med:
            changes["med"] = term.set_med
        communities = _changed(
            attributes.communities, term.remove_communities, term.add_communities
        )
        if communities != attributes.communities:
            changes["communities"] = communities
        large = _changed(
            attributes.large_communities,
            term.remove_large_communities,
            term.add_large_communities,
        )
        if large != attributes.large_communities:
            changes["large_communities"] = large
        return attributes.replace(**changes) if changes else attributes


class _Plan:
    """For one attributes object and one prefix-dependent policy: the terms whose other
    conditions hold, in order, and the outcome of each, computed when first needed."""

    __slots__ = ("attributes", "outcomes", "terms")

    def __init__(self, attributes: PathAttributes, terms: tuple[_CompiledTerm, ...]) -> None:
        self.attributes = attributes
        self.terms = terms
        self.outcomes: list[Any] = [_MISSING] * len(terms)

    def outcome(self, index: int) -> PathAttributes | None:
        result = self.outcomes[index]
        if result is _MISSING:
            result = self.outcomes[index] = self.terms[index].outcome(self.attributes)
        return result


class _Policy:
    """One compiled policy with its own memo."""

    __slots__ = ("definition", "memo", "prefix_dependent", "terms")

    def __init__(self, definition: PolicyDefinition, memo_limit: int) -> None:
        self.definition = definition
        self.terms = tuple(_CompiledTerm(term) for term in definition.terms)
        self.prefix_dependent = any(term.match_prefix is not None for term in self.terms)
        self.memo = _Memo(memo_limit)

    def _default(self, attributes: PathAttributes) -> PathAttributes | None:
        return attributes if self.definition.default_accept else None

    def decide(self, attributes: PathAttributes) -> PathAttributes | None:
        """The outcome for a policy without prefix conditions; not memoised."""
        path_text: list[str] = []
        for term in self.terms:
            if term.matches_attributes(attributes, path_text):
                return term.outcome(attributes)
        return self._default(attributes)

    def plan(self, attributes: PathAttributes) -> _Plan:
        """The candidate terms for `attributes`: those whose attribute conditions hold, up
        to the first without prefix conditions (which always matches, hiding the rest)."""
        path_text: list[str] = []
        candidates: list[_CompiledTerm] = []
        for term in self.terms:
            if term.matches_attributes(attributes, path_text):
                candidates.append(term)
                if term.match_prefix is None:
                    break
        return _Plan(attributes, tuple(candidates))

    def apply(self, family: Family, key: bytes, attributes: PathAttributes) -> Any:
        """Memoised: per attributes object, and per matched term when prefixes count."""
        memo = self.memo
        stored = memo.get(attributes)
        if not self.prefix_dependent:
            if stored is _MISSING:
                stored = self.decide(attributes)
                memo.put(attributes, stored)
            return stored
        if stored is _MISSING:
            stored = self.plan(attributes)
            memo.put(attributes, stored)
        for index, term in enumerate(stored.terms):
            if term.match_prefix is None or term.match_prefix(family, key):
                return stored.outcome(index)
        return self._default(attributes)


class Chain:
    """A compiled sequence of policies for one direction of one peer.

    `apply(family, key, attributes)` is the attributes to use (None: the route is
    rejected).  `prefix_dependent` is True when some term matches on prefixes, so that
    routes sharing one attributes object may fare differently; when False, a caller may
    apply the chain once per attributes object rather than once per route.

    Two chains compiled from equal definitions compare equal (their memos differ, which
    changes no outcome): a reload can keep the old chain and skip re-evaluating routes.
    """

    __slots__ = ("_memo", "_policies", "definitions", "prefix_dependent")

    def __init__(
        self, definitions: Sequence[PolicyDefinition] = (), memo_limit: int = MEMO_LIMIT
    ) -> None:
        self.definitions: tuple[PolicyDefinition, ...] = tuple(definitions)
        self._policies = tuple(_Policy(d, memo_limit) for d in self.definitions)
        self.prefix_dependent: bool = any(p.prefix_dependent for p in self._policies)
        # A chain without prefix conditions needs one memo for all its policies.
        self._memo = _Memo(memo_limit)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(definition.name for definition in self.definitions)

    def apply(
        self, family: Family, key: bytes, attributes: PathAttributes
    ) -> PathAttributes | None:
        """The attributes to import or export the route `key` of `family` with, or None to
        reject it.  The same input object gives the same output object (the input itself
        when nothing changes), per matched terms when the outcome depends on the prefix."""
        if not self._policies:
            return attributes
        if not self.prefix_dependent:
            result = self._memo.get(attributes)
            if result is _MISSING:
                result = attributes
                for policy in self._policies:
                    result = policy.decide(result)
                    if result is None:
                        break
                self._memo.put(attributes, result)
            return result  # type: ignore[no-any-return]
        result = attributes
        for policy in self._policies:
            result = policy.apply(family, key, result)
            if result is None:
                return None
        return result

    def describe(self) -> str:
        """The chain's policies with their terms, several lines."""
        if not self.definitions:
            return "accept all (no policy)"
        return "\n".join(definition.describe() for definition in self.definitions)

    def __repr__(self) -> str:
        names = ", ".join(self.names) or "accept all"
        return f"<Chain {names}{' (per prefix)' if self.prefix_dependent else ''}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chain):
            return NotImplemented
        return self.definitions == other.definitions

    def __hash__(self) -> int:
        return hash(self.definitions)


ACCEPT_ALL = Chain()


def compile_chain(
    names: Sequence[str],
    definitions: Mapping[str, PolicyDefinition],
    memo_limit: int = MEMO_LIMIT,
) -> Chain:
    """The chain applying the policies `names`, in order; ACCEPT_ALL for no names.

    Raises ValueError for a name not in `definitions` or an as-path regex that does not
    compile (the configuration checks both, so this only guards direct callers).
    """
    if not names:
        return ACCEPT_ALL
    chosen: list[PolicyDefinition] = []
    for name in names:
        definition = definitions.get(name)
        if definition is None:
            known = ", ".join(definitions) or "none"
            raise ValueError(f"no policy named {name!r}; defined: {known}")
        chosen.append(definition)
    try:
        return Chain(chosen, memo_limit)
    except re.error as err:
        raise ValueError(f"bad as-path regular expression: {err}") from None
