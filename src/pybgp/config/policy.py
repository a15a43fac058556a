"""[[policy]] tables, and the `import` / `export` lists of peers that name them.

    [[policy]]
    name = "clients-in"
      [[policy.term]]
      prefix = ["10.244.0.0/16 ge 26 le 26"]
      action = "accept"
      set-local-pref = 200
    default = "reject"

The model is `pybgp.rib.policy.PolicyDefinition`, which the RIB compiles; this module only
reads and checks it, so that every mistake is reported against its key at start-up rather
than found when the first route arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pybgp.rib.policy import (
    PolicyDefinition,
    PrefixMatch,
    Term,
    community_str,
    compile_as_path_regex,
    large_community_str,
)

from .announce import community, large_community
from .errors import ConfigError
from .schema import Key, Parser, array_of, as_table, child, item, read_table, reject_duplicates
from .schema import wrong_type as _wrong_type
from .values import as_str, choice, network, text, uint32

T = TypeVar("T")

ACTIONS = {"accept": True, "reject": False}
PREFIX_FORM = "'PREFIX [ge N] [le N]' like '10.244.0.0/16 ge 24 le 26'"


def _length(word: str, value: str, key: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(key, f"{word} must be followed by a prefix length, got '{value}'")
    return int(value)


def prefix_match(value: Any, key: str) -> PrefixMatch:
    """'10.244.0.0/16 ge 24 le 26' -> a prefix-list entry, with FRR's rules.

    No ge and no le: the prefix exactly.  `le N` alone: lengths from the prefix's to N.
    `ge N` alone: from N to the address length.  length <= ge <= le <= 32 (or 128).
    """
    words = as_str(value, key).split()
    if not words:
        raise ConfigError(key, f"expected {PREFIX_FORM}, got '{value}'")
    prefix = network(words[0], key)
    length, bits = prefix.prefixlen, prefix.max_prefixlen
    bounds: dict[str, int] = {}
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word not in ("ge", "le") or word in bounds:
            raise ConfigError(key, f"expected {PREFIX_FORM}, got '{value}'")
        if not rest:
            raise ConfigError(key, f"{word} must be followed by a prefix length")
        bounds[word] = _length(word, rest.pop(0), key)
    for word, number in bounds.items():
        if number < length:
            raise ConfigError(
                key, f"{word} must be at least the prefix length {length}, got {number}"
            )
        if number > bits:
            raise ConfigError(
                key,
                f"{word} must be at most {bits} for an IPv{prefix.version} prefix, got {number}",
            )
    ge = bounds.get("ge", length)
    le = bounds.get("le", bits if "ge" in bounds else length)
    if le < ge:
        raise ConfigError(key, f"le must be at least ge ({ge}), got {le}")
    return PrefixMatch(prefix, ge, le)


def as_path_regex(value: Any, key: str) -> str:
    """An FRR-style regular expression over the AS_PATH text; checked here, kept as text."""
    pattern = as_str(value, key)
    try:
        compile_as_path_regex(pattern)
    except re.error as err:
        raise ConfigError(key, f"not a valid regular expression: {err}") from None
    return pattern


def _same(value: T) -> T:
    return value


def _values(parse: Parser[T], non_empty: bool = False) -> Parser[tuple[T, ...]]:
    """An array of `parse`d values, each once."""
    return array_of(parse, non_empty=non_empty, unique_by=_same)


TERM_KEYS = (
    # Conditions: all that are present must hold; a term with none matches every route.
    Key("prefix", _values(prefix_match, non_empty=True), (), attr="prefixes"),
    Key("as-path", as_path_regex, None),
    # RFC 1997: 'A:B' or a well-known name such as no-export, no-advertise.
    Key("community", _values(community, non_empty=True), (), attr="communities"),
    # RFC 8092: 'A:B:C', three 32-bit parts.
    Key(
        "large-community",
        _values(large_community, non_empty=True),
        (),
        attr="large_communities",
    ),
    Key("action", choice(ACTIONS, "action"), attr="accept"),
    # Changes an accept makes: RFC 4271 5.1.5 LOCAL_PREF and 5.1.4 MULTI_EXIT_DISC are
    # 4 octets; communities are removed first, then added.
    Key("set-local-pref", uint32, None),
    Key("set-med", uint32, None),
    Key("add-communities", _values(community), ()),
    Key("remove-communities", _values(community), ()),
    Key("add-large-communities", _values(large_community), ()),
    Key("remove-large-communities", _values(large_community), ()),
)

_SET_KEYS = tuple(key for key in TERM_KEYS if key.name.startswith(("set-", "add-", "remove-")))


def _check_overlap(
    values: dict[str, Any], path: str, add: str, remove: str, show: Callable[[Any], str]
) -> None:
    """The same value both added and removed is a mistake (which one was meant?)."""
    removed = values[remove.replace("-", "_")]
    for index, value in enumerate(values[add.replace("-", "_")]):
        if value in removed:
            raise ConfigError(item(child(path, add), index), f"'{show(value)}' is also in {remove}")


def term(value: Any, path: str) -> Term:
    if isinstance(value, Mapping) and "default" in value:
        # TOML puts a key into the table opened last, whatever the indentation: a
        # `default` written after [[policy.term]] lands in the term.
        raise ConfigError(
            child(path, "default"),
            "belongs to the [[policy]] table: write it before its first [[policy.term]]",
        )
    values = read_table(value, path, TERM_KEYS)
    if not values["accept"]:
        table = as_table(value, path)
        for key in _SET_KEYS:
            if key.name in table:
                raise ConfigError(child(path, key.name), "has no effect with action = 'reject'")
    _check_overlap(values, path, "add-communities", "remove-communities", community_str)
    _check_overlap(
        values, path, "add-large-communities", "remove-large-communities", large_community_str
    )
    return Term(**values)


def _tables_of(what: str) -> Parser[tuple[Mapping[str, Any], ...]]:
    """An array of tables: `[[policy.term]]`, not `[policy.term]`."""

    def parse(value: Any, key: str) -> tuple[Mapping[str, Any], ...]:
        if not isinstance(value, list | tuple):
            raise _wrong_type(key, f"an array of tables ([[{what}]])", value)
        return array_of(as_table)(value, key)

    return parse


def _terms(value: Any, key: str) -> tuple[Term, ...]:
    tables = _tables_of("policy.term")(value, key)
    return tuple(term(table, item(key, index)) for index, table in enumerate(tables))


POLICY_KEYS = (
    Key("name", text()),
    Key("term", _terms, (), attr="terms"),
    Key("default", choice(ACTIONS, "action"), True, attr="default_accept"),
)


def policy_list(value: Any, key: str) -> tuple[PolicyDefinition, ...]:
    """The [[policy]] array: each table checked, names unique."""
    tables = _tables_of("policy")(value, key)
    policies = tuple(
        PolicyDefinition(**read_table(table, item(key, index), POLICY_KEYS))
        for index, table in enumerate(tables)
    )
    reject_duplicates(policies, key, lambda p: p.name, "name")
    return policies


def policy_map(policies: Iterable[PolicyDefinition]) -> Mapping[str, PolicyDefinition]:
    """Policies by name, read-only, in the order of the file."""
    return MappingProxyType({policy.name: policy for policy in policies})


# The keys of [[peer]] and [[peer-range]] naming the policies applied to their routes.
NEIGHBOUR_POLICY_KEYS = (
    Key("import", array_of(text(), unique_by=_same), (), attr="import_policy"),
    Key("export", array_of(text(), unique_by=_same), (), attr="export_policy"),
)


def check_references(
    section: str,
    neighbours: Iterable[Any],
    policies: Mapping[str, PolicyDefinition],
) -> None:
    """Every name in an `import` or `export` list is a [[policy]]'s."""
    defined = ", ".join(policies) if policies else "none"
    for index, neighbour in enumerate(neighbours):
        for key, names in (
            ("import", neighbour.import_policy),
            ("export", neighbour.export_policy),
        ):
            for position, name in enumerate(names):
                if name not in policies:
                    raise ConfigError(
                        item(child(item(section, index), key), position),
                        f"no policy named '{name}'; defined: {defined}",
                    )
