"""The route plan: BGP, IPIP and cross-subnet routes, ECMP, own routes, blackholes, and
the explanation of a next hop the kernel cannot reach; no kernel, no event loop."""

from __future__ import annotations

import ast
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
from pathlib import Path

import pytest

from pybgp.fib.base import KernelRoute, NextHop
from pybgp.fib.plan import (
    ENCAP_CROSS_SUBNET,
    ENCAP_IPIP,
    ENCAP_NONE,
    NodeView,
    blackhole,
    desired_routes,
    kernel_route,
    unreachable_message,
    unreachable_next_hops,
)

BLOCK = ip_network("10.244.85.192/26")
BLOCK6 = ip_network("2001:db8:85::/122")
SAME = ip_address("198.18.0.12")  # on our subnet 198.18.0.0/24
OTHER = ip_address("198.18.1.12")  # behind the router, on 198.18.1.0/24
SAME6 = ip_address("2001:db8::12")
OTHER6 = ip_address("2001:db8:1::12")
ME = ("198.18.0.11/24", "2001:db8::11/64")


def view(encapsulation: str, *interfaces: str) -> NodeView:
    return NodeView.from_interfaces(
        encapsulation, "eth0", [ip_interface(i) for i in interfaces or ME]
    )


def via(gateway: IPv4Address | IPv6Address, device: str = "eth0", onlink: bool = False) -> NextHop:
    return NextHop(gateway, device, onlink)


# -- the shapes of the issue


def test_bgp_mode_is_a_plain_route_over_the_interface() -> None:
    route = kernel_route(BLOCK, [SAME], view(ENCAP_NONE))
    assert route == KernelRoute(BLOCK, (via(SAME),))
    assert str(route) == "10.244.85.192/26 via 198.18.0.12 dev eth0"


def test_ipip_mode_goes_through_tunl0_onlink() -> None:
    route = kernel_route(BLOCK, [SAME], view(ENCAP_IPIP))
    assert route == KernelRoute(BLOCK, (via(SAME, "tunl0", True),))
    assert str(route) == "10.244.85.192/26 via 198.18.0.12 dev tunl0 onlink"


def test_the_tunnel_device_can_be_named() -> None:
    node = NodeView(ENCAP_IPIP, "eth0", tunnel="ipip0")
    assert kernel_route(BLOCK, [OTHER], node) == KernelRoute(BLOCK, (via(OTHER, "ipip0", True),))


def test_cross_subnet_tunnels_only_off_the_subnet() -> None:
    node = view(ENCAP_CROSS_SUBNET)
    assert kernel_route(BLOCK, [SAME], node) == KernelRoute(BLOCK, (via(SAME),))
    assert kernel_route(BLOCK, [OTHER], node) == KernelRoute(BLOCK, (via(OTHER, "tunl0", True),))


def test_cross_subnet_with_several_own_subnets() -> None:
    node = view(ENCAP_CROSS_SUBNET, "198.18.0.11/24", "198.18.1.11/24")
    assert kernel_route(BLOCK, [OTHER], node) == KernelRoute(BLOCK, (via(OTHER),))
    far = ip_address("198.19.0.1")
    assert kernel_route(BLOCK, [far], node) == KernelRoute(BLOCK, (via(far, "tunl0", True),))


def test_cross_subnet_without_known_subnets_tunnels_everything() -> None:
    node = NodeView(ENCAP_CROSS_SUBNET, "eth0")
    assert kernel_route(BLOCK, [SAME], node) == KernelRoute(BLOCK, (via(SAME, "tunl0", True),))


@pytest.mark.parametrize("encapsulation", [ENCAP_NONE, ENCAP_IPIP, ENCAP_CROSS_SUBNET])
def test_ipv6_never_goes_through_tunl0(encapsulation: str) -> None:
    node = view(encapsulation)
    for gateway in (SAME6, OTHER6):
        route = kernel_route(BLOCK6, [gateway], node)
        assert route == KernelRoute(BLOCK6, (via(gateway),))


def test_ipv6_link_local_next_hop_goes_over_the_interface() -> None:
    gateway = ip_address("fe80::1")
    route = kernel_route(BLOCK6, [gateway], view(ENCAP_NONE))
    assert route == KernelRoute(BLOCK6, (via(gateway),))
    assert unreachable_next_hops([gateway], view(ENCAP_NONE)) == []


