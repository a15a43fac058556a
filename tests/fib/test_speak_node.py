"""`pybgp speak` as a node in a network namespace: its block is a `proto bird` blackhole
in the real kernel while it runs, a learned block is a route via its next hop, and both
are gone after SIGTERM (persist = false)."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pybgp.lab.netns import (
    Lab,
    Namespace,
    Process,
    cleanup_stale,
    have_root,
    missing_tools,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    not have_root() or bool(missing_tools("ip")),
    reason="needs root and iproute2 to create network namespaces",
)

NODE_1, NODE_2 = "198.18.0.21", "198.18.0.22"
BLOCK_1, BLOCK_2 = "10.244.21.0/26", "10.244.22.0/26"


def node_toml(me: str, peer: str, block: str, control: Path, mode: str = "none") -> str:
    return textwrap.dedent(
        f"""\
        [speaker]
        asn = 64512
        router-id = "{me}"
        listen = ["{me}"]
        control-socket = "{control}"
        [node]
        blocks = ["{block}"]
        encapsulation = "{mode}"
        interface = "eth0"
        [[peer]]
        address = "{peer}"
        asn = 64512
        """
    )


def bird_routes(ns: Namespace) -> list[dict[str, Any]]:
    out = ns.run("ip", "-j", "route", "show", "proto", "bird").stdout
    return list(json.loads(out or "[]"))


@pytest.fixture
def lab() -> Iterator[tuple[Lab, Namespace, Namespace, Path]]:
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix="pybgp-node-") as tmp, Lab("node", Path(tmp)) as lab:
        hub = lab.namespace("hub")
        lab.bridge(hub)
        one, two = lab.namespace("n1"), lab.namespace("n2")
        lab.attach(hub, one, [f"{NODE_1}/24"])
        lab.attach(hub, two, [f"{NODE_2}/24"])
        yield lab, one, two, Path(tmp)


def start_both(lab: tuple[Lab, Namespace, Namespace, Path]) -> tuple[dict[str, list[str]], Process]:
    """`pybgp speak` on both nodes; each node's command line by role, and node 2's process."""
    the_lab, one, two, tmp = lab
    argv: dict[str, list[str]] = {}
    for ns, me, peer, block in ((one, NODE_1, NODE_2, BLOCK_1), (two, NODE_2, NODE_1, BLOCK_2)):
        conf = tmp / f"{ns.role}.toml"
        conf.write_text(node_toml(me, peer, block, tmp / f"{ns.role}.sock"))
        argv[ns.role] = [sys.executable, "-m", "pybgp.cli", "speak", "-c", str(conf)]
    the_lab.spawn(one, argv["n1"], name="pybgp-n1")
    return argv, the_lab.spawn(two, argv["n2"], name="pybgp-n2")


def test_a_node_programs_the_kernel_and_cleans_up(
    lab: tuple[Lab, Namespace, Namespace, Path],
) -> None:
    the_lab, one, two, tmp = lab
    procs = []
    for ns, me, peer, block in ((one, NODE_1, NODE_2, BLOCK_1), (two, NODE_2, NODE_1, BLOCK_2)):
        conf = tmp / f"{ns.role}.toml"
        conf.write_text(node_toml(me, peer, block, tmp / f"{ns.role}.sock"))
        argv = [sys.executable, "-m", "pybgp.cli", "speak", "-c", str(conf)]
        procs.append(the_lab.spawn(ns, argv, name=f"pybgp-{ns.role}"))

    def node_1_has_both() -> bool:
        routes = {r["dst"]: r for r in bird_routes(one)}
        return routes.get(BLOCK_1, {}).get("type") == "blackhole" and (
            routes.get(BLOCK_2, {}).get("gateway") == NODE_2
        )

    wait_until(node_1_has_both, timeout=30, what="node 1's blackhole and node 2's block")
    learned = {r["dst"]: r for r in bird_routes(one)}[BLOCK_2]
    assert learned["dev"] == "eth0"  # BGP mode: via the next hop on the underlay
    procs[0].stop()
    assert bird_routes(one) == []  # persist = false: nothing of ours is left


def test_a_restarting_node_keeps_its_routes_in_its_peers_kernel(
    lab: tuple[Lab, Namespace, Namespace, Path],
) -> None:
    """RFC 4724 4.2 as the kernel sees it: node 2 dies without a NOTIFICATION (SIGKILL)
    and node 1 keeps forwarding to its block; when node 2 stops cleanly (Cease), node 1
    removes the route at once."""
    the_lab, one, two, tmp = lab
    argv, node_2 = start_both(lab)

    def learned() -> dict[str, Any]:
        return {r["dst"]: r for r in bird_routes(one)}.get(BLOCK_2, {})

    def session_up() -> bool:
        out = one.run(
            sys.executable, "-m", "pybgp.cli", "status", "--json", "-c", str(tmp / "n1.toml")
        ).stdout
        return any(p["state"] == "Established" for p in json.loads(out)["peers"])

    wait_until(lambda: learned().get("gateway") == NODE_2, timeout=30, what="node 2's block")
    node_2.stop(sig=signal.SIGKILL)
    wait_until(lambda: not session_up(), timeout=10, what="node 1 to see the session go")
    assert learned().get("gateway") == NODE_2  # kept (stale): traffic still flows

    node_2 = the_lab.spawn(two, argv["n2"], name="pybgp-n2")
    wait_until(session_up, timeout=30, what="node 2 back")
    wait_until(lambda: learned().get("gateway") == NODE_2, timeout=30, what="the route")
    node_2.stop()  # SIGTERM: a Cease, not a restart
    wait_until(lambda: not learned(), timeout=10, what="the route removed")


@pytest.mark.parametrize("how", ["sigkill", "pybgp stop --graceful"])
def test_a_node_restarting_keeps_forwarding_in_both_kernels(
    lab: tuple[Lab, Namespace, Namespace, Path], how: str
) -> None:
    """RFC 4724 from both ends, as the kernels see it: node 2 dies (SIGKILL), or stops
    for a restart (`pybgp stop --graceful`: no NOTIFICATION, routes kept), and comes
    back.  Its own kernel keeps node 1's block while it restarts (routes of the last run
    stay until node 1 has re-sent its table), and node 1 keeps node 2's block because
    node 2's OPEN sets the F bit.  `ip monitor route` in both namespaces sees no route
    of either block deleted."""
    the_lab, one, two, tmp = lab
    argv, node_2 = start_both(lab)

    def routes(ns: Namespace) -> dict[str, dict[str, Any]]:
        return {r["dst"]: r for r in bird_routes(ns)}

    def converged() -> bool:
        return (
            routes(one).get(BLOCK_2, {}).get("gateway") == NODE_2
            and routes(two).get(BLOCK_1, {}).get("gateway") == NODE_1
        )

    wait_until(converged, timeout=30, what="each node to have the other's block")
    monitors = []
    for ns in (one, two):
        monitor = the_lab.spawn(ns, ["stdbuf", "-oL", "ip", "monitor", "route"], f"mon-{ns.role}")

        # A marker route proves the monitor listens (and writes) before node 2 dies.
        def marked(ns: Namespace = ns, monitor: Process = monitor) -> bool:
            ns.run("ip", "route", "add", "198.18.0.200/32", "dev", "eth0")
            ns.run("ip", "route", "del", "198.18.0.200/32", "dev", "eth0")
            return "198.18.0.200" in monitor.log_text()

        wait_until(marked, 10, what="ip monitor to listen", interval=0.1)
        monitors.append(monitor)
    if how == "sigkill":
        node_2.stop(sig=signal.SIGKILL)
    else:
        cli = [sys.executable, "-m", "pybgp.cli", "stop", "--graceful", "-c", str(tmp / "n2.toml")]
        assert "stopping for a restart" in two.run(*cli).stdout
        wait_until(lambda: not node_2.alive(), timeout=10, what="node 2 to exit")
        assert node_2.stop() == 0
        assert routes(two).get(BLOCK_1, {}).get("gateway") == NODE_1  # left for the next run
    node_2 = the_lab.spawn(two, argv["n2"], name="pybgp-n2-again")
    wait_until(
        lambda: "graceful restart: every peer sent End-of-RIB" in node_2.log_text(),
        timeout=30,
        what="node 2 back, with node 1's table again",
    )
    assert "routes of the last run stay in the kernel" in node_2.log_text()
    assert converged()
    for monitor in monitors:
        monitor.stop()
        deleted = [line for line in monitor.log_text().splitlines() if line.startswith("Deleted")]
        assert not [line for line in deleted if BLOCK_1 in line or BLOCK_2 in line], deleted


def tunl0(ns: Namespace) -> None:
    """The IPIP device's stand-in (this kernel has no ipip module): a veth named tunl0."""
    ns.run("ip", "link", "add", "tunl0", "type", "veth", "peer", "name", "tunl0p")
    ns.run("ip", "link", "set", "tunl0", "up")
    ns.run("ip", "link", "set", "tunl0p", "up")


