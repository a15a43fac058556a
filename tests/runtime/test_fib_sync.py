"""The kernel follows the Loc-RIB: FibSync against MemoryFib (no root needed)."""

from __future__ import annotations

import asyncio
import ipaddress

from pybgp.fib.base import KernelRoute, NextHop, fib_key
from pybgp.fib.memory import MemoryFib
from pybgp.fib.plan import NodeView
from pybgp.rib.decision import Source
from pybgp.rib.rib import PeerRib, Rib
from pybgp.runtime.fib_sync import FibSync, fib_key_of, next_hop_address
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.nlri import network_key, prefix_key
from pybgp.wire.update import Update

NODE = [ipaddress.ip_interface("198.18.0.10/24")]
BLOCK = ipaddress.ip_network("10.244.58.192/26")
REMOTE = ipaddress.ip_network("10.244.85.192/26")
NH_1 = ipaddress.ip_address("198.18.0.11")
NH_2 = ipaddress.ip_address("198.18.0.12")
FAR = ipaddress.ip_address("198.19.0.13")  # another subnet, behind a router


def peer(n: int) -> PeerRib:
    return PeerRib(Source(ipaddress.ip_address(f"198.18.0.{n}"), n, False, False))


def announce(rib: Rib, who: PeerRib, prefix: ipaddress.IPv4Network, hop: object) -> None:
    attributes = PathAttributes(origin=0, next_hop=hop.packed, local_pref=100)  # type: ignore[attr-defined]
    rib.receive(who, Update(attributes=attributes, nlri=[prefix_key(str(prefix))]))


def withdraw(rib: Rib, who: PeerRib, prefix: ipaddress.IPv4Network) -> None:
    rib.receive(who, Update(withdrawn=[prefix_key(str(prefix))]))


async def settle(sync: FibSync) -> None:
    await sync.idle()


async def started(encapsulation: str) -> tuple[Rib, MemoryFib, FibSync]:
    rib = Rib(64512, "198.18.0.10")
    fib = MemoryFib()
    view = NodeView.from_interfaces(encapsulation, "eth0", NODE)
    sync = FibSync(rib, fib, view, asyncio.get_running_loop(), blocks=[BLOCK])
    await sync.start()
    return rib, fib, sync


async def test_bgp_mode_ecmp_and_withdrawal() -> None:
    rib, fib, sync = await started("none")
    a, b = peer(11), peer(12)
    announce(rib, a, REMOTE, NH_1)
    announce(rib, b, REMOTE, NH_2)
    await settle(sync)
    # Two equal best paths (RFC 4271 9.1.2.2 up to the IGP cost): one multipath route.
    assert fib.installed()[REMOTE] == KernelRoute(
        REMOTE, (NextHop(NH_1, "eth0"), NextHop(NH_2, "eth0"))
    )
    withdraw(rib, a, REMOTE)
    await settle(sync)
    assert fib.installed()[REMOTE] == KernelRoute(REMOTE, (NextHop(NH_2, "eth0"),))
    withdraw(rib, b, REMOTE)
    await settle(sync)
    assert REMOTE not in fib.installed()


async def test_ipip_mode_goes_onlink_through_tunl0() -> None:
    rib, fib, sync = await started("ipip")
    announce(rib, peer(11), REMOTE, NH_1)
    await settle(sync)
    assert fib.installed()[REMOTE] == KernelRoute(REMOTE, (NextHop(NH_1, "tunl0", onlink=True),))


async def test_our_block_stays_a_blackhole_whatever_a_peer_announces() -> None:
    rib, fib, sync = await started("none")
    assert fib.installed()[BLOCK] == KernelRoute(BLOCK, blackhole=True)
    announce(rib, peer(11), BLOCK, NH_1)
    await settle(sync)
    assert fib.installed()[BLOCK] == KernelRoute(BLOCK, blackhole=True)


async def test_an_unreachable_next_hop_in_bgp_mode_is_explained() -> None:
    rib, _, sync = await started("none")
    announce(rib, peer(11), REMOTE, FAR)
    await settle(sync)
    (why,) = sync.unreachable.values()
    assert "198.19.0.13" in why and "ipip" in why and "cross-subnet" in why
    assert sync.unreachable_from == {"198.18.0.11": why}  # for that peer's status INFO


async def test_start_reconciles_with_what_the_rib_already_holds() -> None:
    rib = Rib(64512, "198.18.0.10")
    announce(rib, peer(11), REMOTE, NH_1)
    fib = MemoryFib()
    stale = ipaddress.ip_network("10.244.1.0/26")
    fib.add_own(KernelRoute(stale, (NextHop(NH_2, "eth0"),)))
    fib.add_foreign(KernelRoute(ipaddress.ip_network("10.0.0.0/8"), (NextHop(NH_2, "eth0"),)))
    view = NodeView.from_interfaces("none", "eth0", NODE)
    sync = FibSync(rib, fib, view, asyncio.get_running_loop(), blocks=[BLOCK])
    await sync.start()
    assert set(fib.installed()) == {REMOTE, BLOCK}
    assert fib.routes(protocol=4)  # the foreign route is still there


def test_next_hop_octets_become_the_kernel_gateway() -> None:
    assert next_hop_address(NH_1.packed) == NH_1
    mapped = ipaddress.ip_address("::ffff:198.18.0.11").packed
    assert next_hop_address(mapped) == NH_1
    both = ipaddress.ip_address("2001:db8::1").packed + ipaddress.ip_address("fe80::1").packed
    assert next_hop_address(both) == ipaddress.ip_address("2001:db8::1")
    assert next_hop_address(None) is None


def test_rib_keys_become_fib_keys_without_ipaddress() -> None:
    for prefix, family in (
        ("10.244.85.192/26", IPV4_UNICAST),
        ("0.0.0.0/0", IPV4_UNICAST),
        ("2001:db8:1::/48", IPV6_UNICAST),
    ):
        network = ipaddress.ip_network(prefix)
        assert fib_key_of(family, network_key(network)) == fib_key(network)
    assert fib_key_of((25, 70), b"\x00") is None  # L2VPN EVPN: not for the kernel


async def test_routes_via_one_node_share_their_planned_next_hops() -> None:
    """A next-hop set is planned once: every route via it holds the same tuple."""
    rib, fib, sync = await started("none")
    a = peer(11)
    second = ipaddress.ip_network("10.244.86.0/26")
    announce(rib, a, REMOTE, NH_1)
    announce(rib, a, second, NH_1)
    await settle(sync)
    assert fib.installed_hops(fib_key(REMOTE)) is fib.installed_hops(fib_key(second))
    assert fib.installed()[second] == KernelRoute(second, (NextHop(NH_1, "eth0"),))
