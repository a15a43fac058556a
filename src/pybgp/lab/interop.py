"""The interop lab: `pybgp speak` peering with BIRD 2, GoBGP, FRR and ExaBGP at once.

One hub namespace holds pybgp on a bridge (198.18.0.1/24, 2001:db8::1/64); each daemon
sits in its own namespace on that bridge and has two sessions with pybgp, one over
IPv4 (IPv4 routes) and one over IPv6 (IPv6 routes).  BIRD and FRR are internal peers
(AS 64512, as in a Calico mesh); GoBGP and ExaBGP are external.  Every speaker
announces one IPv4 and one IPv6 prefix with MED, communities and large communities,
so a test can check that attributes arrive intact both ways.

    python -m pybgp.lab.interop          # build it, print `pybgp status`, tear it down
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pybgp.lab.daemon import DAEMONS, Neighbor, PeerDaemon, Route
from pybgp.lab.netns import Lab, Namespace
from pybgp.lab.speaker import Pybgp

PYBGP_ASN = 64512
PYBGP_V4 = "198.18.0.1"
PYBGP_V6 = "2001:db8::1"
# name -> (AS, host number on the lab's subnets)
PEERS: dict[str, tuple[int, int]] = {
    "bird": (64512, 2),
    "gobgp": (64513, 3),
    "frr": (64512, 4),
    "exabgp": (64515, 5),
}
PYBGP_ROUTES = (
    Route("10.244.100.0/26", med=7, communities=("64512:100",), large_communities=("64512:100:1",)),
    Route(
        "2001:db8:100::/48", med=7, communities=("64512:100",), large_communities=("64512:100:1",)
    ),
)


def v4(host: int) -> str:
    return f"198.18.0.{host}"


def v6(host: int) -> str:
    return f"2001:db8::{host}"


def daemon_routes(name: str) -> tuple[Route, Route]:
    """What daemon `name` announces: attributes chosen from its host number."""
    asn, host = PEERS[name]
    attrs = {
        "med": host * 10,
        "communities": (f"{asn}:{host}",),
        "large_communities": (f"{asn}:{host}:1",),
    }
    return Route(f"10.244.{host}.0/26", **attrs), Route(f"2001:db8:{host}::/48", **attrs)


@dataclass
class InteropLab:
    lab: Lab
    hub: Namespace
    pybgp: Pybgp
    daemons: dict[str, PeerDaemon] = field(default_factory=dict)

    def wait_all_established(self, timeout: float = 60) -> None:
        for name in self.daemons:
            _, host = PEERS[name]
            self.pybgp.wait_established(v4(host), timeout)
            self.pybgp.wait_established(v6(host), timeout)


def build(
    lab: Lab,
    names: Sequence[str] = tuple(PEERS),
    *,
    hold_time: int = 90,
    password: str | None = None,
    pybgp_password: str | None = None,
) -> InteropLab:
    """Namespaces, addresses, the daemons named and pybgp; all started (not yet up).

    `password` is the TCP MD5 key every daemon uses on its IPv4 session; pybgp uses
    `pybgp_password` (default: the same), so a test can make them disagree.
    """
    pybgp_password = password if pybgp_password is None else pybgp_password
    hub = lab.namespace("pybgp")
    lab.bridge(hub, "br0", [f"{PYBGP_V4}/24", f"{PYBGP_V6}/64"])
    daemons: dict[str, PeerDaemon] = {}
    ours: list[Neighbor] = []
    types: dict[str, str] = {}
    for name in names:
        asn, host = PEERS[name]
        ns = lab.namespace(name)
        lab.attach(hub, ns, [f"{v4(host)}/24", f"{v6(host)}/64"])
        theirs = [
            Neighbor(PYBGP_V4, PYBGP_ASN, v4(host), password=password, hold_time=hold_time),
            Neighbor(PYBGP_V6, PYBGP_ASN, v6(host), hold_time=hold_time, families=("ipv6",)),
        ]
        daemons[name] = DAEMONS[name](
            lab, ns, asn=asn, router_id=v4(host), neighbors=theirs, announce=daemon_routes(name)
        )
        ours += [
            Neighbor(v4(host), asn, PYBGP_V4, password=pybgp_password, hold_time=hold_time),
            Neighbor(v6(host), asn, PYBGP_V6, hold_time=hold_time, families=("ipv6",)),
        ]
        kind = "node-to-node mesh" if asn == PYBGP_ASN else "global"
        types[v4(host)] = types[v6(host)] = f"{kind} ({name})"
    pybgp = Pybgp(
        lab,
        hub,
        asn=PYBGP_ASN,
        router_id=PYBGP_V4,
        neighbors=ours,
        announce=PYBGP_ROUTES,
        listen=[PYBGP_V4, f"[{PYBGP_V6}]:179"],
        peer_types=types,
    )
    pybgp.start()
    with ThreadPoolExecutor(len(daemons) or 1) as pool:
        for future in [pool.submit(d.start) for d in daemons.values()]:
            future.result()
    return InteropLab(lab, hub, pybgp, daemons)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default=",".join(PEERS), help="which daemons (comma list)")
    parser.add_argument("--keep", action="store_true", help="wait for Enter before teardown")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="pybgp-interop-") as tmp,
        Lab("interop", Path(tmp)) as lab,
    ):
        interop = build(lab, [n for n in args.peers.split(",") if n])
        interop.wait_all_established()
        print(f"$ ip netns exec {interop.hub.name} pybgp status --socket {interop.pybgp.socket}")
        sys.stdout.flush()
        subprocess.run(
            [sys.executable, "-m", "pybgp.cli", "status", "--socket", interop.pybgp.socket],
            check=False,
        )
        if args.keep:
            input("lab is up; press Enter to tear it down ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
