"""`pybgp decode` on hex input: the JSON contract of docs/decode.md and exit status."""

from __future__ import annotations

import io
import json

import pytest

from pybgp.cli.main import main
from pybgp.wire import (
    AddPath,
    CodecContext,
    Keepalive,
    Multiprotocol,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    end_of_rib,
    pack_announcements,
    prefix_key,
)
from pybgp.wire.constants import AS_SEQUENCE, AS_SET, NO_EXPORT
from pybgp.wire.update import MpReach, Update


def decode(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:
    status = main(["decode", *args])
    lines = capsys.readouterr().out.splitlines()
    return status, [json.loads(line) for line in lines]


ATTRS = PathAttributes(
    origin=0,
    as_path=((AS_SEQUENCE, (64512, 4200000001)), (AS_SET, (65001, 65002))),
    next_hop=bytes([198, 18, 0, 11]),
    med=20,
    local_pref=100,
    atomic_aggregate=True,
    aggregator=(4200000001, bytes([198, 18, 0, 11])),
    communities=(NO_EXPORT, (64512 << 16) | 7),
    originator_id=bytes([198, 18, 0, 1]),
    cluster_list=(bytes([1, 1, 1, 1]),),
    extended_communities=(bytes.fromhex("0002fc000000000a"),),
    large_communities=((64512, 1, 2),),
    unknown=((99, 0xC0, b"\x01\x02"),),
)


def test_update_with_every_attribute_follows_the_contract(capsys):
    keys = [prefix_key("10.244.85.192/26"), prefix_key("10.244.1.0/24")]
    message = next(pack_announcements(ATTRS, keys))
    status, [record] = decode(capsys, message.hex())
    assert status == 0
    assert record["type"] == "UPDATE"
    assert record["nlri"] == ["10.244.85.192/26", "10.244.1.0/24"]
    assert record["withdrawn"] == []
    attrs = record["attributes"]
    assert attrs["origin"] == "igp"
    assert attrs["as_path"] == [
        {"type": "sequence", "asns": [64512, 4200000001]},
        {"type": "set", "asns": [65001, 65002]},
    ]
    assert attrs["next_hop"] == "198.18.0.11"
    assert attrs["med"] == 20 and attrs["local_pref"] == 100
    assert attrs["atomic_aggregate"] is True
    assert attrs["aggregator"] == {"asn": 4200000001, "address": "198.18.0.11"}
    assert attrs["communities"] == ["65535:65281", "64512:7"]
    assert attrs["large_communities"] == ["64512:1:2"]
    assert attrs["extended_communities"] == ["0002fc000000000a"]
    assert attrs["originator_id"] == "198.18.0.1"
    assert attrs["cluster_list"] == ["1.1.1.1"]
    # RFC 4271 5: passed-on unknown optional transitive attributes carry Partial (0x20).
    assert attrs["unknown"] == [{"code": 99, "flags": 0xE0, "value": "0102"}]
    assert "end_of_rib" not in record


def test_marker_may_be_left_out_and_stdin_is_read(capsys, monkeypatch):
    lines = "\n".join(
        [Keepalive().encode()[16:].hex(), "# a comment", "", end_of_rib((2, 1)).encode().hex()]
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    status, records = decode(capsys)
    assert status == 0
    assert [r["type"] for r in records] == ["KEEPALIVE", "UPDATE"]
    assert records[1]["end_of_rib"] == "ipv6/unicast"
    assert records[1]["attributes"]["mp_unreach"] == {
        "afi": "ipv6",
        "safi": "unicast",
        "withdrawn": [],
    }


def test_several_messages_on_one_line(capsys):
    line = (Keepalive().encode() + end_of_rib().encode()).hex()
    status, records = decode(capsys, line)
    assert status == 0
    assert [r["type"] for r in records] == ["KEEPALIVE", "UPDATE"]
    assert records[1]["end_of_rib"] == "ipv4/unicast"


def test_open_capabilities(capsys):
    message = Open.for_speaker(
        4200000001, 90, "198.18.0.1", [Multiprotocol(1, 1), AddPath(((2, 1, 3),))]
    )
    status, [record] = decode(capsys, message.encode().hex())
    assert status == 0
    assert record["asn"] == 4200000001 and record["my_as"] == 23456
    assert record["hold_time"] == 90 and record["bgp_id"] == "198.18.0.1"
    assert record["capabilities"][0] == {
        "code": 1,
        "name": "multiprotocol",
        "afi": "ipv4",
        "safi": "unicast",
    }
    assert record["capabilities"][1]["families"] == [
        {"afi": "ipv6", "safi": "unicast", "send_receive": "send/receive"}
    ]
    assert record["capabilities"][2] == {"code": 65, "name": "four-octet-as", "asn": 4200000001}


def test_notification_and_route_refresh(capsys):
    notification = Notification.shutdown("upgrade to 2.0 — back in 5")
    refresh = RouteRefresh(2, 1, 1)
    status, records = decode(capsys, notification.encode().hex(), refresh.encode().hex())
    assert status == 0
    assert records[0]["name"] == "Cease / Administrative Shutdown"
    assert records[0]["shutdown_message"] == "upgrade to 2.0 — back in 5"
    assert records[0]["code"] == 6 and records[0]["subcode"] == 2
    assert records[1] == {
        "type": "ROUTE-REFRESH",
        "afi": "ipv6",
        "safi": "unicast",
        "subtype": "borr",
    }


def test_addpath_and_as2_flags_change_how_bytes_are_read(capsys):
    ctx = CodecContext(four_octet_as=False, addpath=frozenset({(1, 1), (2, 1)}))
    attrs = PathAttributes(origin=0, as_path=((AS_SEQUENCE, (65001, 4200000001)),))
    update = Update(
        attributes=attrs.replace(next_hop=bytes(4)),
        nlri=[prefix_key("10.244.0.0/26", path_id=7)],
        mp_reach=MpReach(2, 1, bytes(16), [prefix_key("2001:db8:1::/48", path_id=9)]),
    )
    status, [record] = decode(capsys, "--as2", "--addpath", "ipv4,ipv6", update.encode(ctx).hex())
    assert status == 0
    assert record["nlri"] == [{"prefix": "10.244.0.0/26", "path_id": 7}]
    assert record["attributes"]["mp_reach"]["nlri"] == [{"prefix": "2001:db8:1::/48", "path_id": 9}]
    # RFC 6793 4.2.3: AS4_PATH merged back into the real path.
    assert record["attributes"]["as_path"] == [{"type": "sequence", "asns": [65001, 4200000001]}]


def test_undecodable_message_is_an_error_line_and_decoding_goes_on(capsys):
    bad_marker = "ff" * 15 + "fe" + "001304"
    status, records = decode(capsys, bad_marker, "zz", Keepalive().encode().hex())
    assert status == 1
    assert records[0]["type"] == "ERROR" and (records[0]["code"], records[0]["subcode"]) == (1, 1)
    assert records[1]["type"] == "ERROR" and records[1]["code"] is None
    assert records[2]["type"] == "KEEPALIVE"


def test_treat_as_withdraw_is_reported(capsys):
    message = bytearray(next(pack_announcements(ATTRS, [prefix_key("10.0.0.0/8")])))
    # ORIGIN is the first attribute after the 23 octets of header and lengths: make it 3.
    assert message[23:26] == b"\x40\x01\x01"
    message[26] = 3
    status, [record] = decode(capsys, message.hex())
    assert status == 0  # decodable; RFC 7606 decides what it means
    assert record["treat_as_withdraw"] is True
    assert record["issues"][0]["action"] == "treat-as-withdraw"
    assert record["issues"][0]["subcode"] == 6  # Invalid ORIGIN Attribute


def test_unknown_addpath_family_is_a_usage_error():
    with pytest.raises(SystemExit, match="unknown family"):
        main(["decode", "--addpath", "ipx", "001304"])


def test_missing_pcap_exits_2(capsys, tmp_path):
    assert main(["decode", "--pcap", str(tmp_path / "nope.pcap")]) == 2
    assert "nope.pcap" in capsys.readouterr().err
