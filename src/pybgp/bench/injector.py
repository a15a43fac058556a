"""The injector of ``pybgp bench reflect``: one iBGP client that sends prefixes fast.

Run inside a lab namespace as ``python -m pybgp.bench.injector ARGS``.  Everything it
will send is built before it connects: prefixes ``0 .. N-1`` (see :mod:`pybgp.bench.bgp`)
in UPDATEs of 500, so sending is one ``sendall`` of a prepared buffer and the injector is
never the bottleneck (``pybgp bench reflect --targets direct`` measures it).

It connects, completes the handshake, prints ``{"event": "up"}``, then performs one step
of ``--steps`` per SIGUSR1 from the harness (sigwait: no handler, no race):

``announce``   send every announcement;
``withdraw``   send a withdrawal of every prefix;
``close``      close the TCP connection without a NOTIFICATION (a flap);
``reconnect``  connect again (retrying while the target still refuses) and resend the
               announcements at once.

Each step prints one JSON line with ``time.monotonic()`` stamps (CLOCK_MONOTONIC: the
harness compares them with the sink's).  A thread reads and discards whatever the target
sends (routes reflected from other injectors), so the target never blocks on us, and
sends a KEEPALIVE every hold-time / 3 s; one lock keeps it from cutting into an UPDATE.

With ``--injectors I --index i`` (the 10-injector scenario) all injectors send the same
prefixes; block ``b`` of 500 gets LOCAL_PREF ``100 + (i + b) % I``, so exactly one
injector wins each block (:func:`winner`), and injector ``i`` sends its blocks starting
at block ``i * blocks / I``, so the winner is rarely the first to arrive and best paths
change on the way.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

from . import bgp


def local_pref(index: int, block: int, injectors: int) -> int:
    """LOCAL_PREF of injector ``index`` for block ``block`` of 500 prefixes."""
    return 100 + (index + block) % injectors


def winner(block: int, injectors: int) -> int:
    """The injector whose path to block ``block`` is best (highest LOCAL_PREF)."""
    return (injectors - 1 - block) % injectors


def build(prefixes: int, next_hop: str, index: int = 0, injectors: int = 1) -> tuple[bytes, bytes]:
    """(announcements, withdrawals) for prefixes ``0 .. prefixes-1``, 500 per UPDATE."""
    blocks = []
    for block, start in enumerate(range(0, prefixes, bgp.PER_UPDATE)):
        field = bgp.nlri(start, min(bgp.PER_UPDATE, prefixes - start))
        blocks.append((block, field))
    first = index * len(blocks) // injectors
    order = blocks[first:] + blocks[:first]
    ann = b"".join(bgp.announce(f, next_hop, local_pref(index, b, injectors)) for b, f in order)
    wdr = b"".join(bgp.withdraw(f) for _, f in blocks)
    return ann, wdr


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class Connection:
    """One BGP session to the target and the thread that drains it."""

    def __init__(self, source: str, target: tuple[str, int], hello: bytes, hold: int) -> None:
        self.sock = socket.create_connection(target, timeout=5, source_address=(source, 0))
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bgp.handshake(self.sock, hello)
        self.lock = threading.Lock()
        self.closing = False
        self.interval = max(1, hold // 3)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def send(self, data: bytes) -> tuple[float, float]:
        """Send ``data``; return (monotonic before the first octet, after the last)."""
        with self.lock:
            first = time.monotonic()
            self.sock.sendall(data)
            return first, time.monotonic()

    def close(self) -> float:
        """Close without a NOTIFICATION; return when the FIN went out."""
        self.closing = True
        with self.lock:
            when = time.monotonic()
            self.sock.shutdown(socket.SHUT_RDWR)
        self.reader.join(5)
        self.sock.close()
        return when

    def _drain(self) -> None:
        received = 0
        last_keepalive = time.monotonic()
        frames = bgp.Frames()
        try:
            while True:
                ready = select.select([self.sock], [], [], 1.0)[0]
                if ready:
                    data = self.sock.recv(1 << 20)
                    if not data:
                        if not self.closing:
                            emit(event="eof", received=received, t=time.monotonic())
                        return
                    received += len(data)
                    for kind, body in frames.feed(data):
                        if kind == bgp.NOTIFICATION:
                            emit(event="notification", hex=bytes(body).hex(), t=time.monotonic())
                now = time.monotonic()
                if now - last_keepalive >= self.interval and self.lock.acquire(blocking=False):
                    try:
                        self.sock.sendall(bgp.KEEPALIVE)
                    finally:
                        self.lock.release()
                    last_keepalive = now
        except (OSError, ValueError):
            if not self.closing:
                raise


def connect_retrying(
    source: str, target: tuple[str, int], hello: bytes, hold: int, patience: float
) -> Connection:
    """Connect until the target takes us (BIRD refuses a peer for a while after a drop)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return Connection(source, target, hello, hold)
        except (OSError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fast iBGP injector for pybgp bench reflect")
    parser.add_argument("--source", required=True, help="our address (and NEXT_HOP)")
    parser.add_argument("--target", required=True, help="the reflector's address")
    parser.add_argument("--port", type=int, default=179)
    parser.add_argument("--prefixes", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--injectors", type=int, default=1)
    parser.add_argument("--steps", default="announce", help="comma-separated, one per SIGUSR1")
    parser.add_argument("--hold", type=int, default=bgp.HOLD_TIME)
    parser.add_argument("--no-graceful-restart", action="store_true")
    args = parser.parse_args(argv)

    # Before anything else: SIGUSR1 would otherwise kill us if the harness is quick.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    started = time.monotonic()
    ann, wdr = build(args.prefixes, args.source, args.index, args.injectors)
    hello = bgp.open_message(args.source, not args.no_graceful_restart, args.hold)
    emit(event="built", octets=len(ann), seconds=round(time.monotonic() - started, 3))
    target = (args.target, args.port)
    conn = connect_retrying(args.source, target, hello, args.hold, 30)
    emit(event="up", t=time.monotonic())
    for step in args.steps.split(","):
        signal.sigwait({signal.SIGUSR1})
        if step == "announce":
            first, last = conn.send(ann)
            emit(event="sent", step=step, t_first=first, t_last=last)
        elif step == "withdraw":
            first, last = conn.send(wdr)
            emit(event="sent", step=step, t_first=first, t_last=last)
        elif step == "close":
            emit(event="closed", step=step, t=conn.close())
        elif step == "reconnect":
            asked = time.monotonic()
            conn = connect_retrying(args.source, target, hello, args.hold, 120)
            up = time.monotonic()
            first, last = conn.send(ann)
            emit(event="sent", step=step, t_asked=asked, t_up=up, t_first=first, t_last=last)
        else:
            emit(event="error", message=f"unknown step {step!r}")
            return 2
    while True:  # keep the session until the harness stops us (SIGTERM)
        signal.sigwait({signal.SIGUSR1})


if __name__ == "__main__":
    sys.exit(main())
