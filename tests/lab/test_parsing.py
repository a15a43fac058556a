"""pybgp.lab without daemons: configurations written and outputs parsed.

The sample outputs are copied from BIRD 2.0.12, GoBGP 3.10, FRR 8.4.4 and ExaBGP 5.0.15.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybgp.lab import (
    DAEMONS,
    Bird,
    ExaBGP,
    GoBGP,
    Lab,
    Namespace,
    Neighbor,
    Route,
    available,
    shutdown_text,
)
from pybgp.lab import bird as bird_module
from pybgp.lab import frr as frr_module
from pybgp.lab import gobgp as gobgp_module

PEER = Neighbor("198.18.1.2", 65002, "198.18.1.1", families=("ipv4", "ipv6"))
IBGP = Neighbor("198.18.1.3", 65001, "198.18.1.1", passive=True, password="pw", hold_time=9)
ROUTE = Route(
    "10.244.1.0/24",
    as_path=(64500, 64501),
    origin="egp",
    med=10,
    local_pref=200,
    communities=("64512:1",),
    large_communities=("65001:1:2",),
)


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab("parse", tmp_path)  # no namespace is ever created: no root needed


@pytest.fixture
def ns(tmp_path: Path) -> Namespace:
    return Namespace("pybgp-parse-a-1", "a", tmp_path)


def test_registry_holds_all_five_daemons() -> None:
    assert sorted(DAEMONS) == ["bird", "exabgp", "frr", "gobgp", "pybgp"]
    assert all(DAEMONS[name].name == name for name in DAEMONS)


def test_route_and_neighbor_validate() -> None:
    assert Route("2001:DB8:1::/48").prefix == "2001:db8:1::/48"
    assert Route("2001:db8:1::/48").family == "ipv6"
    with pytest.raises(ValueError):
        Route("10.0.0.1/24")  # host bits set
    with pytest.raises(ValueError):
        Route("10.0.0.0/24", origin="bgp")
    with pytest.raises(ValueError):
        Neighbor("198.18.0.1", 1, "2001:db8::1")
    with pytest.raises(ValueError):
        Neighbor("198.18.0.1", 1, "198.18.0.2", families=("ipv4", "vpnv4"))


def test_shutdown_text_follows_rfc_9003() -> None:
    assert shutdown_text(b"\x05hello") == "hello"
    assert shutdown_text(b"\x05hello trailing") == "hello"
    assert shutdown_text(b"\x00") is None
    assert shutdown_text(b"") is None
    assert shutdown_text(b"\x09short") is None  # length beyond the data


# -- BIRD ---------------------------------------------------------------------------------
BIRD_ROUTES = """\
BIRD 2.0.12 ready.
Table master4:
10.244.2.0/24        unicast [n_198_18_1_2 13:38:18.858] * (100) [AS64600i]
\tvia 198.18.1.2 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 65002 64600
\tBGP.next_hop: 198.18.1.2
\tBGP.med: 20
\tBGP.local_pref: 100
\tBGP.community: (65002,2) (65535,65281)
\tBGP.large_community: (65002, 2, 3)
                     unicast [n_198_18_1_3 13:38:19.001] (100) [i]
