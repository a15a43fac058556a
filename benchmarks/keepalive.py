"""Keepalive benchmark: do KEEPALIVEs reach a slow peer while a large table streams to it?

The failure users of ExaBGP and GoBGP report most: a speaker sends a big table to a peer
that reads slowly, its KEEPALIVEs queue behind the UPDATEs (in the daemon or in the
kernel's send buffer), and the peer's HoldTimer expires (RFC 4271 6.5).  pybgp sends
control messages first and bounds both its own and the kernel's send queue
(docs/sessions.md, "Keepalives before UPDATEs"); this program measures that against BIRD 2,
FRR bgpd, GoBGP and ExaBGP, one after another, and prints one table.

For every target, in a lab of its own (``pybgp.lab``): two network namespaces joined by a
veth, the speaker at 198.18.X.1/24 and the reader at 198.18.X.2/24.  The speaker is an
iBGP speaker of AS 64512 with one passive neighbour, the reader, hold time 3 s and a
keepalive interval of 1 s, originating N IPv4 /26s of 10.0.0.0/8 with one attribute set
(default N = 150,000).  Each daemon gets its routes the fastest way it offers:

``pybgp``, ``bird``, ``exabgp``
    from the lab driver's configuration (``announce``: static routes).  ExaBGP parses
    them before it starts its API process, for longer than the driver's 15 s: it is
    given up to ``LOAD_TIMEOUT``.
``frr``
    ``network`` statements in a ``bgpd.conf`` written here (the lab driver gives every
    route a route-map of its own, too slow for 150,000), ``no bgp network import-check``.
``gobgp``
    an MRT TABLE_DUMP_V2 file written here and loaded with ``gobgp mrt inject global``
    (one gRPC stream, about 4 s for 150,000; ``gobgp global rib add`` per route would
    take hours).  gobgp 3.10 drops the last few hundred paths of a stream, so the file
    ends in repeats of its first records and the rest is injected again if needed.
    Graceful restart is enabled on the neighbour: GoBGP sends End-of-RIB only then.

The program waits until the daemon holds all N routes (its own CLI's count), so that the
whole table is ready when the reader connects.  The reader, ``pybgp.lab.rawpeer.read_table``
run by a helper script inside the reader namespace, opens the session (hold time 3),
reads ``--chunk`` octets (16 KiB) every ``--pause`` s (0.08) through a receive buffer of
that size, answers with a KEEPALIVE every second, and notes when each KEEPALIVE arrives,
until the IPv4 End-of-RIB.  At most 200 KB/s: 150,000 routes take about 4 s.  Its OPEN
announces Multiprotocol IPv4 unicast, without which BIRD refuses the session, and
Graceful Restart as a receiving speaker, without which FRR and GoBGP send no End-of-RIB
(``rawpeer.READER_CAPABILITIES``).

Per target the report gives the time to load the routes, the table transfer time (first
UPDATE to End-of-RIB), the KEEPALIVEs read during it and those read only together with
the End-of-RIB (they waited behind the table), the longest wait for a KEEPALIVE, the
median interval between them, and whether the session stayed up (a NOTIFICATION or a
close from the daemon is reported as "dropped").  The reader keeps reading whatever the
gaps, to measure the whole table.

What a gap at or above the hold time means: for that long the peer got UPDATEs and no
KEEPALIVE.  A peer that restarts its HoldTimer on every UPDATE it processes, as RFC 4271
8.2.2 says, keeps the session while it processes them; a peer whose hold timer is fed by
KEEPALIVEs alone, or one that falls behind in processing the UPDATEs it has read, drops
it (Hold Timer Expired).  The figure measures the sender's half of the problem: how long
a KEEPALIVE waits behind UPDATEs already queued for a slow reader.

Run as root from the repository root (needs ``ip``, ``ss`` and the daemons; a missing one
is skipped with the reason)::

    .venv/bin/python benchmarks/keepalive.py                  # all targets, 150,000 routes
    .venv/bin/python benchmarks/keepalive.py --quick          # 30,000 routes, a smoke run
    .venv/bin/python benchmarks/keepalive.py --targets pybgp,bird --routes 50000 --json

Traffic stays inside the namespaces it creates (198.18.0.0/15 only); every process is
stopped by PID and every namespace removed when a target is done.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pybgp
from pybgp.lab import (
    DAEMONS,
    Bird,
    ExaBGP,
    Frr,
    GoBGP,
    Lab,
    Namespace,
    Neighbor,
    PeerDaemon,
    Pybgp,
    Route,
    available,
    wait_until,
)
from pybgp.wire.errors import error_name

ASN = 64512  # iBGP: speaker and reader share the AS
HOLD_TIME = 3  # seconds; RFC 4271 4.2: 0 or at least 3
KEEPALIVE = 1  # the interval every target is configured with (RFC 4271 10: hold / 3)
FULL_ROUTES = 150_000
QUICK_ROUTES = 30_000
MAX_ROUTES = 1 << 18  # the /26s of 10.0.0.0/8
CHUNK = 16 * 1024
PAUSE = 0.08
TARGETS = ("pybgp", "bird", "frr", "gobgp", "exabgp")  # in the order they run
LOAD_TIMEOUT = 900.0  # seconds a daemon may take to hold all routes

# How each target is told its keepalive interval, for the report.
KEEPALIVE_SOURCE = {
    "pybgp": "keepalive-time default: hold-time / 3",
    "bird": "keepalive time default: hold time / 3",
    "frr": "neighbor timers 1 3",
    "gobgp": "keepalive-interval = 1",
    "exabgp": "hold-time / 3 (not configurable)",
}

# The reader, run by the namespace's own ``ip netns exec``: argv[1] is a JSON spec.  It
# writes what it saw (or why it stopped) as JSON to spec["out"].
READER = '''\
"""Slow BGP reader for benchmarks/keepalive.py (written by it; safe to delete)."""
import asyncio
import json
import sys
import time
from pathlib import Path

from pybgp.lab import rawpeer

spec = json.loads(sys.argv[1])
result = {"started": time.monotonic()}
try:
    seen = asyncio.run(
        rawpeer.read_table(
            spec["source"],
            (spec["target"], 179),
            asn=spec["asn"],
            router_id=spec["source"],
            hold_time=spec["hold_time"],
            chunk=spec["chunk"],
            pause=spec["pause"],
        )
    )
except Exception as exc:  # the session dropped, or the speaker went silent
    result.update(error=f"{type(exc).__name__}: {exc}", failed_at=time.monotonic())
else:
    result.update(
        keepalives=seen.keepalives,
        first_update=seen.first_update,
        end_of_rib=seen.end_of_rib,
    )
Path(spec["out"]).write_text(json.dumps(result))
'''

GOBGP_PADDING = 20_000  # repeated records at the end of the MRT file (see build)
GOBGP_GRACEFUL_RESTART = """\
  [neighbors.graceful-restart.config]
    enabled = true