# -- ECMP


def test_several_best_paths_make_one_multipath_route() -> None:
    third = ip_address("198.18.0.13")
    route = kernel_route(BLOCK, [third, SAME], view(ENCAP_NONE))
    assert route == KernelRoute(BLOCK, (via(SAME), via(third)))
    assert route is not None and len(route.next_hops) == 2
    assert str(route) == (
        "10.244.85.192/26 nexthop via 198.18.0.12 dev eth0 nexthop via 198.18.0.13 dev eth0"
    )


def test_ecmp_order_and_repeats_do_not_change_the_route() -> None:
    node = view(ENCAP_IPIP)
    third = ip_address("198.18.0.13")
    assert kernel_route(BLOCK, [SAME, third], node) == kernel_route(
        BLOCK, [third, SAME, third], node
    )


def test_cross_subnet_ecmp_mixes_plain_and_tunnelled_next_hops() -> None:
    route = kernel_route(BLOCK, [OTHER, SAME], view(ENCAP_CROSS_SUBNET))
    assert route == KernelRoute(BLOCK, (via(SAME), via(OTHER, "tunl0", True)))


def test_ipv6_ecmp() -> None:
    third = ip_address("2001:db8::13")
    route = kernel_route(BLOCK6, [third, SAME6], view(ENCAP_IPIP))
    assert route == KernelRoute(BLOCK6, (via(SAME6), via(third)))


# -- routes that get no kernel route


def test_our_own_next_hop_means_no_kernel_route() -> None:
    node = view(ENCAP_IPIP)
    assert kernel_route(BLOCK, [ip_address("198.18.0.11")], node) is None
    assert kernel_route(BLOCK6, [ip_address("2001:db8::11")], node) is None


def test_own_next_hop_among_ecmp_paths_means_no_kernel_route() -> None:
    assert kernel_route(BLOCK, [SAME, ip_address("198.18.0.11")], view(ENCAP_NONE)) is None


def test_own_next_hop_written_ipv4_mapped_is_still_ours() -> None:
    mapped = ip_address("::ffff:198.18.0.11")
    assert kernel_route(BLOCK, [mapped], view(ENCAP_NONE)) is None


@pytest.mark.parametrize("gateway", ["0.0.0.0", "224.0.0.1", "127.0.0.1"])
def test_unusable_next_hops_are_left_out(gateway: str) -> None:
    node = view(ENCAP_NONE)
    assert kernel_route(BLOCK, [ip_address(gateway)], node) is None
    assert kernel_route(BLOCK, [ip_address(gateway), SAME], node) == KernelRoute(
        BLOCK, (via(SAME),)
    )


def test_no_next_hops_no_route() -> None:
    assert kernel_route(BLOCK, [], view(ENCAP_NONE)) is None


def test_next_hops_of_the_other_family_are_left_out() -> None:
    node = view(ENCAP_NONE)
    # RFC 8950: an IPv6 next hop for an IPv4 prefix needs RTA_VIA, which is not written.
    assert kernel_route(BLOCK, [SAME6], node) is None
    assert kernel_route(BLOCK, [SAME6, SAME], node) == KernelRoute(BLOCK, (via(SAME),))
    # An IPv6 prefix over an IPv4 session: ::ffff:198.18.0.12 is no IPv6 gateway.
    assert kernel_route(BLOCK6, [ip_address("::ffff:198.18.0.12")], node) is None


def test_an_ipv4_mapped_next_hop_of_an_ipv4_prefix_is_unmapped() -> None:
    route = kernel_route(BLOCK, [ip_address("::ffff:198.18.0.12")], view(ENCAP_IPIP))
    assert route == KernelRoute(BLOCK, (via(SAME, "tunl0", True),))


# -- blackholes and the whole plan


def test_blackhole_of_a_local_block() -> None:
    local = ip_network("10.244.58.192/26")
    route = blackhole(local)
    assert route == KernelRoute(local, blackhole=True)
    assert str(route) == "blackhole 10.244.58.192/26"
    assert blackhole(BLOCK6).blackhole


