"""The Adj-RIB-Out of an update group is state: after any sequence of best-path changes
and partial sends, what the members were told equals a recomputation from the Loc-RIB
(issue 4's coalescing property), and the UPDATEs say exactly that."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.rib.adj_in import AdjRibIn
from pybgp.rib.adj_out import Exported, UpdateGroup
from pybgp.rib.decision import Path, PathInterner, Source
from pybgp.rib.loc_rib import LocRib
from pybgp.wire import decode_message
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import AS_SEQUENCE, IPV4_UNICAST, IPV6_UNICAST, Family
from pybgp.wire.context import CodecContext
from pybgp.wire.nlri import prefix_key

SOURCES = [Source(ipaddress.ip_address(f"198.18.0.{n}"), n) for n in (1, 2)]
V4 = [prefix_key(f"10.244.{n}.0/26") for n in range(6)]
V6 = [prefix_key(f"2001:db8:{n}::/48") for n in range(3)]
OUR_V4 = bytes([198, 18, 0, 100])
OUR_V6 = ipaddress.ip_address("2001:db8::100").packed
ATTRS = [
    PathAttributes(origin=0, as_path=((AS_SEQUENCE, (64600,)),), med=m, next_hop=OUR_V4)
    for m in range(3)
]
NO_EXPORT_MED = 2  # the export hook refuses paths with this MED (a policy stand-in)
INTERNER = PathInterner()


def export(family: Family, key: bytes, best: Path) -> Exported | None:
    if best.attributes.med == NO_EXPORT_MED:
        return None
    return best.attributes, OUR_V4 if family == IPV4_UNICAST else OUR_V6


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.sampled_from([(IPV4_UNICAST, k) for k in V4] + [(IPV6_UNICAST, k) for k in V6]),
            st.sampled_from(SOURCES),
            st.sampled_from(ATTRS),
        ),
        st.tuples(
            st.just("drop"),
            st.sampled_from([(IPV4_UNICAST, k) for k in V4] + [(IPV6_UNICAST, k) for k in V6]),
            st.sampled_from(SOURCES),
            st.none(),
        ),
        st.tuples(st.just("send"), st.integers(0, 200), st.none(), st.none()),
    ),
    max_size=60,
)


def apply(messages: list[bytes], rib_in: AdjRibIn) -> None:
    for message in messages:
        rib_in.apply(decode_message(message))


@settings(max_examples=300)
@given(OPS)
def test_adj_rib_out_equals_a_recomputation(ops: list[tuple]) -> None:
    loc = LocRib()
    group = UpdateGroup(export, CodecContext())
    peer_view = AdjRibIn()  # what a member learns from the UPDATEs
    for op, a, b, c in ops:
        if op == "set":
            (family, key), source = a, b
            change = loc.set_path(family, key, INTERNER.get(c, source, None))
        elif op == "drop":
            (family, key), source = a, b
            change = loc.remove_path(family, key, source)
        else:
            apply([o.message for o in group.produce(a)], peer_view)
            continue
        if change is not None:
            group.changed(change.family, change.key, change.best)
    apply([o.message for o in group.produce()], peer_view)
    assert group.pending == 0
    for family in (IPV4_UNICAST, IPV6_UNICAST):
        expected = {
            key: exported
            for key, best, _ in loc.items(family)
            if (exported := export(family, key, best)) is not None
        }
        assert group.sent.get(family, {}) == expected
        learned = {r.key: r.attributes.med for r in peer_view.routes(family)}
        assert learned == {key: e[0].med for key, e in expected.items()}


def test_churn_is_coalesced() -> None:
    """A prefix that changes many times before the members can take more is sent once."""
    loc = LocRib()
    group = UpdateGroup(export, CodecContext())
    for _ in range(50):
        for attrs in ATTRS[:2]:
            change = loc.set_path(IPV4_UNICAST, V4[0], INTERNER.get(attrs, SOURCES[0], None))
            if change is not None:
                group.changed(change.family, change.key, change.best)
    assert group.pending == 1
    (message,) = [o.message for o in group.produce()]
    update = decode_message(message)
    assert update.nlri == [V4[0]] and update.attributes.med == 1


def test_prefixes_sharing_attributes_are_packed_together() -> None:
    group = UpdateGroup(export, CodecContext())
    path = INTERNER.get(ATTRS[0], SOURCES[0], None)
    keys = [prefix_key(f"10.{i >> 8}.{i & 255}.0/24") for i in range(2000)]
    for key in keys:
        group.changed(IPV4_UNICAST, key, path)
    messages = [o.message for o in group.produce()]
    assert len(messages) == 2  # 2,000 /24s at 4 octets each, about 1,011 per 4,096 octets
    assert sum(len(decode_message(m).nlri) for m in messages) == 2000


def test_produce_respects_its_budget_and_resumes() -> None:
    group = UpdateGroup(export, CodecContext())
    path = INTERNER.get(ATTRS[0], SOURCES[0], None)
    for key in V4:
        group.changed(IPV4_UNICAST, key, path)
    first = [o.message for o in group.produce(8)]  # room for about two 4-octet keys
    assert first and group.pending > 0
    rest = [o.message for o in group.produce()]
    assert group.pending == 0
    sent = [k for m in first + rest for k in decode_message(m).nlri]
    assert sorted(sent) == sorted(V4)


def test_a_group_sends_only_the_families_its_members_negotiated() -> None:
    """RFC 4760 6: routes of a family the session did not agree on are not sent (GoBGP
    resets an IPv4-only session that receives an IPv6 MP_REACH_NLRI)."""
    group = UpdateGroup(export, CodecContext(), families=[IPV4_UNICAST])
    group.changed(IPV6_UNICAST, V6[0], INTERNER.get(ATTRS[0], SOURCES[0], OUR_V6))
    group.changed_many(IPV6_UNICAST, V6[1:], INTERNER.get(ATTRS[0], SOURCES[0], OUR_V6))
    group.changed(IPV4_UNICAST, V4[0], INTERNER.get(ATTRS[0], SOURCES[0], None))
    assert group.pending == 1
    (message,) = [o.message for o in group.produce()]
    assert decode_message(message).mp_reach is None
