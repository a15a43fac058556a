"""What the golden captures must decode to, fact by fact (tests/vectors/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybgp.cli.main import main

CAPTURES = Path(__file__).parent.parent / "vectors" / "captures"


@pytest.fixture
def decoded(capsys: pytest.CaptureFixture[str]):
    def run(name: str) -> list[dict]:
        path = CAPTURES / name
        if not path.exists():
            pytest.skip(f"{path} is missing")
        assert main(["decode", "--pcap", str(path)]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    return run


def updates(records: list[dict]) -> list[dict]:
    return [r for r in records if r["type"] == "UPDATE"]


def paths(records: list[dict]) -> list[list[int]]:
    out = []
    for record in updates(records):
        for segment in record["attributes"].get("as_path", []):
            out.append(segment["asns"])
    return out


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bird.pcap", "pybgp golden capture: maintenance"),
        ("bird.pcapng", "pybgp golden capture: maintenance"),
        ("bird-addpath.pcap", "pybgp golden capture: add-path session closing"),
        ("frr.pcap", "pybgp golden capture: FRR neighbor shutdown"),
        ("gobgp.pcap", "pybgp golden capture: gobgp shutdown"),
        ("exabgp.pcap", "Administrative Shutdown"),
        ("exabgp-as2.pcap", "pybgp golden capture: AS_TRANS session down"),
    ],
)
def test_session_ends_with_an_rfc9003_shutdown_communication(decoded, name, text):
    [notification] = [r for r in decoded(name) if r["type"] == "NOTIFICATION"]
    assert (notification["code"], notification["subcode"]) == (6, 2)
    assert notification["shutdown_message"] == text


def test_addpath_paths_keep_their_identifiers(decoded):
    records = decoded("bird-addpath.pcap")
    ids = {
        item["path_id"]
        for record in updates(records)
        for item in record["nlri"]
        if item["prefix"] == "10.244.20.0/24"
    }
    assert ids == {2, 3, 4}
    ipv6 = {
        item["path_id"]
        for record in updates(records)
        for item in record["attributes"].get("mp_reach", {}).get("nlri", [])
        if item["prefix"] == "2001:db8:200::/48"
    }
    assert ids and ipv6 == {5, 6}


def test_as_trans_is_merged_away_with_as4_path(decoded):
    records = decoded("exabgp-as2.pcap")
    opens = [r for r in records if r["type"] == "OPEN"]
    assert any(r.get("my_as") == 23456 for r in opens)
    # RFC 6793 4.2.3: AS4_PATH restores the real path; AS_TRANS is gone.
    assert [4200000006, 4200000067, 64600] in paths(records)
    assert all(23456 not in path for path in paths(records))
    aggregators = [
        r["attributes"]["aggregator"] for r in updates(records) if "aggregator" in r["attributes"]
    ]
    assert {"asn": 4200000065, "address": "198.18.6.65"} in aggregators


def test_frr_capabilities_and_otc(decoded):
    records = decoded("frr.pcap")
    frr_open = next(r for r in records if r["type"] == "OPEN" and r["asn"] == 4200000004)
    caps = {c["name"]: c for c in frr_open["capabilities"]}
    assert caps["fqdn"]["hostname"] == "frr-pybgp"
    assert caps["role"]["role"] == "provider"
    assert caps["extended-next-hop"]["families"] == [
        {"afi": "ipv4", "safi": "unicast", "next_hop_afi": "ipv6"}
    ]
    assert any(r["attributes"].get("otc") == 4200000004 for r in updates(records))
    # RFC 8950: IPv4 routes carried in MP_REACH with an IPv6 next hop.
    reach = [r["attributes"]["mp_reach"] for r in updates(records) if "mp_reach" in r["attributes"]]
    assert any(m["afi"] == "ipv4" and m["next_hop"] == ["2001:db8:4::1"] for m in reach)


def test_ipv6_next_hop_with_link_local(decoded):
    records = decoded("bird.pcap")
    hops = [
        r["attributes"]["mp_reach"]["next_hop"]
        for r in updates(records)
        if "mp_reach" in r["attributes"]
    ]
    assert ["2001:db8:1::1", "fe80::ff:fe00:101"] in hops


def test_ibgp_attributes_from_exabgp(decoded):
    records = decoded("exabgp.pcap")
    rich = [r["attributes"] for r in updates(records) if "originator_id" in r["attributes"]]
    assert rich, "ExaBGP's route with every iBGP attribute is missing"
    attrs = rich[0]
    for key in ("local_pref", "med", "atomic_aggregate", "aggregator", "communities",
                "cluster_list", "extended_communities", "large_communities"):  # fmt: skip
        assert key in attrs


def test_end_of_rib_for_both_families(decoded):
    records = decoded("bird.pcap")
    assert {r.get("end_of_rib") for r in updates(records)} >= {"ipv4/unicast", "ipv6/unicast"}
