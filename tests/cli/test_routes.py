"""`pybgp routes`: the Loc-RIB of a running speaker, as text and as JSON.

The daemon is a real `Speaker` in the test's event loop, a route reflector on loopback
with a client that announces P, an eBGP neighbour that announces P too, and a route of
its own (Q); the CLI runs off the loop (`main()` in a thread), as `pybgp` would from a
shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.runtime.helpers import (
    Node,
    Speakers,
    config,
    make_node,
    peer_toml,
    wait_established,
    wait_for,
)

from pybgp.cli.main import main
from pybgp.runtime.rib_view import loc_rib_entries
from pybgp.runtime.speaker import Speaker

ASN = 64512
CLUSTER_ID = "10.255.0.1"
P = "10.244.1.0/26"
Q = "10.244.2.0/26"
CONTRACT = {
    "prefix",
    "best",
    "reason",
    "peer",
    "next_hop",
    "as_path",
    "local_pref",
    "med",
    "communities",
    "originator_id",
    "cluster_list",
}


@dataclass
class Network:
    r: Node  # the reflector: the daemon the CLI asks
    c1: Node  # its client, announcing P with LOCAL_PREF 200
    c2: Node  # another client, that gets P reflected
    e: Node  # an eBGP neighbour, announcing P too
    reflector: Speaker
    client: Speaker


@pytest.fixture
async def network(sockdir: Path) -> AsyncIterator[Network]:
    pool = Speakers()
    r = make_node(sockdir, "127.0.0.101", ASN, "198.18.0.101")
    c1 = make_node(sockdir, "127.0.0.102", ASN, "198.18.0.102")
    c2 = make_node(sockdir, "127.0.0.103", ASN, "198.18.0.103")
    e = make_node(sockdir, "127.0.0.104", 65001, "198.18.0.104")
    try:
        reflector = Speaker(
            config(
                r.speaker(announce=[f'"{Q}"']) + f'cluster-id = "{CLUSTER_ID}"\n',
                *(
                    peer_toml(
                        n.address, n.asn, local_address=r.address, passive=True, rr_client=True
                    )
                    for n in (c1, c2)
                ),
                peer_toml(e.address, e.asn, local_address=r.address, passive=True),
            ),
            reflector=True,
        )
        await reflector.start()
        pool.running.append(reflector)
        s1 = await pool.start(c1.config(r))
        s2 = await pool.start(c2.config(r))
        se = await pool.start(e.config(r))
        for node, speaker in ((c1, s1), (c2, s2), (e, se)):
            await wait_established(speaker, r.address)
            await wait_established(reflector, node.address)
        s1.announce(P, local_pref=200, med=5, communities=["64512:100"])
        se.announce(P)

        def converged() -> bool:
            at_r = loc_rib_entries(reflector.rib, P)
            at_c2 = loc_rib_entries(s2.rib, P)
            return (
                [e["peer"] for e in at_r] == [c1.address, e.address]
                and len(at_c2) == 1
                and at_c2[0]["local_pref"] == 200
            )

        await wait_for(converged, what="P from c1 best at the reflector and at c2")
        yield Network(r, c1, c2, e, reflector, s2)
    finally:
        await pool.close_all()


async def pybgp(*argv: str) -> int:
    """`main()` off the loop: its blocking client must not stall the daemon it asks."""
    return await asyncio.to_thread(main, list(argv))


async def routes_json(socket: Path, *argv: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(_json, socket, argv)


def _json(socket: Path, argv: tuple[str, ...]) -> list[dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["routes", "--socket", str(socket), "--json", *argv]) == 0
    return list(json.loads(out.getvalue()))


# --- JSON -------------------------------------------------------------------------------


async def test_json_has_every_path_best_first(network: Network) -> None:
    n = network
    entries = await routes_json(n.r.control_socket)
    assert all(set(entry) >= CONTRACT for entry in entries)
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_prefix.setdefault(entry["prefix"], []).append(entry)
    assert set(by_prefix) == {P, Q}

    best, other = by_prefix[P]
    assert best == best | {
        "best": True,
        "reason": "local-pref",
        "peer": n.c1.address,
        "next_hop": n.c1.address,
        "as_path": [],
        "local_pref": 200,
        "med": 5,
        "communities": ["64512:100"],
        "originator_id": None,  # learnt from the client itself: not reflected yet
        "cluster_list": [],
    }
    assert other == other | {
        "best": False,
        "reason": "",
        "peer": n.e.address,
        "next_hop": n.e.address,
        "as_path": [65001],
        "local_pref": None,
        "communities": [],
    }
    [own] = by_prefix[Q]
    assert own == own | {"best": True, "reason": "only path", "peer": "local", "as_path": []}


async def test_json_of_a_reflected_route_at_a_client(network: Network) -> None:
    n = network
    [entry] = await routes_json(n.c2.control_socket, P)
    assert entry == entry | {
        "prefix": P,
        "best": True,
        "reason": "only path",
        "peer": n.r.address,
        "next_hop": n.c1.address,  # reflection leaves NEXT_HOP alone
        "local_pref": 200,
        "med": 5,
        "communities": ["64512:100"],
        "originator_id": n.c1.router_id,
        "cluster_list": [CLUSTER_ID],
    }


async def test_json_prefix_filter(network: Network) -> None:
    n = network
    assert [e["prefix"] for e in await routes_json(n.r.control_socket, Q)] == [Q]
    assert [e["peer"] for e in await routes_json(n.r.control_socket, P)] == [
        n.c1.address,
        n.e.address,
    ]
    assert await routes_json(n.r.control_socket, "10.99.0.0/24") == []


# --- text -------------------------------------------------------------------------------


async def test_text_marks_the_best_path(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    n = network
    assert await pybgp("routes", "--socket", str(n.r.control_socket)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 3
    p_lines = [i for i, line in enumerate(lines) if line.startswith(P)]
    [first] = p_lines
    best, other = lines[first], lines[first + 1]
    assert f"via {n.c1.address}" in best and f"from {n.c1.address}" in best
    assert "* (local-pref)" in best
    assert "local_pref 200" in best and "med 5" in best
    assert "communities [64512:100]" in best
    # The second path of P: prefix not repeated, no best mark.
    assert other.startswith(" " * len(P))
    assert f"from {n.e.address}" in other and "as_path [65001]" in other
    assert "*" not in other
    [own] = [line for line in lines if line.startswith(Q)]
    assert "from local" in own and "* (only path)" in own


async def test_text_prefix_filter_and_a_prefix_without_route(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    n = network
    socket = str(n.r.control_socket)
    assert await pybgp("routes", "--socket", socket, Q) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(Q) and "* (only path)" in line

    assert await pybgp("routes", "--socket", socket, "10.99.0.0/24") == 1
    assert capsys.readouterr().out == "no route for 10.99.0.0/24\n"

    assert await pybgp("routes", "--socket", str(n.c2.control_socket), P) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert f"originator_id {n.c1.router_id}" in line
    assert f"cluster_list [{CLUSTER_ID}]" in line


async def test_not_a_prefix_is_refused(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await pybgp("routes", "--socket", str(network.r.control_socket), "nonsense") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "pybgp routes: not a prefix: 'nonsense'\n"


# --- no daemon ----------------------------------------------------------------------------


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_not_running(json_flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "--socket", "/nonexistent", *json_flag]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "pybgp is not running: no control socket at /nonexistent\n"


async def test_limit_prints_the_first_prefixes_and_says_there_are_more(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    """A million-route table is not built in the daemon's memory unless asked."""
    entries = await routes_json(network.r.control_socket, "--limit", "1")
    assert len({entry["prefix"] for entry in entries}) == 1
    assert entries[0]["best"] is True
    assert "the first 1 prefixes; --limit 0 for all" in capsys.readouterr().err
    everything = await routes_json(network.r.control_socket, "--limit", "0")
    assert {entry["prefix"] for entry in everything} == {P, Q}
