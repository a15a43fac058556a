"""Golden vectors: bytes written by hand from the RFC layouts, not by the encoder.

Each vector is checked both ways: decoding gives the expected fields, and encoding the
expected message gives the bytes.
"""

from __future__ import annotations

import pytest

from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    LEGACY_CONTEXT,
    CodecContext,
    FourOctetAs,
    Keepalive,
    MpReach,
    Multiprotocol,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    RouteRefreshCapability,
    UnknownCapability,
    Update,
    decode_message,
    end_of_rib,
    prefix_key,
)

M = "ff" * 16  # RFC 4271 4.1: the marker


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# ------------------------------------------------------------------------------------
# KEEPALIVE, End-of-RIB


def test_keepalive() -> None:
    # RFC 4271 4.4: a header only, length 19.
    wire = h(M + "0013 04")
    assert Keepalive().encode() == wire
    assert isinstance(decode_message(wire), Keepalive)


def test_end_of_rib_ipv4() -> None:
    # RFC 4724 2: an UPDATE with no withdrawn routes, no attributes, no NLRI.
    wire = h(M + "0017 02 0000 0000")
    assert end_of_rib().encode() == wire
    decoded = decode_message(wire)
    assert decoded.end_of_rib() == IPV4_UNICAST
    assert decoded.attributes is None


def test_end_of_rib_ipv6() -> None:
    # RFC 4724 2: only MP_UNREACH_NLRI (flags 0x80, code 15) with AFI 2, SAFI 1, no NLRI.
    wire = h(M + "001d 02 0000 0006 800f03 0002 01")
    assert end_of_rib(IPV6_UNICAST).encode() == wire
    assert decode_message(wire).end_of_rib() == IPV6_UNICAST


# ------------------------------------------------------------------------------------
# OPEN

# RFC 4271 4.2: version, My AS, Hold Time, BGP Identifier, Opt Parm Len, parameters.
# RFC 5492 4: one Capabilities parameter (type 2) holding three capabilities.
OPEN_WIRE = h(
    M + "002d 01"
    "04"  # version 4
    "fde9"  # My Autonomous System 65001
    "00b4"  # Hold Time 180
    "c0000201"  # BGP Identifier 192.0.2.1
    "10"  # Optional Parameters Length 16
    "02 0e"  # Capabilities parameter, 14 octets
    "01 04 0001 00 01"  # RFC 4760 8: Multiprotocol, AFI 1, reserved, SAFI 1
    "02 00"  # RFC 2918 2: Route Refresh
    "41 04 0000fde9"  # RFC 6793 3: Four-Octet AS 65001
)


def test_open_fields() -> None:
    decoded = decode_message(OPEN_WIRE)
    assert isinstance(decoded, Open)
    assert decoded.version == 4
    assert decoded.my_as == 65001
    assert decoded.hold_time == 180
    assert decoded.bgp_id == "192.0.2.1"
    assert decoded.capabilities == [
        Multiprotocol(1, 1),
        RouteRefreshCapability(),
        FourOctetAs(65001),
    ]
    assert decoded.other_parameters == []
    assert decoded.asn == 65001


def test_open_encodes_to_the_rfc_layout() -> None:
    open_ = Open(
        65001, 180, "192.0.2.1", [Multiprotocol(1, 1), RouteRefreshCapability(), FourOctetAs(65001)]
    )
    assert open_.encode() == OPEN_WIRE


def test_open_for_a_four_octet_as() -> None:
    # RFC 6793 4.1: My AS is AS_TRANS (23456 = 0x5ba0), the real AS in the capability.
    wire = h(M + "0025 01 04 5ba0 005a c6336407 08 02 06 41 04 fa56ea01")
    assert Open.for_speaker(4200000001, 90, "198.51.100.7", []).encode() == wire
    decoded = decode_message(wire)
    assert (decoded.my_as, decoded.asn, decoded.bgp_id) == (23456, 4200000001, "198.51.100.7")


# RFC 9072 2: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length,
# then parameters with a type octet and a 2-octet length.
_BIG_CAP = "f0 fa" + "aa" * 250  # unknown capability 240, 250 octets
EXTENDED_OPEN_WIRE = h(
    M + "0125 01"  # 19 + 274 = 293 octets
    "04 fde9 00b4 c0000201"
    "ff"  # Non-Ext OP Len
    "ff"  # Non-Ext OP Type: extended
    "0105"  # Extended Opt. Parm. Length 261
    "02 0102"  # Capabilities, 258 octets
    "01 04 0001 00 01" + _BIG_CAP
)


