"""Entries of `speaker.announce`: a prefix string, or an inline table with attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pybgp.wire.constants import (
    BLACKHOLE,
    NO_ADVERTISE,
    NO_EXPORT,
    NO_EXPORT_SUBCONFED,
    NOPEER,
    ORIGIN_EGP,
    ORIGIN_IGP,
    ORIGIN_INCOMPLETE,
)

from .errors import ConfigError
from .model import Announcement
from .schema import Key, array_of, child, read_table, suggest, wrong_type
from .values import MAX_U32, as_str, asn, choice, network, uint32, unicast_address

# RFC 1997, RFC 3765, RFC 7999: the well-known communities a user may name.
WELL_KNOWN_COMMUNITIES = {
    "no-export": NO_EXPORT,
    "no-advertise": NO_ADVERTISE,
    "no-export-subconfed": NO_EXPORT_SUBCONFED,
    "no-peer": NOPEER,
    "blackhole": BLACKHOLE,
}

# RFC 4271 4.3 / 5.1.1: ORIGIN values.
ORIGINS = {"igp": ORIGIN_IGP, "egp": ORIGIN_EGP, "incomplete": ORIGIN_INCOMPLETE}


def _numbers(string: str, count: int, high: int, key: str, form: str) -> tuple[int, ...]:
    parts = string.split(":")
    if len(parts) != count or not all(part.isascii() and part.isdigit() for part in parts):
        raise ConfigError(key, f"expected {form}, got '{string}'")
    numbers = tuple(int(part) for part in parts)
    if any(number > high for number in numbers):
        raise ConfigError(key, f"each part of {form} must be between 0 and {high}, got '{string}'")
    return numbers


def community(value: Any, key: str) -> int:
    """'64512:100' or a well-known name -> the 32-bit value (RFC 1997)."""
    string = as_str(value, key)
    if string in WELL_KNOWN_COMMUNITIES:
        return WELL_KNOWN_COMMUNITIES[string]
    if ":" not in string:
        raise ConfigError(
            key, f"unknown community '{string}'" + suggest(string, WELL_KNOWN_COMMUNITIES)
        )
    # RFC 1997: two 16-bit halves, conventionally AS:value.
    high, low = _numbers(string, 2, 0xFFFF, key, "'A:B'")
    return high << 16 | low


def large_community(value: Any, key: str) -> tuple[int, int, int]:
    """'64512:1:2' -> (64512, 1, 2): three 32-bit parts (RFC 8092 3)."""
    first, second, third = _numbers(as_str(value, key), 3, MAX_U32, key, "'A:B:C'")
    return first, second, third


ANNOUNCE_KEYS = (
    Key("prefix", network),
    Key("next-hop", unicast_address, None),
    Key("origin", choice(ORIGINS, "origin"), ORIGIN_IGP),
    Key("med", uint32, None),  # RFC 4271 4.3: MULTI_EXIT_DISC, 4 octets
    Key("local-pref", uint32, None),  # RFC 4271 4.3: LOCAL_PREF, 4 octets
    Key("communities", array_of(community, unique_by=lambda c: c), ()),
    Key("large-communities", array_of(large_community, unique_by=lambda c: c), ()),
    Key("as-path", array_of(asn), ()),
)


def announcement(value: Any, key: str) -> Announcement:
    if isinstance(value, str):
        return Announcement(prefix=network(value, key))
    if not isinstance(value, Mapping):
        raise wrong_type(key, "a prefix string or an inline table", value)
    values = read_table(value, key, ANNOUNCE_KEYS)
    prefix, next_hop = values["prefix"], values["next_hop"]
    # RFC 4271 5.1.3 (IPv4) / RFC 4760 3 (IPv6): the next hop is of the prefix's family here.
    if next_hop is not None and next_hop.version != prefix.version:
        raise ConfigError(
            child(key, "next-hop"),
            f"an IPv{prefix.version} prefix needs an IPv{prefix.version} next hop,"
            f" got '{next_hop}'",
        )
    return Announcement(**values)


announce_list = array_of(announcement, unique_by=lambda a: a.prefix)
