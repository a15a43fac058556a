"""Keepalives keep flowing while a large table streams to a slow peer.

The failure users of ExaBGP and GoBGP report most: the speaker is busy sending a big
table, its KEEPALIVEs queue behind the UPDATEs, and the peer's HoldTimer expires.
pybgp sends control messages before UPDATEs (session.data_to_send), lets UPDATEs into
the transport only while it holds little (link.WRITE_HIGH) and caps the kernel's
unsent queue (TCP_NOTSENT_LOWAT), so a KEEPALIVE waits behind about 128 KiB at most.

Here a raw test peer with a small receive buffer reads a 150,000-route table 16 KiB
every 80 ms, a transfer of several seconds with hold time 3 s, and times every
KEEPALIVE.  With the buffers unbounded (link.WRITE_HIGH and NOTSENT_LOWAT at 64 MiB)
this test fails: the only keepalive gap is the whole transfer, about 5 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import time

from pybgp.config import Announcement, Config, PeerConfig, SpeakerConfig, Timers
from pybgp.runtime.speaker import Speaker
from pybgp.wire import MessageType
from pybgp.wire.messages import Keepalive, MessageReader
from pybgp.wire.open import Open
from pybgp.wire.update import decode_update

ROUTES = 150_000
HOLD_TIME = 3
READ_CHUNK = 16 * 1024
READ_PAUSE = 0.08  # at most 200 KB/s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(port: int, control: str) -> Config:
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    announce = tuple(
        Announcement(ipaddress.IPv4Network((base + (i << 6), 26))) for i in range(ROUTES)
    )
    timers = Timers(hold_time=HOLD_TIME, keepalive_time=1, connect_retry=1)
    return Config(
        speaker=SpeakerConfig(
            asn=64512,
            router_id="198.18.0.1",
            listen=(("127.0.0.1", port),),
            control_socket=control,
            timers=timers,
            announce=announce,
        ),
        peers=(PeerConfig(ipaddress.IPv4Address("127.0.0.5"), 64512, passive=True, timers=timers),),
    )


async def _slow_peer(port: int) -> tuple[list[float], float, float]:
    """Connect as 127.0.0.5, read slowly; (KEEPALIVE times, first UPDATE, End-of-RIB)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READ_CHUNK)
    sock.bind(("127.0.0.5", 0))
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    hello = Open.for_speaker(64512, HOLD_TIME, "198.18.0.9", []).encode() + Keepalive().encode()
    await loop.sock_sendall(sock, hello)
    reader = MessageReader(65535)
    keepalives: list[float] = []
    first_update = end_of_rib = 0.0
    last_sent = time.monotonic()
    try:
        while not end_of_rib:
            data = await asyncio.wait_for(loop.sock_recv(sock, READ_CHUNK), HOLD_TIME * 2)
            assert data, "pybgp closed the session"
            now = time.monotonic()
            reader.feed(data)
            for kind, body in reader.frames():
                assert kind != MessageType.NOTIFICATION, body.hex()
                if kind == MessageType.KEEPALIVE:
                    keepalives.append(now)
                elif kind == MessageType.UPDATE:
                    first_update = first_update or now
                    if len(body) == 4 and decode_update(body).end_of_rib():
                        end_of_rib = now
            if now - last_sent > 1:  # our own keepalives, so pybgp keeps us too
                await loop.sock_sendall(sock, Keepalive().encode())
                last_sent = now
            await asyncio.sleep(READ_PAUSE)
    finally:
        sock.close()
    return keepalives, first_update, end_of_rib


async def test_keepalives_reach_a_slow_peer_during_a_large_table(tmp_path) -> None:
    port = _free_port()
    config = _config(port, str(tmp_path / "c.sock"))
    async with Speaker(config, control=False) as speaker:
        keepalives, first_update, end_of_rib = await _slow_peer(port)
        peer = next(iter(speaker.peers.values()))
        assert peer.stats.advertised == ROUTES
    transfer = end_of_rib - first_update
    # The table took several keepalive intervals to get through...
    assert transfer > 3 * 1.0, f"table arrived in {transfer:.1f}s: too fast to tell"
    # ...and keepalives kept arriving all along, well within the hold time.
    during = [t for t in keepalives if first_update <= t <= end_of_rib]
    assert len(during) >= transfer / 2.5, (len(during), transfer)
    marks = [first_update, *during, end_of_rib]
    worst = max(b - a for a, b in itertools.pairwise(marks))
    # The peer's HoldTimer restarts on every KEEPALIVE (RFC 4271 6.5): gaps must stay
    # below it.  Without the priority and the bounded buffers the gap is the whole table.
    assert worst < HOLD_TIME, f"a {worst:.2f}s gap between keepalives"
