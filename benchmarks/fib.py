"""Kernel FIB benchmark: program N kernel routes and remove them, pybgp against BIRD 2.

Issue 5's goal: ``NetlinkFib`` programs routes at least as fast as BIRD 2's kernel
protocol does on the same machine, measured in the same run.

Setup, the same for both (``pybgp.lab``): a fresh network namespace with a veth ``eth0``
(198.18.0.10/24, its peer end up in the same namespace), and N /26 routes from
10.0.0.0/8 (consecutive blocks, pod-like) ``via 198.18.0.11 dev eth0 proto bird``.

``pybgp``
    ``NetlinkFib(netns=...)`` after ``start([])``: ``set()`` for every route, then
    ``flush()``; timed until ``flush()`` returns, that is until the kernel has answered
    every message.  Then ``delete()`` for every prefix and ``flush()``.
``bird``
    ``bird -f`` in its own namespace with ``protocol static`` holding the N routes and
    ``protocol kernel k1 { disabled; ipv4 { export all; }; }``.  Once BIRD has the N
    static routes in its table (``birdc show route count``), ``birdc enable k1`` starts
    the clock, which stops when the namespace's table holds N ``proto bird`` routes.
    ``birdc disable k1`` (``persist`` is off) times the removal the same way, until 0.
    The table is counted with a netlink dump every ``--poll`` s (default 0.01; a dump of
    100k routes takes a few tens of ms), so BIRD's time is an upper bound, high by at
    most one poll interval plus one dump; the report shows the time of the previous poll
    too (a lower bound).

``pybgp (RIB)``
    What a node does when a peer sends its table and then goes down: UPDATEs of 500
    prefixes into the ``Rib``, ``FibSync`` turning best-path changes into kernel routes
    through the same ``NetlinkFib``, timed until the kernel has answered; then
    ``Rib.drop_peer`` (the session went down), timed the same way.  This is more work
    than BIRD's side does (its routes are in its table before the clock starts), so it
    is reported but not used for the ratio.

Each side runs ``--repeat`` rounds (default 3); the report gives the best and the median
in routes/s and the ratio pybgp / BIRD of the best rates.  The count of ``proto bird``
routes is checked after each pybgp add (N) and delete (0).

Run as root from the repository root::

    .venv/bin/python benchmarks/fib.py                      # 100,000 routes, 3 rounds each
    .venv/bin/python benchmarks/fib.py --routes 20000 --repeat 1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Network, ip_address, ip_interface
from pathlib import Path

from pybgp.fib import FibSettings, KernelRoute, NextHop
from pybgp.fib.netlink import NetlinkFib
from pybgp.fib.plan import NodeView
from pybgp.fib.rtnl import RTM_GETROUTE, RTM_NEWROUTE, RtnlSocket
from pybgp.lab.netns import Lab, Namespace, cleanup_stale, have_root, wait_until
from pybgp.rib.decision import Source
from pybgp.rib.rib import PeerRib, Rib
from pybgp.runtime.fib_sync import FibSync
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.nlri import network_key
from pybgp.wire.update import Update

PROTO = 12  # RTPROT_BIRD
WHO = ("pybgp", "pybgp (RIB)", "bird")
GATEWAY = "198.18.0.11"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def prefixes(count: int) -> list[IPv4Network]:
    """``count`` consecutive /26s from 10.0.0.0 (at most 262,144 fit in 10.0.0.0/8)."""
    if count > 1 << 18:
        raise SystemExit("at most 262,144 /26 routes fit in 10.0.0.0/8")
    return [IPv4Network(((10 << 24) + (i << 6), 26)) for i in range(count)]


def node(lab: Lab, role: str) -> Namespace:
    """A namespace with ``eth0`` (198.18.0.10/24) whose veth peer is in it too, both up."""
    ns = lab.namespace(role)
    ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    ns.add_address("eth0", "198.18.0.10/24")
    for dev in ("eth0", "eth0p"):
        ns.run("ip", "link", "set", dev, "up")
    return ns


def counter(ns: Namespace) -> Callable[[], int]:
    """A cheap count of IPv4 ``proto bird`` routes in ``ns``: one netlink dump, headers only."""
    sock = RtnlSocket(ns.name)
    header = bytes(12)  # struct rtmsg, AF_UNSPEC patched below

    def count() -> int:
        found = 0
        for mtype, payload in sock.dump(RTM_GETROUTE, b"\x02" + header[1:]):
            if mtype == RTM_NEWROUTE and payload[5] == PROTO:
                found += 1
        return found

    return count


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# -- pybgp ---------------------------------------------------------------------------------
async def pybgp_rounds(ns: Namespace, nets: list[IPv4Network], repeat: int, per_send: int) -> dict:
    hop = (NextHop(ip_address(GATEWAY), "eth0"),)
    routes = [KernelRoute(net, hop) for net in nets]
    count = counter(ns)
    adds: list[float] = []
    deletes: list[float] = []
    fib = NetlinkFib(FibSettings(), netns=ns.name, per_send=per_send, retry_interval=0)
    await fib.start([])
    try:
        for round_ in range(repeat):
            start = time.perf_counter()
            for route in routes:
                fib.set(route)
            await fib.flush()
            adds.append(time.perf_counter() - start)
            installed, failed = count(), len(fib.failed)
            if installed != len(nets) or failed:
                raise SystemExit(f"pybgp: {installed} routes in the kernel, {failed} refused")
            start = time.perf_counter()
            for net in nets:
                fib.delete(net)
            await fib.flush()
            deletes.append(time.perf_counter() - start)
            if (left := count()) != 0:
                raise SystemExit(f"pybgp: {left} routes left after removal")
            log(f"pybgp round {round_ + 1}: add {adds[-1]:.3f} s, remove {deletes[-1]:.3f} s")
    finally:
        await fib.close()
    return {"add_s": adds, "remove_s": deletes}


async def pybgp_rib_rounds(ns: Namespace, nets: list[IPv4Network], repeat: int) -> dict:
    """The node's whole path: RIB, FibSync, NetlinkFib (see the module's docstring)."""
    attributes = PathAttributes(origin=0, next_hop=ip_address(GATEWAY).packed, local_pref=100)
    keys = [network_key(net) for net in nets]
    updates = [
        Update(attributes=attributes, nlri=keys[i : i + 500]) for i in range(0, len(keys), 500)
    ]
    rib = Rib(64512, "198.18.0.10")
    view = NodeView.from_interfaces("none", "eth0", [ip_interface("198.18.0.10/24")])
    fib = NetlinkFib(FibSettings(), netns=ns.name, retry_interval=0)
    sync = FibSync(rib, fib, view, asyncio.get_running_loop())
    await sync.start()
    count = counter(ns)
    adds: list[float] = []
    deletes: list[float] = []
    try:
        for round_ in range(repeat):
            peer = PeerRib(Source(ip_address(GATEWAY), 1, False, False))
            start = time.perf_counter()
            for update in updates:
                rib.receive(peer, update)
            await sync.idle()
            adds.append(time.perf_counter() - start)
            if (installed := count()) != len(nets):
                raise SystemExit(f"pybgp (RIB): {installed} routes in the kernel")
            start = time.perf_counter()
            rib.drop_peer(peer)
            await sync.idle()
            deletes.append(time.perf_counter() - start)
            if (left := count()) != 0:
                raise SystemExit(f"pybgp (RIB): {left} routes left after removal")
            log(f"pybgp (RIB) round {round_ + 1}: add {adds[-1]:.3f} s, remove {deletes[-1]:.3f} s")
    finally:
        await sync.close()
    return {"add_s": adds, "remove_s": deletes}


# -- BIRD 2 --------------------------------------------------------------------------------
def bird_config(nets: list[IPv4Network]) -> str:
    statics = "\n".join(f"  route {net} via {GATEWAY};" for net in nets)
    return f"""router id 198.18.0.10;
