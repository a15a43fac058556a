"""Real `Speaker`s peering over loopback in one event loop.

Each speaker listens on its own 127.0.0.x address and a free port and connects from
that address (local-address), so the peer is told apart by its source address as in a
real network.  Timers are short (hold-time 9, connect-retry 1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from pybgp.runtime.control import ControlError, ControlServer
from pybgp.runtime.speaker import Speaker
from pybgp.wire.capabilities import Multiprotocol
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.messages import Keepalive
from pybgp.wire.open import Open

from .helpers import (
    ESTABLISHED,
    Node,
    Speakers,
    config,
    control,
    free_port,
    make_node,
    peer_range_toml,
    peer_status,
    peer_toml,
    rib_in,
    speaker_toml,
    wait_established,
    wait_for,
    wait_info,
    wait_rib_in,
)

A, B = "127.0.0.1", "127.0.0.2"
STRANGER = "127.0.0.9"
RID_A, RID_B = "198.18.0.1", "198.18.0.2"
MESH = "node-to-node mesh"

# A route with every attribute an announce entry can set, and two plain ones.
FULL = (
    '{ prefix = "10.244.1.0/26", med = 10, origin = "egp", as-path = [65001, 65002], '
    'communities = ["64512:100", "no-export"], large-communities = ["64512:1:2"] }'
)
PLAIN_V4 = '"10.244.1.64/26"'
PLAIN_V6 = '"2001:db8:1::/64"'
BOTH = ["ipv4", "ipv6"]


def addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


async def pair(
    speakers: Speakers, sockdir: Path, asn_b: int = 64512, **keys: Any
) -> tuple[Speaker, Speaker, Node, Node]:
    """A (AS 64512, announcing FULL, PLAIN_V4 and PLAIN_V6) and B, both active, Established."""
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, asn_b, RID_B)
    keys.setdefault("families", BOTH)
    speaker_a = await speakers.start(a.config(b, announce=[FULL, PLAIN_V4, PLAIN_V6], **keys))
    speaker_b = await speakers.start(b.config(a, **keys))
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)
    return speaker_a, speaker_b, a, b


# --- routes and status ----------------------------------------------------------------------------


async def test_ibgp_status_and_routes_with_their_attributes(
    speakers: Speakers, sockdir: Path
) -> None:
    speaker_a, speaker_b, _, b = await pair(speakers, sockdir, type=MESH)
    routes = await wait_rib_in(
        b.control_socket, A, {"10.244.1.0/26", "10.244.1.64/26", "2001:db8:1::/64"}
    )

    full = routes["10.244.1.0/26"]
    assert full["family"] == "ipv4"
    assert full["next_hop"] == A  # next-hop self: our address on the session
    assert full["origin"] == "egp"
    assert full["med"] == 10
    # RFC 1997: no-export is 0xFFFFFF01.
    assert full["communities"] == ["64512:100", "65535:65281"]
    assert full["large_communities"] == ["64512:1:2"]
    # RFC 4271 5.1.2: towards an internal peer our own AS is not prepended.
    assert full["as_path"] == [{"type": "sequence", "asns": [65001, 65002]}]
    # RFC 4271 5.1.5: LOCAL_PREF goes to internal peers; 100 when none is configured.
    assert full["local_pref"] == 100

    plain = routes["10.244.1.64/26"]
    assert plain["as_path"] == []
    assert plain["origin"] == "igp"
    assert "med" not in plain and "communities" not in plain

    # An IPv6 route over an IPv4 session: our IPv4 address as IPv4-mapped IPv6.
    v6 = routes["2001:db8:1::/64"]
    assert v6["family"] == "ipv6"
    assert addr(v6["next_hop"]).ipv4_mapped == addr(A)

    row = peer_status(speaker_b, A)
    assert row is not None
    assert row["state"] == ESTABLISHED
    assert row["asn"] == 64512
    assert row["type"] == MESH
    assert row["families"] == BOTH
    assert row["dynamic"] is False
    assert row["peer_id"] == RID_A
    assert row["hold_time"] == 9
    assert row["info"] == ""
    assert row["received"] == row["accepted"] == 3
    assert row["messages"]["received"]["open"] >= 1
    assert row["messages"]["received"]["keepalive"] >= 1
    # One UPDATE per attribute set (three), then an End-of-RIB per family (two).
    assert row["messages"]["received"]["update"] >= 5
    await wait_for(lambda: peer_status(speaker_b, A)["end_of_rib"] == BOTH, what="End-of-RIB")
    sent_row = peer_status(speaker_a, B)
    assert sent_row is not None
    assert sent_row["advertised"] == 3
    assert sent_row["received"] == 0
    assert speaker_a.status()["asn"] == 64512
    assert speaker_a.status()["router_id"] == RID_A


async def test_ebgp_prepends_our_asn_and_sends_no_local_pref(
    speakers: Speakers, sockdir: Path
) -> None:
    _, speaker_b, _, b = await pair(speakers, sockdir, asn_b=64513)
    routes = await wait_rib_in(
        b.control_socket, A, {"10.244.1.0/26", "10.244.1.64/26", "2001:db8:1::/64"}
    )
    # RFC 4271 5.1.2: our AS first, then the configured path.
    assert routes["10.244.1.0/26"]["as_path"] == [
        {"type": "sequence", "asns": [64512, 65001, 65002]}
    ]
    assert routes["10.244.1.64/26"]["as_path"] == [{"type": "sequence", "asns": [64512]}]
    # RFC 4271 5.1.5: LOCAL_PREF is never sent to an external peer.
    assert all("local_pref" not in route for route in routes.values())
    assert routes["10.244.1.0/26"]["med"] == 10
    assert addr(routes["2001:db8:1::/64"]["next_hop"]).ipv4_mapped == addr(A)
    row = peer_status(speaker_b, A)
    assert row is not None and row["asn"] == 64512


async def test_runtime_announce_and_withdraw_propagate(speakers: Speakers, sockdir: Path) -> None:
    speaker_a, speaker_b, _, b = await pair(speakers, sockdir)
    initial = {"10.244.1.0/26", "10.244.1.64/26", "2001:db8:1::/64"}
    await wait_rib_in(b.control_socket, A, initial)
    driver_b = speaker_b.peers[addr(A)]
    # RFC 4724 2: one End-of-RIB per negotiated family after the initial table.
    await wait_for(lambda: driver_b.stats.end_of_rib == {IPV4_UNICAST, IPV6_UNICAST}, what="EoR")

    speaker_a.announce("10.244.2.0/24", med=7, communities=(0xFC000001,))
    speaker_a.announce("2001:db8:2::/48")
    routes = await wait_rib_in(b.control_socket, A, initial | {"10.244.2.0/24", "2001:db8:2::/48"})
    assert routes["10.244.2.0/24"]["med"] == 7
    assert routes["10.244.2.0/24"]["communities"] == ["64512:1"]
    assert routes["10.244.2.0/24"]["next_hop"] == A

    speaker_a.withdraw("10.244.1.0/26")
    speaker_a.withdraw("2001:db8:1::/64")
    speaker_a.withdraw("10.244.99.0/24")  # never announced: nothing to do
    await wait_rib_in(b.control_socket, A, {"10.244.1.64/26", "10.244.2.0/24", "2001:db8:2::/48"})
    row_a = peer_status(speaker_a, B)
    assert row_a is not None and row_a["advertised"] == 3
    row_b = peer_status(speaker_b, A)
    assert row_b is not None and row_b["received"] == 3
    assert row_b["state"] == ESTABLISHED


# --- who may connect ------------------------------------------------------------------------------


async def test_a_stranger_is_closed_without_an_open(
    speakers: Speakers, sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    await speakers.start(a.config(b, passive=True))
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.INFO, logger="pybgp")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stranger:
        stranger.setblocking(False)
        stranger.bind((STRANGER, 0))
        async with asyncio.timeout(5):
            await loop.sock_connect(stranger, (A, a.port))
            received = b""
            while chunk := await loop.sock_recv(stranger, 4096):
                received += chunk
    assert received == b""  # EOF, and no OPEN before it
    await wait_for(
        lambda: "refused connection from 127.0.0.9" in caplog.text, what="the refusal log line"
    )
    assert [r.levelno for r in caplog.records if "127.0.0.9" in r.getMessage()] == [logging.WARNING]


async def test_configured_peer_connecting_during_start_gets_its_own_session(
    speakers: Speakers, sockdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured peer that connects while start() awaits (here: a slow control socket)
    is served by its configured driver.  It used to be accepted before the configured
    peers existed, as a dynamic neighbour whose driver was then orphaned."""
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64513, RID_B)  # nobody listens there: a's connects fail
    loop = asyncio.get_running_loop()
    fakes: list[socket.socket] = []

    async def connect_and_read_open() -> bool:
        fake = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        fakes.append(fake)
        fake.setblocking(False)
        fake.bind((B, 0))
        try:
            await loop.sock_connect(fake, (A, a.port))
        except ConnectionRefusedError:
            return False  # not listening yet
        async with asyncio.timeout(5):
            opened = await loop.sock_recv(fake, 4096)
        assert opened[18] == 1, "not answered with an OPEN"
        return True

    original = ControlServer.start
    connected_early = False

    async def slow_control_start(self: ControlServer) -> None:
        nonlocal connected_early
        await original(self)
        connected_early = await connect_and_read_open()  # peer b is quicker

    monkeypatch.setattr(ControlServer, "start", slow_control_start)
    try:
        speaker = await speakers.start(a.config(b))
        if not connected_early:
            assert await connect_and_read_open()
        hello = Open.for_speaker(64513, 9, RID_B, [Multiprotocol(1, 1)]).encode()
        await loop.sock_sendall(fakes[-1], hello + Keepalive().encode())
        row = await wait_established(speaker, B)
        assert row["dynamic"] is False
        assert len(speaker.peers) == 1
    finally:
        for fake in fakes:
            fake.close()


