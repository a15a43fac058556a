"""The `[node]` and `[fib]` sections: what makes a speaker a Calico-like node.

    [node]
    blocks = ["10.244.58.192/26"]      # local IPAM blocks: announced + blackholed
    encapsulation = "ipip"             # "ipip" | "none" (BGP mode) | "cross-subnet"
    interface = "eth0"                 # underlay interface
    [fib]
    enabled = true                     # default: true when there is a [node]
    protocol = "bird"                  # rt_protos name or 1..255
    table = 254
    persist = false

A speaker without `[node]` is a plain BGP speaker or a reflector: it programs no kernel
routes unless `[fib] enabled = true` says so.  The dataclasses live in `model.py` like
every other section's; the translation to kernel routes is `pybgp.fib.plan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError
from .model import (
    DEFAULT_ENCAPSULATION,
    DEFAULT_FIB_PROTOCOL,
    DEFAULT_FIB_TABLE,
    DEFAULT_INTERFACE,
    ENCAPSULATIONS,
    Announcement,
    FibConfig,
    NodeConfig,
)
from .schema import UNSET, Key, array_of, child, item, read_table, suggest, wrong_type
from .values import as_str, boolean, integer, network, text

# /etc/iproute2/rt_protos: the names `ip route` prints after `proto`.  Routes are tagged
# with one so that ours can be told apart from everyone else's (and flushed on restart).
# "kernel" and "boot" are accepted like any rt_protos name, but they are also what the
# kernel and `ip route add` tag their own routes with: see docs/configuration.md.
ROUTE_PROTOCOLS: Mapping[str, int] = {
    "redirect": 1,
    "kernel": 2,
    "boot": 3,
    "static": 4,
    "zebra": 11,
    "bird": 12,
    "bgp": 186,
}

# Linux IFNAMSIZ is 16 with the terminating NUL (net/core/dev.c dev_valid_name).
IFNAMSIZ = 16
# RT_TABLE_LOCAL: the kernel's own table of local and broadcast addresses.
RT_TABLE_LOCAL = 255
MAX_TABLE = 0xFFFFFFFF  # RTA_TABLE is 32 bits


def encapsulation(value: Any, key: str) -> str:
    """'ipip', 'none' or 'cross-subnet', kept as the word (pybgp.fib.plan compares it)."""
    name = as_str(value, key)
    if name not in ENCAPSULATIONS:
        raise ConfigError(key, f"unknown encapsulation '{name}'" + suggest(name, ENCAPSULATIONS))
    return name


def interface_name(value: Any, key: str) -> str:
    """A name the kernel would accept for a link, by the rules of dev_valid_name()."""
    name = text()(value, key)
    size = len(name.encode())
    if size >= IFNAMSIZ:
        raise ConfigError(
            key, f"must be at most {IFNAMSIZ - 1} octets (Linux IFNAMSIZ), got {size}"
        )
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        raise ConfigError(
            key, f"'{name}' is not a Linux interface name (no '/', ':', spaces, '.' or '..')"
        )
    return name


def route_protocol(value: Any, key: str) -> int:
    """An rt_protos name ('bird') or its number 1..255; 0 is RTPROT_UNSPEC."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 255:
            raise ConfigError(key, f"must be between 1 and 255, got {value}")
        return value
    if not isinstance(value, str):
        raise wrong_type(key, "a protocol name or a number 1..255", value)
    if value not in ROUTE_PROTOCOLS:
        raise ConfigError(key, f"unknown protocol '{value}'" + suggest(value, ROUTE_PROTOCOLS))
    return ROUTE_PROTOCOLS[value]


_table_number = integer(1, MAX_TABLE, "RTA_TABLE; 0 is RT_TABLE_UNSPEC")


def route_table(value: Any, key: str) -> int:
    """A routing table id: 254 is main; 255 (local) belongs to the kernel."""
    table = _table_number(value, key)
    if table == RT_TABLE_LOCAL:
        raise ConfigError(key, "255 is the kernel's local table, not for learned routes")
    return table


NODE_KEYS = (
    # Local IPAM blocks; each once.  Overlaps are left alone: Calico never makes them, and a
    # nested blackhole is harmless.
    Key("blocks", array_of(network, unique_by=lambda n: n), ()),
    Key("encapsulation", encapsulation, DEFAULT_ENCAPSULATION),
    Key("interface", interface_name, DEFAULT_INTERFACE),
)

FIB_KEYS = (
    Key("enabled", boolean, UNSET),  # resolved from the presence of [node]
    Key("protocol", route_protocol, DEFAULT_FIB_PROTOCOL),
    Key("table", route_table, DEFAULT_FIB_TABLE),
    Key("persist", boolean, False),
)


def node_section(table: Mapping[str, Any] | None, path: str = "node") -> NodeConfig | None:
    """The [node] section, or None when the file has none."""
    if table is None:
        return None
    return NodeConfig(**read_table(table, path, NODE_KEYS))


def fib_section(
    table: Mapping[str, Any] | None, node: NodeConfig | None, path: str = "fib"
) -> FibConfig:
    """The [fib] section; `enabled` left out means 'when this speaker is a node'.

    A reflector (no [node]) must not start writing the kernel's routing table because a
    default changed, so the default follows [node] rather than being a constant.
    """
    values = read_table(table if table is not None else {}, path, FIB_KEYS)
    values.setdefault("enabled", node is not None)
    return FibConfig(**values)


def check_blocks(
    node: NodeConfig | None, announce: Sequence[Announcement], path: str = "node"
) -> None:
    """A block is announced already: the same prefix again in speaker.announce would be two
    originations of one prefix with different attributes, and nobody could say which wins."""
    if node is None:
        return
    announced = {entry.prefix: index for index, entry in enumerate(announce)}
    for index, block in enumerate(node.blocks):
        if block in announced:
            raise ConfigError(
                item(child(path, "blocks"), index),
                f"{block} is also in speaker.announce[{announced[block]}];"
                " a block is announced already, keep it in one place",
            )
