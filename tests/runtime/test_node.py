"""A node: its blocks announced and blackholed, learned routes in the (memory) kernel,
a block released through the control socket, and `routes` showing the kernel."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from pybgp.cli.main import main
from pybgp.config import Config
from pybgp.fib.base import KernelRoute, NextHop
from pybgp.fib.memory import MemoryFib
from pybgp.runtime.control import ControlError
from pybgp.runtime.speaker import Speaker
from pybgp.wire.capabilities import GracefulRestart
from tests.runtime.helpers import (
    Node,
    config,
    control,
    make_node,
    peer_toml,
    wait_for,
    wait_rib_in,
)

A, B = "127.0.0.61", "127.0.0.62"
BLOCK_A = ipaddress.ip_network("10.244.58.192/26")
BLOCK_B = ipaddress.ip_network("10.244.85.192/26")
A_UNDERLAY, B_UNDERLAY = "198.18.0.61/24", "198.18.0.62"


def node_config(
    blocks: ipaddress.IPv4Network | list[ipaddress.IPv4Network], encapsulation: str
) -> str:
    listed = ", ".join(f'"{block}"' for block in (blocks if isinstance(blocks, list) else [blocks]))
    return f'[node]\nblocks = [{listed}]\nencapsulation = "{encapsulation}"\ninterface = "eth0"\n'


def bgp_mode_pair(a: Node, b: Node, b_next_hop: str) -> tuple[Config, Config]:
    """A: a node in BGP mode with BLOCK_A; B: a speaker announcing BLOCK_B via
    `b_next_hop`; peered with each other."""
    cfg_a = config(
        a.speaker(),
        node_config(BLOCK_A, "none"),
        peer_toml(b.address, b.asn, port=b.port, local_address=a.address),
    )
    cfg_b = config(
        b.speaker([f'{{ prefix = "{BLOCK_B}", next-hop = "{b_next_hop}" }}']),
        peer_toml(a.address, a.asn, port=a.port, local_address=b.address),
    )
    return cfg_a, cfg_b


async def test_a_node_installs_what_it_learns_and_blackholes_its_blocks(
    sockdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = make_node(sockdir, A, 64512, "198.18.0.61"), make_node(sockdir, B, 64512, "198.18.0.62")
    fib_a = MemoryFib()
    cfg_a: Config = config(
        a.speaker(),
        node_config(BLOCK_A, "ipip"),
        peer_toml(b.address, b.asn, port=b.port, local_address=a.address),
    )
    # B stands for another node: its block's next hop is its underlay address (a
    # loopback next hop would never be installed).
    cfg_b: Config = config(
        b.speaker([f'{{ prefix = "{BLOCK_B}", next-hop = "{B_UNDERLAY}" }}']),
        peer_toml(a.address, a.asn, port=a.port, local_address=b.address),
    )
    node_a = Speaker(cfg_a, fib=fib_a, node_addresses=[ipaddress.ip_interface(A_UNDERLAY)])
    node_b = Speaker(cfg_b)
    await node_a.start()
    await node_b.start()
    try:
        # Our block: a blackhole from the start (before any peer), and announced.
        assert fib_a.installed()[BLOCK_A] == KernelRoute(BLOCK_A, blackhole=True)
        await wait_rib_in(b.control_socket, A, {str(BLOCK_A)})
        # The peer's block: via its address, through tunl0, onlink (IPIP mode).
        gateway = ipaddress.ip_address(B_UNDERLAY)
        wanted = KernelRoute(BLOCK_B, (NextHop(gateway, "tunl0", onlink=True),))
        await wait_for(lambda: fib_a.installed().get(BLOCK_B) == wanted, what="B's block")
        routes = await control(a.control_socket, "routes", prefix=str(BLOCK_B))
        assert routes[0]["kernel"] == f"{BLOCK_B} via {B_UNDERLAY} dev tunl0 onlink"
        # A block with no pods left: withdrawn from the peers, blackhole removed
        # (`pybgp block release`, in a thread: its client blocks, the daemon is on this loop).
        release = ["block", "release", str(BLOCK_A), "--socket", str(a.control_socket)]
        assert await asyncio.to_thread(main, release) == 0
        assert capsys.readouterr().out == f"block {BLOCK_A} released\n"
        await wait_for(lambda: BLOCK_A not in fib_a.installed(), what="blackhole gone")
        await wait_rib_in(b.control_socket, A, set())
        # Not (or no longer) one of the node's blocks: refused, exit 1, nothing changes.
        assert await asyncio.to_thread(main, release) == 1
        assert "is not one of this node's blocks" in capsys.readouterr().err
        with pytest.raises(ControlError, match="not a prefix"):
            await control(a.control_socket, "block-release", block="10.244.0.0/33")
    finally:
        await node_b.close()
        await node_a.close()
    # persist = false (the default): the node's routes leave the kernel when it stops.
    assert fib_a.installed() == {}


async def test_reload_follows_the_blocks_in_the_file(sockdir: Path) -> None:
    """Blocks added to [node] are announced and blackholed on reload, blocks taken out
    are released; a reload that leaves them alone keeps them announced."""
    a, b = make_node(sockdir, A, 64512, "198.18.0.61"), make_node(sockdir, B, 64512, "198.18.0.62")
    block_c = ipaddress.ip_network("10.244.60.0/26")
    fib_a = MemoryFib()

    def file_a(blocks: list[ipaddress.IPv4Network], encapsulation: str = "none") -> Config:
        peer = peer_toml(b.address, b.asn, port=b.port, local_address=a.address)
        return config(a.speaker(), node_config(blocks, encapsulation), peer)

    node_a = Speaker(
        file_a([BLOCK_A]), fib=fib_a, node_addresses=[ipaddress.ip_interface(A_UNDERLAY)]
    )
    node_b = Speaker(
        config(b.speaker(), peer_toml(a.address, a.asn, port=a.port, local_address=b.address))
    )
    await node_a.start()
    await node_b.start()
    try:
        await wait_rib_in(b.control_socket, A, {str(BLOCK_A)})
        node_a.reload(file_a([BLOCK_A]))  # nothing changed: BLOCK_A must stay announced
        summary = node_a.reload(file_a([BLOCK_A, block_c]))
        assert f"block {block_c} added" in summary
        # UPDATEs arrive in order: had the first reload withdrawn BLOCK_A, B would not
        # hold both now.
        await wait_rib_in(b.control_socket, A, {str(BLOCK_A), str(block_c)})
        blackhole_c = KernelRoute(block_c, blackhole=True)
        await wait_for(lambda: fib_a.installed().get(block_c) == blackhole_c, what="blackhole")
        summary = node_a.reload(file_a([block_c]))
        assert f"block {BLOCK_A} released" in summary
        await wait_rib_in(b.control_socket, A, {str(block_c)})
        await wait_for(lambda: BLOCK_A not in fib_a.installed(), what="blackhole gone")
        summary = node_a.reload(file_a([block_c], "ipip"))
        assert "restart needed for: [node] encapsulation/interface" in summary
    finally:
        await node_b.close()
        await node_a.close()


async def test_a_restarted_node_keeps_forwarding_until_its_peers_resent(sockdir: Path) -> None:
    """Routes of the last run (persist, or a crash) stay in the kernel while the node
    comes back, and its OPEN says so (RFC 4724 3: R bit, F bit); once the peer has sent
    End-of-RIB, what it sent again stays untouched and the rest goes."""
    a, b = make_node(sockdir, A, 64512, "198.18.0.61"), make_node(sockdir, B, 64512, "198.18.0.62")
    fib_a = MemoryFib()
    via_b = (NextHop(ipaddress.ip_address(B_UNDERLAY), "eth0"),)
    gone = ipaddress.ip_network("10.244.99.0/26")  # a node that left while we were down
    fib_a.add_own(KernelRoute(BLOCK_B, via_b))
    fib_a.add_own(KernelRoute(gone, (NextHop(ipaddress.ip_address("198.18.0.99"), "eth0"),)))
    cfg_a, cfg_b = bgp_mode_pair(a, b, B_UNDERLAY)
    node_a = Speaker(cfg_a, fib=fib_a, node_addresses=[ipaddress.ip_interface(A_UNDERLAY)])
    node_b = Speaker(cfg_b)
    await node_a.start()
    try:
        assert node_a.fib_sync is not None and node_a.fib_sync.stale == 2
        assert {BLOCK_A, BLOCK_B, gone} == set(fib_a.routes())
        assert fib_a.writes == 1  # the blackhole of our block, nothing removed
        await node_b.start()
        await wait_for(lambda: gone not in fib_a.routes(), what="the stale route removed")
        assert fib_a.routes()[BLOCK_B] == KernelRoute(BLOCK_B, via_b)
        assert fib_a.writes == 2  # the removal; BLOCK_B came again equal: not rewritten
        their_view = node_b.peers[ipaddress.ip_address(A)].session.negotiated
        assert their_view is not None
        assert their_view.graceful_restart == GracefulRestart(0x8, 120, ((1, 1, 0x80),))
        assert not node_a.peers[ipaddress.ip_address(B)].config.restarting  # over
    finally:
        await node_b.close()
        await node_a.close()


async def test_stop_commands(sockdir: Path) -> None:
    """`pybgp stop` asks the daemon to stop; `--graceful` is refused when peers would not
    keep our routes anyway (graceful-restart-time = 0)."""
    a = make_node(sockdir, A, 64512, "198.18.0.61")
    no_restart = a.speaker().replace("[speaker]", "[speaker]\ngraceful-restart-time = 0")
    node_a = Speaker(config(no_restart))
    await node_a.start()
    try:
        with pytest.raises(ControlError, match="graceful-restart-time is 0"):
            await control(a.control_socket, "stop", graceful=True)
        assert not node_a.stop_requested.is_set()
        answer = await control(a.control_socket, "stop", graceful=False)
        assert answer == "stopping: every session gets a Cease"
        assert node_a.stop_requested.is_set() and not node_a.stop_graceful
    finally:
        await node_a.close()


async def test_status_explains_a_next_hop_the_kernel_cannot_use(sockdir: Path) -> None:
    """BGP mode, the other node on another subnet: say so (seed 5.3), don't fail silently."""
    a, b = make_node(sockdir, A, 64512, "198.18.0.61"), make_node(sockdir, B, 64512, "198.18.0.62")
    cfg_a, cfg_b = bgp_mode_pair(a, b, "198.19.0.62")
    node_a = Speaker(cfg_a, fib=MemoryFib(), node_addresses=[ipaddress.ip_interface(A_UNDERLAY)])
    node_b = Speaker(cfg_b)
    await node_a.start()
    await node_b.start()
    try:

        def info() -> str:
            rows = [row for row in node_a.status()["peers"] if row["address"] == B]
            return str(rows[0]["info"]) if rows else ""

        await wait_for(lambda: "198.19.0.62" in info(), what="the explanation in status")
        assert "not directly reachable" in info() and "cross-subnet" in info()
    finally:
        await node_b.close()
        await node_a.close()