def test_desired_routes_joins_learned_routes_and_blocks() -> None:
    local = ip_network("10.244.58.192/26")
    mine = ip_network("10.244.99.0/26")  # a prefix we announce, reflected back to us
    learned = {
        BLOCK: [SAME],
        BLOCK6: [SAME6],
        mine: [ip_address("198.18.0.11")],
        local: [OTHER],  # a stale announcement of our own block by another node
    }
    routes = desired_routes(learned, [local], view(ENCAP_NONE))
    assert routes == {
        BLOCK: KernelRoute(BLOCK, (via(SAME),)),
        BLOCK6: KernelRoute(BLOCK6, (via(SAME6),)),
        local: KernelRoute(local, blackhole=True),
    }


# -- the cross-subnet failure, explained


def test_bgp_mode_next_hop_off_the_subnet_is_unreachable() -> None:
    node = view(ENCAP_NONE)
    assert unreachable_next_hops([SAME, OTHER, OTHER], node) == [OTHER]
    assert unreachable_next_hops([SAME6, OTHER6], node) == [OTHER6]


def test_ipip_and_cross_subnet_reach_every_ipv4_next_hop() -> None:
    for encapsulation in (ENCAP_IPIP, ENCAP_CROSS_SUBNET):
        node = view(encapsulation)
        assert unreachable_next_hops([SAME, OTHER], node) == []
        # The tunnel does not carry IPv6.
        assert unreachable_next_hops([OTHER6], node) == [OTHER6]


def test_the_prefix_decides_the_tunnel() -> None:
    node = view(ENCAP_IPIP)
    assert unreachable_next_hops([OTHER], node, BLOCK) == []
    # An IPv4 next hop of an IPv6 prefix is left out of the route, not "unreachable".
    assert unreachable_next_hops([OTHER], node, BLOCK6) == []
    assert unreachable_next_hops([OTHER6], node, BLOCK6) == [OTHER6]


def test_unknown_subnets_are_not_judged() -> None:
    node = NodeView(ENCAP_NONE, "eth0")
    assert unreachable_next_hops([OTHER, OTHER6], node) == []
    v4_only = view(ENCAP_NONE, "198.18.0.11/24")
    assert unreachable_next_hops([OTHER, OTHER6], v4_only) == [OTHER]


def test_own_and_unusable_next_hops_are_not_reported() -> None:
    node = view(ENCAP_NONE)
    assert unreachable_next_hops([ip_address("198.18.0.11"), ip_address("0.0.0.0")], node) == []


def test_the_message_names_the_next_hop_and_the_ways_out() -> None:
    message = unreachable_message(OTHER, view(ENCAP_NONE))
    assert message == (
        "next hop 198.18.1.12 is not directly reachable on eth0 (this node's subnets:"
        ' 198.18.0.0/24); with [node] encapsulation = "none" the kernel cannot route via it:'
        ' set encapsulation = "ipip" or "cross-subnet", or peer with the gateway between the'
        " subnets so that routes arrive with a reachable next hop"
    )
    message6 = unreachable_message(OTHER6, view(ENCAP_NONE, "198.18.0.11/24"))
    assert "2001:db8:1::12" in message6
    assert "this node's subnets: none" in message6
    assert "IPv6 routes do not use the IPIP tunnel" in message6
    assert "ipip" not in message6.replace("IPIP", "")


# -- the view


def test_view_from_interfaces() -> None:
    node = NodeView.from_interfaces(
        ENCAP_NONE,
        "eth0",
        [
            ip_interface("198.18.0.11/24"),
            ip_interface("198.18.0.21/24"),  # a second address on the same subnet
            ip_interface("10.0.0.1/32"),  # a host address: no subnet
            ip_interface("2001:db8::11/64"),
        ],
    )
    assert node.subnets == (ip_network("198.18.0.0/24"), ip_network("2001:db8::/64"))
    assert node.addresses == tuple(
        ip_address(a) for a in ("198.18.0.11", "198.18.0.21", "10.0.0.1", "2001:db8::11")
    )
    assert node.tunnel == "tunl0"
    assert node.on_link(SAME) and not node.on_link(OTHER)
    assert node.is_own(ip_address("10.0.0.1"))


def test_an_unknown_encapsulation_is_api_misuse() -> None:
    with pytest.raises(ValueError, match="encapsulation must be one of ipip, none"):
        NodeView("vxlan", "eth0")


def test_the_plan_does_no_io() -> None:
    """Standard library only: no pyroute2, no asyncio, no socket (DESIGN.md layers)."""
    import pybgp.fib.plan as plan

    tree = ast.parse(Path(plan.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "ipaddress", "collections", "dataclasses", "pybgp"}
