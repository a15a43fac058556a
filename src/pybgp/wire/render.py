"""Messages as plain JSON-ready dicts: the contract of `pybgp decode` (docs/decode.md).

This is the people-facing view; the hot path never calls it.
"""

from __future__ import annotations

from typing import Any

from . import capabilities as caps
from .attribute_table import attribute_name
from .attributes import PathAttributes
from .constants import (
    IPV4_UNICAST,
    ORIGIN_NAMES,
    SEGMENT_NAMES,
    Family,
    afi_name,
    family_name,
    safi_name,
)
from .context import DEFAULT_CONTEXT, CodecContext
from .messages import Keepalive, Message
from .nlri import address_str, prefix_str, split_path_id
from .notification import Notification
from .open import Open
from .route_refresh import SUBTYPE_NAMES, RouteRefresh
from .update import MpReach, MpUnreach, Update

JsonDict = dict[str, Any]


def message_to_dict(message: Message, ctx: CodecContext = DEFAULT_CONTEXT) -> JsonDict:
    """One decoded message as the JSON object `pybgp decode` prints."""
    if isinstance(message, Update):
        return update_to_dict(message, ctx)
    if isinstance(message, Open):
        return open_to_dict(message)
    if isinstance(message, Notification):
        return notification_to_dict(message)
    if isinstance(message, RouteRefresh):
        return {
            "type": "ROUTE-REFRESH",
            "afi": afi_name(message.afi),
            "safi": safi_name(message.safi),
            "subtype": SUBTYPE_NAMES.get(message.subtype, message.subtype),
        }
    assert isinstance(message, Keepalive)
    return {"type": "KEEPALIVE"}


# --- OPEN --------------------------------------------------------------------------


def open_to_dict(message: Open) -> JsonDict:
    out: JsonDict = {
        "type": "OPEN",
        "version": message.version,
        "asn": message.asn,
        "hold_time": message.hold_time,
        "bgp_id": message.bgp_id,
        "capabilities": [capability_to_dict(cap) for cap in message.capabilities],
    }
    if message.my_as != message.asn:
        out["my_as"] = message.my_as
    if message.other_parameters:
        out["other_parameters"] = [
            {"type": kind, "value": value.hex()} for kind, value in message.other_parameters
        ]
    return out


def _family(afi: int, safi: int) -> JsonDict:
    return {"afi": afi_name(afi), "safi": safi_name(safi)}


def capability_to_dict(cap: caps.Capability) -> JsonDict:
    out: JsonDict = {"code": cap.code, "name": cap.name}
    if isinstance(cap, caps.Multiprotocol):
        out.update(_family(cap.afi, cap.safi))
    elif isinstance(cap, caps.FourOctetAs):
        out["asn"] = cap.asn
    elif isinstance(cap, caps.AddPath):
        out["families"] = [
            {**_family(afi, safi), "send_receive": caps.ADDPATH_NAMES.get(mode, mode)}
            for afi, safi, mode in cap.entries
        ]
    elif isinstance(cap, caps.GracefulRestart):
        out["restart_state"] = bool(cap.restart_flags & 0x8)
        out["notification"] = bool(cap.restart_flags & 0x4)
        out["restart_time"] = cap.restart_time
        out["families"] = [
            {**_family(afi, safi), "forwarding_state": bool(flags & 0x80)}
            for afi, safi, flags in cap.families
        ]
    elif isinstance(cap, caps.LongLivedGracefulRestart):
        out["families"] = [
            {**_family(afi, safi), "forwarding_state": bool(flags & 0x80), "stale_time": stale}
            for afi, safi, flags, stale in cap.families
        ]
    elif isinstance(cap, caps.ExtendedNextHop):
        out["families"] = [
            {**_family(afi, safi), "next_hop_afi": afi_name(nh_afi)}
            for afi, safi, nh_afi in cap.entries
        ]
    elif isinstance(cap, caps.Role):
        out["role"] = caps.ROLE_NAMES.get(cap.role, cap.role)
    elif isinstance(cap, caps.Fqdn):
        out["hostname"] = cap.hostname
        out["domain"] = cap.domain
    elif isinstance(cap, caps.UnknownCapability):
        out["value"] = cap.value.hex()
    return out


# --- NOTIFICATION ------------------------------------------------------------------


def notification_to_dict(message: Notification) -> JsonDict:
    out: JsonDict = {
        "type": "NOTIFICATION",
        "code": message.code,
        "subcode": message.subcode,
        "data": message.data.hex(),
        "name": message.name,
    }
    text = message.shutdown_message
    if text is not None:
        out["shutdown_message"] = text
    return out