async def test_peer_range_accepts_a_dynamic_neighbour_and_forgets_it(
    speakers: Speakers, sockdir: Path
) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    speaker_a = await speakers.start(
        config(
            a.speaker(announce=[PLAIN_V4]),
            peer_range_toml("127.0.0.0/29", 64512, type="route reflector client"),
        )
    )
    assert speaker_a.status()["peers"] == []  # nobody until someone connects
    speaker_b = await speakers.start(b.config(a))
    row = await wait_established(speaker_a, B)
    assert row["dynamic"] is True
    assert row["type"] == "route reflector client"
    assert row["asn"] == 64512
    await wait_rib_in(b.control_socket, A, {"10.244.1.64/26"})

    await speakers.close(speaker_b)
    await wait_for(lambda: peer_status(speaker_a, B) is None, what="the dynamic peer to go")
    assert speaker_a.status()["peers"] == []


# --- administrative control -----------------------------------------------------------------------


async def test_peer_disable_enable_reset_and_close(speakers: Speakers, sockdir: Path) -> None:
    speaker_a, speaker_b, a, _ = await pair(speakers, sockdir)

    answer = await control(a.control_socket, "peer-disable", peer=B, message="maintenance window")
    assert answer == f"peer {B} disabled"
    # RFC 9003: the shutdown communication reaches the peer.
    await wait_info(speaker_b, A, "Received: Cease / Administrative Shutdown: maintenance window")
    row_a = peer_status(speaker_a, B)
    assert row_a is not None
    assert row_a["state"] == "Idle"
    assert row_a["info"] == "Administrative shutdown: maintenance window"

    await control(a.control_socket, "peer-enable", peer=B)
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)

    await control(a.control_socket, "peer-reset", peer=B)
    await wait_info(speaker_b, A, "Received: Cease / Administrative Reset")
    # A reset is not a shutdown: the session comes back by itself.
    await wait_established(speaker_a, B, timeout=8)
    await wait_established(speaker_b, A, timeout=8)

    await speakers.close(speaker_a)
    await wait_info(speaker_b, A, "Received: Cease / Administrative Shutdown: pybgp shutting down")


