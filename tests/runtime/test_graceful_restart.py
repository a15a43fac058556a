"""Graceful restart, receiving speaker (RFC 4724 4.2): a restarting peer's routes stay
(stale) until its End-of-RIB or its restart time, and only those it did not re-send go.

The restarting peer is a raw BGP speaker written here with the codec, so that it can
do what a restart does to a session: vanish without a NOTIFICATION, and come back with
the Restart State and Forwarding State bits set.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from pybgp.config import Config
from pybgp.runtime.speaker import Speaker
from pybgp.session import State
from pybgp.wire import Keepalive, Open, PathAttributes, Update
from pybgp.wire.capabilities import GracefulRestart, Multiprotocol
from pybgp.wire.constants import IPV4_UNICAST, Afi, Safi
from pybgp.wire.messages import MessageReader, MessageType
from pybgp.wire.nlri import prefix_key
from tests.runtime.helpers import config, free_port, peer_toml, speaker_toml, wait_for

US, PEER = "127.0.0.71", "127.0.0.72"
P1, P2 = prefix_key("10.244.1.0/26"), prefix_key("10.244.2.0/26")
ATTRS = PathAttributes(origin=0, as_path=(), next_hop=bytes([198, 18, 0, 72]), local_pref=100)


class RawPeer:
    """One session of the restarting peer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, port: int, restart_time: int, restarting: bool) -> RawPeer:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.bind((PEER, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (US, port))
        # RFC 4724 3: Restart State (0x8) after a restart; F bit (0x80) for IPv4 unicast.
        capability = GracefulRestart(0x8 if restarting else 0, restart_time, ((1, 1, 0x80),))
        hello = Open.for_speaker(
            64512, 90, "198.18.0.72", [Multiprotocol(Afi.IPV4, Safi.UNICAST), capability]
        )
        await loop.sock_sendall(sock, hello.encode() + Keepalive().encode())
        peer = cls(sock)
        await peer.read_until(MessageType.KEEPALIVE)
        return peer

    async def read_until(self, wanted: MessageType) -> None:
        reader = MessageReader(65535)
        loop = asyncio.get_running_loop()
        while True:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65535), 5)
            assert data, "the speaker closed the session"
            reader.feed(data)
            if any(kind == wanted for kind, _ in reader.frames()):
                return

    async def send(self, *updates: Update) -> None:
        data = b"".join(update.encode() for update in updates)
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def vanish(self) -> None:
        """A restart: the connection is gone, with no NOTIFICATION (RST)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        self.sock.close()


def node(sockdir: Path, port: int) -> Config:
    return config(
        speaker_toml(
            asn=64512,
            router_id="198.18.0.71",
            listen=[f"{US}:{port}"],
            control_socket=sockdir / "gr.sock",
        ),
        "graceful-restart-time = 120\n",
        peer_toml(PEER, 64512, passive=True),
    )


def best(speaker: Speaker) -> set[bytes]:
    return {key for key, _ in speaker.rib.table(IPV4_UNICAST)}


async def test_routes_stay_through_a_restart_and_unsent_ones_go_at_end_of_rib(
    sockdir: Path,
) -> None:
    port = free_port(US)
    async with Speaker(node(sockdir, port), control=False) as speaker:
        peer = await RawPeer.connect(port, restart_time=120, restarting=False)
        await peer.send(Update(attributes=ATTRS, nlri=[P1, P2]))
        await wait_for(lambda: best(speaker) == {P1, P2}, what="both routes")
        driver = next(iter(speaker.peers.values()))

        peer.vanish()
        await wait_for(lambda: driver.retention is not None, what="the session to go down")
        assert best(speaker) == {P1, P2}  # kept, stale: the kernel keeps forwarding
        assert driver.retention is not None and driver.retention.count == 2

        # The session waits out its IdleHoldTime (RFC 4271 8.1.1), then accepts again.
        await wait_for(lambda: driver.session.state is State.ACTIVE, what="accepting again")
        back = await RawPeer.connect(port, restart_time=120, restarting=True)
        await back.send(Update(attributes=ATTRS, nlri=[P1]), Update())  # P1, End-of-RIB
        await wait_for(lambda: best(speaker) == {P1}, what="P2 (not re-sent) removed")
        assert driver.retention is None
        back.vanish()


async def test_the_restart_time_bounds_the_wait(sockdir: Path) -> None:
    port = free_port(US)
    async with Speaker(node(sockdir, port), control=False) as speaker:
        peer = await RawPeer.connect(port, restart_time=1, restarting=False)
        await peer.send(Update(attributes=ATTRS, nlri=[P1]))
        await wait_for(lambda: best(speaker) == {P1}, what="the route")
        peer.vanish()
        await wait_for(
            lambda: next(iter(speaker.peers.values())).retention is not None, what="down"
        )
        assert best(speaker) == {P1}
        # The peer never comes back: after its restart time (1 s) the route goes.
        await wait_for(lambda: best(speaker) == set(), what="the stale route gone", timeout=5)


async def test_a_notification_ends_the_session_the_ordinary_way(sockdir: Path) -> None:
    """RFC 4724 (without RFC 8538): no retention when the session ends with a
    NOTIFICATION, here a Cease from the peer."""
    port = free_port(US)
    async with Speaker(node(sockdir, port), control=False) as speaker:
        peer = await RawPeer.connect(port, restart_time=120, restarting=False)
        await peer.send(Update(attributes=ATTRS, nlri=[P1]))
        await wait_for(lambda: best(speaker) == {P1}, what="the route")
        cease = bytes.fromhex("ffffffffffffffffffffffffffffffff0015030602")
        await asyncio.get_running_loop().sock_sendall(peer.sock, cease)
        await wait_for(lambda: best(speaker) == set(), what="the route withdrawn at once")
        assert next(iter(speaker.peers.values())).retention is None
        peer.sock.close()
