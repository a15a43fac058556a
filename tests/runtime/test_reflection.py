"""Route reflection (RFC 4456), eBGP re-advertisement and the decision, end to end.

Every speaker is a real `Speaker` on its own 127.0.0.x address in the test's event loop.
The reflector's peers are passive and the clients connect to it, so that no connection
collision slows a test down.  What a speaker received is read through its control
socket (`adj-rib-in`), what it chose through `routes` (the Loc-RIB).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pybgp.config import Config, load_config
from pybgp.runtime.rib_view import loc_rib_entries
from pybgp.runtime.speaker import Speaker
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.nlri import prefix_key

from .helpers import (
    Node,
    Speakers,
    config,
    control,
    make_node,
    peer_status,
    peer_toml,
    rib_in,
    wait_established,
    wait_for,
    wait_rib_in,
)

ASN = 64512
CLUSTER_ID = "10.255.0.1"
P = "10.244.1.0/26"
Q = "10.244.2.0/26"
BARRIER = "10.244.9.0/26"


def seq(*asns: int) -> list[dict[str, Any]]:
    """An AS_PATH as `adj-rib-in` shows it: one AS_SEQUENCE."""
    return [{"type": "sequence", "asns": list(asns)}] if asns else []


def many_prefixes(count: int) -> list[str]:
    base = int(ipaddress.IPv4Address("10.100.0.0"))
    return [str(ipaddress.IPv4Network((base + (i << 8), 24))) for i in range(count)]


async def start(pool: Speakers, cfg: Config, *, reflector: bool = False) -> Speaker:
    """A speaker with its control socket, closed by the `speakers` fixture at teardown."""
    speaker = Speaker(cfg, reflector=reflector)
    await speaker.start()
    pool.running.append(speaker)
    return speaker


def reflector_config(
    node: Node,
    clients: Sequence[Node],
    others: Sequence[Node] = (),
    *,
    cluster_id: str = CLUSTER_ID,
    active: Sequence[Node] = (),
) -> Config:
    """`node` reflecting for `clients` (rr-client) and peering plainly with `others`;
    every peer is passive except those in `active`."""

    def peer(other: Node, client: bool) -> str:
        return peer_toml(
            other.address,
            other.asn,
            port=other.port,
            local_address=node.address,
            passive=other not in active,
            rr_client=client,
        )

    return config(
        node.speaker() + f'cluster-id = "{cluster_id}"\n',
        *(peer(client, True) for client in clients),
        *(peer(other, False) for other in others),
    )


async def wait_routes(
    path: Path | str, peer: str, check: Callable[[dict[str, dict[str, Any]]], bool], what: str
) -> dict[str, dict[str, Any]]:
    """Poll `adj-rib-in` of `peer` until `check` holds for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        routes = await rib_in(path, peer)
        if check(routes):
            return routes
        if loop.time() >= deadline:
            raise AssertionError(f"adj-rib-in of {peer} never showed {what}: {sorted(routes)}")
        await asyncio.sleep(0.02)


async def has(node: Node, peer: str, *prefixes: str) -> dict[str, dict[str, Any]]:
    return await wait_routes(
        node.control_socket, peer, lambda r: all(p in r for p in prefixes), f"{prefixes}"
    )


async def lacks(node: Node, peer: str, *prefixes: str) -> dict[str, dict[str, Any]]:
    return await wait_routes(
        node.control_socket, peer, lambda r: not any(p in r for p in prefixes), f"no {prefixes}"
    )


def updates_received(speaker: Speaker, peer: str) -> int:
    row = peer_status(speaker, peer)
    assert row is not None
    return int(row["messages"]["received"]["update"])


def loc_rib(speaker: Speaker, prefix: str | None = None) -> list[dict[str, Any]]:
    return loc_rib_entries(speaker.rib, prefix)


# --- one reflector ----------------------------------------------------------------------------