"""

_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the table or the JSON."""
    print(f"{time.perf_counter() - _STARTED:6.1f}s {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------
# The table


def prefixes(count: int) -> Iterator[tuple[int, str]]:
    """The first ``count`` /26s of 10.0.0.0/8, as (network as an int, "a.b.c.d/26")."""
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    for i in range(count):
        net = base + (i << 6)
        yield net, f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/26"


def frr_config(router_id: str, peer: str, count: int) -> str:
    """A ``bgpd.conf``: one passive iBGP neighbour, ``count`` ``network`` statements."""
    nb = f" neighbor {peer}"
    lines = [
        "frr defaults traditional",
        "hostname frr-keepalive",
        "log stdout warnings",  # informational logs a line per session event only, but
        "!",  # warnings keeps the log readable
        f"router bgp {ASN}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        # Without zebra nothing is ever in the RIB; without this no network is announced.
        " no bgp network import-check",
        f"{nb} remote-as {ASN}",
        f"{nb} update-source {router_id}",
        f"{nb} timers {KEEPALIVE} {HOLD_TIME}",
        f"{nb} advertisement-interval 0",
        f"{nb} passive",
        " address-family ipv4 unicast",
        *(f"  network {text}" for _, text in prefixes(count)),
        f"{nb} activate",
        " exit-address-family",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def write_mrt(path: Path, count: int, next_hop: str, router_id: str, padding: int) -> None:
    """An MRT TABLE_DUMP_V2 file (RFC 6396 4.3) of ``count`` /26s for ``gobgp mrt inject``.

    One PEER_INDEX_TABLE naming this speaker as the only peer, then one RIB_IPV4_UNICAST
    record per prefix with ORIGIN IGP, an empty AS_PATH and NEXT_HOP ``next_hop``, then
    ``padding`` records that repeat the first prefixes (see ``build``: gobgp loses the
    last records it streams; a repeat that arrives changes nothing).
    """
    now = int(time.time())
    rid = ipaddress.IPv4Address(router_id).packed

    def record(subtype: int, body: bytes) -> bytes:
        # RFC 6396 2: timestamp, type 13 (TABLE_DUMP_V2), subtype, length.
        return struct.pack("!IHHI", now, 13, subtype, len(body)) + body

    # RFC 6396 4.3.1: collector BGP ID, view name (empty), peer count, peer entries; peer
    # type 2 = IPv4 address, 4-octet AS.
    peer = bytes((2,)) + rid + ipaddress.IPv4Address(next_hop).packed + ASN.to_bytes(4, "big")
    chunks = [record(1, rid + struct.pack("!HH", 0, 1) + peer)]
    # RFC 4271 4.3: ORIGIN IGP, AS_PATH empty (originated in our AS), NEXT_HOP.
    attrs = bytes((0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4)) + ipaddress.IPv4Address(next_hop).packed
    entry = struct.pack("!HIH", 0, now, len(attrs)) + attrs  # peer index 0
    nets = [net for net, _ in prefixes(count)]
    for seq in range(count + padding):
        # RFC 6396 4.3.2: sequence, prefix length, prefix (4 octets for a /26), entries.
        body = struct.pack("!IBIH", seq, 26, nets[seq % count], 1) + entry
        chunks.append(record(2, body))
    path.write_bytes(b"".join(chunks))


# ------------------------------------------------------------------------------------
# The targets


@dataclass
class Speaker:
    """A target daemon, set up in the speaker namespace, and how to count its routes."""

    daemon: PeerDaemon
    count: Callable[[], int]  # routes the daemon holds now (its own CLI)
    after_start: Callable[[], None] = lambda: None  # loading that needs a running daemon


class PatientExaBGP(ExaBGP):
    """ExaBGP given as long as it needs to read its configuration: the lab driver waits
    15 s for the API process, which ExaBGP 5 starts only after parsing every static
    route (150,000 take it longer than that)."""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + LOAD_TIMEOUT
        while True:
            try:
                super()._wait_ready()
                return
            except TimeoutError:
                if not self.running or time.monotonic() > deadline:
                    raise


def _int(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else 0


def _static_routes(count: int) -> list[Route]:
    # No next hop: each daemon uses its session address (a next hop per route would give
    # BIRD an export filter with one test per route).
    return [Route(text) for _, text in prefixes(count)]


def _pybgp(lab: Lab, ns: Namespace, common: dict[str, Any], count: int) -> Speaker:
    daemon = Pybgp(lab, ns, announce=_static_routes(count), **common)
    # Announced routes come from the configuration, read before the control socket
    # answers: once the daemon is ready, it holds them all.
    return Speaker(daemon, lambda: count)


def _bird(lab: Lab, ns: Namespace, common: dict[str, Any], count: int) -> Speaker:
    bird = Bird(lab, ns, announce=_static_routes(count), **common)
    return Speaker(bird, lambda: _int(r"(\d+) of \d+ routes", bird.birdc("show", "route", "count")))


def _exabgp(lab: Lab, ns: Namespace, common: dict[str, Any], count: int) -> Speaker:
    exa = PatientExaBGP(lab, ns, announce=_static_routes(count), **common)
    # ExaBGP reads its static routes with the configuration and listens after that.
    return Speaker(exa, lambda: count if ns.listening(179) else 0)


def _frr(lab: Lab, ns: Namespace, common: dict[str, Any], count: int) -> Speaker:
    me, peer = common["router_id"], common["neighbors"][0].address
    frr = Frr(lab, ns, config_text=frr_config(me, peer, count), **common)

    def frr_count() -> int:
        out = frr.vtysh("show bgp ipv4 unicast statistics json")
        tables = json.loads(out or "{}").get("ipv4Unicast") or [{}]
        return int(tables[0].get("totalPrefixes", 0))

    return Speaker(frr, frr_count)


def _gobgp(lab: Lab, ns: Namespace, common: dict[str, Any], count: int) -> Speaker:
    me = common["router_id"]
    gobgp = GoBGP(lab, ns, **common)
    # GoBGP sends End-of-RIB only when graceful restart is negotiated, so it must
    # advertise the capability too (RFC 4724 2); the table added applies to the one
    # [[neighbors]] above it.
    gobgp.config_text = gobgp.config() + GOBGP_GRACEFUL_RESTART
    mrt = gobgp.dir / "table.mrt"
    write_mrt(mrt, count, me, me, padding=GOBGP_PADDING)

    def gobgp_count() -> int:
        out = gobgp.gobgp("global", "rib", "summary", "-a", "ipv4")
        return _int(r"Destination:\s*(\d+)", out)

    def inject() -> None:
        # gobgp 3.10 closes its gRPC stream before gobgpd has taken the last paths (217
        # of 2,000 and 650 of 20,000 went missing; reinjecting a short rest lost all of
        # it).  So the file ends in repeats, and if routes are still missing the rest is
        # injected again ("COUNT SKIP": the records are in prefix order).
        port = str(gobgp.api_port)
        have = 0
        for _ in range(10):
            rest = [str(mrt), str(count + GOBGP_PADDING - have), str(have)]
            ns.run("gobgp", "-p", port, "mrt", "inject", "global", *rest, timeout=LOAD_TIMEOUT)
            time.sleep(1)  # let gobgpd work through the stream before counting
            have = gobgp_count()
            if have >= count:
                return

    return Speaker(gobgp, gobgp_count, inject)


BUILDERS: dict[str, Callable[[Lab, Namespace, dict[str, Any], int], Speaker]] = {
    "pybgp": _pybgp,
    "bird": _bird,
    "frr": _frr,
    "gobgp": _gobgp,
    "exabgp": _exabgp,
}


def build(name: str, lab: Lab, ns: Namespace, me: str, peer: str, count: int) -> Speaker:
    """Configure target ``name`` at ``me`` with the reader ``peer`` and ``count`` routes."""
    neighbor = Neighbor(peer, ASN, me, passive=True, hold_time=HOLD_TIME)
    common: dict[str, Any] = {"asn": ASN, "router_id": me, "neighbors": [neighbor]}
    return BUILDERS[name](lab, ns, common, count)


# ------------------------------------------------------------------------------------
# One measurement


@dataclass
class Result:
    """What one target did; ``skipped`` or ``error`` set when there is no measurement."""

    target: str
    routes: int = 0
    version: str = ""
    keepalive: int = KEEPALIVE
    keepalive_source: str = ""
    skipped: str | None = None
    error: str | None = None
    load_s: float | None = None
    transfer_s: float | None = None
    keepalives_during: int | None = None  # read before the read that ended the table
    keepalives_with_eor: int | None = None  # read together with the End-of-RIB: queued
    worst_gap_s: float | None = None
    median_interval_s: float | None = None
    dropped: str | None = None  # why the session ended before the End-of-RIB
    keepalive_times: list[float] = field(default_factory=list)  # relative to first UPDATE

    @property
    def gap_over_hold(self) -> bool | None:
        """Whether the peer went a hold time without a KEEPALIVE (None: not measured)."""
        if self.skipped or self.error or (self.worst_gap_s is None and not self.dropped):
            return None
        return bool(self.dropped) or (self.worst_gap_s or 0.0) >= HOLD_TIME

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gap_over_hold"] = self.gap_over_hold
        return out


def describe_failure(error: str) -> str:
    """The reader's exception as a reason: a NOTIFICATION by its name."""
    match = re.search(r"NOTIFICATION ([0-9a-f]{4,})", error)
    if match:
        body = bytes.fromhex(match.group(1))
        return f"NOTIFICATION {error_name(body[0], body[1])}"
    if error.startswith("TimeoutError"):
        return f"the speaker sent nothing for {2 * HOLD_TIME} s"
    return error


def analyse(result: Result, seen: dict[str, Any]) -> None:
    """Fill in ``result`` from the reader's JSON (the fields of a TableArrival)."""
    if "error" in seen:
        elapsed = seen["failed_at"] - seen["started"]
        result.dropped = f"after {elapsed:.1f} s: {describe_failure(seen['error'])}"
        return
    first, end = seen["first_update"], seen["end_of_rib"]
    # The reader notes the time of the read that brought a message.  KEEPALIVEs in the
    # same read as the End-of-RIB were queued behind the table: they count as late, not
    # as arrived during the transfer (TableArrival.keepalives_during() includes them).
    during = [t for t in seen["keepalives"] if first <= t < end]
    marks = [first, *during, end]
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    intervals = [b - a for a, b in itertools.pairwise(during)]
    result.transfer_s = end - first
    result.keepalives_during = len(during)
    result.keepalives_with_eor = sum(1 for t in seen["keepalives"] if t == end)
    result.worst_gap_s = max(gaps)
    result.median_interval_s = statistics.median(intervals) if intervals else None
    result.keepalive_times = [round(t - first, 3) for t in during]


def version_of(name: str) -> str:
    """The daemon's version, as its binary reports it (best effort)."""
    argv = {
        "bird": ["bird", "--version"],
        "frr": ["/usr/lib/frr/bgpd", "--version"],
        "gobgp": ["gobgpd", "--version"],
        "exabgp": [ExaBGP.binaries[0], "version"],
    }.get(name)
    if argv is None:
        return f"pybgp {pybgp.__version__}"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    text = done.stdout + done.stderr
    match = re.search(r"(\d+\.\d+(?:\.\d+)*)", text)
    return f"{name} {match.group(1)}" if match else "?"


def run_target(
    name: str, index: int, routes: int, chunk: int, pause: float, workroot: Path
) -> Result:
    """Measure target ``name`` in a lab of its own on 198.18.``index``.0/24."""
    result = Result(name, routes=routes, keepalive_source=KEEPALIVE_SOURCE[name])
    reason = available(DAEMONS[name])
    if reason:
        result.skipped = reason
        return result
    result.version = version_of(name)
    me, peer = f"198.18.{index}.1", f"198.18.{index}.2"
    workdir = workroot / name
    with Lab(f"ka-{name}", workdir) as lab:
        spk, rdr = lab.namespace("spk"), lab.namespace("rdr")
        lab.link(spk, rdr, [f"{me}/24"], [f"{peer}/24"])
        log(f"{name}: configuring {routes:,} routes")
        speaker = build(name, lab, spk, me, peer, routes)
        started = time.monotonic()
        speaker.daemon.start()
        speaker.after_start()
        try:
            wait_until(
                lambda: speaker.count() >= routes,
                LOAD_TIMEOUT,
                f"{name} to hold {routes} routes",
                interval=1.0,
            )
        except TimeoutError as exc:
            result.error = f"{exc} (it holds {speaker.count()})"
            return result
        result.load_s = time.monotonic() - started
        log(f"{name}: holds {routes:,} routes after {result.load_s:.1f} s; reader connects")
        script = workdir / "reader.py"
        script.write_text(READER)
        out = workdir / "reader.json"
        spec = {
            "source": peer,
            "target": me,
            "asn": ASN,
            "hold_time": HOLD_TIME,
            "chunk": chunk,
            "pause": pause,
            "out": str(out),
        }
        reader = lab.spawn(rdr, [sys.executable, str(script), json.dumps(spec)], "reader")
        # At worst a /26 per 30-octet UPDATE read at chunk/pause octets per second.
        budget = 60 + routes * 30 / (chunk / pause)
        try:
            reader.popen.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            reader.stop()
            result.error = f"the reader did not finish in {budget:.0f} s"
            return result
        if not out.exists():
            result.error = f"the reader failed: {reader.log_text()[-500:]}"
            return result
        analyse(result, json.loads(out.read_text()))
        if not speaker.daemon.running:
            exited = "the daemon exited"
            result.dropped = f"{result.dropped}; {exited}" if result.dropped else exited
    return result


# ------------------------------------------------------------------------------------
# Report


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: Sequence[Result], routes: int, chunk: int, pause: float) -> str:
    """The report as a Markdown table with notes."""
    lines = [
        f"Keepalives under load: {routes:,} IPv4 /26 routes per speaker to a reader taking "
        f"{chunk} octets every {pause} s (at most {chunk / pause / 1000:.0f} kB/s), "
        f"hold time {HOLD_TIME} s, keepalive {KEEPALIVE} s",
        "",
        "| target | load s | transfer s | KAs during | KAs with EoR | worst gap s "
        f"| median KA interval s | session | gap >= hold {HOLD_TIME} s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes: list[str] = []
    for r in results:
        if r.skipped or r.error:
            notes.append(f"- {r.target}: {'skipped: ' + r.skipped if r.skipped else r.error}")
            lines.append(f"| {r.target} | | | | | | | not measured | |")
            continue
        over = r.gap_over_hold
        verdict = "-" if over is None else "**yes**" if over else "no"
        lines.append(
            f"| {r.version or r.target} | {_fmt(r.load_s, '.1f')} | {_fmt(r.transfer_s, '.1f')} "
            f"| {_fmt(r.keepalives_during, 'd')} | {_fmt(r.keepalives_with_eor, 'd')} "
            f"| {_fmt(r.worst_gap_s, '.2f')} | {_fmt(r.median_interval_s, '.2f')} "
            f"| {'dropped ' + r.dropped if r.dropped else 'up'} | {verdict} |"
        )
    notes += [
        "- load: start to the daemon holding every route; transfer: first UPDATE to End-of-RIB",
        "- KAs during: KEEPALIVEs read before the End-of-RIB; KAs with EoR: read in the same "
        "read as the End-of-RIB (they waited behind the table)",
        "- worst gap: the longest wait for a KEEPALIVE from the first UPDATE to the End-of-RIB;"
        f" at {HOLD_TIME} s or more, a peer whose hold timer is restarted by KEEPALIVEs only "
        "drops the session (RFC 4271 6.5; 8.2.2 restarts it on UPDATEs too)",
        "- keepalive interval as configured: "
        + "; ".join(f"{name}: {how}" for name, how in KEEPALIVE_SOURCE.items()),
    ]
    return "\n".join([*lines, "", *notes])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, measure every target in turn, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, help=f"routes per speaker (default {FULL_ROUTES})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUTES} routes")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated list")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="octets per read")
    parser.add_argument("--pause", type=float, default=PAUSE, help="seconds between reads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the configs and logs")
    args = parser.parse_args(argv)

    routes = args.routes or (QUICK_ROUTES if args.quick else FULL_ROUTES)
    if not 0 < routes <= MAX_ROUTES:
        parser.error(f"--routes must be 1..{MAX_ROUTES}")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    if os.geteuid() != 0:
        log("not root: every target will be skipped (network namespaces need root)")

    workroot = Path(tempfile.mkdtemp(prefix="pybgp-keepalive-"))
    results: list[Result] = []
    try:
        for index, name in enumerate(targets, start=1):
            try:
                result = run_target(name, index, routes, args.chunk, args.pause, workroot)
            except Exception as exc:  # one target's failure must not lose the others
                result = Result(name, routes=routes, error=f"{type(exc).__name__}: {exc}")
            log(f"{name}: {result.skipped or result.error or result.dropped or 'done'}")
            results.append(result)
    finally:
        if args.keep:
            log(f"configs and logs kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    if args.json:
        report = {
            "routes": routes,
            "chunk": args.chunk,
            "pause": args.pause,
            "hold_time": HOLD_TIME,
            "python": sys.version.split()[0],
            "elapsed_s": round(time.perf_counter() - _STARTED, 1),
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        print(table(results, routes, args.chunk, args.pause))
        print(f"\n(total {time.perf_counter() - _STARTED:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