def test_rfc9072_extended_open() -> None:
    expected = Open(
        65001, 180, "192.0.2.1", [Multiprotocol(1, 1), UnknownCapability(240, b"\xaa" * 250)]
    )
    assert decode_message(EXTENDED_OPEN_WIRE) == expected
    assert expected.encode() == EXTENDED_OPEN_WIRE


@pytest.mark.parametrize("non_ext_len", ["ff", "01", "0c"])
def test_rfc9072_short_extended_open_is_accepted(non_ext_len: str) -> None:
    # RFC 9072 2: with a non-zero Non-Ext OP Len the receiver MUST look at Non-Ext OP
    # Type to choose the encoding; the Non-Ext OP Len value is then ignored.
    wire = h(M + "0029 01 04 fde9 00b4 c0000201" + non_ext_len + "ff 0009 02 0006 01 04 0001 00 01")
    assert decode_message(wire).capabilities == [Multiprotocol(1, 1)]


# ------------------------------------------------------------------------------------
# UPDATE

UPDATE_IPV4_WIRE = h(
    M + "0038 02"
    "0004 18 c63364"  # withdrawn: 198.51.100.0/24
    "001b"  # Total Path Attribute Length 27
    "40 01 01 00"  # ORIGIN IGP
    "40 02 06 02 01 0000fde9"  # AS_PATH: AS_SEQUENCE of 1, AS 65001 (4 octets)
    "40 03 04 c0000201"  # NEXT_HOP 192.0.2.1
    "80 04 04 00000064"  # MULTI_EXIT_DISC 100
    "08 0a"  # NLRI: 10.0.0.0/8
)


def test_ipv4_update() -> None:
    attrs = PathAttributes(origin=0, as_path=((2, (65001,)),), next_hop=h("c0000201"), med=100)
    update = Update([prefix_key("198.51.100.0/24")], attrs, [prefix_key("10.0.0.0/8")])
    assert update.encode() == UPDATE_IPV4_WIRE
    decoded = decode_message(UPDATE_IPV4_WIRE)
    assert decoded.withdrawn == [h("18 c63364")]
    assert decoded.nlri == [h("08 0a")]
    assert decoded.attributes == attrs
    assert decoded.issues == ()


# RFC 6793 4.2.2: towards a 2-octet speaker, AS_TRANS in AS_PATH and AGGREGATOR, the
# real values in AS4_PATH (code 17) and AS4_AGGREGATOR (code 18), optional transitive.
UPDATE_AS4_WIRE = h(
    M + "0050 02 0000 0035"
    "40 01 01 00"
    "40 02 06 02 02 fde9 5ba0"  # AS_PATH: 65001, AS_TRANS
    "40 03 04 c0000201"
    "c0 07 06 5ba0 c0000209"  # AGGREGATOR: AS_TRANS, 192.0.2.9
    "c0 11 0a 02 02 0000fde9 fa56ea01"  # AS4_PATH: 65001, 4200000001
    "c0 12 08 fa56ea01 c0000209"  # AS4_AGGREGATOR: 4200000001, 192.0.2.9
    "18 0a0000"  # 10.0.0.0/24
)
AS4_ATTRS = PathAttributes(
    origin=0,
    as_path=((2, (65001, 4200000001)),),
    next_hop=h("c0000201"),
    aggregator=(4200000001, h("c0000209")),
)


def test_as4_path_towards_a_two_octet_speaker() -> None:
    update = Update(attributes=AS4_ATTRS, nlri=[prefix_key("10.0.0.0/24")])
    assert update.encode(LEGACY_CONTEXT) == UPDATE_AS4_WIRE
    # RFC 6793 4.2.3: the receiver merges them back.
    assert decode_message(UPDATE_AS4_WIRE, LEGACY_CONTEXT).attributes == AS4_ATTRS


def test_four_octet_path_between_new_speakers() -> None:
    wire = h(
        M + "003e 02 0000 0023"  # 35 octets of attributes
        "40 01 01 00"
        "40 02 0a 02 02 0000fde9 fa56ea01"
        "40 03 04 c0000201"
        "c0 07 08 fa56ea01 c0000209"
        "18 0a0000"
    )
    update = Update(attributes=AS4_ATTRS, nlri=[prefix_key("10.0.0.0/24")])
    assert update.encode(CodecContext(four_octet_as=True)) == wire
    assert decode_message(wire).attributes == AS4_ATTRS