async def test_reflector_with_three_clients_and_two_non_clients(
    speakers: Speakers, sockdir: Path
) -> None:
    r = make_node(sockdir, "127.0.0.10", ASN, "198.18.0.10")
    clients = [make_node(sockdir, f"127.0.0.1{i}", ASN, f"198.18.0.1{i}") for i in (1, 2, 3)]
    n1 = make_node(sockdir, "127.0.0.21", ASN, "198.18.0.21")
    n2 = make_node(sockdir, "127.0.0.22", ASN, "198.18.0.22")
    c1, c2, c3 = clients
    reflector = await start(speakers, reflector_config(r, clients, [n1, n2]), reflector=True)
    speaker_of: dict[Node, Speaker] = {}
    for node in [*clients, n1, n2]:
        speaker_of[node] = await speakers.start(node.config(r))
    for node, speaker in speaker_of.items():
        await wait_established(speaker, r.address)
        await wait_established(reflector, node.address)
    s1, s2 = speaker_of[c1], speaker_of[c2]

    # A client's route goes to every other client and to the non-clients, reflected.
    s1.announce(P)
    for node in (c2, c3, n1, n2):
        route = (await has(node, r.address, P))[P]
        assert route["originator_id"] == c1.router_id  # RFC 4456 8
        assert route["cluster_list"] == [CLUSTER_ID]
        assert route["next_hop"] == c1.address  # reflection leaves NEXT_HOP alone
        assert route["as_path"] == []
        assert route["local_pref"] == 100
    # ... and not back to the client it came from.
    assert await rib_in(c1.control_socket, r.address) == {}
    row = peer_status(s1, r.address)
    assert row is not None and row["received"] == 0
    [entry] = loc_rib(reflector, P)
    assert (entry["peer"], entry["reason"], entry["originator_id"]) == (
        c1.address,
        "only path",
        None,
    )

    # A non-client's route goes to the clients, not to the other non-client.
    speaker_of[n1].announce(Q)
    for node in clients:
        route = (await has(node, r.address, Q))[Q]
        assert route["originator_id"] == n1.router_id
        assert route["cluster_list"] == [CLUSTER_ID]
        assert route["next_hop"] == n1.address
    # A route announced after Q has reached n2: so has everything the reflector sent
    # it before, and Q is not among it.
    s1.announce(BARRIER)
    routes = await has(n2, r.address, BARRIER)
    assert Q not in routes
    assert Q not in await rib_in(n1.control_socket, r.address)

    # Withdrawals reach everyone.
    s1.withdraw(P)
    for node in (c2, c3, n1, n2):
        await lacks(node, r.address, P)
    assert loc_rib(reflector, P) == []

    # 300 routes from client 1 arrive packed, and leave packed when its session goes.
    prefixes = many_prefixes(300)
    before = updates_received(s2, r.address)
    for prefix in prefixes:
        s1.announce(prefix)
    for node in (c2, c3, n1, n2):
        await has(node, r.address, *prefixes)
    assert updates_received(s2, r.address) - before <= 10
    before = updates_received(s2, r.address)
    await speakers.close(s1)
    for node in (c2, c3, n1, n2):
        await lacks(node, r.address, *prefixes, BARRIER)
    # 300 withdrawn /24s are 1200 octets of NLRI: one UPDATE (two at most).
    assert updates_received(s2, r.address) - before <= 2
    # n1's route is still there for the clients that remain.
    await has(c2, r.address, Q)