# --- UPDATE ------------------------------------------------------------------------


def _prefixes(keys: list[bytes], family: Family, ctx: CodecContext) -> list[Any]:
    afi = family[0]
    if family in ctx.addpath:
        out: list[Any] = []
        for key in keys:
            path_id, plain = split_path_id(key)
            out.append({"prefix": prefix_str(plain, afi), "path_id": path_id})
        return out
    return [prefix_str(key, afi) for key in keys]


def _next_hops(raw: bytes) -> list[str]:
    # RFC 2545 3: 32 octets are a global and a link-local IPv6 address.
    if len(raw) == 32:
        return [address_str(raw[:16]), address_str(raw[16:])]
    return [address_str(raw)]


def update_to_dict(message: Update, ctx: CodecContext = DEFAULT_CONTEXT) -> JsonDict:
    attributes = attributes_to_dict(message.attributes) if message.attributes else {}
    if message.mp_reach is not None:
        attributes["mp_reach"] = _mp_reach(message.mp_reach, ctx)
    if message.mp_unreach is not None:
        attributes["mp_unreach"] = _mp_unreach(message.mp_unreach, ctx)
    out: JsonDict = {
        "type": "UPDATE",
        "withdrawn": _prefixes(message.withdrawn, IPV4_UNICAST, ctx),
        "attributes": attributes,
        "nlri": _prefixes(message.nlri, IPV4_UNICAST, ctx),
    }
    eor = message.end_of_rib()
    if eor is not None:
        out["end_of_rib"] = family_name(eor)
    if message.treat_as_withdraw:
        out["treat_as_withdraw"] = True
    if message.issues:
        out["issues"] = [
            {
                "action": issue.action.value,
                "attribute": attribute_name(issue.attribute) if issue.attribute else None,
                "subcode": issue.subcode,
                "reason": issue.reason,
            }
            for issue in message.issues
        ]
    return out


def _mp_reach(reach: MpReach, ctx: CodecContext) -> JsonDict:
    out: JsonDict = {**_family(reach.afi, reach.safi), "next_hop": _next_hops(reach.next_hop)}
    out["nlri"] = _prefixes(reach.nlri, reach.family, ctx)
    if reach.raw_nlri:
        out["raw_nlri"] = reach.raw_nlri.hex()
    return out


def _mp_unreach(unreach: MpUnreach, ctx: CodecContext) -> JsonDict:
    out: JsonDict = _family(unreach.afi, unreach.safi)
    out["withdrawn"] = _prefixes(unreach.withdrawn, unreach.family, ctx)
    if unreach.raw_withdrawn:
        out["raw_withdrawn"] = unreach.raw_withdrawn.hex()
    return out


def community_str(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


def attributes_to_dict(attrs: PathAttributes) -> JsonDict:
    out: JsonDict = {}
    if attrs.origin is not None:
        out["origin"] = ORIGIN_NAMES[attrs.origin]
    if attrs.as_path or attrs.origin is not None:
        out["as_path"] = [
            {"type": SEGMENT_NAMES[kind], "asns": list(asns)} for kind, asns in attrs.as_path
        ]
    if attrs.next_hop is not None:
        out["next_hop"] = address_str(attrs.next_hop)
    if attrs.med is not None:
        out["med"] = attrs.med
    if attrs.local_pref is not None:
        out["local_pref"] = attrs.local_pref
    if attrs.atomic_aggregate:
        out["atomic_aggregate"] = True
    if attrs.aggregator is not None:
        out["aggregator"] = {
            "asn": attrs.aggregator[0],
            "address": address_str(attrs.aggregator[1]),
        }
    if attrs.communities:
        out["communities"] = [community_str(c) for c in attrs.communities]
    if attrs.large_communities:
        out["large_communities"] = [f"{a}:{b}:{c}" for a, b, c in attrs.large_communities]
    if attrs.extended_communities:
        out["extended_communities"] = [c.hex() for c in attrs.extended_communities]
    if attrs.originator_id is not None:
        out["originator_id"] = address_str(attrs.originator_id)
    if attrs.cluster_list:
        out["cluster_list"] = [address_str(c) for c in attrs.cluster_list]
    if attrs.otc is not None:
        out["otc"] = attrs.otc
    if attrs.unknown:
        out["unknown"] = [
            {"code": code, "flags": flags, "value": value.hex()}
            for code, flags, value in attrs.unknown
        ]
    return out