async def test_control_commands_name_an_unknown_peer(speakers: Speakers, sockdir: Path) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    await speakers.start(a.config(b, passive=True))
    with pytest.raises(ControlError, match=r"no peer 127\.0\.0\.7"):
        await control(a.control_socket, "peer-disable", peer="127.0.0.7")
    with pytest.raises(ControlError, match="not a peer address"):
        await control(a.control_socket, "adj-rib-in", peer="nonsense")
    assert await rib_in(a.control_socket, B) == {}


# --- hold timer -----------------------------------------------------------------------------------


async def test_hold_timer_expires_when_a_speaker_stops_reading(
    speakers: Speakers, sockdir: Path
) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    speaker_a = await speakers.start(a.config(b, hold_time=3))
    speaker_b = await speakers.start(b.config(a, hold_time=3))
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)
    link = speaker_a.peers[addr(B)].primary
    assert link.transport is not None
    # a still sends KEEPALIVEs but hears none: its hold timer runs out (RFC 4271 6.5).
    link.transport.pause_reading()
    started = asyncio.get_running_loop().time()
    row_a = await wait_info(speaker_a, B, "hold timer expired", timeout=3 + 2, ignore_case=True)
    assert asyncio.get_running_loop().time() - started >= 2.5  # not before the hold time
    assert row_a["state"] != ESTABLISHED
    # RFC 4271 6.5: the NOTIFICATION tells b why.
    await wait_info(speaker_b, A, "Received: Hold Timer Expired", timeout=2)
    # The paused connection is gone; a new one re-establishes by itself.
    await wait_established(speaker_a, B, timeout=6)
    await wait_established(speaker_b, A, timeout=6)


