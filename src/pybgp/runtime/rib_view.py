"""The Loc-RIB as `pybgp routes` shows it: one JSON object per path, best marked.

`{"prefix", "best", "reason", "peer", "next_hop", "as_path", "local_pref", "med",
"communities", "originator_id", "cluster_list"}` plus `family`, `origin` and
`large_communities`; the best path of a prefix comes first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ..rib.decision import Path
from ..rib.rib import Rib
from ..wire.constants import IPV4_UNICAST, IPV6_UNICAST
from ..wire.nlri import address_str, prefix_key, prefix_str
from .changes import next_hop_text

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FAMILY_NAMES = {IPV4_UNICAST: "ipv4", IPV6_UNICAST: "ipv6"}
ORIGINS = ("igp", "egp", "incomplete")


def _community(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


def path_entry(prefix: str, family: str, path: Path, best: bool, reason: str) -> dict[str, Any]:
    attributes = path.attributes
    as_path: list[int] = []
    for _, asns in attributes.as_path:
        as_path.extend(asns)
    source = path.source
    return {
        "prefix": prefix,
        "family": family,
        "best": best,
        "reason": reason if best else "",
        "peer": str(source.address) if source.address is not None else "local",
        "next_hop": next_hop_text(path.next_hop),
        "as_path": as_path,
        "origin": ORIGINS[attributes.origin] if attributes.origin is not None else None,
        "local_pref": attributes.local_pref,
        "med": attributes.med,
        "communities": [_community(c) for c in attributes.communities],
        "large_communities": [f"{a}:{b}:{c}" for a, b, c in attributes.large_communities],
        "originator_id": (
            address_str(attributes.originator_id) if attributes.originator_id else None
        ),
        "cluster_list": [address_str(c) for c in attributes.cluster_list],
    }


def loc_rib_entries(
    rib: Rib,
    prefix: str | None = None,
    limit: int | None = None,
    kernel: Callable[[Network], object | None] | None = None,
) -> list[dict[str, Any]]:
    """Every path of every prefix (or of one prefix), best first; at most `limit`
    prefixes (a million-route table would otherwise be built in memory whole).

    On a node (`kernel` given: what the FIB installed for a prefix), the best path's
    entry also says what the kernel holds for it: `"kernel"`, as `ip route` prints it,
    or None.
    """
    if prefix is not None:
        try:
            network = ipaddress.ip_network(prefix)
        except ValueError:
            raise ValueError(f"not a prefix: {prefix!r}") from None
        family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
        keys = [prefix_key(str(network))]
        families = [family]
    else:
        families = rib.families()
        keys = []
    out: list[dict[str, Any]] = []
    shown = 0
    for family in families:
        name = FAMILY_NAMES.get(family, f"{family[0]}/{family[1]}")
        wanted = keys or (key for key, _, _ in rib.loc.items(family))
        for key in wanted:
            chosen = rib.loc.best(family, key)
            if chosen is None:
                continue
            if limit is not None and shown >= limit:
                return out
            shown += 1
            best, reason = chosen
            text = prefix_str(key, family[0])
            entry = path_entry(text, name, best, True, reason)
            if kernel is not None:
                installed = kernel(ipaddress.ip_network(text))
                entry["kernel"] = str(installed) if installed is not None else None
            out.append(entry)
            for path in rib.loc.paths(family, key):
                if path is not best:
                    out.append(path_entry(text, name, path, False, ""))
    return out