def test_mp_reach_ipv6_update() -> None:
    # RFC 4760 3: AFI 2, SAFI 1, next hop length 16, next hop, reserved 0, NLRI.
    wire = h(
        M + "0041 02 0000 002a"
        "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8"
        "40 01 01 00"
        "40 02 06 02 01 0000fde9"
    )
    nh = h("20010db8000000000000000000000001")
    update = Update(
        attributes=PathAttributes(origin=0, as_path=((2, (65001,)),)),
        mp_reach=MpReach(2, 1, nh, [prefix_key("2001:db8::/32")]),
    )
    assert update.encode() == wire
    decoded = decode_message(wire)
    assert decoded == update
    assert list(decoded.announcements()) == [(IPV6_UNICAST, nh, [h("20 20010db8")])]


def test_mp_reach_with_link_local_next_hop() -> None:
    # RFC 2545 3: a 32-octet next hop is the global address then the link-local one.
    nh = h("20010db8000000000000000000000001 fe800000000000000000000000000001")
    wire = h(
        M + "004d 02 0000 0036"  # 54 octets of attributes
        "80 0e 2c 0002 01 20" + nh.hex() + "00 30 20010db80001"
        "40 01 01 02"
        "40 02 00"
    )
    decoded = decode_message(wire)
    assert decoded.mp_reach == MpReach(2, 1, nh, [prefix_key("2001:db8:1::/48")])
    assert decoded.attributes == PathAttributes(origin=2)
    assert decoded.encode() == wire


def test_addpath_ipv4_update() -> None:
    # RFC 7911 3: a 4-octet Path Identifier in front of each prefix.
    wire = h(
        M + "0041 02"
        "000d 00000007 18 c63364 00000002 00"  # withdrawn: path 7 of a /24, path 2 of 0/0
        "0015 40 01 01 00 40 02 00 40 03 04 c0000201 40 05 04 00000064"
        "00000001 18 0a0000"  # NLRI: path 1 of 10.0.0.0/24
    )
    ctx = CodecContext(addpath=frozenset({IPV4_UNICAST}))
    decoded = decode_message(wire, ctx)
    assert decoded.withdrawn == [h("00000007 18 c63364"), h("00000002 00")]
    assert decoded.nlri == [prefix_key("10.0.0.0/24", path_id=1)]
    assert decoded.attributes.local_pref == 100
    assert decoded.encode(ctx) == wire


def test_community_attributes() -> None:
    wire = h(
        M + "006e 02 0000 0053"  # 83 octets of attributes
        "40 01 01 00"
        "40 02 00"
        "40 03 04 c0000201"
        "40 05 04 00000064"  # LOCAL_PREF 100
        "c0 08 08 fde90064 ffffff01"  # RFC 1997: 65001:100, NO_EXPORT
        "80 09 04 c0000202"  # RFC 4456: ORIGINATOR_ID
        "80 0a 08 c0000203 c0000204"  # RFC 4456: CLUSTER_LIST
        "c0 10 08 0002fde900000064"  # RFC 4360: route target 65001:100
        "c0 20 0c 0000fde9 00000001 00000002"  # RFC 8092: 65001:1:2
        "c0 23 04 0000fde9"  # RFC 9234: OTC 65001
        "18 0a0000"
    )
    attrs = PathAttributes(
        origin=0,
        next_hop=h("c0000201"),
        local_pref=100,
        communities=(0xFDE90064, 0xFFFFFF01),
        originator_id=h("c0000202"),
        cluster_list=(h("c0000203"), h("c0000204")),
        extended_communities=(h("0002fde900000064"),),
        large_communities=((65001, 1, 2),),
        otc=65001,
    )
    assert Update(attributes=attrs, nlri=[prefix_key("10.0.0.0/24")]).encode() == wire
    assert decode_message(wire).attributes == attrs


def test_unknown_optional_transitive_is_passed_on_with_partial() -> None:
    # RFC 4271 5: kept, and the Partial bit set when it is passed on.
    wire = h(M + "001f 02 0000 0008 40 02 00 c0 63 02 abcd")
    decoded = decode_message(wire)
    assert decoded.attributes.unknown == ((0x63, 0xC0, h("abcd")),)
    assert decoded.encode() == h(M + "001f 02 0000 0008 40 02 00 e0 63 02 abcd")


