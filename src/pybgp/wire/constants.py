"""Numbers the BGP RFCs assign: message types, families, attribute and capability codes.

Kept in one place so that every other module, and a newcomer, reads names instead of
magic numbers.  The IANA registries are the source of truth; each block names its RFC.
"""

from __future__ import annotations

from enum import IntEnum

# RFC 4271 4.1: the header is 16 marker octets of all ones, a 2-octet length, a type.
MARKER = b"\xff" * 16
HEADER_LEN = 19
MAX_MESSAGE_LEN = 4096
# RFC 8654 3: with the Extended Message capability on both sides, up to 65535 octets.
MAX_EXTENDED_MESSAGE_LEN = 65535
AS_TRANS = 23456  # RFC 6793 2: the 2-octet stand-in for a 4-octet AS number.
BGP_VERSION = 4


class MessageType(IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5  # RFC 2918


# Smallest legal length of each message (RFC 4271 4.2-4.5, RFC 2918 3).
MIN_LENGTH = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}


class Afi(IntEnum):
    IPV4 = 1
    IPV6 = 2
    L2VPN = 25


class Safi(IntEnum):
    UNICAST = 1
    MULTICAST = 2
    MPLS_LABEL = 4
    EVPN = 70
    MPLS_VPN = 128
    FLOWSPEC = 133


Family = tuple[int, int]
IPV4_UNICAST: Family = (Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST: Family = (Afi.IPV6, Safi.UNICAST)


def afi_name(afi: int) -> str:
    try:
        return Afi(afi).name.lower()
    except ValueError:
        return str(afi)


def safi_name(safi: int) -> str:
    try:
        return Safi(safi).name.lower().replace("_", "-")
    except ValueError:
        return str(safi)


def family_name(family: Family) -> str:
    """'ipv4/unicast', the spelling pybgp uses in JSON and logs."""
    return f"{afi_name(family[0])}/{safi_name(family[1])}"


class AttrCode(IntEnum):
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15  # RFC 4760
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18  # RFC 6793
    LARGE_COMMUNITIES = 32  # RFC 8092
    OTC = 35  # RFC 9234


# RFC 4271 4.3: attribute flag bits.
FLAG_OPTIONAL = 0x80
FLAG_TRANSITIVE = 0x40
FLAG_PARTIAL = 0x20
FLAG_EXTENDED_LENGTH = 0x10

ORIGIN_IGP = 0
ORIGIN_EGP = 1
ORIGIN_INCOMPLETE = 2
ORIGIN_NAMES = ("igp", "egp", "incomplete")

# RFC 4271 4.3 and RFC 5065 3: AS_PATH segment types.
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4
SEGMENT_NAMES = {
    AS_SET: "set",
    AS_SEQUENCE: "sequence",
    AS_CONFED_SEQUENCE: "confed_sequence",
    AS_CONFED_SET: "confed_set",
}

# RFC 1997 and RFC 3765, RFC 7999, RFC 8326: well-known communities.
NO_EXPORT = 0xFFFFFF01
NO_ADVERTISE = 0xFFFFFF02
NO_EXPORT_SUBCONFED = 0xFFFFFF03
NOPEER = 0xFFFFFF04
BLACKHOLE = 0xFFFF029A
GRACEFUL_SHUTDOWN = 0xFFFF0000
LLGR_STALE = 0xFFFF0006
NO_LLGR = 0xFFFF0007


class CapabilityCode(IntEnum):
    MULTIPROTOCOL = 1  # RFC 4760
    ROUTE_REFRESH = 2  # RFC 2918
    EXTENDED_NEXT_HOP = 5  # RFC 8950
    EXTENDED_MESSAGE = 6  # RFC 8654
    ROLE = 9  # RFC 9234
    GRACEFUL_RESTART = 64  # RFC 4724
    FOUR_OCTET_AS = 65  # RFC 6793
    ADD_PATH = 69  # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494
    FQDN = 73  # draft-walton-bgp-hostname-capability


# RFC 5492 4: the optional parameter type that carries capabilities.
OPT_PARAM_CAPABILITIES = 2
# RFC 9072 2: this value in the Non-Ext OP Type octet announces extended parameters.
OPT_PARAM_EXTENDED = 255