protocol device {{ scan time 60; }}
protocol static s1 {{
  ipv4;
{statics}
}}
protocol kernel k1 {{
  disabled;
  scan time 3600;
  ipv4 {{ import none; export all; }};
}}
"""


def wait_count(count: Callable[[], int], target: int, poll: float, timeout: float) -> tuple:
    """Poll until ``count() == target``; return (time seen, time of the previous poll)."""
    previous = time.perf_counter()
    deadline = previous + timeout
    while True:
        now = time.perf_counter()
        if count() == target:
            return now, previous
        if now > deadline:
            raise TimeoutError(f"kernel table did not reach {target} routes")
        previous = now
        time.sleep(poll)


def bird_rounds(lab: Lab, ns: Namespace, nets: list[IPv4Network], repeat: int, poll: float) -> dict:
    conf = lab.workdir / "bird-fib.conf"
    sock = lab.workdir / "bird-fib.ctl"
    conf.write_text(bird_config(nets))
    proc = lab.spawn(ns, ["bird", "-f", "-c", str(conf), "-s", str(sock)], "bird-fib")

    def birdc(*args: str) -> str:
        return ns.run("birdc", "-s", str(sock), *args, timeout=60).stdout

    def loaded() -> bool:
        if not proc.alive():
            raise RuntimeError(f"bird exited: {proc.log_text()[-2000:]}")
        if not sock.exists():
            return False
        out = birdc("show", "route", "count")
        return f"{len(nets)} of {len(nets)} routes" in out

    wait_until(loaded, 120, "BIRD to load its static routes", interval=0.2)
    count = counter(ns)
    adds: list[tuple[float, float]] = []
    deletes: list[tuple[float, float]] = []
    for round_ in range(repeat):
        start = time.perf_counter()
        birdc("enable", "k1")
        seen, before = wait_count(count, len(nets), poll, 120)
        adds.append((seen - start, before - start))
        start = time.perf_counter()
        birdc("disable", "k1")
        seen, before = wait_count(count, 0, poll, 120)
        deletes.append((seen - start, before - start))
        log(f"bird round {round_ + 1}: add {adds[-1][0]:.3f} s, remove {deletes[-1][0]:.3f} s")
    proc.stop()
    return {
        "add_s": [a for a, _ in adds],
        "remove_s": [d for d, _ in deletes],
        "add_lower_s": [b for _, b in adds],
        "remove_lower_s": [b for _, b in deletes],
    }


# -- report --------------------------------------------------------------------------------
def summarize(count: int, seconds: list[float]) -> dict:
    return {"best": rate(count, min(seconds)), "median": rate(count, statistics.median(seconds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-send", type=int, default=4096, help="pybgp messages per send()")
    parser.add_argument("--poll", type=float, default=0.01, help="BIRD: seconds between counts")
    parser.add_argument("--no-bird", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not have_root():
        raise SystemExit("needs root (network namespaces)")
    run_bird = not args.no_bird and shutil.which("bird") and shutil.which("birdc")
    if not args.no_bird and not run_bird:
        log("bird/birdc not found: pybgp only (apt-get install bird2)")
    nets = prefixes(args.routes)
    cleanup_stale()
    results: dict = {"routes": args.routes, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="pybgp-fib-") as tmp, Lab("fib", Path(tmp)) as lab:
        ns = node(lab, "pybgp")
        results["pybgp"] = asyncio.run(pybgp_rounds(ns, nets, args.repeat, args.per_send))
        results["pybgp (RIB)"] = asyncio.run(pybgp_rib_rounds(ns, nets, args.repeat))
        if run_bird:
            results["bird"] = bird_rounds(lab, node(lab, "bird"), nets, args.repeat, args.poll)
    version = (
        subprocess.run(["bird", "--version"], capture_output=True, text=True) if run_bird else None
    )
    if version is not None:
        results["bird_version"] = (version.stdout + version.stderr).strip()
    for who in WHO:
        if who in results:
            for what in ("add", "remove"):
                results[who][what] = summarize(args.routes, results[who][f"{what}_s"])
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"Kernel FIB: {args.routes:,} IPv4 /26 routes via {GATEWAY} dev eth0 proto bird, "
        f"best (median) of {args.repeat}"
    )
    print(f"{'':12} {'add routes/s':>24} {'remove routes/s':>24}")
    for who in WHO:
        if who in results:
            cells = [
                f"{results[who][w]['best']:>12,.0f} ({results[who][w]['median']:>9,.0f})"
                for w in ("add", "remove")
            ]
            print(f"{who:12} {cells[0]:>24} {cells[1]:>24}")
    if "bird" in results:
        ratios = [
            results["pybgp"][w]["best"] / results["bird"][w]["best"] for w in ("add", "remove")
        ]
        print(f"{'ratio':12} {ratios[0]:>23.2f}x {ratios[1]:>23.2f}x  (pybgp / bird)")
        lower = [rate(args.routes, min(results["bird"][f"{w}_lower_s"])) for w in ("add", "remove")]
        print(
            f"(BIRD's times are polled every {args.poll} s; counted at the previous poll: "
            f"add {lower[0]:,.0f}/s, remove {lower[1]:,.0f}/s)"
        )
        goal = all(r >= 1 for r in ratios)
        print(f"goal (at least BIRD's rate, add and remove): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
