"""A one-packet ICMP echo for the lab's pods, for machines without iputils `ping`.

    ip netns exec POD python -m pybgp.lab.cluster_ping 10.244.85.193 [TIMEOUT]

The lab prefers the system's `ping`; a minimal Debian image has none, and the lab must
not depend on a package only to send one echo request.  It prints what `ping -n -c 1`
prints on the lines the lab shows, and exits 0 when answered, 1 when not (as ping).
Needs root (a raw socket), which the lab has anyway.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time

ECHO_REQUEST, ECHO_REPLY = 8, 0


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo(target: str, timeout: float = 1.0) -> float | None:
    """Send one echo request to `target`; the round trip in ms, or None without answer."""
    ident, payload = os.getpid() & 0xFFFF, b"pybgp-lab" * 6
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, 1)
    packet = struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sent = time.monotonic()
        sock.sendto(packet + payload, (target, 0))
        deadline = sent + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, (source, _) = sock.recvfrom(2048)
            start = (data[0] & 0x0F) * 4  # past the IPv4 header
            kind, _, _, got_id, _ = struct.unpack("!BBHHH", data[start : start + 8])
            if kind == ECHO_REPLY and got_id == ident and source == target:
                return (time.monotonic() - sent) * 1000
    return None


def main(argv: list[str]) -> int:
    target = argv[0]
    timeout = float(argv[1]) if len(argv) > 1 else 1.0
    rtt = echo(target, timeout)
    if rtt is not None:
        print(f"64 bytes from {target}: icmp_seq=1 time={rtt:.3f} ms")
    received = int(rtt is not None)
    loss = 100 - 100 * received
    print(f"1 packets transmitted, {received} received, {loss}% packet loss")
    return 0 if received else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
