"""Config.match: a configured peer beats a range, the most specific range wins."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from pybgp.config import Config, PeerConfig, PeerRangeConfig, loads_config
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST

CONFIG = loads_config(
    """
[speaker]
asn = 64512
router-id = "198.18.0.1"

[[peer]]
address = "198.18.4.7"
asn = 64512
type = "node-to-node mesh"
port = 1179

[[peer-range]]
prefix = "198.18.0.0/16"
asn = 64600
type = "wide"

[[peer-range]]
prefix = "198.18.4.0/24"
asn = 64601
type = "narrow"
password = "s3cret"
ttl-security = 1
hold-time = 30

[[peer-range]]
prefix = "2001:db8::/32"
asn = 64602
"""
)


def test_configured_peer_beats_every_range() -> None:
    peer = CONFIG.match(ip_address("198.18.4.7"))
    assert peer is CONFIG.peers[0]
    assert (peer.type, peer.port, peer.passive) == ("node-to-node mesh", 1179, False)


def test_most_specific_range_wins() -> None:
    peer = CONFIG.match(ip_address("198.18.4.8"))
    assert peer == PeerConfig(
        address=ip_address("198.18.4.8"),
        asn=64601,
        type="narrow",
        passive=True,
        port=179,
        local_address=None,
        password="s3cret",
        ttl_security=1,
        families=(IPV4_UNICAST,),
        timers=CONFIG.peer_ranges[1].timers,
    )
    assert peer.timers.hold_time == 30


def test_range_order_does_not_matter() -> None:
    swapped = Config(speaker=CONFIG.speaker, peer_ranges=tuple(reversed(CONFIG.peer_ranges[:2])))
    peer = swapped.match(ip_address("198.18.4.8"))
    assert peer is not None and peer.asn == 64601


def test_wider_range_catches_the_rest() -> None:
    peer = CONFIG.match(ip_address("198.18.200.1"))
    assert peer is not None and (peer.asn, peer.type) == (64600, "wide")


def test_ipv6_range() -> None:
    peer = CONFIG.match(ip_address("2001:db8::42"))
    assert peer is not None and peer.asn == 64602 and peer.families == (IPV6_UNICAST,)


@pytest.mark.parametrize("address", ["198.19.0.1", "2001:db9::1", "10.0.0.1"])
def test_outside_everything_is_none(address: str) -> None:
    assert CONFIG.match(ip_address(address)) is None


def test_ipv4_mapped_address_matches_as_ipv4() -> None:
    assert CONFIG.match(ip_address("::ffff:198.18.4.7")) is CONFIG.peers[0]
    peer = CONFIG.match(ip_address("::ffff:198.18.4.9"))
    assert peer is not None and peer.address == ip_address("198.18.4.9")


def test_peer_for_outside_the_prefix_raises() -> None:
    peer_range = PeerRangeConfig(prefix=ip_network("198.18.4.0/24"), asn=1)
    with pytest.raises(ValueError, match="not inside"):
        peer_range.peer_for(ip_address("198.18.5.1"))


def test_model_defaults_fill_families_from_the_address() -> None:
    assert PeerConfig(address=ip_address("2001:db8::1"), asn=1).families == (IPV6_UNICAST,)
    assert PeerRangeConfig(prefix=ip_network("198.18.0.0/24"), asn=1).families == (IPV4_UNICAST,)
