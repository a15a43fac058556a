"""The 3-node lab end to end (`python -m pybgp.lab.cluster`): real namespaces, real kernel
routes, real pings between pods.

Each test is one build of the lab (a few seconds): BGP mode with the mesh and then a
reflector, every pod ping answered; IPIP and cross-subnet modes with the routes pybgp
must write (`via NH dev tunl0 onlink proto bird`, checked whether or not this kernel can
carry IPIP); BGP mode across two subnets failing as it must, and saying why; a mixed
cluster with one BIRD 2 node.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybgp.lab.cluster import Cluster, Options, build, execute
from pybgp.lab.netns import Lab, cleanup_stale, have_root, missing_tools

pytestmark = pytest.mark.skipif(
    not have_root() or bool(missing_tools("ip", "sysctl")),
    reason="needs root and iproute2 to create network namespaces",
)


def bird_routes(cluster: Cluster, index: int) -> dict[str, dict[str, object]]:
    """Node `index`'s (1-based) `proto bird` routes by destination."""
    out = cluster.nodes[index - 1].ns.run("ip", "-j", "route", "show", "proto", "bird").stdout
    return {route["dst"]: route for route in json.loads(out or "[]")}


@pytest.fixture
def mesh_lab(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A 3-node lab in the mode the test's parameter names, the mesh converged."""
    options: Options = request.param
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix="pybgp-cluster-") as tmp, Lab("tcl", Path(tmp)) as lab:
        cluster = build(lab, options, io.StringIO())
        cluster.start_mesh()
        cluster.wait_converged()
        yield cluster


def test_bgp_mode_mesh_then_reflector_every_ping_answered() -> None:
    out = io.StringIO()
    pings = execute(Options(mode="bgp"), out)
    text = out.getvalue()
    # 2 phases x 2 other nodes x 2 pods, every one answered.
    assert len(pings) == 8
    assert all(p.answered for p in pings), text
    assert "blackhole 10.244.58.192/26 proto bird" in text
    assert "10.244.85.192/26 via 198.18.0.12 dev eth0 proto bird" in text
    assert "route reflector client | up" in text  # the reflector's `pybgp status`


@pytest.mark.parametrize("mesh_lab", [Options(mode="ipip", reflectors=0)], indirect=True)
def test_ipip_mode_routes_go_through_tunl0_onlink(mesh_lab: Cluster) -> None:
    routes = bird_routes(mesh_lab, 1)
    assert routes["10.244.58.192/26"]["type"] == "blackhole"
    for block, node in (("10.244.85.192/26", "198.18.0.12"), ("10.244.190.128/26", "198.18.0.13")):
        assert routes[block]["gateway"] == node
        assert routes[block]["dev"] == "tunl0"
        assert "onlink" in routes[block]["flags"]  # type: ignore[operator]
    pings = mesh_lab.ping_all()
    if mesh_lab.real_ipip:
        assert all(p.answered for p in pings)
    else:  # said, not tried: this kernel has no ipip module
        assert all(p.answered is None and "not carried" in p.why for p in pings)


@pytest.mark.parametrize("mesh_lab", [Options(mode="cross-subnet", reflectors=0)], indirect=True)
def test_cross_subnet_mode_tunnels_only_to_the_other_subnet(mesh_lab: Cluster) -> None:
    routes = bird_routes(mesh_lab, 1)
    assert routes["10.244.85.192/26"]["dev"] == "eth0"  # node 2: same subnet
    assert "onlink" not in routes["10.244.85.192/26"].get("flags", [])  # type: ignore[operator]
    assert routes["10.244.190.128/26"]["gateway"] == "198.18.1.13"  # node 3: behind the router
    assert routes["10.244.190.128/26"]["dev"] == "tunl0"
    pings = {p.target.ip: p for p in mesh_lab.ping_all()}
    assert pings["10.244.85.193"].answered and pings["10.244.85.194"].answered


@pytest.mark.parametrize("mesh_lab", [Options(mode="bgp", subnets=2, reflectors=0)], indirect=True)
def test_bgp_mode_across_subnets_fails_and_says_why(mesh_lab: Cluster) -> None:
    assert "10.244.190.128/26" not in bird_routes(mesh_lab, 1)  # the kernel cannot use it
    pings = {p.target.ip: p for p in mesh_lab.ping_all()}
    assert pings["10.244.85.193"].answered  # same subnet: fine
    assert pings["10.244.190.129"].answered is False and not pings["10.244.190.129"].expected
    node1 = mesh_lab.nodes[0].process
    assert node1 is not None
    assert "next hop 198.18.1.13 is not directly reachable on eth0" in node1.log_text()
    assert 'set encapsulation = "ipip" or "cross-subnet"' in node1.log_text()


@pytest.mark.skipif(bool(missing_tools("bird", "birdc")), reason="needs BIRD 2 (bird2)")
def test_mixed_cluster_with_a_bird_node_every_ping_answered() -> None:
    out = io.StringIO()
    pings = execute(Options(mode="bgp", with_bird=True), out)
    text = out.getvalue()
    assert len(pings) == 8
    assert all(p.answered for p in pings), text
    # node 3 is BIRD: its routes are BIRD's (metric 32), its block still a blackhole.
    assert "10.244.58.192/26 via 198.18.0.11 dev eth0 proto bird metric 32" in text
    assert "blackhole 10.244.190.128/26 proto bird metric 32" in text
    assert "Node_198_18_0_2 BGP" in text  # its session with the reflector


def test_the_lab_own_ping_works_without_iputils() -> None:
    """The fallback echo (pybgp.lab.cluster_ping) answers like `ping` does."""
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix="pybgp-cluster-") as tmp, Lab("tcp", Path(tmp)) as lab:
        cluster = build(lab, Options(nodes=2, reflectors=0), io.StringIO())
        cluster.system_ping = False
        one, two = cluster.nodes[0].pods[0], cluster.nodes[0].pods[1]  # same node: no BGP
        assert cluster.ping(one, two, expected=True)
        two.ns.run("ip", "link", "set", "eth0", "down")
        assert not cluster.ping(one, two, expected=False)


def test_bad_options_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="--nodes"):
        execute(Options(nodes=1))
    with pytest.raises(ValueError, match="--subnets 2 needs --nodes 3"):
        execute(Options(nodes=2, subnets=2))
