"""Loc-RIB: the best path per prefix follows every change, and only real changes are
reported (RFC 4271 9.1)."""

from __future__ import annotations

import gc
import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from pybgp.rib.decision import Path, PathInterner, Source, select
from pybgp.rib.loc_rib import LocRib
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import AS_SEQUENCE, IPV4_UNICAST
from pybgp.wire.nlri import prefix_key

SOURCES = [Source(ipaddress.ip_address(f"198.18.0.{n}"), n, n % 2 == 0) for n in (1, 2, 3)]
KEYS = [prefix_key(f"10.244.{n}.0/26") for n in range(3)]


def make_path(source: Source, local_pref: int, length: int) -> Path:
    attrs = PathAttributes(
        origin=0, local_pref=local_pref, as_path=((AS_SEQUENCE, tuple(range(1, length + 1))),)
    )
    return Path(attrs, source, b"\x01")


OPS = st.lists(
    st.tuples(
        st.booleans(),  # True: set a path, False: withdraw it
        st.sampled_from(KEYS),
        st.sampled_from(SOURCES),
        st.integers(99, 101),
        st.integers(1, 3),
    ),
    max_size=40,
)


@given(OPS)
def test_best_always_equals_a_fresh_decision(
    ops: list[tuple[bool, bytes, Source, int, int]],
) -> None:
    rib = LocRib()
    model: dict[bytes, dict[Source, Path]] = {}
    for announce, key, source, local_pref, length in ops:
        before = rib.best(IPV4_UNICAST, key)
        if announce:
            path = make_path(source, local_pref, length)
            model.setdefault(key, {})[source] = path
            change = rib.set_path(IPV4_UNICAST, key, path)
        else:
            model.get(key, {}).pop(source, None)
            change = rib.remove_path(IPV4_UNICAST, key, source)
        after = rib.best(IPV4_UNICAST, key)
        expected = select(list(model.get(key, {}).values()))
        assert (after is None) == (expected is None)
        if expected is not None:
            assert after is not None and after[0] is expected[0]
        # A change is reported exactly when the best path changed.
        changed = (before[0] if before else None) is not (after[0] if after else None)
        assert (change is not None) == changed
        if change is not None:
            assert change.best is (after[0] if after else None)
            assert change.previous is (before[0] if before else None)
    assert len(rib) == sum(1 for paths in model.values() if paths)


def test_a_peer_going_down_takes_its_paths_in_one_call() -> None:
    rib = LocRib()
    gone, stays = SOURCES[0], SOURCES[1]
    for key in KEYS:
        rib.set_path(IPV4_UNICAST, key, make_path(gone, 200, 1))  # best everywhere
    rib.set_path(IPV4_UNICAST, KEYS[0], make_path(stays, 100, 1))
    changes = rib.remove_source(gone, [(IPV4_UNICAST, key) for key in KEYS])
    assert [c.key for c in changes] == KEYS
    assert changes[0].best is not None and changes[0].best.source == stays
    assert all(c.best is None and c.reason == "withdrawn" for c in changes[1:])
    assert len(rib) == 1


def test_replacing_a_worse_path_reports_nothing() -> None:
    rib = LocRib()
    rib.set_path(IPV4_UNICAST, KEYS[0], make_path(SOURCES[0], 200, 1))
    assert rib.set_path(IPV4_UNICAST, KEYS[0], make_path(SOURCES[1], 100, 1)) is None
    assert rib.set_path(IPV4_UNICAST, KEYS[0], make_path(SOURCES[1], 150, 1)) is None
    best = rib.best(IPV4_UNICAST, KEYS[0])
    assert best is not None and best[1] == "local-pref"
    assert len(rib.paths(IPV4_UNICAST, KEYS[0])) == 2


def test_interned_paths_are_shared_and_released() -> None:
    """One Path per (attributes, source, next hop): a peer's thousand prefixes with one
    attribute set cost one object; it goes when no route holds it any more."""
    interner = PathInterner()
    attrs = PathAttributes(origin=0, local_pref=100)
    first = interner.get(attrs, SOURCES[0], b"\x01")
    assert interner.get(attrs, SOURCES[0], b"\x01") is first
    assert interner.get(attrs, SOURCES[1], b"\x01") is not first
    assert interner.get(attrs.replace(med=1), SOURCES[0], b"\x01") is not first
    rib = LocRib()
    for key in KEYS:
        rib.set_path(IPV4_UNICAST, key, interner.get(attrs, SOURCES[2], b"\x02"))
    assert {rib.best(IPV4_UNICAST, key)[0] for key in KEYS} == {  # type: ignore[index]
        interner.get(attrs, SOURCES[2], b"\x02")
    }
    del first
    rib.remove_source(SOURCES[2], [(IPV4_UNICAST, key) for key in KEYS])
    gc.collect()
    assert len(interner) == 0  # no route and no name holds any of them now
