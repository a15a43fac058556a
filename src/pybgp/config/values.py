"""One small parser per kind of value: integers in a range, strings, addresses, prefixes,
listen endpoints, names from a fixed set.  Each takes (value, key path) and raises
`ConfigError` naming that path; the section tables in `parse.py` reuse them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import ConfigError
from .model import IPAddress, IPNetwork
from .schema import Parser, suggest, wrong_type

T = TypeVar("T")

MAX_U32 = 0xFFFFFFFF


def as_int(value: Any, key: str) -> int:
    # TOML booleans are not numbers, though Python's bool is an int subclass.
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(key, "an integer", value)
    return value


def as_str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    return value


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise wrong_type(key, "a boolean", value)
    return value


def integer(low: int, high: int, why: str = "") -> Parser[int]:
    """Integers in low..high; `why` (an RFC clause) is shown when the value is outside."""
    suffix = f" ({why})" if why else ""

    def parse(value: Any, key: str) -> int:
        number = as_int(value, key)
        if not low <= number <= high:
            raise ConfigError(key, f"must be between {low} and {high}{suffix}, got {number}")
        return number

    return parse


# RFC 6793 + RFC 7607 2: 4-octet AS numbers; AS 0 is reserved and never a peer's.
asn = integer(1, MAX_U32, "RFC 7607: AS 0 is reserved")
uint32 = integer(0, MAX_U32)


def text(max_octets: int | None = None, why: str = "") -> Parser[str]:
    """Non-empty strings of at most `max_octets` UTF-8 octets."""
    suffix = f" ({why})" if why else ""

    def parse(value: Any, key: str) -> str:
        string = as_str(value, key)
        if not string:
            raise ConfigError(key, "must not be empty")
        size = len(string.encode())
        if max_octets is not None and size > max_octets:
            raise ConfigError(key, f"must be at most {max_octets} octets{suffix}, got {size}")
        return string

    return parse


def choice(names: Mapping[str, T], what: str) -> Parser[T]:
    """One of a fixed set of names, mapped to its value ('igp' -> 0)."""

    def parse(value: Any, key: str) -> T:
        name = as_str(value, key)
        if name not in names:
            raise ConfigError(key, f"unknown {what} '{name}'" + suggest(name, names))
        return names[name]

    return parse


def ip_address(value: Any, key: str) -> IPAddress:
    string = as_str(value, key)
    try:
        return ipaddress.ip_address(string)
    except ValueError:
        raise ConfigError(key, f"'{string}' is not an IPv4 or IPv6 address") from None


def unicast_address(value: Any, key: str) -> IPAddress:
    """An address a TCP session can use at one end: not 0.0.0.0 / ::, not multicast."""
    address = ip_address(value, key)
    if address.is_unspecified or address.is_multicast:
        raise ConfigError(key, f"'{address}' is not a unicast address")
    return address


def router_id(value: Any, key: str) -> str:
    string = as_str(value, key)
    try:
        address = ipaddress.IPv4Address(string)
    except ValueError:
        raise ConfigError(
            key, f"expected an IPv4 address like '198.18.0.1', got '{string}'"
        ) from None
    if int(address) == 0:
        # RFC 6286 2.1: the BGP Identifier is a non-zero 4-octet integer.
        raise ConfigError(key, "must not be 0.0.0.0 (RFC 6286 2.1)")
    return str(address)


def cluster_id(value: Any, key: str) -> str:
    """RFC 4456 7: a 4-octet CLUSTER_ID, written as a dotted quad or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 0xFFFFFFFF:
            raise ConfigError(key, f"expected 1..4294967295, got {value}")
        return str(ipaddress.IPv4Address(value))
    return router_id(value, key)


def network(value: Any, key: str) -> IPNetwork:
    """A prefix written with its length, host bits zero ('10.244.1.0/26')."""
    string = as_str(value, key)
    if "/" not in string:
        raise ConfigError(key, f"expected a prefix like '10.244.1.0/26', got '{string}'")
    try:
        return ipaddress.ip_network(string)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(string, strict=False)
    except ValueError:
        raise ConfigError(key, f"'{string}' is not an IPv4 or IPv6 prefix") from None
    raise ConfigError(key, f"host bits set in '{string}'; did you mean '{loose}'?")


_PORT = re.compile(r"[0-9]{1,5}")
ENDPOINT_FORMS = "'address', 'address:port', '[ipv6-address]:port' or an IPv6 address"


def _port(string: str, key: str, low: int) -> int:
    if not _PORT.fullmatch(string) or not low <= int(string) <= 65535:
        raise ConfigError(key, f"port must be between {low} and 65535, got '{string}'")
    return int(string)


def endpoint(default_port: int, low_port: int = 0) -> Parser[tuple[str, int]]:
    """'addr', 'addr:port', '[v6addr]:port' or a bare IPv6 address -> (host, port).

    The host comes back in its canonical spelling ('2001:db8::1'); port `low_port` and up
    (0 lets the kernel pick one, which tests use).
    """

    def parse(value: Any, key: str) -> tuple[str, int]:
        string = as_str(value, key)
        port = default_port
        if string.startswith("["):
            host, bracket, rest = string[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ConfigError(key, f"expected {ENDPOINT_FORMS}, got '{string}'")
            if rest:
                port = _port(rest[1:], key, low_port)
            version = 6
        elif string.count(":") == 1:
            host, _, port_text = string.partition(":")
            port = _port(port_text, key, low_port)
            version = 4
        else:
            host, version = string, 6 if ":" in string else 4
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(key, f"expected {ENDPOINT_FORMS}, got '{string}'") from None
        if address.version != version:
            raise ConfigError(key, f"expected {ENDPOINT_FORMS}, got '{string}'")
        return str(address), port

    return parse
