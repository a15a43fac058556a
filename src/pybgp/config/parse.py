"""Turn TOML (text, file or already-parsed mapping) into a validated `Config`.

Each section is a table of `Key` rows (see `schema.py`); a builder per section turns the
checked values into the model and applies the few rules that span keys.  To add a key,
add a row here and a field (with a default) to its dataclass in `model.py`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, family_name

from .announce import announce_list
from .errors import ConfigError
from .model import (
    BGP_PORT,
    DEFAULT_CONTROL_SOCKET,
    DEFAULT_LISTEN,
    DEFAULT_PEER_TYPE,
    Config,
    PeerConfig,
    PeerRangeConfig,
    SpeakerConfig,
    family_of,
)
from .node import check_blocks, fib_section, node_section
from .policy import NEIGHBOUR_POLICY_KEYS, check_references, policy_list, policy_map
from .schema import UNSET, Key, array_of, as_table, child, item, read_table, reject_duplicates
from .schema import wrong_type as _wrong_type
from .timers import CONNECT_RETRY, TIMER_KEYS, pop_timers, resolve_timers
from .values import (
    asn,
    boolean,
    choice,
    cluster_id,
    endpoint,
    integer,
    network,
    router_id,
    text,
    unicast_address,
)

FAMILIES = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST}

SPEAKER_KEYS = (
    Key("asn", asn),
    Key("router-id", router_id),
    Key("listen", array_of(endpoint(BGP_PORT), unique_by=lambda e: e), DEFAULT_LISTEN),
    Key("control-socket", text(), DEFAULT_CONTROL_SOCKET),
    *TIMER_KEYS,
    # RFC 4271 8.1.1: DampPeerOscillations (IdleHoldTime backs off exponentially).
    Key("damp-peer-oscillations", boolean, True),
    Key("announce", announce_list, ()),
    Key("cluster-id", cluster_id, None),
    Key("always-compare-med", boolean, False),
    Key("deterministic-med", boolean, False),
    # RFC 4724 3: the Restart Time field has 12 bits.
    Key("graceful-restart-time", integer(0, 4095, "RFC 4724"), 120),
)

# The keys [[peer]] and [[peer-range]] share.
NEIGHBOUR_KEYS = (
    Key("asn", asn),
    Key("type", text(), DEFAULT_PEER_TYPE),
    # RFC 2385: the TCP MD5 key; Linux holds at most 80 octets (TCP_MD5SIG_MAXKEYLEN).
    Key("password", text(80, "TCP_MD5SIG_MAXKEYLEN"), None),
    # RFC 5082 3: GTSM; we accept TTL >= 256 - N, so N = 255 would accept anything.
    Key("ttl-security", integer(1, 254, "RFC 5082"), None),
    Key(
        "families",
        array_of(choice(FAMILIES, "family"), non_empty=True, unique_by=family_name),
        UNSET,
    ),
    *(key for key in TIMER_KEYS if key is not CONNECT_RETRY),
    # RFC 4456: an internal peer we reflect routes to and from as a client.
    Key("rr-client", boolean, False),
    Key("next-hop-self", boolean, False),
    *NEIGHBOUR_POLICY_KEYS,  # import = [...], export = [...]: names of [[policy]] tables
)

PEER_KEYS = (
    Key("address", unicast_address),
    *NEIGHBOUR_KEYS,
    Key("passive", boolean, False),
    Key("port", integer(1, 65535), BGP_PORT),
    Key("local-address", unicast_address, None),
    CONNECT_RETRY,  # a peer-range never connects, so only [[peer]] has it
)

PEER_RANGE_KEYS = (Key("prefix", network), *NEIGHBOUR_KEYS)


def tables(value: Any, key: str) -> tuple[Mapping[str, Any], ...]:
    """An array of tables: [[peer]], not [peer]."""
    if not isinstance(value, list | tuple):
        raise _wrong_type(key, f"an array of tables ([[{key}]])", value)
    return array_of(as_table)(value, key)


TOP_KEYS = (
    Key("speaker", as_table),
    Key("peer", tables, ()),
    Key("peer-range", tables, ()),
    Key("policy", policy_list, ()),
    Key("node", as_table, None),
    Key("fib", as_table, None),
)


def _speaker(table: Mapping[str, Any], path: str) -> tuple[SpeakerConfig, dict[str, int]]:
    """The speaker, and the timers it wrote (which peers and peer-ranges inherit)."""
    values = read_table(table, path, SPEAKER_KEYS)
    written = pop_timers(values)
    return SpeakerConfig(timers=resolve_timers(written, path), **values), written


def _peer(table: Mapping[str, Any], path: str, inherited: Mapping[str, int]) -> PeerConfig:
    values = read_table(table, path, PEER_KEYS)
    timers = resolve_timers(pop_timers(values), path, inherited)
    address, local = values["address"], values["local_address"]
    if local is not None and local.version != address.version:
        raise ConfigError(
            child(path, "local-address"),
            f"must be an IPv{address.version} address like address, got '{local}'",
        )
    values.setdefault("families", (family_of(address),))
    return PeerConfig(timers=timers, **values)


def _peer_range(
    table: Mapping[str, Any], path: str, inherited: Mapping[str, int]
) -> PeerRangeConfig:
    values = read_table(table, path, PEER_RANGE_KEYS)
    timers = resolve_timers(pop_timers(values), path, inherited)
    values.setdefault("families", (family_of(values["prefix"]),))
    return PeerRangeConfig(timers=timers, **values)


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    """A validated Config from parsed TOML (or any mapping of the same shape)."""
    top = read_table(data, "", TOP_KEYS)
    speaker, speaker_timers = _speaker(top["speaker"], "speaker")
    peers = tuple(
        _peer(table, item("peer", i), speaker_timers) for i, table in enumerate(top["peer"])
    )
    reject_duplicates(peers, "peer", lambda p: p.address, "address")
    ranges = tuple(
        _peer_range(table, item("peer-range", i), speaker_timers)
        for i, table in enumerate(top["peer_range"])
    )
    # Nested ranges are fine (the most specific wins); the same prefix twice is not.
    reject_duplicates(ranges, "peer-range", lambda r: r.prefix, "prefix")
    for name, neighbours in (("peer", peers), ("peer-range", ranges)):
        for i, neighbour in enumerate(neighbours):
            if neighbour.rr_client and neighbour.asn != speaker.asn:
                # RFC 4456 5: clients are internal peers of the reflector.
                raise ConfigError(
                    child(item(name, i), "rr-client"),
                    f"only for internal peers (asn {neighbour.asn} is not {speaker.asn})",
                )
    policies = policy_map(top["policy"])
    check_references("peer", peers, policies)
    check_references("peer-range", ranges, policies)
    node = node_section(top["node"])
    check_blocks(node, speaker.announce)
    return Config(
        speaker=speaker,
        peers=peers,
        peer_ranges=ranges,
        source=source,
        policies=policies,
        node=node,
        fib=fib_section(top["fib"], node),
    )


def loads_config(text: str, source: str = "<string>") -> Config:
    """A validated Config from TOML text; a syntax error is a ConfigError keyed `source`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, f"invalid TOML: {err}") from None
    return parse_config(data, source)


def load_config(path: str | os.PathLike[str]) -> Config:
    """A validated Config from a TOML file; a file that cannot be read or parsed is a
    ConfigError keyed by the file name."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            raw = file.read()
    except OSError as err:
        raise ConfigError(source, f"cannot read the file: {err.strerror or err}") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError as err:
        raise ConfigError(source, f"not UTF-8 text (byte {err.start})") from None
    return loads_config(text, source)