async def test_two_reflectors_of_one_cluster_drop_each_others_copies(
    speakers: Speakers, sockdir: Path
) -> None:
    """Reflectors A and B share a cluster id and peer with each other as non-clients;
    clients 1 and 2 peer with both.  A client's route reaches the other client twice
    (through A and through B), and each reflector drops the copy the other reflected
    to it (RFC 4456 8: its cluster id is in the CLUSTER_LIST)."""
    a = make_node(sockdir, "127.0.0.31", ASN, "198.18.0.31")
    b = make_node(sockdir, "127.0.0.32", ASN, "198.18.0.32")
    c1 = make_node(sockdir, "127.0.0.33", ASN, "198.18.0.33")
    c2 = make_node(sockdir, "127.0.0.34", ASN, "198.18.0.34")
    ra = await start(speakers, reflector_config(a, [c1, c2], [b], active=[b]), reflector=True)
    rb = await start(speakers, reflector_config(b, [c1, c2], [a]), reflector=True)
    s1 = await speakers.start(c1.config(a, b))
    s2 = await speakers.start(c2.config(a, b))
    for reflector, other in ((ra, b), (rb, a)):
        await wait_established(reflector, other.address)
        for client in (c1, c2):
            await wait_established(reflector, client.address)
    for client in (s1, s2):
        await wait_established(client, a.address)
        await wait_established(client, b.address)

    s1.announce(P)
    for reflector_node in (a, b):
        route = (await has(c2, reflector_node.address, P))[P]
        assert route["originator_id"] == c1.router_id
        assert route["cluster_list"] == [CLUSTER_ID]
        assert route["next_hop"] == c1.address
    # Each reflector got the other's copy and dropped it: only the client's path is kept.
    for reflector, other in ((ra, b), (rb, a)):
        await wait_for(
            lambda r=reflector, o=other: (peer_status(r, o.address) or {}).get("received") == 1,
            what="the other reflector's copy",
        )
        row = peer_status(reflector, other.address)
        assert row is not None and (row["received"], row["accepted"]) == (1, 0)
        assert [e["peer"] for e in loc_rib(reflector, P)] == [c1.address]
        routes = await control((a if reflector is ra else b).control_socket, "routes", prefix=P)
        assert [(e["peer"], e["best"]) for e in routes] == [(c1.address, True)]
    # c2 holds two paths for P (through A and through B), c1 only its own.
    assert {e["peer"] for e in loc_rib(s2, P)} == {a.address, b.address}
    assert [e["peer"] for e in loc_rib(s1, P)] == ["local"]

    # No loop: after another route has gone the whole way round, the counters for the
    # first moved by at most that route's UPDATE on each session.
    sessions = ((ra, b.address), (rb, a.address), (s2, a.address), (s2, b.address), (s1, a.address))

    def received() -> dict[tuple[int, str], int]:
        return {(id(s), peer): updates_received(s, peer) for s, peer in sessions}

    counts = received()
    s2.announce(BARRIER)
    for reflector_node in (a, b):
        await has(c1, reflector_node.address, BARRIER)
    for reflector, other in ((ra, b), (rb, a)):
        await wait_for(
            lambda r=reflector, o=other: (peer_status(r, o.address) or {}).get("received") == 2,
            what="the barrier's copy",
        )
    after = received()
    assert all(after[k] - counts[k] <= 1 for k in counts), (counts, after)
    assert [e["peer"] for e in loc_rib(ra, P)] == [c1.address]
    assert [e["peer"] for e in loc_rib(rb, P)] == [c1.address]
    assert len(loc_rib(s2, P)) == 2


# --- eBGP -------------------------------------------------------------------------------------


