"""Who may receive a route, and with which attributes: iBGP, eBGP and reflection rules.

- On import, `import_loop` finds the loops a route may carry: our AS in its AS_PATH
  (RFC 4271 9.1.2), our router id as ORIGINATOR_ID or our cluster id in CLUSTER_LIST
  (RFC 4456 8).
- `may_advertise` is the export matrix: iBGP split horizon (RFC 4271 9.2), the route
  reflection rules (RFC 4456 6) and the well-known communities (RFC 1997).
- `export_attributes` rewrites a route for one kind of peer: AS_PATH prepend, NEXT_HOP,
  LOCAL_PREF and MED towards eBGP (RFC 4271 5.1), ORIGINATOR_ID and CLUSTER_LIST when
  reflecting (RFC 4456 8).

Standard library only, no I/O.
"""

from __future__ import annotations

from enum import Enum

from ..wire.attributes import PathAttributes
from ..wire.constants import AS_SEQUENCE
from .decision import DEFAULT_LOCAL_PREF

# RFC 1997 and the IANA registry of well-known communities.
NO_EXPORT = 0xFFFFFF01
NO_ADVERTISE = 0xFFFFFF02
NO_EXPORT_SUBCONFED = 0xFFFFFF03


class Kind(Enum):
    """What a peer is to us, as far as the export rules care."""

    LOCAL = "local"  # the route is our own (originated here)
    EBGP = "ebgp"
    IBGP = "ibgp"  # an internal peer that is not a reflection client
    CLIENT = "client"  # an internal peer that is our route-reflection client (RFC 4456)


def import_loop(
    attributes: PathAttributes, local_asn: int, router_id: bytes, cluster_id: bytes | None
) -> str | None:
    """Why a received route must be dropped as a loop, or None."""
    for _, asns in attributes.as_path:
        if local_asn in asns:
            # RFC 4271 9.1.2: a route whose AS_PATH holds our AS is excluded.
            return f"AS_PATH loop: AS {local_asn} in the path"
    if attributes.originator_id == router_id:
        # RFC 4456 8: "A router that recognizes the ORIGINATOR_ID attribute SHOULD ignore
        # a route received with its BGP Identifier as the ORIGINATOR_ID."
        return "ORIGINATOR_ID is our router id"
    if cluster_id is not None and cluster_id in attributes.cluster_list:
        # RFC 4456 8: "If the local CLUSTER_ID is found in the CLUSTER_LIST, the
        # advertisement received SHOULD be ignored."
        return "CLUSTER_LIST holds our cluster id"
    return None


def may_advertise(
    learned_from: Kind, to: Kind, communities: tuple[int, ...] = (), reflector: bool = False
) -> bool:
    """Whether a best path learned from a `learned_from` peer goes to a `to` peer."""
    if learned_from is Kind.LOCAL:
        # Our own route goes to every peer.  RFC 1997 rules apply to routes *received*
        # with the communities: on ours they are what we ask of the receiver.
        return True
    if NO_ADVERTISE in communities:
        return False  # RFC 1997: "MUST NOT be advertised to other BGP peers"
    if to is Kind.EBGP and (NO_EXPORT in communities or NO_EXPORT_SUBCONFED in communities):
        # RFC 1997: not outside the AS (confederation: not outside the member AS either).
        return False
    if learned_from in (Kind.LOCAL, Kind.EBGP) or to is Kind.EBGP:
        return True
    # Internal to internal.  RFC 4271 9.2: "routes learned from an internal peer MUST NOT
    # be advertised to other internal peers" -- unless reflecting, RFC 4456 6: a route
    # from a client goes to every client and non-client; from a non-client, to the
    # clients only.
    if not reflector:
        return False
    return learned_from is Kind.CLIENT or to is Kind.CLIENT


def export_attributes(
    attributes: PathAttributes,
    *,
    learned_from: Kind,
    to: Kind,
    local_asn: int,
    local_next_hop: bytes | None,
    next_hop_self: bool = False,
    originator: bytes | None = None,
    cluster_id: bytes | None = None,
) -> PathAttributes:
    """`attributes` as sent to a `to` peer (the caller has checked `may_advertise`).

    `local_next_hop` is our address on that session (NEXT_HOP octets), `originator` the
    BGP Identifier of the peer the route came from (RFC 4456 8 ORIGINATOR_ID) and
    `cluster_id` ours when we reflect.
    """
    changes: dict[str, object] = {}
    if to is Kind.EBGP:
        # RFC 4271 5.1.2: prepend our AS; 5.1.3: our address as NEXT_HOP; 5.1.5: no
        # LOCAL_PREF; 5.1.4: a MED learned from another AS is not passed on.  RFC 4456's
        # attributes are for inside the AS only.
        path = attributes.as_path
        if path and path[0][0] == AS_SEQUENCE and len(path[0][1]) < 255:
            path = ((AS_SEQUENCE, (local_asn, *path[0][1])), *path[1:])
        else:
            path = ((AS_SEQUENCE, (local_asn,)), *path)
        changes.update(as_path=path, next_hop=local_next_hop, local_pref=None)
        changes.update(originator_id=None, cluster_list=())
        if learned_from is Kind.EBGP:
            changes["med"] = None
    else:
        if attributes.local_pref is None:
            # RFC 4271 5.1.5: LOCAL_PREF is in every UPDATE to an internal peer.
            changes["local_pref"] = DEFAULT_LOCAL_PREF
        if next_hop_self or (learned_from is Kind.LOCAL and attributes.next_hop is None):
            changes["next_hop"] = local_next_hop
        if cluster_id is not None and learned_from in (Kind.IBGP, Kind.CLIENT):
            # RFC 4456 8: ORIGINATOR_ID set when absent (the route's originator in our
            # AS, the peer it came from), our CLUSTER_ID prepended to CLUSTER_LIST.
            if attributes.originator_id is None:
                changes["originator_id"] = originator
            changes["cluster_list"] = (cluster_id, *attributes.cluster_list)
    return attributes.replace(**changes) if changes else attributes
