"""MemoryFib: the Fib semantics (queue, coalescing, refusals and retries, reconciliation,
close) without a kernel.  NetlinkFib shares the bookkeeping (``BatchedFib``), so these
tests cover its logic too; tests/fib/test_netlink.py checks the kernel side."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from itertools import pairwise

import pytest

from pybgp.fib import FibSettings, KernelRoute, MemoryFib, NextHop
from pybgp.fib.base import fib_key, fib_prefix
from pybgp.fib.batched import CHUNK, scatter

ETH0 = NextHop(ip_address("198.18.0.11"), "eth0")
ETH0_B = NextHop(ip_address("198.18.0.12"), "eth0")
TUNL0 = NextHop(ip_address("198.18.0.11"), "tunl0", onlink=True)


def route(prefix: str, *hops: NextHop) -> KernelRoute:
    return KernelRoute(ip_network(prefix), hops or (ETH0,))


def blackhole(prefix: str) -> KernelRoute:
    return KernelRoute(ip_network(prefix), blackhole=True)


# -- data types --------------------------------------------------------------------------
def test_route_validation() -> None:
    with pytest.raises(ValueError, match="blackhole"):
        KernelRoute(ip_network("10.244.0.0/26"), (ETH0,), blackhole=True)
    with pytest.raises(ValueError, match="next hop"):
        KernelRoute(ip_network("10.244.0.0/26"))
    with pytest.raises(ValueError, match="another family"):
        KernelRoute(ip_network("2001:db8:1::/64"), (ETH0,))
    with pytest.raises(ValueError, match="protocol"):
        FibSettings(protocol=0)


def test_ecmp_next_hops_compare_as_a_set() -> None:
    """The kernel may return multipath members in another order (IPv6 appends siblings)."""
    a = route("10.244.1.0/26", ETH0_B, ETH0)
    b = route("10.244.1.0/26", ETH0, ETH0_B)
    assert a == b
    assert a.next_hops == (ETH0, ETH0_B)
    assert str(route("10.244.1.0/26", TUNL0)) == "10.244.1.0/26 via 198.18.0.11 dev tunl0 onlink"
    assert str(blackhole("10.244.58.192/26")) == "blackhole 10.244.58.192/26"


@pytest.mark.parametrize("prefix", ["10.244.85.192/26", "0.0.0.0/0", "2001:db8:1::/64"])
def test_fib_key_round_trip(prefix: str) -> None:
    network = ip_network(prefix)
    key = fib_key(network)
    assert len(key) == (5 if network.version == 4 else 17) and key[-1] == network.prefixlen
    assert fib_prefix(key) == network


@pytest.mark.parametrize("count", [0, 1, 7, 97, 98, 1000, 20_000])
def test_scatter_is_a_permutation_that_puts_neighbours_apart(count: int) -> None:
    """Writes go to the kernel spread over the table (see scatter): every item once,
    and, in a list long enough to scatter, almost no two neighbours next to each other."""
    items = list(range(count))
    order = scatter(items)
    assert sorted(order) == items
    if count > 97 * 7:
        close = sum(abs(a - b) < 97 for a, b in pairwise(order))
        assert close < count / 100


async def test_views_answer_like_read_only_dicts() -> None:
    fib = MemoryFib()
    await fib.start([])
    r = route("10.244.85.192/26")
    fib.set(r)
    fib.set(route("10.244.86.0/26", TUNL0))
    fib.refuse(ip_network("10.244.86.0/26"))
    await fib.flush()
    installed, failed = fib.installed(), fib.failed
    assert list(installed) == [r.prefix] and len(installed) == 1
    assert installed.get("10.244.85.192/26") is None  # a string is not a network  # type: ignore[call-overload]
    assert "10.244.85.192/26" not in installed and r.prefix in installed
    assert list(failed) == [ip_network("10.244.86.0/26")]
    assert failed[ip_network("10.244.86.0/26")].startswith("ENETUNREACH")
    assert fib.installed_hops(fib_key(r.prefix)) == r.next_hops


# -- queue and coalescing ------------------------------------------------------------------
async def test_set_flush_installs() -> None:
    fib = MemoryFib()
    await fib.start([])
    r = route("10.244.85.192/26")
    fib.set(r)
    assert fib.installed() == {}  # only queued
    assert fib.pending == 1
    await fib.flush()
    assert fib.installed() == {r.prefix: r}
    assert fib.routes() == {r.prefix: r}
    with pytest.raises(TypeError):
        fib.installed()[r.prefix] = r  # type: ignore[index]  # a read-only view


async def test_changes_for_one_prefix_coalesce() -> None:
    fib = MemoryFib()
    await fib.start([])
    first, second = route("10.244.1.0/26"), route("10.244.1.0/26", ETH0_B)
    fib.set(first)
    fib.set(second)
    await fib.flush()
    assert fib.writes == 1
    assert fib.routes()[second.prefix] == second
    fib.set(first)
    fib.delete(first.prefix)  # set then delete before a flush: nothing to write
    fib.set(route("10.244.2.0/26"))
    fib.delete(ip_network("10.244.2.0/26"))
    fib.delete(ip_network("10.244.1.0/26"))
    await fib.flush()
    assert fib.writes == 2  # only the removal of 10.244.1.0/26
    assert fib.routes() == {}
    fib.set(second)
    await fib.flush()
    fib.set(second)  # unchanged: no write
    await fib.flush()
    assert fib.writes == 3


async def test_replacing_our_route_uses_replace() -> None:
    fib = MemoryFib()
    await fib.start([])
    fib.set(route("10.244.1.0/26"))
    await fib.flush()
    new = route("10.244.1.0/26", TUNL0)
    fib.set(new)
    await fib.flush()
    assert fib.routes()[new.prefix] == new
    assert len(fib.table[new.prefix]) == 1
    assert not fib.failed


async def test_big_flush_is_written_in_chunks() -> None:
    fib = MemoryFib()
    await fib.start([])
    count = CHUNK * 2 + 5
    for i in range(count):
        fib.set(KernelRoute(ip_network(((10 << 24) + (i << 6), 26)), (ETH0,)))
    await fib.flush()
    assert fib.batches == 3
    assert len(fib.installed()) == count
    for prefix in list(fib.installed()):
        fib.delete(prefix)
    await fib.flush()
    assert fib.table == {} and fib.installed() == {}


async def test_flush_before_start_is_an_error() -> None:
    fib = MemoryFib()
    fib.set(route("10.244.1.0/26"))
    with pytest.raises(RuntimeError, match="before start"):
        await fib.flush()


# -- refusals and retries --------------------------------------------------------------------
async def test_refused_route_is_kept_and_retried() -> None:
    fib = MemoryFib()
    await fib.start([])
    r = route("10.244.3.0/26")
    fib.refuse(r.prefix, "ENETUNREACH (Network is unreachable): Nexthop has invalid gateway")
    fib.set(r)
    await fib.flush()
    assert fib.installed() == {}
    assert fib.failed == {
        r.prefix: "ENETUNREACH (Network is unreachable): Nexthop has invalid gateway"
    }
    await fib.flush()  # retried, still refused
    assert fib.writes == 2 and r.prefix in fib.failed
    fib.allow(r.prefix)
    await fib.flush()
    assert fib.installed() == {r.prefix: r}
    assert fib.failed == {}


async def test_missing_device_is_a_refusal_until_it_appears() -> None:
    fib = MemoryFib(devices={"eth0"})
    await fib.start([])
    r = route("10.244.4.0/26", TUNL0)
    fib.set(r)
    await fib.flush()
    assert "no device tunl0" in fib.failed[r.prefix]
    fib.add_device("tunl0")
    await fib.flush()
    assert fib.installed() == {r.prefix: r} and not fib.failed


async def test_a_newer_change_replaces_the_retry() -> None:
    fib = MemoryFib(devices={"eth0"})
    await fib.start([])
    fib.set(route("10.244.5.0/26", TUNL0))
    await fib.flush()
    assert fib.failed
    fib.set(route("10.244.5.0/26"))  # now via eth0: accepted
    await fib.flush()
    assert not fib.failed
    assert fib.routes()[ip_network("10.244.5.0/26")].next_hops == (ETH0,)
    fib.set(route("10.244.6.0/26", TUNL0))
    await fib.flush()
    fib.delete(ip_network("10.244.6.0/26"))  # withdrawn before it ever got in
    writes = fib.writes
    await fib.flush()
    assert not fib.failed and fib.writes == writes


async def test_failed_replace_keeps_the_old_route_installed() -> None:
    fib = MemoryFib(devices={"eth0"})
    await fib.start([])
    old = route("10.244.7.0/26")
    fib.set(old)
    await fib.flush()
    fib.set(route("10.244.7.0/26", TUNL0))
    await fib.flush()
    assert fib.installed()[old.prefix] == old
    assert old.prefix in fib.failed


# -- reconciliation ---------------------------------------------------------------------------
async def test_start_reconciles_and_leaves_foreign_routes_alone() -> None:
    fib = MemoryFib()
    keep = route("10.244.10.0/26")
    stale = route("10.244.11.0/26")
    changed_old, changed_new = route("10.244.12.0/26"), route("10.244.12.0/26", TUNL0)
    missing = blackhole("10.244.58.192/26")
    foreign_other = route("10.1.0.0/24", ETH0_B)
    foreign_same = route("10.244.13.0/26", ETH0_B)  # an admin's static route for a wanted prefix
    fib.add_own(keep)
    fib.add_own(stale)
    fib.add_own(changed_old)
    fib.add_foreign(foreign_other)
    fib.add_foreign(foreign_same, protocol=3)
    wanted = [keep, changed_new, missing, route("10.244.13.0/26")]
    report = await fib.start(wanted)
    assert (report.kept, report.removed, report.added, report.foreign, report.failed) == (
        1,
        2,  # the stale one and the replaced one
        2,  # the replaced one and the blackhole
        2,
        1,
    )
    assert fib.routes() == {r.prefix: r for r in (keep, changed_new, missing)}
    assert fib.routes(protocol=4) == {foreign_other.prefix: foreign_other}
    assert fib.routes(protocol=3) == {foreign_same.prefix: foreign_same}
    assert "EEXIST" in fib.failed[foreign_same.prefix]
    # Once the admin removes theirs, the retry puts ours in.
    del fib.table[foreign_same.prefix]
    await fib.flush()
    assert not fib.failed
    assert fib.routes()[foreign_same.prefix] == route("10.244.13.0/26")


async def test_start_removes_duplicates_of_ours() -> None:
    fib = MemoryFib()
    wanted = route("10.244.20.0/26")
    fib.add_own(wanted)
    fib.add_own(route("10.244.20.0/26", ETH0_B))  # the same prefix twice (other metrics)
    report = await fib.start([wanted])
    assert (report.removed, report.added) == (2, 1)
    assert fib.table[wanted.prefix] == [(12, wanted)]


async def test_duplicates_go_before_the_wanted_route_in_a_scattered_batch() -> None:
    """Enough prefixes for scatter() to reorder: each prefix's deletes still come before
    its add (else the add meets a duplicate, EEXIST, or a delete takes the new route)."""
    fib = MemoryFib()
    wanted = [route(f"10.244.{i}.0/26") for i in range(200)]
    for r in wanted:
        fib.add_own(route(str(r.prefix), ETH0_B))
        fib.add_own(route(str(r.prefix), TUNL0))
    report = await fib.start(wanted)
    assert (report.removed, report.added, report.failed) == (400, 200, 0)
    assert fib.routes() == {r.prefix: r for r in wanted}
    assert all(len(entries) == 1 for entries in fib.table.values())


async def test_keep_stale_leaves_our_old_routes_until_a_resync() -> None:
    """A node back from a restart: its routes of the last run keep forwarding until the
    RIB has them again (then nothing is rewritten) or a resync says they are gone."""
    fib = MemoryFib()
    relearned, gone = route("10.244.30.0/26"), route("10.244.31.0/26")
    block = blackhole("10.244.58.192/26")
    for r in (relearned, gone):
        fib.add_own(r)
    report = await fib.start([block], keep_stale=True)
    assert (report.kept, report.removed, report.added, report.stale) == (0, 0, 1, 2)
    assert fib.routes() == {r.prefix: r for r in (relearned, gone, block)}
    writes = fib.writes
    fib.set(relearned)  # a peer sent it again: equal to what is installed, no write
    await fib.flush()
    assert fib.writes == writes
    report = await fib.resync([block, relearned])
    assert (report.kept, report.removed, report.stale) == (2, 1, 0)
    assert fib.routes() == {r.prefix: r for r in (relearned, block)}


async def test_start_twice_is_an_error() -> None:
    fib = MemoryFib()
    await fib.start([])
    with pytest.raises(RuntimeError):
        await fib.start([])


async def test_changes_queued_before_start_are_written_by_start() -> None:
    fib = MemoryFib()
    fib.set(route("10.244.21.0/26"))
    await fib.start([route("10.244.22.0/26")])
    assert set(fib.routes()) == {ip_network("10.244.21.0/26"), ip_network("10.244.22.0/26")}


# -- close --------------------------------------------------------------------------------------
async def test_close_removes_our_routes_only() -> None:
    fib = MemoryFib()
    fib.add_foreign(route("10.1.0.0/24"))
    await fib.start([route("10.244.30.0/26"), blackhole("10.244.31.0/26")])
    await fib.close()
    assert fib.routes() == {}
    assert fib.routes(protocol=4) == {ip_network("10.1.0.0/24"): route("10.1.0.0/24")}
    assert fib.installed() == {}


async def test_close_with_persist_leaves_them_and_writes_the_queue() -> None:
    fib = MemoryFib(FibSettings(persist=True))
    await fib.start([route("10.244.30.0/26")])
    fib.set(route("10.244.32.0/26"))
    await fib.close()
    assert set(fib.routes()) == {ip_network("10.244.30.0/26"), ip_network("10.244.32.0/26")}
    # A new run adopts them.
    again = MemoryFib(FibSettings(persist=True))
    again.table = fib.table
    report = await again.start([route("10.244.30.0/26"), route("10.244.32.0/26")])
    assert (report.kept, report.removed, report.added) == (2, 0, 0)