async def test_ebgp_route_to_ibgp_and_ebgp_peers_and_the_as_path_loop(
    speakers: Speakers, sockdir: Path
) -> None:
    x = make_node(sockdir, "127.0.0.41", ASN, "198.18.0.41")
    e1 = make_node(sockdir, "127.0.0.42", 65001, "198.18.0.42")
    e2 = make_node(sockdir, "127.0.0.43", 65002, "198.18.0.43")
    i = make_node(sockdir, "127.0.0.44", ASN, "198.18.0.44")
    sx = await speakers.start(
        config(
            x.speaker(),
            *(
                peer_toml(n.address, n.asn, local_address=x.address, passive=True)
                for n in (e1, e2, i)
            ),
        )
    )
    s1 = await speakers.start(e1.config(x))
    s2 = await speakers.start(e2.config(x))
    si = await speakers.start(i.config(x))
    for node, speaker in ((e1, s1), (e2, s2), (i, si)):
        await wait_established(speaker, x.address)
        await wait_established(sx, node.address)

    s1.announce(P, med=7)
    inside = (await has(i, x.address, P))[P]
    # RFC 4271 5.1.2 / 5.1.3: into the AS the AS_PATH and NEXT_HOP are left as learnt.
    assert inside["as_path"] == seq(65001)
    assert inside["next_hop"] == e1.address
    assert inside["local_pref"] == 100
    assert "originator_id" not in inside and "cluster_list" not in inside
    outside = (await has(e2, x.address, P))[P]
    # ... to another AS: ours prepended, our address as NEXT_HOP, no LOCAL_PREF, and a
    # MED learnt from another AS not passed on (5.1.4).
    assert outside["as_path"] == seq(ASN, 65001)
    assert outside["next_hop"] == x.address
    assert "local_pref" not in outside
    assert "med" not in outside
    assert await rib_in(e1.control_socket, x.address) == {}

    # RFC 4271 9.1.2: a route whose AS_PATH holds our AS is not taken in.
    s2.announce(Q, as_path=(ASN,))
    row = await wait_for(
        lambda: (r := peer_status(sx, e2.address)) is not None and r["received"] == 1 and r,
        what="the looped route's arrival",
    )
    assert row["accepted"] == 0 < row["received"]
    assert loc_rib(sx, Q) == []
    # A later route from e2 goes through: the loop dropped Q only.
    s2.announce(BARRIER)
    await has(i, x.address, BARRIER)
    assert Q not in await rib_in(i.control_socket, x.address)
    assert Q not in await rib_in(e1.control_socket, x.address)
    row = peer_status(sx, e2.address)
    assert row is not None and (row["received"], row["accepted"]) == (2, 1)


# --- the decision ---------------------------------------------------------------------------


async def test_better_local_pref_wins_and_the_other_takes_over(
    speakers: Speakers, sockdir: Path
) -> None:
    """n1 and n2 (non-clients: they never hear each other's routes through the
    reflector) announce the same prefixes; client c3 receives the reflector's choice."""
    r = make_node(sockdir, "127.0.0.50", ASN, "198.18.0.50")
    n1 = make_node(sockdir, "127.0.0.51", ASN, "198.18.0.51")
    n2 = make_node(sockdir, "127.0.0.52", ASN, "198.18.0.52")
    c3 = make_node(sockdir, "127.0.0.53", ASN, "198.18.0.53")
    reflector = await start(speakers, reflector_config(r, [c3], [n1, n2]), reflector=True)
    s1, s2, s3 = [await speakers.start(node.config(r)) for node in (n1, n2, c3)]
    for node, speaker in zip((n1, n2, c3), (s1, s2, s3), strict=True):
        await wait_established(speaker, r.address)
        await wait_established(reflector, node.address)

    s1.announce(P, local_pref=200)
    s2.announce(P)  # LOCAL_PREF 100 (the default)
    s2.announce(Q, as_path=(65010,))
    s1.announce(Q, as_path=(65010, 65011))

    def two_paths(prefix: str) -> list[dict[str, Any]] | None:
        entries = loc_rib(reflector, prefix)
        return entries if len(entries) == 2 else None

    best, other = await wait_for(lambda: two_paths(P), what="both paths of P")
    assert (best["best"], best["peer"], best["reason"]) == (True, n1.address, "local-pref")
    assert best["local_pref"] == 200
    assert (other["best"], other["peer"], other["reason"]) == (False, n2.address, "")
    best, _ = await wait_for(lambda: two_paths(Q), what="both paths of Q")
    assert (best["peer"], best["reason"]) == (n2.address, "as-path-length")
    # The control command shows the same.
    shown = await control(r.control_socket, "routes", prefix=P)
    assert [(e["peer"], e["best"], e["reason"]) for e in shown] == [
        (n1.address, True, "local-pref"),
        (n2.address, False, ""),
    ]

    # Each reached c3 first through whichever path arrived first: wait for the best.
    routes = await wait_routes(
        c3.control_socket,
        r.address,
        lambda routes: (
            {P, Q} <= set(routes)
            and (routes[P]["next_hop"], routes[Q]["next_hop"]) == (n1.address, n2.address)
        ),
        "P through n1 and Q through n2",
    )
    assert routes[P]["local_pref"] == 200
    assert routes[Q]["as_path"] == seq(65010)

    s1.withdraw(P)
    routes = await wait_routes(
        c3.control_socket,
        r.address,
        lambda routes: P in routes and routes[P]["next_hop"] == n2.address,
        "P through n2",
    )
    assert routes[P]["local_pref"] == 100
    assert routes[P]["originator_id"] == n2.router_id
    [entry] = loc_rib(reflector, P)
    assert (entry["best"], entry["peer"], entry["reason"]) == (True, n2.address, "only path")


