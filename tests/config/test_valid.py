"""Valid configurations become exactly the model the runtime codes against."""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from pybgp.config import (
    DEFAULT_LISTEN,
    Announcement,
    Config,
    PeerConfig,
    PeerRangeConfig,
    SpeakerConfig,
    Timers,
    loads_config,
    parse_config,
)
from pybgp.wire.constants import BLACKHOLE, IPV4_UNICAST, IPV6_UNICAST, NO_EXPORT, NOPEER

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"
MINIMAL = '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n'

FULL = """
[speaker]
asn = 64512
router-id = "198.18.0.1"
listen = ["198.18.0.1", "198.18.0.1:1179", "[2001:db8::1]:1180", "2001:DB8:0::2"]
control-socket = "/tmp/pybgp-test.sock"
hold-time = 60
keepalive-time = 15
connect-retry = 7
delay-open = 4
damp-peer-oscillations = false
announce = [
  "10.244.1.0/26",
  ANNOUNCE_TABLE,
  { prefix = "2001:db8:1::/64", next-hop = "2001:db8::9", origin = "egp" },
]

[[peer]]
address = "198.18.0.2"
asn = 64512
type = "node-to-node mesh"
passive = true
port = 1179
local-address = "198.18.0.1"
password = "secret"
ttl-security = 1
families = ["ipv4", "ipv6"]
hold-time = 240
keepalive-time = 80
connect-retry = 9
delay-open = 2

[[peer]]
address = "2001:db8::3"
asn = 64513

[[peer-range]]
prefix = "198.18.4.0/24"
asn = 64514
type = "rr client"
password = "range"
ttl-security = 2
families = ["ipv6"]
hold-time = 0
delay-open = 1
"""


# TOML wants an inline table on one line.
FULL = FULL.replace(
    "ANNOUNCE_TABLE",
    '{ prefix = "10.244.2.0/26", next-hop = "198.18.0.9", origin = "incomplete", med = 10,'
    ' local-pref = 200, communities = ["64512:100", "no-export", "no-peer", "blackhole"],'
    ' large-communities = ["64512:1:2"], as-path = [64600, 64601] }',
)


def test_full_example_round_trips_to_the_model() -> None:
    speaker_timers = Timers(hold_time=60, keepalive_time=15, connect_retry=7, delay_open=4)
    expected = Config(
        speaker=SpeakerConfig(
            asn=64512,
            router_id="198.18.0.1",
            listen=(
                ("198.18.0.1", 179),
                ("198.18.0.1", 1179),
                ("2001:db8::1", 1180),
                ("2001:db8::2", 179),
            ),
            control_socket="/tmp/pybgp-test.sock",
            timers=speaker_timers,
            damp_peer_oscillations=False,
            announce=(
                Announcement(prefix=ip_network("10.244.1.0/26")),
                Announcement(
                    prefix=ip_network("10.244.2.0/26"),
                    next_hop=ip_address("198.18.0.9"),
                    origin=2,
                    med=10,
                    local_pref=200,
                    communities=(64512 << 16 | 100, NO_EXPORT, NOPEER, BLACKHOLE),
                    large_communities=((64512, 1, 2),),
                    as_path=(64600, 64601),
                ),
                Announcement(
                    prefix=ip_network("2001:db8:1::/64"),
                    next_hop=ip_address("2001:db8::9"),
                    origin=1,
                ),
            ),
        ),
        peers=(
            PeerConfig(
                address=ip_address("198.18.0.2"),
                asn=64512,
                type="node-to-node mesh",
                passive=True,
                port=1179,
                local_address=ip_address("198.18.0.1"),
                password="secret",
                ttl_security=1,
                families=(IPV4_UNICAST, IPV6_UNICAST),
                timers=Timers(hold_time=240, keepalive_time=80, connect_retry=9, delay_open=2),
            ),
            PeerConfig(
                address=ip_address("2001:db8::3"),
                asn=64513,
                type="global",
                passive=False,
                port=179,
                local_address=None,
                password=None,
                ttl_security=None,
                families=(IPV6_UNICAST,),
                timers=speaker_timers,
            ),
        ),
        peer_ranges=(
            PeerRangeConfig(
                prefix=ip_network("198.18.4.0/24"),
                asn=64514,
                type="rr client",
                password="range",
                ttl_security=2,
                families=(IPV6_UNICAST,),
                timers=Timers(hold_time=0, keepalive_time=0, connect_retry=7, delay_open=1),
            ),
        ),
        source="full.toml",
    )
    assert loads_config(FULL, "full.toml") == expected