def test_routes_come_back_when_their_device_does(
    lab: tuple[Lab, Namespace, Namespace, Path],
) -> None:
    """The kernel drops the routes through a device that goes, without telling anyone:
    the link monitor notices the device's return and the routes are written again."""
    the_lab, one, two, tmp = lab
    tunl0(one)
    for ns, me, peer, block in ((one, NODE_1, NODE_2, BLOCK_1), (two, NODE_2, NODE_1, BLOCK_2)):
        conf = tmp / f"{ns.role}.toml"
        conf.write_text(node_toml(me, peer, block, tmp / f"{ns.role}.sock", mode="ipip"))
        argv = [sys.executable, "-m", "pybgp.cli", "speak", "-c", str(conf)]
        the_lab.spawn(ns, argv, name=f"pybgp-{ns.role}")

    def via_tunl0() -> bool:
        route = {r["dst"]: r for r in bird_routes(one)}.get(BLOCK_2, {})
        return route.get("dev") == "tunl0" and "onlink" in route.get("flags", [])

    wait_until(via_tunl0, timeout=30, what="node 2's block via tunl0 onlink")
    one.run("ip", "link", "del", "tunl0")
    assert not via_tunl0()  # gone with its device
    tunl0(one)
    wait_until(via_tunl0, timeout=10, what="the route written again")
