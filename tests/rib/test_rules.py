"""Export matrix, loop detection and attribute rewriting (RFC 4271 5.1, 9.2; RFC 4456;
RFC 1997)."""

from __future__ import annotations

import pytest

from pybgp.rib.rules import (
    NO_ADVERTISE,
    NO_EXPORT,
    NO_EXPORT_SUBCONFED,
    Kind,
    export_attributes,
    import_loop,
    may_advertise,
)
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import AS_SEQUENCE, AS_SET

L, E, I, C = Kind.LOCAL, Kind.EBGP, Kind.IBGP, Kind.CLIENT  # noqa: E741

# (learned from, to) -> may it go there?  Without reflection (RFC 4271 9.2) and as a
# route reflector (RFC 4456 6).
MATRIX = {
    # learned from: local     eBGP      iBGP      client
    E: {L: True, E: True, I: True, C: True},
    I: {L: True, E: True, I: False, C: False},
    C: {L: True, E: True, I: False, C: False},
}
REFLECTOR_MATRIX = {
    E: {L: True, E: True, I: True, C: True},
    I: {L: True, E: True, I: False, C: True},  # non-client -> clients only
    C: {L: True, E: True, I: True, C: True},  # client -> everyone
}


@pytest.mark.parametrize("reflector", [False, True])
@pytest.mark.parametrize("learned_from", [L, E, I, C])
@pytest.mark.parametrize("to", [E, I, C])
def test_export_matrix(learned_from: Kind, to: Kind, reflector: bool) -> None:
    table = REFLECTOR_MATRIX if reflector else MATRIX
    assert may_advertise(learned_from, to, reflector=reflector) is table[to][learned_from]


@pytest.mark.parametrize(
    ("community", "to", "allowed"),
    [
        (NO_ADVERTISE, E, False),
        (NO_ADVERTISE, I, False),
        (NO_EXPORT, E, False),
        (NO_EXPORT, I, True),
        (NO_EXPORT_SUBCONFED, E, False),
        (NO_EXPORT_SUBCONFED, C, True),
        ((64512 << 16) | 100, E, True),
    ],
)
def test_well_known_communities(community: int, to: Kind, allowed: bool) -> None:
    """RFC 1997: a received route with NO_ADVERTISE goes to nobody; with
    NO_EXPORT(_SUBCONFED) it stays in the AS."""
    assert may_advertise(E, to, (community,), reflector=True) is allowed


@pytest.mark.parametrize("community", [NO_ADVERTISE, NO_EXPORT, NO_EXPORT_SUBCONFED])
def test_well_known_communities_on_our_own_routes_are_for_the_receiver(community: int) -> None:
    """RFC 1997 speaks of routes *received* with them: on a route we originate they are
    what we ask of the peer (a customer tags NO_EXPORT towards its provider)."""
    assert may_advertise(L, E, (community,)) is True


ROUTER_ID = bytes([198, 18, 0, 1])
CLUSTER = bytes([198, 18, 0, 100])


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        (PathAttributes(as_path=((AS_SEQUENCE, (64600, 64512)),)), "AS_PATH loop"),
        (PathAttributes(as_path=((AS_SET, (64512, 64513)),)), "AS_PATH loop"),
        (PathAttributes(originator_id=ROUTER_ID), "ORIGINATOR_ID"),
        (PathAttributes(cluster_list=(bytes(4), CLUSTER)), "CLUSTER_LIST"),
        (PathAttributes(as_path=((AS_SEQUENCE, (64600,)),), cluster_list=(bytes(4),)), None),
    ],
)
def test_import_loops(attributes: PathAttributes, reason: str | None) -> None:
    found = import_loop(attributes, 64512, ROUTER_ID, CLUSTER)
    assert (found is None) if reason is None else (found is not None and reason in found)


PEER_NH = bytes([198, 18, 0, 7])
OUR_NH = bytes([198, 18, 0, 1])
LEARNED = PathAttributes(
    origin=0,
    as_path=((AS_SEQUENCE, (64600,)),),
    next_hop=PEER_NH,
    med=30,
    local_pref=150,
    originator_id=bytes([198, 18, 0, 9]),
    cluster_list=(bytes([198, 18, 0, 50]),),
)


def test_towards_ebgp() -> None:
    """RFC 4271 5.1: our AS first, our NEXT_HOP, no LOCAL_PREF, no foreign MED; no
    reflection attributes outside the AS."""
    out = export_attributes(LEARNED, learned_from=E, to=E, local_asn=64512, local_next_hop=OUR_NH)
    assert out.as_path == ((AS_SEQUENCE, (64512, 64600)),)
    assert out.next_hop == OUR_NH
    assert out.local_pref is None and out.med is None
    assert out.originator_id is None and out.cluster_list == ()
    ours = export_attributes(LEARNED, learned_from=I, to=E, local_asn=64512, local_next_hop=OUR_NH)
    assert ours.med == 30  # learned inside our AS: ours to pass on


def test_towards_ibgp_keeps_next_hop_unless_next_hop_self() -> None:
    out = export_attributes(
        LEARNED.replace(local_pref=None),
        learned_from=E,
        to=I,
        local_asn=64512,
        local_next_hop=OUR_NH,
    )
    assert out.next_hop == PEER_NH
    assert out.local_pref == 100  # RFC 4271 5.1.5: always sent to internal peers
    assert out.as_path == LEARNED.as_path
    forced = export_attributes(
        LEARNED,
        learned_from=E,
        to=I,
        local_asn=64512,
        local_next_hop=OUR_NH,
        next_hop_self=True,
    )
    assert forced.next_hop == OUR_NH


def test_reflection_sets_originator_and_prepends_cluster() -> None:
    """RFC 4456 8: ORIGINATOR_ID only when absent; our CLUSTER_ID first in CLUSTER_LIST."""
    fresh = LEARNED.replace(originator_id=None, cluster_list=())
    peer_id = bytes([198, 18, 0, 7])
    out = export_attributes(
        fresh,
        learned_from=C,
        to=I,
        local_asn=64512,
        local_next_hop=OUR_NH,
        originator=peer_id,
        cluster_id=CLUSTER,
    )
    assert out.originator_id == peer_id
    assert out.cluster_list == (CLUSTER,)
    again = export_attributes(
        LEARNED,
        learned_from=I,
        to=C,
        local_asn=64512,
        local_next_hop=OUR_NH,
        originator=peer_id,
        cluster_id=CLUSTER,
    )
    assert again.originator_id == LEARNED.originator_id
    assert again.cluster_list == (CLUSTER, *LEARNED.cluster_list)
    assert again.next_hop == PEER_NH  # a reflector does not change the next hop


def test_unchanged_attributes_are_the_same_object() -> None:
    """Nothing to rewrite: the interned object is passed on (no copy per peer)."""
    out = export_attributes(LEARNED, learned_from=E, to=I, local_asn=64512, local_next_hop=OUR_NH)
    assert out is LEARNED