def test_defaults() -> None:
    config = loads_config(MINIMAL + '[[peer]]\naddress = "198.18.0.2"\nasn = 64512\n')
    assert config.source == "<string>"
    assert config.speaker == SpeakerConfig(asn=64512, router_id="198.18.0.1")
    assert config.speaker.listen == DEFAULT_LISTEN == (("0.0.0.0", 179), ("::", 179))
    assert config.speaker.control_socket == "/run/pybgp/pybgp.sock"
    assert config.speaker.timers == Timers(90, 30, 5, 0)
    assert config.speaker.damp_peer_oscillations is True
    assert config.speaker.announce == ()
    (peer,) = config.peers
    assert (peer.type, peer.passive, peer.port) == ("global", False, 179)
    assert (peer.local_address, peer.password, peer.ttl_security) == (None, None, None)
    assert peer.families == (IPV4_UNICAST,)
    assert peer.timers == Timers(90, 30, 5, 0)
    assert config.peer_ranges == ()


def test_parse_config_takes_a_mapping() -> None:
    data = {"speaker": {"asn": 1, "router-id": "198.18.0.1", "listen": []}}
    config = parse_config(data, "etcd")
    assert config.speaker.listen == ()
    assert config.source == "etcd"


@pytest.mark.parametrize(
    ("speaker", "peer", "timers"),
    [
        # nothing written anywhere: defaults
        ("", "", Timers(90, 30, 5, 0)),
        # the peer lowers hold-time: its keepalive follows (a third)
        ("", "hold-time = 9", Timers(9, 3, 5, 0)),
        # the speaker lowers hold-time: peers inherit it and its third
        ("hold-time = 30", "", Timers(30, 10, 5, 0)),
        # an explicit speaker keepalive-time is inherited
        ("keepalive-time = 10", "hold-time = 240", Timers(240, 10, 5, 0)),
        # hold-time 0: no keepalives, keepalive-time ignored
        ("keepalive-time = 10", "hold-time = 0", Timers(0, 0, 5, 0)),
        ("hold-time = 0\nkeepalive-time = 0", "", Timers(0, 0, 5, 0)),
        ("", "hold-time = 3\nkeepalive-time = 2", Timers(3, 2, 5, 0)),
        ("connect-retry = 1\ndelay-open = 5", "delay-open = 0", Timers(90, 30, 1, 0)),
    ],
)
def test_timer_inheritance(speaker: str, peer: str, timers: Timers) -> None:
    text = f'{MINIMAL}{speaker}\n[[peer]]\naddress = "198.18.0.2"\nasn = 1\n{peer}\n'
    assert loads_config(text).peers[0].timers == timers


def test_peer_range_families_default_to_the_prefix_family() -> None:
    text = MINIMAL + '[[peer-range]]\nprefix = "2001:db8:4::/48"\nasn = 64512\n'
    assert loads_config(text).peer_ranges[0].families == (IPV6_UNICAST,)


def test_nested_peer_ranges_are_allowed() -> None:
    text = (
        MINIMAL
        + '[[peer-range]]\nprefix = "198.18.0.0/16"\nasn = 1\n'
        + '[[peer-range]]\nprefix = "198.18.4.0/24"\nasn = 2\n'
    )
    assert [r.asn for r in loads_config(text).peer_ranges] == [1, 2]


def test_the_example_in_the_docs_is_valid() -> None:
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    config = loads_config(example.group(1), "docs")
    assert config.speaker.asn == 64512
    assert all(a.prefix.subnet_of(ip_network("10.244.0.0/16")) for a in config.speaker.announce)
    assert {p.type for p in config.peers} >= {"node-to-node mesh"}
    assert len(config.peer_ranges) == 1


def test_model_is_frozen() -> None:
    config = loads_config(MINIMAL)
    with pytest.raises(AttributeError):
        config.speaker.asn = 1  # type: ignore[misc]