\tvia 198.18.1.3 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path:
\tBGP.next_hop: 2001:db8:1::3 fe80::ff:fe00:103
\tBGP.local_pref: 300
"""


def test_bird_parses_every_route_of_show_route_all() -> None:
    assert bird_module.parse_routes(BIRD_ROUTES) == [
        Route(
            "10.244.2.0/24",
            next_hop="198.18.1.2",
            as_path=(65002, 64600),
            med=20,
            local_pref=100,
            communities=("65002:2", "65535:65281"),
            large_communities=("65002:2:3",),
        ),
        Route("10.244.2.0/24", next_hop="2001:db8:1::3", origin="incomplete", local_pref=300),
    ]


def test_bird_config_sets_attributes_in_the_export_filter(lab: Lab, ns: Namespace) -> None:
    bird = Bird(
        lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER, IBGP], announce=[ROUTE]
    )
    conf = bird.config()
    assert "route 10.244.1.0/24 blackhole;" in conf
    assert (
        "if net = 10.244.1.0/24 then { bgp_origin = ORIGIN_EGP; bgp_path.prepend(64501); "
        "bgp_path.prepend(64500); bgp_med = 10; bgp_local_pref = 200; "
        "bgp_community.add((64512,1)); bgp_large_community.add((65001,1,2)); }"
    ) in conf
    ebgp, ibgp = conf.split("protocol bgp ")[1:]
    assert "direct;" in ibgp and "direct;" not in ebgp  # iBGP is multihop by default
    assert 'password "pw";' in ibgp and "passive on;" in ibgp and "hold time 9;" in ibgp
    assert "ipv6 {" in ebgp and "ipv6 {" not in ibgp


def test_bird_shutdown_message_comes_from_the_log(lab: Lab, ns: Namespace) -> None:
    bird = Bird(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER])
    (lab.workdir / f"{bird.label}.log").write_text(
        '2026-11-26 13:38:28.943 <RMT> n_198_18_1_2: Received: Administrative shutdown: "one"\n'
        "2026-11-26 13:38:29.943 <RMT> n_198_18_1_20: Received: Administrative shutdown: "
        '"other peer"\n'
    )
    assert bird.shutdown_message("198.18.1.2") == "one"
    assert bird.shutdown_message("198.18.1.3") is None


# -- GoBGP --------------------------------------------------------------------------------
GOBGP_PATH = json.loads(
    '{"nlri":{"prefix":"10.244.1.0/24"},"age":1795700298,"best":false,"attrs":['
    '{"type":1,"value":1},{"type":2,"as_paths":[{"segment_type":2,"num":3,'
    '"asns":[65001,64500,64501]}]},{"type":3,"nexthop":"198.18.1.1"},{"type":4,"metric":10},'
    '{"type":5,"value":200},{"type":8,"communities":[4259905537]},'
    '{"type":32,"value":[{"ASN":65001,"LocalData1":1,"LocalData2":2}]}],'
    '"stale":false,"source-id":"198.18.1.1","neighbor-ip":"198.18.1.1"}'
)


def test_gobgp_parses_json_paths() -> None:
    assert gobgp_module.parse_path("10.244.1.0/24", GOBGP_PATH) == Route(
        "10.244.1.0/24",
        next_hop="198.18.1.1",
        as_path=(65001, 64500, 64501),
        origin="egp",
        med=10,
        local_pref=200,
        communities=("65001:1",),
        large_communities=("65001:1:2",),
    )


def test_gobgp_instances_in_one_namespace_get_their_own_api_port(lab: Lab, ns: Namespace) -> None:
    first = GoBGP(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER])
    second = GoBGP(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER])
    assert second.api_port == first.api_port + 1
    conf = first.config()
    assert 'afi-safi-name = "ipv6-unicast"' in conf and "connect-retry = 1" in conf


def test_gobgp_shutdown_message_comes_from_the_log(lab: Lab, ns: Namespace) -> None:
    gobgp = GoBGP(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER])
    (lab.workdir / f"{gobgp.label}.log").write_text(
        'level=warning msg="received notification" Code=6 Communicated-Reason="say \\"hi\\"" '
        'Data="[]" Key=198.18.1.2 Subcode=2 Topic=Peer\n'
        'level=warning msg="sent notification" Code=6 Communicated-Reason="ours" Data="[]" '
        "Key=198.18.1.2 Subcode=2 Topic=Peer\n"
    )
    assert gobgp.shutdown_message("198.18.1.2") == 'say "hi"'
    assert gobgp.shutdown_message("198.18.1.3") is None


# -- FRR ----------------------------------------------------------------------------------
FRR_PATH = json.loads(
    '{"aspath":{"string":"65002 64600","segments":[{"type":"as-sequence","list":[65002,64600]}],'
    '"length":2},"origin":"IGP","metric":20,"valid":true,"community":{"string":"65002:2",'
    '"list":["65002:2"]},"largeCommunity":{"string":"65002:2:3","list":["65002:2:3"]},'
    '"nexthops":[{"ip":"2001:db8:4::2","afi":"ipv6","scope":"global","used":true}],'
    '"peer":{"peerId":"2001:db8:4::2","routerId":"198.18.4.2"}}'
)


def test_frr_parses_json_detail_paths() -> None:
    assert frr_module.parse_path("2001:db8:450::/48", FRR_PATH) == Route(
        "2001:db8:450::/48",
        next_hop="2001:db8:4::2",
        as_path=(65002, 64600),
        med=20,
        communities=("65002:2",),
        large_communities=("65002:2:3",),
    )


def test_frr_route_map_sets_every_attribute() -> None:
    assert frr_module._sets(ROUTE) == [
        " set origin egp",
        " set as-path prepend 64500 64501",
        " set metric 10",
        " set local-preference 200",
        " set community 64512:1",
        " set large-community 65001:1:2",
    ]


# -- ExaBGP -------------------------------------------------------------------------------
def _exabgp_line(kind: str, body: str) -> str:
    return (
        '{ "exabgp": "5.0.0", "time": 1.0, "counter": 1, "type": "' + kind + '", "neighbor": '
        '{ "address": { "local": "198.18.1.1", "peer": "198.18.1.2" }, '
        '"asn": { "local": 65001, "peer": 65002 }, ' + body + " } }\n"
    )


EXABGP_RECEIVED = (
    _exabgp_line("state", '"state": "up"')
    + "done\n"
    + _exabgp_line(
        "update",
        '"direction": "receive", "message": { "update": { "attribute": { "origin": "egp", '
        '"as-path": {"0": {"element": "as-sequence", "value": [65002, 64500]}}, "med": 10, '
        '"community": [ [ 65002, 1 ] ], "large-community": [ [ 65002, 1 , 2 ] ] }, '
        '"announce": { "ipv4 unicast": { "198.18.1.2": [ { "nlri": "10.244.1.0/24" }, '
        '{ "nlri": "10.244.9.0/24" } ] } } } }',
    )
    + _exabgp_line(
        "update",
        '"direction": "receive", "message": { "update": { "withdraw": { "ipv4 unicast": '
        '[ { "nlri": "10.244.9.0/24" } ] } } }',
    )
    + _exabgp_line(
        "notification",
        '"direction": "receive", "notification": { "code": 6, "subcode": 2, "data": "0x", '
        '"message": "Shutdown Communication: \\"maintenance\\"" }',
    )
)


def test_exabgp_reads_sessions_routes_and_notifications(lab: Lab, ns: Namespace) -> None:
    exabgp = ExaBGP(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER])
    exabgp.received_file.write_text(EXABGP_RECEIVED)
    assert exabgp.established("198.18.1.2")
    assert not exabgp.established("198.18.1.3")
    assert exabgp.received_routes("ipv4") == [
        Route(
            "10.244.1.0/24",
            next_hop="198.18.1.2",
            as_path=(65002, 64500),
            origin="egp",
            med=10,
            communities=("65002:1",),
            large_communities=("65002:1:2",),
        )
    ]
    assert exabgp.received_routes("ipv6") == []
    assert exabgp.shutdown_message("198.18.1.2") == "maintenance"
    # A session going down forgets what the neighbour sent.
    exabgp.received_file.write_text(
        EXABGP_RECEIVED + _exabgp_line("state", '"state": "down", "reason": "x"')
    )
    assert exabgp.received_routes("ipv4") == []
    assert not exabgp.established("198.18.1.2")


def test_exabgp_prepends_its_own_as_only_towards_ebgp(lab: Lab, ns: Namespace) -> None:
    exabgp = ExaBGP(lab, ns, asn=65001, router_id="198.18.1.1", neighbors=[PEER, IBGP])
    ebgp_route = exabgp._route(ROUTE, PEER)
    ibgp_route = exabgp._route(ROUTE, IBGP)
    assert "next-hop 198.18.1.1" in ebgp_route
    assert "as-path [ 65001 64500 64501 ]" in ebgp_route
    assert "as-path [ 64500 64501 ]" in ibgp_route
    assert "large-community [ 65001:1:2 ]" in ibgp_route


def test_available_says_why_a_daemon_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybgp.lab import daemon as daemon_module

    class Missing(Bird):
        binaries = ("pybgp-no-such-daemon",)

    monkeypatch.setattr(daemon_module, "have_root", lambda: False)
    assert available(Bird) == "bird: needs root (network namespaces)"
    monkeypatch.setattr(daemon_module, "have_root", lambda: True)
    assert available(Missing) == "bird not installed (missing: pybgp-no-such-daemon)"
