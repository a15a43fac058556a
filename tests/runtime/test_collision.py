"""Connection collisions (RFC 4271 6.8) between two real speakers on loopback.

Both speakers are active and start in the same loop iteration, so each connects to the
other at once and each peer has two connections.  Whatever the timing, exactly one
session per peer must survive on each side, and it must be the connection that the
speaker with the higher BGP Identifier opened.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from pybgp.runtime.peer import PeerDriver
from pybgp.runtime.speaker import Speaker
from pybgp.session import State
from pybgp.wire.nlri import prefix_str

from .helpers import Node, Speakers, make_node, wait_for

A, B = "127.0.0.1", "127.0.0.2"
LOW_ID, HIGH_ID = "198.18.0.1", "198.18.0.2"
ITERATIONS = 20


def only_driver(speaker: Speaker) -> PeerDriver:
    assert len(speaker.peers) == 1, f"{len(speaker.peers)} drivers for one peer"
    return next(iter(speaker.peers.values()))


def settled(speaker: Speaker) -> bool:
    """One Established session and no second connection pending."""
    driver = only_driver(speaker)
    return driver.session.state is State.ESTABLISHED and driver.secondary is None


def endpoints(driver: PeerDriver) -> tuple[tuple[str, int], tuple[str, int]]:
    """(local, remote) (address, port) of the driver's one connection."""
    transport = driver.primary.transport
    assert transport is not None, "the Established session has no connection"
    sock = transport.get_extra_info("socket")
    local = sock.getsockname()
    remote = sock.getpeername()
    return (local[0], local[1]), (remote[0], remote[1])


async def collide(speakers: Speakers, a: Node, b: Node, prefix_a: str, prefix_b: str) -> None:
    speaker_a, speaker_b = await speakers.start_together(
        a.config(b, announce=[f'"{prefix_a}"']), b.config(a, announce=[f'"{prefix_b}"'])
    )
    await wait_for(lambda: settled(speaker_a) and settled(speaker_b), what="one session each")
    driver_a, driver_b = only_driver(speaker_a), only_driver(speaker_b)
    # One TCP connection: each side's local end is the other's remote end.
    local_a, remote_a = endpoints(driver_a)
    local_b, remote_b = endpoints(driver_b)
    assert (local_a, remote_a) == (remote_b, local_b)
    # RFC 4271 6.8: the connection opened by the higher BGP Identifier survives.
    a_is_higher = ipaddress.IPv4Address(a.router_id) > ipaddress.IPv4Address(b.router_id)
    assert driver_a.session.outgoing is a_is_higher
    assert driver_b.session.outgoing is not a_is_higher
    # It is the first session either side had: no flap, no NOTIFICATION on it.
    for driver in (driver_a, driver_b):
        counters = driver.session.counters
        assert (counters.sent["open"], counters.received["open"]) == (1, 1)
        assert counters.sent["notification"] == counters.received["notification"] == 0
    # Routes flow both ways over it.
    await wait_for(lambda: len(driver_b.adj_in) == 1 and len(driver_a.adj_in) == 1, what="routes")
    assert prefixes(driver_a) == {prefix_b}
    assert prefixes(driver_b) == {prefix_a}
    await speakers.close_all()


def prefixes(driver: PeerDriver) -> set[str]:
    return {prefix_str(route.key, route.family[0]) for route in driver.adj_in.routes()}


@pytest.mark.parametrize("a_id, b_id", [(LOW_ID, HIGH_ID), (HIGH_ID, LOW_ID)])
async def test_simultaneous_start_keeps_the_higher_ids_connection(
    speakers: Speakers, sockdir: Path, caplog: pytest.LogCaptureFixture, a_id: str, b_id: str
) -> None:
    """a starts first each time; which of a and b has the higher id alternates."""
    caplog.set_level(logging.INFO, logger="pybgp.peer")
    for iteration in range(ITERATIONS // 2):
        a = make_node(sockdir, A, 64512, a_id)
        b = make_node(sockdir, B, 64513, b_id)
        await collide(speakers, a, b, f"10.1.{iteration}.0/24", f"10.2.{iteration}.0/24")
    # The runs did collide (rather than one connection simply coming first).
    assert "connection collision, closing the" in caplog.text
