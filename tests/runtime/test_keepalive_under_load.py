"""Keepalives keep flowing while a large table streams to a slow peer.

The failure users of ExaBGP and GoBGP report most: the speaker is busy sending a big
table, its KEEPALIVEs queue behind the UPDATEs, and a peer that is slow to read (or
counts only KEEPALIVEs) lets its HoldTimer expire.
pybgp sends control messages before UPDATEs (session.data_to_send), lets UPDATEs into
the transport only while it holds little (link.WRITE_HIGH) and caps the kernel's
unsent queue (TCP_NOTSENT_LOWAT), so a KEEPALIVE waits behind about 128 KiB at most.

Here a raw test peer with a small receive buffer reads a 150,000-route table 16 KiB
every 80 ms, a transfer of several seconds with hold time 3 s, and times every
KEEPALIVE.  With the buffers unbounded (link.WRITE_HIGH and NOTSENT_LOWAT at 64 MiB)
this test fails: the only keepalive gap is the whole transfer, about 5 s.
"""

from __future__ import annotations

from pathlib import Path

from pybgp.lab.rawpeer import read_table
from pybgp.runtime.speaker import Speaker

from .helpers import free_port, table_config

ROUTES = 150_000
HOLD_TIME = 3
READ_CHUNK = 16 * 1024
READ_PAUSE = 0.08  # at most 200 KB/s


async def test_keepalives_reach_a_slow_peer_during_a_large_table(tmp_path: Path) -> None:
    port = free_port()
    config = table_config(port, ROUTES, HOLD_TIME, peer="127.0.0.5")
    async with Speaker(config, control=False) as speaker:
        seen = await read_table(
            "127.0.0.5",
            ("127.0.0.1", port),
            asn=64512,
            router_id="198.18.0.9",
            hold_time=HOLD_TIME,
            chunk=READ_CHUNK,
            pause=READ_PAUSE,
        )
        peer = next(iter(speaker.peers.values()))
        assert peer.status()["advertised"] == ROUTES
    # The table took several keepalive intervals to get through...
    assert seen.transfer > 3 * 1.0, f"table arrived in {seen.transfer:.1f}s: too fast to tell"
    # ...and keepalives kept arriving all along, well within the hold time.
    assert len(seen.keepalives_during()) >= seen.transfer / 2.5
    # The peer's HoldTimer restarts on every KEEPALIVE (RFC 4271 6.5): gaps must stay
    # below it.  Without the priority and the bounded buffers the gap is the whole table.
    worst = seen.worst_gap()
    assert worst < HOLD_TIME, f"a {worst:.2f}s gap between keepalives"