async def test_a_client_prefers_the_better_reflected_path_over_its_own(
    speakers: Speakers, sockdir: Path
) -> None:
    """Two clients announce P, c1 with LOCAL_PREF 200.  c2 hears c1's path through the
    reflector, prefers it to its own (RFC 4271 9.1.1: no preference for a local route)
    and, as an iBGP speaker that is not a reflector, withdraws its own from the reflector;
    when c1 withdraws, c2's own route is best again and goes back to the reflector."""
    r = make_node(sockdir, "127.0.0.55", ASN, "198.18.0.55")
    clients = [make_node(sockdir, f"127.0.0.5{i}", ASN, f"198.18.0.5{i}") for i in (6, 7, 8)]
    c1, c2, c3 = clients
    reflector = await start(speakers, reflector_config(r, clients), reflector=True)
    s1, s2, s3 = [await speakers.start(c.config(r)) for c in clients]
    for client, speaker in zip(clients, (s1, s2, s3), strict=True):
        await wait_established(speaker, r.address)
        await wait_established(reflector, client.address)

    s1.announce(P, local_pref=200)
    await has(c2, r.address, P)
    s2.announce(P)
    await wait_for(
        lambda: (
            [(e["peer"], e["reason"]) for e in loc_rib(s2, P)]
            == [(r.address, "local-pref"), ("local", "")]
        ),
        what="c2 to prefer the reflected path",
    )
    route = (await has(c3, r.address, P))[P]
    assert (route["next_hop"], route["local_pref"]) == (c1.address, 200)
    assert [e["peer"] for e in loc_rib(reflector, P)] == [c1.address]

    s1.withdraw(P)
    routes = await wait_routes(
        c3.control_socket,
        r.address,
        lambda routes: P in routes and routes[P]["next_hop"] == c2.address,
        "P through c2",
    )
    assert routes[P]["local_pref"] == 100
    [entry] = loc_rib(reflector, P)
    assert (entry["peer"], entry["reason"]) == (c2.address, "only path")
    # c1 now gets c2's path; c2 is told to forget c1's (its own is the best now).
    route = (await has(c1, r.address, P))[P]
    assert (route["next_hop"], route["local_pref"]) == (c2.address, 100)
    await lacks(c2, r.address, P)


# --- End-of-RIB and ROUTE-REFRESH -----------------------------------------------------------


