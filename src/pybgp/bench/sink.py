"""The sink of ``pybgp bench reflect``: an iBGP client that counts what the reflector sends.

Run inside a lab namespace as ``python -m pybgp.bench.sink ARGS``.  It connects to the
target (or, with ``--listen``, waits for the injector itself: the calibration run without
a reflector), completes the handshake and prints ``{"event": "up"}``, then reads.

Counting costs no Python work per prefix: an NLRI or withdrawn-routes field of /28s is
``len // 5`` prefixes once a strided slice has checked the length octets
(:func:`pybgp.bench.bgp.count`); IPv4 unicast inside MP_REACH / MP_UNREACH counts too.
Each time the announcements counted reach another multiple of ``--prefixes`` it prints
``{"event": "announced", "count", "t"}`` (``t`` = ``time.monotonic()`` just after the
read that completed it), and likewise ``"withdrawn"``; so a flap shows as N announced,
N withdrawn, 2N announced.  Every second with news it prints a ``"progress"`` line, which
is how the harness tells how far a run got when it timed out.

``--track ADDR,ADDR,...`` (the 10-injector scenario) keeps the final view instead: a
dict prefix -> NEXT_HOP, filled with ``dict.update(zip(keys, repeat(nh)))`` (C loops),
and prints ``{"event": "converged", "t"}`` once it equals the expected view, where
block ``b`` of 500 prefixes has the NEXT_HOP of injector
:func:`pybgp.bench.injector.winner`.  The comparison runs only when the socket is
drained and the view holds all prefixes, and ``t`` is the time of the read that made the
last change.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import socket
import sys
import time
from collections.abc import Sequence
from itertools import repeat

from . import bgp
from .injector import winner


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def expected_view(prefixes: int, injectors: Sequence[str]) -> dict[int, bytes]:
    """Prefix key -> the NEXT_HOP the reflector's best path to it must carry."""
    hops = [ipaddress.IPv4Address(a).packed for a in injectors]
    return {bgp.key(k): hops[winner(k // bgp.PER_UPDATE, len(injectors))] for k in range(prefixes)}


def open_session(args: argparse.Namespace, hello: bytes) -> tuple[socket.socket, bytes]:
    if args.listen:
        server = socket.create_server((args.source, args.port))
        sock, _ = server.accept()
        server.close()
    else:
        sock = socket.create_connection(
            (args.target, args.port), timeout=10, source_address=(args.source, 0)
        )
        sock.settimeout(None)
    return sock, bgp.handshake(sock, hello)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="counting iBGP sink for pybgp bench reflect")
    parser.add_argument("--source", required=True, help="our address")
    parser.add_argument("--target", help="the reflector's address")
    parser.add_argument("--listen", action="store_true", help="accept instead of connecting")
    parser.add_argument("--port", type=int, default=179)
    parser.add_argument("--prefixes", type=int, required=True, help="milestone step")
    parser.add_argument("--track", help="injector addresses: check the final view")
    parser.add_argument("--hold", type=int, default=bgp.HOLD_TIME)
    args = parser.parse_args(argv)

    expected = expected_view(args.prefixes, args.track.split(",")) if args.track else None
    view: dict[int, bytes] = {}
    sock, pending = open_session(args, bgp.open_message(args.source, True, args.hold))
    emit(event="up", t=time.monotonic())

    step = args.prefixes
    announced = withdrawn = updates = 0
    next_ann, next_wdr = step, step
    frames = bgp.Frames()
    last_keepalive = last_progress = time.monotonic()
    t_data = t_change = 0.0
    reported = (0, 0)
    dirty = False
    interval = max(1, args.hold // 3)
    while True:
        if pending:
            data, pending = pending, b""
        else:
            ready = select.select([sock], [], [], 0 if dirty else 1.0)[0]
            data = sock.recv(1 << 20) if ready else None
        now = time.monotonic()
        if data == b"":
            emit(event="eof", announced=announced, withdrawn=withdrawn, t=now)
            return 1
        if data:
            t_data = now
            for kind, body in frames.feed(data):
                if kind == bgp.UPDATE:
                    updates += 1
                    wfield, attrs, nfield = bgp.split_update(body)
                    fields = [(False, wfield), (True, nfield)]
                    hop = b""
                    if attrs:
                        for code, value in bgp.attributes(attrs):
                            if code == bgp.NEXT_HOP:
                                hop = bytes(value)
                            elif code in (bgp.MP_REACH, bgp.MP_UNREACH):
                                inner = bgp.mp_ipv4(code, value)
                                if inner is not None:
                                    fields.append((code == bgp.MP_REACH, inner))
                                    if code == bgp.MP_REACH:
                                        hop = bytes(value[4 : 4 + min(4, value[3])])
                    for is_reach, field in fields:
                        if not field:
                            continue
                        if is_reach:
                            announced += bgp.count(field)
                        else:
                            withdrawn += bgp.count(field)
                        if expected is not None:
                            if is_reach:
                                view.update(zip(bgp.keys(field), repeat(hop)))
                            else:
                                for k in bgp.keys(field):
                                    view.pop(k, None)
                            dirty, t_change = True, now
                elif kind == bgp.NOTIFICATION:
                    emit(event="notification", hex=bytes(body).hex(), t=now)
                    return 1
            while announced >= next_ann:
                emit(event="announced", count=next_ann, t=now)
                next_ann += step
            while withdrawn >= next_wdr:
                emit(event="withdrawn", count=next_wdr, t=now)
                next_wdr += step
        elif data is None and dirty:  # drained: is the view final?
            dirty = False
            if expected is not None and len(view) == len(expected) and view == expected:
                emit(event="converged", t=t_change, announced=announced, withdrawn=withdrawn)
        if now - last_keepalive >= interval:
            sock.sendall(bgp.KEEPALIVE)
            last_keepalive = now
        if now - last_progress >= 1.0 and (announced, withdrawn) != reported:
            extra = {}
            if expected is not None:
                extra["correct"] = sum(1 for k, v in view.items() if expected.get(k) == v)
            emit(
                event="progress",
                announced=announced,
                withdrawn=withdrawn,
                updates=updates,
                t_data=t_data,
                **extra,
            )
            reported, last_progress = (announced, withdrawn), now


if __name__ == "__main__":
    sys.exit(main())
