"""Our own routes enter the Loc-RIB in batches of one attribute set."""

from __future__ import annotations

import ipaddress

import pytest

from pybgp.config import loads_config
from pybgp.runtime.speaker import Speaker
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.nlri import network_key, prefix_key


@pytest.mark.parametrize(
    "prefix",
    ["10.244.1.0/26", "0.0.0.0/0", "10.0.0.0/8", "10.1.2.3/32", "2001:db8:1::/48", "::/0"],
)
def test_network_key_is_the_wire_key(prefix: str) -> None:
    assert network_key(ipaddress.ip_network(prefix)) == prefix_key(prefix)


def test_announce_entries_with_equal_attributes_share_one_path() -> None:
    config = loads_config(
        """
[speaker]
asn = 64512
router-id = "198.18.0.1"
announce = [
  "10.244.1.0/26", "10.244.1.64/26", "2001:db8:1::/64",
  { prefix = "10.244.2.0/26", med = 5 },
]
"""
    )
    rib = Speaker(config, control=False).rib
    best = {key: path for key, path in rib.table(IPV4_UNICAST)}
    plain = best[prefix_key("10.244.1.0/26")]
    assert best[prefix_key("10.244.1.64/26")] is plain
    assert best[prefix_key("10.244.2.0/26")].attributes.med == 5
    (v6,) = [path for _, path in rib.table(IPV6_UNICAST)]
    assert v6.attributes == plain.attributes and v6.source is plain.source