async def test_late_client_gets_the_table_then_end_of_rib_and_again_on_refresh(
    speakers: Speakers, sockdir: Path
) -> None:
    r = make_node(sockdir, "127.0.0.60", ASN, "198.18.0.60")
    c1 = make_node(sockdir, "127.0.0.61", ASN, "198.18.0.61")
    c2 = make_node(sockdir, "127.0.0.62", ASN, "198.18.0.62")
    reflector = await start(speakers, reflector_config(r, [c1, c2]), reflector=True)
    reflector.announce(Q)
    s1 = await speakers.start(c1.config(r))
    await wait_established(s1, r.address)
    prefixes = many_prefixes(50)
    for prefix in prefixes:
        s1.announce(prefix)
    await wait_for(
        lambda: len(reflector.rib.loc.paths(IPV4_UNICAST, prefix_key(prefixes[-1]))) == 1,
        what="the reflector to hold client 1's routes",
    )
    await wait_for(lambda: len(loc_rib(reflector)) == 51, what="51 routes")

    s2 = await speakers.start(c2.config(r))
    await wait_established(s2, r.address)
    routes = await wait_rib_in(c2.control_socket, r.address, {Q, *prefixes})
    assert routes[prefixes[0]]["originator_id"] == c1.router_id
    assert routes[Q]["next_hop"] == r.address  # the reflector's own route: its address
    driver = s2.peers[ipaddress.ip_address(r.address)]
    await wait_for(lambda: driver.stats.end_of_rib == {IPV4_UNICAST}, what="End-of-RIB")
    row = peer_status(s2, r.address)
    assert row is not None
    # The table (two attribute sets) then one End-of-RIB: a handful of UPDATEs.
    assert 3 <= row["messages"]["received"]["update"] <= 5
    assert row["end_of_rib"] == ["ipv4"]

    # ROUTE-REFRESH (RFC 2918): the reflector sends the table again.
    before = row["messages"]["received"]
    driver.session.send_route_refresh(IPV4_UNICAST)
    driver.primary.service()
    await wait_for(
        lambda: (
            (peer_status(reflector, c2.address) or {})["messages"]["received"]["route-refresh"] == 1
        ),
        what="the reflector to receive the ROUTE-REFRESH",
    )

    def refreshed() -> dict[str, Any] | None:
        now = (peer_status(s2, r.address) or {})["messages"]["received"]
        return now if now["update"] >= before["update"] + 2 else None

    now = await wait_for(refreshed, what="the table again")
    # RFC 7313 (both ends announce Enhanced Route Refresh): the table between a BoRR and
    # an EoRR.
    await wait_for(
        lambda: (
            (peer_status(s2, r.address) or {})["messages"]["received"]["route-refresh"]
            == before["route-refresh"] + 2
        ),
        what="BoRR and EoRR",
    )
    assert now["update"] - before["update"] <= 3  # packed, as the first time
    assert set(await rib_in(c2.control_socket, r.address)) == {Q, *prefixes}


# --- known bugs -----------------------------------------------------------------------------


async def test_reload_making_peers_clients_starts_reflecting(
    speakers: Speakers, sockdir: Path, tmp_path: Path
) -> None:
    r = make_node(sockdir, "127.0.0.130", ASN, "198.18.0.130")
    c1 = make_node(sockdir, "127.0.0.131", ASN, "198.18.0.131")
    c2 = make_node(sockdir, "127.0.0.132", ASN, "198.18.0.132")
    file = tmp_path / "r.toml"

    def write(client: bool) -> None:
        peers = (
            peer_toml(n.address, n.asn, local_address=r.address, passive=True, rr_client=client)
            for n in (c1, c2)
        )
        file.write_text(r.speaker() + "".join(peers))

    write(False)
    reflector = await speakers.start(load_config(file))
    s1 = await speakers.start(c1.config(r))
    s2 = await speakers.start(c2.config(r))
    s1.announce(P)
    write(True)
    summary = reflector.reload()
    assert "reset 127.0.0.131" in summary and "reset 127.0.0.132" in summary
    for node, speaker in ((c1, s1), (c2, s2)):
        await wait_established(speaker, r.address, timeout=8)
        await wait_established(reflector, node.address, timeout=8)
    route = (await has(c2, r.address, P))[P]
    assert route["originator_id"] == c1.router_id


async def test_advertised_does_not_count_the_peers_own_routes(
    speakers: Speakers, sockdir: Path
) -> None:
    r = make_node(sockdir, "127.0.0.140", ASN, "198.18.0.140")
    c1 = make_node(sockdir, "127.0.0.141", ASN, "198.18.0.141")
    c2 = make_node(sockdir, "127.0.0.142", ASN, "198.18.0.142")
    reflector = await start(speakers, reflector_config(r, [c1, c2]), reflector=True)
    s1 = await speakers.start(c1.config(r))
    s2 = await speakers.start(c2.config(r))
    for node, speaker in ((c1, s1), (c2, s2)):
        await wait_established(speaker, r.address)
        await wait_established(reflector, node.address)
    s1.announce(P)
    await has(c2, r.address, P)
    row_c2 = peer_status(reflector, c2.address)
    assert row_c2 is not None and row_c2["advertised"] == 1
    row_at_c1 = peer_status(s1, r.address)
    assert row_at_c1 is not None and row_at_c1["received"] == 0  # c1 was sent nothing
    row_c1 = peer_status(reflector, c1.address)
    assert row_c1 is not None and row_c1["advertised"] == 0
