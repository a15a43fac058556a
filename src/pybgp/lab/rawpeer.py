"""A bare BGP peer on a raw socket, for measuring how a speaker sends.

`read_table` opens a session to a speaker, then reads slowly (a small receive buffer,
`chunk` octets every `pause` seconds) and notes when each KEEPALIVE arrives, until the
End-of-RIB for IPv4 unicast.  It answers the speaker's keepalives with its own so the
speaker keeps the session.  Used by the keepalive-under-load test and benchmark; it
speaks only to the address it is given (loopback, or a lab namespace).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from dataclasses import dataclass, field

from pybgp.wire import MessageType
from pybgp.wire.capabilities import Capability, GracefulRestart, Multiprotocol
from pybgp.wire.constants import Afi, Safi
from pybgp.wire.messages import Keepalive, MessageReader
from pybgp.wire.open import Open
from pybgp.wire.update import decode_update

# What the reader's OPEN announces besides its AS (Open.for_speaker adds Four-Octet AS):
# - Multiprotocol IPv4 unicast (RFC 4760 8): BIRD 2 refuses an OPEN whose capabilities
#   lack it ("Required capability missing");
# - Graceful Restart with no families, a "receiving speaker" (RFC 4724 3): FRR and GoBGP
#   send the End-of-RIB that ends the reading only to a peer that announces it.
READER_CAPABILITIES: list[Capability] = [
    Multiprotocol(Afi.IPV4, Safi.UNICAST),
    GracefulRestart(0, 120),
]


@dataclass
class TableArrival:
    """What a slow reader saw, on `time.monotonic()`."""

    keepalives: list[float] = field(default_factory=list)
    first_update: float = 0.0
    end_of_rib: float = 0.0

    @property
    def transfer(self) -> float:
        return self.end_of_rib - self.first_update

    def keepalives_during(self) -> list[float]:
        return [t for t in self.keepalives if self.first_update <= t <= self.end_of_rib]

    def worst_gap(self) -> float:
        """The longest wait for a KEEPALIVE while the table was arriving."""
        marks = [self.first_update, *self.keepalives_during(), self.end_of_rib]
        return max(b - a for a, b in itertools.pairwise(marks))


async def read_table(
    source: str,
    target: tuple[str, int],
    *,
    asn: int,
    router_id: str,
    hold_time: int,
    chunk: int = 16 * 1024,
    pause: float = 0.08,
) -> TableArrival:
    """Connect from `source` to `target`, and read the speaker's table slowly."""
    loop = asyncio.get_running_loop()
    seen = TableArrival()
    sock = socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, chunk)
    try:
        sock.bind((source, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, target)
        hello = Open.for_speaker(asn, hold_time, router_id, READER_CAPABILITIES).encode()
        hello += Keepalive().encode()
        await loop.sock_sendall(sock, hello)
        reader = MessageReader(65535)
        last_sent = time.monotonic()
        while not seen.end_of_rib:
            data = await asyncio.wait_for(loop.sock_recv(sock, chunk), hold_time * 2)
            if not data:
                raise ConnectionError("the speaker closed the session")
            now = time.monotonic()
            reader.feed(data)
            for kind, body in reader.frames():
                if kind == MessageType.NOTIFICATION:
                    raise ConnectionError(f"NOTIFICATION {body.hex()}")
                if kind == MessageType.KEEPALIVE:
                    seen.keepalives.append(now)
                elif kind == MessageType.UPDATE:
                    seen.first_update = seen.first_update or now
                    if len(body) == 4 and decode_update(body).end_of_rib():
                        seen.end_of_rib = now
            if now - last_sent > 1:  # our own keepalives, so the speaker keeps us
                await loop.sock_sendall(sock, Keepalive().encode())
                last_sent = now
            await asyncio.sleep(pause)
    finally:
        sock.close()
    return seen
