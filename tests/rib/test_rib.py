"""The RIB from UPDATE to best-path change: loop checks, the next-hop hook, a peer
going down, policy re-evaluation, and the incremental Loc-RIB against a recomputation."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.config import loads_config
from pybgp.rib.decision import Path, Source, select
from pybgp.rib.loc_rib import LocRib
from pybgp.rib.policy import compile_chain
from pybgp.rib.rib import PeerRib, Rib
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import AS_SEQUENCE, IPV4_UNICAST, Family
from pybgp.wire.nlri import prefix_key
from pybgp.wire.update import Update

ROUTER_ID = "198.18.0.1"
CLUSTER = "198.18.0.100"
HOP_A = bytes([198, 18, 0, 11])
HOP_B = bytes([198, 18, 0, 12])
KEYS = [prefix_key(f"10.244.{n}.0/26") for n in range(4)]


def source(n: int, client: bool = True) -> Source:
    return Source(ipaddress.ip_address(f"198.18.0.{10 + n}"), 10 + n, False, client)


def update(keys: list[bytes], hop: bytes = HOP_A, **attrs: object) -> Update:
    attributes = PathAttributes(origin=0, next_hop=hop, local_pref=100).replace(**attrs)
    return Update(attributes=attributes, nlri=list(keys))


class Recorder:
    """A listener that keeps each prefix's latest best path, as an update group does."""

    def __init__(self) -> None:
        self.best: dict[bytes, Path | None] = {}

    def changed(self, family: Family, key: bytes, best: Path | None) -> None:
        self.best[key] = best

    def changed_many(self, family: Family, keys: list[bytes], best: Path | None) -> None:
        for key in keys:
            self.best[key] = best


def rib_with_listener(cluster: str | None = CLUSTER) -> tuple[Rib, Recorder]:
    rib = Rib(64512, ROUTER_ID, cluster)
    recorder = Recorder()
    rib.listeners.append(recorder)
    return rib, recorder


def test_loops_are_kept_as_received_but_not_used() -> None:
    """RFC 4271 9.1.2 (our AS in AS_PATH), RFC 4456 8 (our router id as ORIGINATOR_ID,
    our cluster id in CLUSTER_LIST): in the Adj-RIB-In, counted, not in the Loc-RIB."""
    rib, recorder = rib_with_listener()
    peer = PeerRib(source(1))
    rib.receive(peer, update(KEYS[:1], as_path=((AS_SEQUENCE, (65001, 64512)),)))
    rib.receive(peer, update(KEYS[1:2], originator_id=bytes([198, 18, 0, 1])))
    rib.receive(peer, update(KEYS[2:3], cluster_list=(bytes([198, 18, 0, 100]),)))
    rib.receive(peer, update(KEYS[3:]))
    assert len(peer.adj_in) == 4 and peer.accepted == 1
    assert [key for key, _ in rib.table(IPV4_UNICAST)] == KEYS[3:]
    assert recorder.best == {KEYS[3]: rib.loc.best(IPV4_UNICAST, KEYS[3])[0]}  # type: ignore[index]


def test_a_route_that_stops_looping_is_accepted_again() -> None:
    rib, _ = rib_with_listener()
    peer = PeerRib(source(1))
    rib.receive(peer, update(KEYS[:1], as_path=((AS_SEQUENCE, (64512,)),)))
    rib.receive(peer, update(KEYS[:1], as_path=((AS_SEQUENCE, (65001,)),)))
    assert peer.accepted == 1 and rib.loc.best(IPV4_UNICAST, KEYS[0]) is not None


def test_the_next_hop_hook_excludes_unreachable_paths_and_ranks_by_cost() -> None:
    """RFC 4271 9.1.2 (c) / 9.1.2.2 (e): an unresolvable next hop makes a path ineligible;
    the IGP cost to the next hop decides between otherwise equal paths."""
    costs = {HOP_A: 20, HOP_B: 10}
    rib = Rib(64512, ROUTER_ID, next_hop_cost=lambda family, hop: costs.get(hop or b""))
    a, b, c = PeerRib(source(1)), PeerRib(source(2)), PeerRib(source(3))
    rib.receive(a, update(KEYS[:1], hop=HOP_A))
    rib.receive(b, update(KEYS[:1], hop=HOP_B))
    rib.receive(c, update(KEYS[:1], hop=bytes([203, 0, 113, 1])))  # no route to it
    best, reason = rib.loc.best(IPV4_UNICAST, KEYS[0])  # type: ignore[misc]
    assert (best.source, reason) == (b.source, "igp-cost")
    assert len(rib.loc.paths(IPV4_UNICAST, KEYS[0])) == 2 and c.accepted == 0


def test_a_peer_going_down_takes_all_its_paths_at_once() -> None:
    rib, recorder = rib_with_listener()
    a, b = PeerRib(source(1)), PeerRib(source(2))
    rib.receive(a, update(KEYS))
    rib.receive(b, update(KEYS[:2], hop=HOP_B, local_pref=50))
    assert rib.drop_peer(a) == 4
    assert len(a.adj_in) == 0
    assert {k: (p.source if p else None) for k, p in recorder.best.items()} == {
        KEYS[0]: b.source,
        KEYS[1]: b.source,
        KEYS[2]: None,
        KEYS[3]: None,
    }


def test_a_new_import_policy_re_evaluates_the_adj_rib_in() -> None:
    config = loads_config(
        """
[speaker]
asn = 64512
router-id = "198.18.0.1"
[[policy]]
name = "pref"
  [[policy.term]]
  prefix = ["10.244.0.0/24 le 26"]
  action = "reject"
  [[policy.term]]
  action = "accept"
  set-local-pref = 300
"""
    )
    rib, recorder = rib_with_listener()
    peer = PeerRib(source(1))
    rib.receive(peer, update(KEYS))
    rib.reimport(peer, compile_chain(["pref"], config.policies))
    assert recorder.best[KEYS[0]] is None and peer.accepted == 3
    assert all(recorder.best[k].attributes.local_pref == 300 for k in KEYS[1:])  # type: ignore[union-attr]


ATTRIBUTE_SETS = [
    PathAttributes(origin=0, local_pref=lp, as_path=((AS_SEQUENCE, path),), med=med)
    for lp in (100, 200)
    for path in ((65001,), (65002, 65003))
    for med in (0, 10)
]
SOURCES = [source(n) for n in range(4)]
OPS = st.lists(
    st.tuples(
        st.booleans(),  # True: announce, False: withdraw
        st.sampled_from(KEYS[:2]),
        st.sampled_from(SOURCES),
        st.sampled_from(ATTRIBUTE_SETS),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(OPS)
def test_the_incremental_loc_rib_agrees_with_a_full_decision(ops: list[tuple]) -> None:
    """A path from a new source is decided by one comparison with the best: the outcome
    must equal running the decision process over all the prefix's paths."""
    loc = LocRib()
    model: dict[bytes, dict[Source, Path]] = {key: {} for key in KEYS[:2]}
    for announce, key, src, attributes in ops:
        if announce:
            path = Path(attributes, src, HOP_A)
            loc.set_path(IPV4_UNICAST, key, path)
            model[key][src] = path
        else:
            loc.remove_path(IPV4_UNICAST, key, src)
            model[key].pop(src, None)
        for k, paths in model.items():
            held = loc.paths(IPV4_UNICAST, k)
            assert set(held) == set(paths.values())
            chosen = loc.best(IPV4_UNICAST, k)
            assert (chosen[0] if chosen else None) == (select(held)[0] if held else None)
