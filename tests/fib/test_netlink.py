"""NetlinkFib against the real kernel, inside a network namespace this module creates.

The namespace has ``eth0`` (198.18.0.10/24, 2001:db8::10/64) and ``tunl0`` (the IPIP
device's stand-in: a veth, since this kernel has no ipip module), both veth pairs whose
peers stay in the namespace, all up.  NetlinkFib gets ``netns=NAME`` and creates its
socket in there (setns(2) in a short-lived thread), so pytest itself stays in the host's
namespace; ``ip -j route`` run in the namespace is the independent check.  Without root
the kernel tests skip; the encoding test runs anywhere.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from collections.abc import Iterator
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pybgp.fib import FibSettings, KernelRoute, NextHop
from pybgp.fib.base import fib_key
from pybgp.fib.batched import Op
from pybgp.fib.netlink import NetlinkFib, RouteEncoder
from pybgp.lab.netns import Lab, Namespace, cleanup_stale, have_root, missing_tools

needs_root = pytest.mark.skipif(
    not have_root() or bool(missing_tools("ip")),
    reason="needs root and iproute2 to create a network namespace",
)

GW = ip_address("198.18.0.11")
GW2 = ip_address("198.18.0.12")
GW6 = ip_address("2001:db8::11")
GW6_2 = ip_address("2001:db8::12")


def r(prefix: str, *hops: NextHop) -> KernelRoute:
    return KernelRoute(ip_network(prefix), hops)


def veth(ns: Namespace, name: str) -> None:
    ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    ns.run("ip", "link", "set", name, "up")
    ns.run("ip", "link", "set", f"{name}p", "up")


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespace]:
    if not have_root() or missing_tools("ip"):
        pytest.skip("needs root and iproute2 to create a network namespace")
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix="pybgp-fib-") as tmp, Lab("fib", Path(tmp)) as lab:
        node = lab.namespace("node")
        veth(node, "eth0")
        veth(node, "tunl0")
        node.add_address("eth0", "198.18.0.10/24")
        node.add_address("eth0", "2001:db8::10/64")
        node.add_address("tunl0", "198.18.1.10/32")  # a node address, as calico puts on tunl0
        yield node


@pytest.fixture
def clean(ns: Namespace) -> Iterator[Namespace]:
    """Each test starts and ends without ``proto bird`` or ``proto static`` routes."""
    yield ns
    for family in ("-4", "-6"):
        for proto in ("bird", "static"):
            ns.run("ip", family, "route", "flush", "table", "all", "proto", proto, check=False)


def kernel(ns: Namespace, family: str = "-4", proto: str = "bird") -> dict[str, dict[str, Any]]:
    """Routes of protocol ``proto`` in all tables (``ip -j route show table all``), by
    destination.  (``ip ... proto bird`` would leave the protocol out of the JSON.)"""
    out = ns.run("ip", "-j", family, "route", "show", "table", "all").stdout
    return {e["dst"]: e for e in json.loads(out or "[]") if e.get("protocol") == proto}


async def fib_in(ns: Namespace, wanted: list[KernelRoute] = (), **kwargs: Any) -> NetlinkFib:
    fib = NetlinkFib(kwargs.pop("settings", None), netns=ns.name, **kwargs)
    await fib.start(wanted)
    return fib


# -- encoding: runs anywhere ----------------------------------------------------------------
def add(route: KernelRoute, replace: bool = False) -> Op:
    return Op(fib_key(route.prefix), route.next_hops, replace)


@pytest.mark.parametrize(
    "op",
    [
        add(r("10.244.85.192/26", NextHop(GW, "eth0"))),
        add(r("10.244.1.0/26", NextHop(GW, "tunl0", True)), replace=True),
        add(r("10.244.2.0/26", NextHop(GW, "eth0"), NextHop(GW2, "eth0"))),
        add(r("2001:db8:1::/64", NextHop(GW6, "eth0"))),
        add(r("2001:db8:2::/64", NextHop(GW6, "eth0"), NextHop(GW6_2, "eth0"))),
        add(KernelRoute(ip_network("10.244.58.192/26"), blackhole=True)),
        Op(fib_key(ip_network("10.244.3.0/26")), None),
    ],
    ids=str,
)
def test_patched_templates_decode_like_pyroute2_messages(op: Op) -> None:
    """A template is encoded once; the prefix and sequence number are patched in later.
    pyroute2 must read the patched message as the route it stands for."""
    encoder = RouteEncoder(FibSettings(protocol=12, table=254), {"eth0": 2, "tunl0": 3})
    # Warm the cache with another prefix of the same shape, then encode ours.
    prefix = op.prefix
    other = ip_network(
        (
            int(prefix.network_address) ^ (1 << (prefix.max_prefixlen - prefix.prefixlen)),
            prefix.prefixlen,
        )
    )
    encoder.encode(Op(fib_key(other), op.hops, op.replace), 1)
    data = encoder.encode(op, 4242)
    assert isinstance(data, bytes)
    msg = rtmsg(data)
    msg.decode()
    assert msg["header"]["sequence_number"] == 4242
    assert msg["header"]["length"] == len(data)
    assert msg.get_attr("RTA_DST") == str(prefix.network_address)
    assert msg["dst_len"] == prefix.prefixlen
    assert msg["proto"] == 12 and msg.get_attr("RTA_TABLE") == 254
    assert msg["family"] == (socket.AF_INET if prefix.version == 4 else socket.AF_INET6)
    flags = msg["header"]["flags"]
    route = op.route()
    if route is None:
        assert msg["header"]["type"] == 25  # RTM_DELROUTE
        return
    assert msg["header"]["type"] == 24  # RTM_NEWROUTE
    assert flags & 0x400  # NLM_F_CREATE
    assert flags & (0x100 if op.replace else 0x200)  # NLM_F_REPLACE, else NLM_F_EXCL
    if route.blackhole:
        assert msg["type"] == 6
    elif len(route.next_hops) == 1:
        nh = route.next_hops[0]
        assert msg.get_attr("RTA_GATEWAY") == str(nh.gateway)
        assert msg.get_attr("RTA_OIF") == {"eth0": 2, "tunl0": 3}[nh.device]
        assert bool(msg["flags"] & 4) == nh.onlink
    else:
        hops = msg.get_attr("RTA_MULTIPATH")
        assert [h.get_attr("RTA_GATEWAY") for h in hops] == [
            str(nh.gateway) for nh in route.next_hops
        ]


def test_a_chunk_of_one_shape_is_encoded_like_op_by_op() -> None:
    """encode_all's fast path (one template for the chunk) gives the same octets as
    encode, numbered consecutively; a chunk with a refusal numbers only the messages."""
    encoder = RouteEncoder(FibSettings(), {"eth0": 2})
    hops = (NextHop(GW, "eth0"),)
    nets = [ip_network(f"10.244.{i}.0/26") for i in range(50)]
    for ops in (
        [Op(fib_key(net), hops) for net in nets],
        [Op(fib_key(net), None) for net in nets],
    ):
        encoded = encoder.encode_all(ops, 1000)
        assert encoded.positions is None and not encoded.refused
        assert encoded.messages == [encoder.encode(op, 1000 + i) for i, op in enumerate(ops)]
    mixed = [Op(fib_key(nets[0]), hops), Op(fib_key(nets[1]), (NextHop(GW, "tunl0", True),))]
    mixed.append(Op(fib_key(nets[2]), None))
    encoded = encoder.encode_all(mixed, 7)
    assert encoded.refused == {1: "ENODEV (No such device): no device tunl0"}
    assert encoded.positions == [0, 2]
    assert encoded.messages == [encoder.encode(mixed[0], 7), encoder.encode(mixed[2], 8)]
    # Sequence numbers wrap at 2**32 (nlmsg_seq is 32 bits).
    wrapping = encoder.encode_all([Op(fib_key(net), None) for net in nets[:3]], 2**32 - 1)
    seqs = [int.from_bytes(m[8:12], "little") for m in wrapping.messages]
    assert seqs == [2**32 - 1, 0, 1]


def test_missing_device_is_reported_by_the_encoder() -> None:
    encoder = RouteEncoder(FibSettings(), {"eth0": 2})
    op = add(r("10.244.1.0/26", NextHop(GW, "tunl0", True)))
    assert encoder.encode(op, 1) == "ENODEV (No such device): no device tunl0"


# -- the kernel -------------------------------------------------------------------------------
@needs_root
async def test_route_shapes(clean: Namespace) -> None:
    ns = clean
    wanted = [
        r("10.244.85.192/26", NextHop(GW, "eth0")),  # BGP mode
        r("10.244.86.0/26", NextHop(GW, "tunl0", onlink=True)),  # IPIP mode
        r("10.244.87.0/26", NextHop(GW, "eth0"), NextHop(GW2, "eth0")),  # ECMP
        KernelRoute(ip_network("10.244.58.192/26"), blackhole=True),  # a local block
        r("2001:db8:1::/64", NextHop(GW6, "eth0")),
        r("2001:db8:2::/64", NextHop(GW6, "eth0"), NextHop(GW6_2, "eth0")),
        KernelRoute(ip_network("2001:db8:58::/122"), blackhole=True),
    ]
    fib = await fib_in(ns, wanted)
    try:
        assert not fib.failed
        assert len(fib.installed()) == len(wanted)
        v4, v6 = kernel(ns, "-4"), kernel(ns, "-6")
        bgp = v4["10.244.85.192/26"]
        assert (bgp["gateway"], bgp["dev"], bgp["protocol"], bgp["flags"]) == (
            "198.18.0.11",
            "eth0",
            "bird",
            [],
        )
        ipip = v4["10.244.86.0/26"]
        assert (ipip["gateway"], ipip["dev"], ipip["flags"]) == ("198.18.0.11", "tunl0", ["onlink"])
        ecmp = v4["10.244.87.0/26"]
        assert sorted(h["gateway"] for h in ecmp["nexthops"]) == ["198.18.0.11", "198.18.0.12"]
        assert v4["10.244.58.192/26"]["type"] == "blackhole"
        assert v6["2001:db8:1::/64"]["gateway"] == "2001:db8::11"
        assert v6["2001:db8:1::/64"]["dev"] == "eth0"
        assert sorted(h["gateway"] for h in v6["2001:db8:2::/64"]["nexthops"]) == [
            "2001:db8::11",
            "2001:db8::12",
        ]
        assert v6["2001:db8:58::/122"]["type"] == "blackhole"
        # Reading the table back gives exactly what was written: a second start keeps all.
        again = NetlinkFib(FibSettings(persist=True), netns=ns.name)
        report = await again.start(wanted)
        assert (report.kept, report.removed, report.added, report.failed) == (len(wanted), 0, 0, 0)
        await again.close()
    finally:
        await fib.close()
    assert kernel(ns, "-4") == {} and kernel(ns, "-6") == {}


@needs_root
async def test_changes_replace_in_place_and_delete(clean: Namespace) -> None:
    ns = clean
    fib = await fib_in(ns)
    try:
        fib.set(r("10.244.90.0/26", NextHop(GW, "eth0")))
        await fib.flush()
        fib.set(r("10.244.90.0/26", NextHop(GW, "tunl0", True)))
        await fib.flush()
        assert kernel(ns)["10.244.90.0/26"]["dev"] == "tunl0"
        fib.set(r("10.244.90.0/26", NextHop(GW, "eth0"), NextHop(GW2, "eth0")))
        await fib.flush()
        assert len(kernel(ns)["10.244.90.0/26"]["nexthops"]) == 2
        fib.delete(ip_network("10.244.90.0/26"))
        fib.delete(ip_network("10.244.91.0/26"))  # never installed: nothing to do
        await fib.flush()
        assert kernel(ns) == {} and not fib.failed and fib.installed() == {}
    finally:
        await fib.close()


@needs_root
async def test_reconciliation(clean: Namespace) -> None:
    ns = clean
    ns.run("ip", "route", "add", "10.244.100.0/26", "via", "198.18.0.11", "proto", "bird")  # kept
    ns.run("ip", "route", "add", "10.244.101.0/26", "via", "198.18.0.11", "proto", "bird")  # stale
    ns.run(
        "ip", "route", "add", "10.244.102.0/26", "via", "198.18.0.12", "proto", "bird"
    )  # changed
    ns.run("ip", "route", "add", "10.9.0.0/24", "via", "198.18.0.99", "proto", "static")  # foreign
    ns.run("ip", "route", "add", "10.244.103.0/26", "via", "198.18.0.99", "proto", "static")
    ns.run("ip", "-6", "route", "add", "2001:db8:101::/64", "via", "2001:db8::11", "proto", "bird")
    wanted = [
        r("10.244.100.0/26", NextHop(GW, "eth0")),
        r("10.244.102.0/26", NextHop(GW, "eth0")),
        r("10.244.103.0/26", NextHop(GW, "eth0")),  # blocked by the static route (same metric)
        r("10.244.104.0/26", NextHop(GW, "eth0")),  # missing
    ]
    fib = NetlinkFib(netns=ns.name, retry_interval=0)
    report = await fib.start(wanted)
    try:
        assert (report.kept, report.removed, report.added, report.failed) == (1, 3, 2, 1)
        # Foreign: the two static routes plus the kernel's own connected routes.
        assert report.foreign >= 2
        ours = kernel(ns)
        assert set(ours) == {"10.244.100.0/26", "10.244.102.0/26", "10.244.104.0/26"}
        assert ours["10.244.102.0/26"]["gateway"] == "198.18.0.11"
        assert kernel(ns, "-6") == {}
        static = kernel(ns, proto="static")
        assert static["10.244.103.0/26"]["gateway"] == "198.18.0.99"  # untouched
        assert "10.9.0.0/24" in static
        assert fib.failed[ip_network("10.244.103.0/26")].startswith("EEXIST (File exists)")
        # The admin removes theirs: the next flush installs ours.
        ns.run("ip", "route", "del", "10.244.103.0/26", "proto", "static")
        await fib.flush()
        assert not fib.failed
        assert kernel(ns)["10.244.103.0/26"]["gateway"] == "198.18.0.11"
        # With another metric both can exist, and deleting ours never takes the static one.
        ns.run(
            "ip",
            "route",
            "add",
            "10.244.103.0/26",
            "via",
            "198.18.0.99",
            "proto",
            "static",
            "metric",
            "100",
        )
    finally:
        await fib.close()
    assert kernel(ns) == {}
    assert set(kernel(ns, proto="static")) == {"10.9.0.0/24", "10.244.103.0/26"}


@needs_root
async def test_persist(clean: Namespace) -> None:
    ns = clean
    wanted = [
        r("10.244.110.0/26", NextHop(GW, "eth0")),
        r("2001:db8:110::/64", NextHop(GW6, "eth0")),
    ]
    fib = await fib_in(ns, wanted, settings=FibSettings(persist=True))
    await fib.close()
    assert set(kernel(ns)) == {"10.244.110.0/26"}
    assert set(kernel(ns, "-6")) == {"2001:db8:110::/64"}
    fib = await fib_in(ns, wanted)  # persist=False: adopts them, then removes them on close
    assert len(fib.installed()) == 2
    await fib.close()
    assert kernel(ns) == {} and kernel(ns, "-6") == {}


@needs_root
async def test_refused_routes_are_retried(clean: Namespace) -> None:
    ns = clean
    missing_dev = r("10.244.120.0/26", NextHop(GW, "tunl1", onlink=True))
    unreachable = r("10.244.121.0/26", NextHop(ip_address("198.19.5.1"), "eth0"))
    fib = await fib_in(ns, [missing_dev, unreachable], retry_interval=0.2)
    try:
        assert fib.failed[missing_dev.prefix] == "ENODEV (No such device): no device tunl1"
        assert fib.failed[unreachable.prefix].startswith("ENETUNREACH")
        assert kernel(ns) == {}
        veth(ns, "tunl1")  # the device appears: the next flush re-reads the links
        await fib.flush()
        assert missing_dev.prefix not in fib.failed
        assert kernel(ns)["10.244.120.0/26"]["dev"] == "tunl1"
        ns.add_address("eth0", "198.19.5.10/24")  # the next hop becomes reachable
        for _ in range(50):  # the retry timer, no flush from here
            if not fib.failed:
                break
            await asyncio.sleep(0.1)
        assert not fib.failed
        assert kernel(ns)["10.244.121.0/26"]["gateway"] == "198.19.5.1"
    finally:
        await fib.close()
        ns.run("ip", "addr", "del", "198.19.5.10/24", "dev", "eth0", check=False)
        ns.run("ip", "link", "del", "tunl1", check=False)


@needs_root
async def test_many_routes_in_batches(clean: Namespace) -> None:
    ns = clean
    count = 20_000
    hop = (NextHop(GW, "eth0"),)
    routes = [KernelRoute(ip_network(((10 << 24) + (i << 6), 26)), hop) for i in range(count)]
    fib = await fib_in(ns, per_send=1000)
    try:
        for route in routes:
            fib.set(route)
        await fib.flush()
        assert not fib.failed
        listed = ns.run("ip", "route", "show", "proto", "bird").stdout.splitlines()
        assert len(listed) == count
    finally:
        await fib.close()
    assert ns.run("ip", "route", "show", "proto", "bird").stdout == ""


@needs_root
async def test_other_table(clean: Namespace) -> None:
    ns = clean
    settings = FibSettings(protocol=200, table=1000)
    fib = await fib_in(ns, [r("10.244.130.0/26", NextHop(GW, "eth0"))], settings=settings)
    try:
        out = json.loads(ns.run("ip", "-j", "route", "show", "table", "1000").stdout)
        assert [(e["dst"], e["protocol"]) for e in out] == [("10.244.130.0/26", "200")]
        assert kernel(ns) == {}  # nothing as proto bird
    finally:
        await fib.close()
    assert ns.run("ip", "route", "show", "table", "1000").stdout == ""