# --- TCP MD5 --------------------------------------------------------------------------------------


async def test_md5_same_password_establishes(speakers: Speakers, sockdir: Path) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    speaker_a = await speakers.start(a.config(b, password="mesh-secret"))
    speaker_b = await speakers.start(b.config(a, password="mesh-secret"))
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)


async def test_md5_different_passwords_never_establish(speakers: Speakers, sockdir: Path) -> None:
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    speaker_a = await speakers.start(a.config(b, password="secret-one"))
    speaker_b = await speakers.start(b.config(a, password="secret-two"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.5
    seen: set[str] = set()
    while loop.time() < deadline:  # RFC 2385: the kernel drops every unsigned segment
        for speaker, peer in ((speaker_a, B), (speaker_b, A)):
            row = peer_status(speaker, peer)
            assert row is not None
            seen.add(row["state"])
        await asyncio.sleep(0.05)
    assert seen <= {"Idle", "Connect", "Active"}
    assert seen & {"Connect", "Active"}
    assert all(row["messages"]["received"]["open"] == 0 for row in speaker_a.status()["peers"])


# --- GTSM -----------------------------------------------------------------------------------------


async def test_gtsm_on_both_ends_establishes(speakers: Speakers, sockdir: Path) -> None:
    """RFC 5082: both ends send with TTL 255 and accept only TTL >= 255 (one hop)."""
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    speaker_a = await speakers.start(a.config(b, ttl_security=1))
    speaker_b = await speakers.start(b.config(a, ttl_security=1))
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)


async def _shared_gtsm_listener(speakers: Speakers, sockdir: Path) -> tuple[Speaker, Node, Node]:
    """Speaker A, passive towards B (GTSM, one hop) and C (no GTSM): one shared listener."""
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    c = make_node(sockdir, "127.0.0.3", 64512, "198.18.0.3")
    speaker_a = await speakers.start(
        config(
            a.speaker(),
            peer_toml(B, 64512, port=b.port, passive=True, ttl_security=1),
            peer_toml(c.address, 64512, port=c.port, passive=True),
        )
    )
    return speaker_a, a, b


async def test_gtsm_peer_reaches_a_listener_shared_with_plain_peers(
    speakers: Speakers, sockdir: Path
) -> None:
    """A listens for B (GTSM) and C (none): it must still answer B's SYN with TTL 255,
    or B's own GTSM check drops the SYN-ACK."""
    speaker_a, a, b = await _shared_gtsm_listener(speakers, sockdir)
    speaker_b = await speakers.start(b.config(a, ttl_security=1))
    await wait_established(speaker_a, B)
    await wait_established(speaker_b, A)


async def test_gtsm_on_a_shared_listener_checks_the_saved_syn(
    speakers: Speakers, sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener shared by B (GTSM, one hop) and C (none) cannot drop SYNs by TTL, so it
    keeps each SYN and checks its TTL at accept: B's address two hops away (TTL 254)
    gets its connection closed before its OPEN is read, and no OPEN back (RFC 5082 3)."""
    speaker_a, a, _b = await _shared_gtsm_listener(speakers, sockdir)
    caplog.set_level(logging.INFO, logger="pybgp")
    loop = asyncio.get_running_loop()
    with socket.socket() as far:
        far.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 254)
        far.setblocking(False)
        far.bind((B, 0))
        async with asyncio.timeout(5):
            await loop.sock_connect(far, (A, a.port))  # no SYN filter on this listener
            await loop.sock_sendall(far, Open.for_speaker(64512, 9, RID_B, []).encode())
            received = b""
            while chunk := await loop.sock_recv(far, 4096):
                received += chunk
    assert received == b""
    await wait_for(lambda: "SYN arrived with TTL 254" in caplog.text, what="the GTSM log line")
    row = peer_status(speaker_a, B)
    assert row is not None and row["messages"]["received"]["open"] == 0


async def _connect_with_ttl(source: str, port: int, ttl: int) -> bool:
    """Whether a TCP connection from `source` with IP TTL `ttl` gets through."""
    loop = asyncio.get_running_loop()
    with socket.socket() as probe:
        probe.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        probe.bind((source, 0))
        probe.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(probe, (A, port)), 0.5)
        except TimeoutError:
            return False
        return True


async def test_gtsm_listener_drops_the_syn_of_a_far_sender(
    speakers: Speakers, sockdir: Path
) -> None:
    """When every peer of a family asks for GTSM the listener checks the SYN too: a
    sender whose packets arrive with TTL 254 (two hops away) never connects."""
    a = make_node(sockdir, A, 64512, RID_A)
    b = make_node(sockdir, B, 64512, RID_B)
    await speakers.start(a.config(b, ttl_security=1, passive=True))
    assert not await _connect_with_ttl(B, a.port, 254)
    assert await _connect_with_ttl(B, a.port, 255)


# --- IPv6 -----------------------------------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_ipv6_session_on_loopback(speakers: Speakers, sockdir: Path) -> None:
    """Both ends are ::1 (the only IPv6 loopback address), told apart by port only.

    That works because each speaker has just this one peer: a peer is matched by address,
    so a speaker with two peers on ::1 could not tell them apart.  b alone connects, to
    avoid a collision between two connections from the same address.
    """
    port_a, port_b = free_port("::1"), free_port("::1")
    v4_with_next_hop = '{ prefix = "10.244.1.128/26", next-hop = "198.18.0.1" }'
    v4_next_hop_self = '"10.244.1.192/26"'  # needs RFC 8950 over an IPv6 session
    speaker_a = await speakers.start(
        config(
            speaker_toml(
                asn=64512,
                router_id=RID_A,
                listen=[f"[::1]:{port_a}"],
                control_socket=sockdir / "speaker-a.sock",
                announce=[PLAIN_V6, v4_with_next_hop, v4_next_hop_self],
            ),
            peer_toml("::1", 64513, passive=True, families=BOTH),
        )
    )
    speaker_b = await speakers.start(
        config(
            speaker_toml(
                asn=64513,
                router_id=RID_B,
                listen=[f"[::1]:{port_b}"],
                control_socket=sockdir / "speaker-b.sock",
            ),
            peer_toml("::1", 64512, port=port_a, families=BOTH),
        )
    )
    row = await wait_established(speaker_b, "::1")
    assert row["families"] == BOTH
    assert row["peer_id"] == RID_A
    wanted = {"2001:db8:1::/64", "10.244.1.128/26", "10.244.1.192/26"}
    routes = await wait_rib_in(sockdir / "speaker-b.sock", "::1", wanted)
    assert routes["2001:db8:1::/64"]["next_hop"] == "::1"
    assert routes["2001:db8:1::/64"]["as_path"] == [{"type": "sequence", "asns": [64512]}]
    assert routes["10.244.1.128/26"]["next_hop"] == "198.18.0.1"
    # RFC 8950: an IPv4 route whose next hop is our IPv6 address, in MP_REACH_NLRI.
    assert routes["10.244.1.192/26"]["family"] == "ipv4"
    assert routes["10.244.1.192/26"]["next_hop"] == "::1"
    status_a = peer_status(speaker_a, "::1")
    assert status_a is not None and status_a["state"] == ESTABLISHED