@pytest.mark.parametrize(
    ("flags", "received"),
    [
        (0xCF, "001e 02 0000 0007 40 02 00 cf 63 01 ab"),  # unused low bits set
        (0xD0, "001f 02 0000 0008 40 02 00 d0 63 0001 ab"),  # Extended Length, 1 octet
        (0xEF, "001e 02 0000 0007 40 02 00 ef 63 01 ab"),
    ],
)
def test_unknown_attribute_goes_out_with_clean_flags(flags: int, received: str) -> None:
    # RFC 4271 4.3: the lower-order four flag bits "MUST be zero when sent"; Extended
    # Length (0x10) goes with a 2-octet length only.  Partial is set (RFC 4271 5).
    passed_on = h(M + "001e 02 0000 0007 40 02 00 e0 63 01 ab")
    assert decode_message(h(M + received)).encode() == passed_on
    # The same when the caller wrote the flags.
    assert PathAttributes(unknown=((0x63, flags, b"\xab"),)).encode() == h("40 02 00 e0 63 01 ab")


def test_unknown_optional_non_transitive_is_dropped() -> None:
    # RFC 4271 5: an unrecognized optional non-transitive attribute is quietly ignored.
    wire = h(M + "001f 02 0000 0008 40 02 00 80 63 02 abcd")
    decoded = decode_message(wire)
    assert decoded.attributes == PathAttributes()
    assert decoded.issues == ()


def test_extended_length_flag_is_read() -> None:
    # RFC 4271 4.3: Extended Length bit 0x10 means a 2-octet attribute length.
    wire = h(M + "0021 02 0000 000a 50 02 0006 02 01 0000fde9")
    assert decode_message(wire).attributes.as_path == ((2, (65001,)),)


# ------------------------------------------------------------------------------------
# NOTIFICATION


def test_shutdown_notification() -> None:
    # RFC 8203 / RFC 9003 2: Cease (6) / Administrative Shutdown (2), then a length
    # octet and UTF-8: "café €5" is 63 61 66 c3a9 20 e282ac 35, 10 octets.
    wire = h(M + "0020 03 06 02 0a 636166c3a920e282ac35")
    assert Notification.shutdown("café €5").encode() == wire
    decoded = decode_message(wire)
    assert (decoded.code, decoded.subcode) == (6, 2)
    assert decoded.shutdown_message == "café €5"


def test_administrative_reset_notification() -> None:
    # RFC 9003 2: the communication also goes with Administrative Reset (4).
    wire = h(M + "001a 03 06 04 04 f09f9180")  # U+1F440, 4 octets
    assert Notification.shutdown("\U0001f440", 4).encode() == wire
    assert decode_message(wire).shutdown_message == "\U0001f440"


def test_shutdown_communication_with_bad_utf8_is_not_shown() -> None:
    # RFC 9003 2: invalid UTF-8 - the message is still a Cease; no text is returned.
    decoded = decode_message(h(M + "0017 03 06 02 01 ff"))
    assert (decoded.code, decoded.subcode) == (6, 2)
    assert decoded.shutdown_message is None


def test_error_notification() -> None:
    # RFC 4271 4.5: UPDATE Message Error (3) / Malformed AS_PATH (11), no data.
    wire = h(M + "0015 03 03 0b")
    assert Notification(3, 11).encode() == wire
    decoded = decode_message(wire)
    assert decoded == Notification(3, 11)
    assert decoded.name == "UPDATE Message Error / Malformed AS_PATH"


# ------------------------------------------------------------------------------------
# ROUTE-REFRESH


@pytest.mark.parametrize(
    ("hexbody", "refresh"),
    [
        ("0001 00 01", RouteRefresh(1, 1, 0)),  # RFC 2918 3: AFI, reserved, SAFI
        ("0001 01 01", RouteRefresh(1, 1, 1)),  # RFC 7313 4: BoRR
        ("0002 02 01", RouteRefresh(2, 1, 2)),  # RFC 7313 4: EoRR, IPv6
    ],
)
def test_route_refresh(hexbody: str, refresh: RouteRefresh) -> None:
    wire = h(M + "0017 05" + hexbody)
    assert refresh.encode() == wire
    assert decode_message(wire) == refresh
