"""Table-driven reading of one TOML table: known keys, their parsers, their defaults.

A section is a tuple of `Key` rows.  `read_table` rejects unknown keys (suggesting the
nearest known one), reports missing required keys, runs each present value through its
row's parser and returns the results under the dataclass attribute names.  Adding a key
to a section is one row.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")
# A parser takes a TOML value and its key path; it returns the checked value or raises
# ConfigError naming that key path.
Parser = Callable[[Any, str], T]


class Absent(Enum):
    """What a row does when its key is not in the table."""

    REQUIRED = "required"  # an error
    UNSET = "unset"  # leave it out of the result: the builder resolves it from elsewhere


REQUIRED = Absent.REQUIRED
UNSET = Absent.UNSET

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # TOML bare keys need no quotes


def child(path: str, name: str) -> str:
    """The key path of `name` inside the table at `path` (`speaker` + `asn`)."""
    if not _BARE_KEY.fullmatch(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{name}" if path else name


def item(path: str, index: int) -> str:
    """The key path of an array element, 0-based as jq writes it (`peer[1]`)."""
    return f"{path}[{index}]"


_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    ((list, tuple), "an array"),
    (Mapping, "a table"),
)


def type_name(value: object) -> str:
    """'a string', 'an integer'...: the TOML name of a value's type, with its article."""
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    if value is None:
        return "nothing"
    # tomllib also gives datetime.datetime, .date and .time
    return "a " + type(value).__name__.replace("datetime", "date-time")


def wrong_type(key: str, expected: str, value: object) -> ConfigError:
    return ConfigError(key, f"expected {expected}, got {type_name(value)}")


def suggest(name: str, known: Iterable[str]) -> str:
    """'; did you mean 'password'?', or the list of known names when none is close."""
    known = list(known)
    # Compare case-insensitively so that 'IGP' suggests 'igp'.
    folded = {candidate.casefold(): candidate for candidate in known}
    close = difflib.get_close_matches(name.casefold(), folded, n=1)
    if close:
        return f"; did you mean '{folded[close[0]]}'?"
    return "; expected one of: " + ", ".join(known)


@dataclass(frozen=True, slots=True)
class Key:
    """One row of a section: a TOML key, its parser, and what its absence means."""

    name: str  # as written in TOML: "hold-time"
    parse: Parser[Any]
    default: Any = REQUIRED  # a value, REQUIRED, or UNSET
    # The dataclass attribute; "" = the name with '_' for '-' (hold-time -> hold_time).
    # Set it when the TOML word would make a poor or reserved Python name (import).
    attr: str = ""

    def __post_init__(self) -> None:
        if not self.attr:
            object.__setattr__(self, "attr", self.name.replace("-", "_"))


def as_table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong_type(key, "a table", value)
    return value


def as_array(value: Any, key: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise wrong_type(key, "an array", value)
    return value


def read_table(value: Any, path: str, keys: Sequence[Key]) -> dict[str, Any]:
    """Check the table at `path` against `keys`; the parsed values by attribute name."""
    table = as_table(value, path)
    rows = {key.name: key for key in keys}
    for name in table:
        if name not in rows:
            raise ConfigError(child(path, name), "unknown key" + suggest(name, rows))
    result: dict[str, Any] = {}
    for key in keys:
        if key.name in table:
            result[key.attr] = key.parse(table[key.name], child(path, key.name))
        elif key.default is REQUIRED:
            raise ConfigError(child(path, key.name), "required key is missing")
        elif key.default is not UNSET:
            result[key.attr] = key.default
    return result


def reject_duplicates(
    values: Sequence[T], path: str, identity: Callable[[T], object], field: str = ""
) -> None:
    """Raise on the first element of the array at `path` whose identity repeats an earlier
    one's; `field` names the key inside each element that carries the identity."""
    seen: dict[object, int] = {}
    for index, value in enumerate(values):
        ident = identity(value)
        if ident in seen:
            first = child(item(path, seen[ident]), field) if field else item(path, seen[ident])
            here = child(item(path, index), field) if field else item(path, index)
            raise ConfigError(here, f"duplicate of {first}")
        seen[ident] = index


def array_of(
    parse: Parser[T],
    *,
    non_empty: bool = False,
    unique_by: Callable[[T], object] | None = None,
) -> Parser[tuple[T, ...]]:
    """A parser of arrays whose elements `parse` checks, optionally non-empty and without
    duplicates (compared after parsing, so '2001:db8::1' equals '2001:DB8:0::1')."""

    def parse_array(value: Any, key: str) -> tuple[T, ...]:
        elements = as_array(value, key)
        if non_empty and not elements:
            raise ConfigError(key, "must not be empty")
        result = tuple(parse(element, item(key, i)) for i, element in enumerate(elements))
        if unique_by is not None:
            reject_duplicates(result, key, unique_by)
        return result

    return parse_array
