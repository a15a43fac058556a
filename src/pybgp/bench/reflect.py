"""``pybgp bench reflect``: route reflection throughput, CPU and memory, side by side.

A bgperf-style harness.  For each target (pybgp, BIRD 2, FRR bgpd -Z, GoBGP) and each
scenario, in a :class:`pybgp.lab.Lab` of its own: namespace ``rr`` holds the target at
198.18.0.1/24, namespace ``peers`` holds the injectors (198.18.0.10 and up) and the sinks
(198.18.0.100 and up) on one veth.  All sessions are iBGP in AS 64512 and every peer is a
route-reflector client; the injectors (:mod:`pybgp.bench.injector`) and sinks
(:mod:`pybgp.bench.sink`) are separate processes that print JSON lines stamped with
``time.monotonic()``, so their clocks agree.  The harness drives the injectors' steps
with SIGUSR1 and reads the logs.

Scenarios (N = ``--prefixes``, default 1,000,000 /28s, 500 per UPDATE):

``1x1M``      1 injector x N -> 1 sink; done when the sink counted N.
``10x100k``   10 injectors each send the same N/10 prefixes with different LOCAL_PREFs
              (exactly one wins each block of 500, and arrives first rarely), so the
              target does best-path work; done when the sink's view has the winner's
              NEXT_HOP for every prefix.  Rate = paths received (N) per second.
``fanout``    1 injector x N -> 10 sinks; done when the last sink has all N.
``withdraw``  after a 1x1M load, the injector withdraws all N; until the sink saw N
              withdrawals.
``flap``      after a 1x1M load the injector closes its TCP connection (no NOTIFICATION):
              ``flap-down`` lasts until the sink saw N withdrawals; it then reconnects and
              resends: ``flap-up`` lasts from its first UPDATE until the sink has N again.

Seconds run from the first UPDATE sent (or the close) to the read that completed the
count at the (last) sink.  Target CPU is utime + stime over that interval; peak RSS is
VmHWM at the end of the scenario; bytes/route = (VmRSS after the load - VmRSS with the
sessions up and no routes) / routes held (paths, in ``10x100k``).

Target ``direct`` (run first by default) is the calibration: the sink accepts the
injector's session itself, no reflector between, for ``1x1M`` and ``withdraw``.  It
shows how much faster than any target the two measuring programs are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pybgp.lab import Lab, Namespace, Process

from . import bgp, targets
from .options import ALL_TARGETS, FULL_PREFIXES, QUICK_PREFIXES, SCENARIOS, add_arguments
from .report import render
from .targets import RR, Target

DIRECT_SCENARIOS = ("1x1M", "withdraw")
INJECTOR_BASE, SINK_BASE = 10, 100
MANY = 10  # injectors in 10x100k, sinks in fanout
SETTLE = 1.0  # seconds between sessions up and the first UPDATE, and between phases
START_TIMEOUT = 60.0  # target listening, sessions up

_STARTED = time.perf_counter()


def log(message: str) -> None:
    """Progress goes to stderr; stdout holds only the report."""
    print(f"{time.perf_counter() - _STARTED:7.1f}s {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One measured phase of one target."""

    target: str
    scenario: str
    routes: int  # prefixes (paths in 10x100k) the rate counts
    version: str = ""
    seconds: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    bytes_per_route: float | None = None
    error: str = ""
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.routes / self.seconds if self.seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


class Failed(Exception):
    """A phase could not be measured; the message goes into the table."""


@dataclass
class Phase:
    seconds: float
    cpu_s: float | None
    note: str = ""


def events(proc: Process) -> list[dict[str, Any]]:
    """The JSON lines a benchmark peer printed so far."""
    found = []
    for line in proc.log_text().splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def tail(proc: Process, lines: int = 2) -> str:
    text = [line for line in proc.log_text().splitlines() if line.strip()]
    return " | ".join(text[-lines:])[-300:]


class Run:
    """One target x one scenario in its own lab."""

    def __init__(self, lab: Lab, name: str, injectors: int, sinks: int) -> None:
        self.lab = lab
        self.name = name
        self.rr = lab.namespace("rr")
        self.peers = lab.namespace("peers")
        self.inj_addrs = [f"198.18.0.{INJECTOR_BASE + i}" for i in range(injectors)]
        self.sink_addrs = [f"198.18.0.{SINK_BASE + j}" for j in range(sinks)]
        cidrs = [f"{a}/24" for a in self.inj_addrs + self.sink_addrs]
        lab.link(self.rr, self.peers, [f"{RR}/24"], cidrs)
        self.target: Target | None = None
        self.injectors: list[Process] = []
        self.sinks: list[Process] = []

    # -- start-up ---------------------------------------------------------------------------
    def start_target(self) -> None:
        target = targets.start(self.name, self.lab, self.rr, self.inj_addrs + self.sink_addrs)
        self.target = target
        deadline = time.monotonic() + START_TIMEOUT
        while not self.rr.listening(179):
            if not target.process.alive():
                code = target.process.popen.returncode
                raise Failed(f"exited with status {code}: {tail(target.process)}")
            if time.monotonic() > deadline:
                raise Failed(f"not listening after {START_TIMEOUT:.0f} s: {tail(target.process)}")
            time.sleep(0.1)

    def _peer(self, ns: Namespace, module: str, name: str, args: list[str]) -> Process:
        argv = [sys.executable, "-m", f"pybgp.bench.{module}", *args]
        return self.lab.spawn(ns, argv, name, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def start_peers(self, per_injector: int, steps: str, track: bool) -> None:
        """Sinks first (they must see everything), then the injectors; wait for all up."""
        direct = self.target is None
        for j, address in enumerate(self.sink_addrs):
            args = ["--source", address, "--prefixes", str(per_injector)]
            if direct:
                args = ["--source", RR, "--listen", "--prefixes", str(per_injector)]
            else:
                args += ["--target", RR]
                if track:
                    args += ["--track", ",".join(self.inj_addrs)]
            self.sinks.append(
                self._peer(self.rr if direct else self.peers, "sink", f"sink{j}", args)
            )
        if direct:
            self.rr.wait_listening(179, START_TIMEOUT)
        else:
            self._wait_up(self.sinks)
        for i, address in enumerate(self.inj_addrs):
            args = ["--source", address, "--target", RR, "--prefixes", str(per_injector)]
            args += ["--index", str(i), "--injectors", str(len(self.inj_addrs)), "--steps", steps]
            self.injectors.append(self._peer(self.peers, "injector", f"injector{i}", args))
        self._wait_up(self.injectors + self.sinks)

    def _wait_up(self, procs: Sequence[Process]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            down = [p for p in procs if not any(e["event"] == "up" for e in events(p))]
            if not down:
                return
            for proc in down:
                if not proc.alive():
                    raise Failed(f"{proc.name} could not open its session: {tail(proc)}")
            self._check_target()
            if time.monotonic() > deadline:
                names = ", ".join(p.name for p in down)
                raise Failed(f"sessions of {names} not up after {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def _check_target(self) -> None:
        if self.target and not self.target.process.alive():
            code = self.target.process.popen.returncode
            raise Failed(f"target exited with status {code}: {tail(self.target.process)}")

    # -- measuring -------------------------------------------------------------------------
    def memory(self) -> tuple[int, int]:
        return self.target.memory() if self.target else (0, 0)

    def phase(self, step: str, kind: str, count: int, timeout: float) -> Phase:
        """Signal the injectors to do ``step``; wait until every sink printed ``kind``
        (with ``count``, unless "converged"); return the interval and the target's CPU."""
        cpu0 = self.target.cpu() if self.target else None
        for proc in self.injectors:
            proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            done = [self._sink_done(s, kind, count) for s in self.sinks]
            if all(t is not None for t in done):
                break
            self._check_target()
            for proc in self.sinks + self.injectors:
                if not proc.alive():
                    raise Failed(f"{proc.name} exited: {tail(proc)}")
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {timeout:.0f} s: {self._progress(kind, count)}")
            time.sleep(0.05)
        cpu = self.target.cpu() - cpu0 if self.target and cpu0 is not None else None
        starts, note = [], ""
        for proc in self.injectors:
            sent = [e for e in events(proc) if e.get("step") == step]
            if not sent:
                raise Failed(f"{proc.name} did not report its step {step}")
            starts.append(sent[-1].get("t_first", sent[-1].get("t")))
            if step == "reconnect":
                note = f"reconnected {sent[-1]['t_up'] - sent[-1]['t_asked']:.1f} s after asked"
        end = max(t for t in done if t is not None)
        return Phase(end - min(starts), cpu, note)

    def _sink_done(self, sink: Process, kind: str, count: int) -> float | None:
        for event in events(sink):
            if event["event"] == kind and (kind == "converged" or event["count"] == count):
                return float(event["t"])
        return None

    def _progress(self, kind: str, count: int) -> str:
        worst = None
        for sink in self.sinks:
            progress = [e for e in events(sink) if e["event"] == "progress"]
            if not progress:
                got = 0
            elif kind == "converged":
                got = progress[-1].get("correct", 0)
            else:
                got = progress[-1]["announced" if kind == "announced" else "withdrawn"]
            worst = got if worst is None else min(worst, got)
        return f"the {'slowest ' if len(self.sinks) > 1 else ''}sink had {worst:,} of {count:,}"


def plan(scenario: str, prefixes: int) -> tuple[int, int, int, str, bool]:
    """(injectors, sinks, prefixes per injector, injector steps, track the view)."""
    if scenario == "1x1M":
        return 1, 1, prefixes, "announce", False
    if scenario == "10x100k":
        return MANY, 1, prefixes // MANY, "announce", True
    if scenario == "fanout":
        return 1, MANY, prefixes, "announce", False
    if scenario == "withdraw":
        return 1, 1, prefixes, "announce,withdraw", False
    if scenario == "flap":
        return 1, 1, prefixes, "announce,close,reconnect", False
    raise ValueError(scenario)


def measure(name: str, scenario: str, prefixes: int, timeout: float, work: Path) -> list[Row]:
    """Run ``scenario`` against target ``name`` (or ``direct``); one Row per phase."""
    injectors, sinks, per, steps, track = plan(scenario, prefixes)
    held = per * injectors  # paths the target holds after the load
    first = {"withdraw": "withdraw", "flap": "flap-down"}.get(scenario, scenario)
    rows: list[Row] = []
    row = Row(name, first, held)
    with Lab(f"{name}-{scenario}", work / f"{name}-{scenario}") as lab:
        run = Run(lab, "" if name == "direct" else name, injectors, sinks)
        try:
            if name != "direct":
                run.start_target()
                assert run.target is not None
                row.version = run.target.version
            run.start_peers(per, steps, track)
            time.sleep(SETTLE)
            rss0, _ = run.memory()
            load = run.phase("announce", "converged" if track else "announced", per, timeout)
            time.sleep(0.5)
            rss1, _ = run.memory()
            per_route = (rss1 - rss0) / held if run.target else None
            if scenario in ("withdraw", "flap"):
                row.note = f"load {load.seconds:.2f} s"
                row.bytes_per_route = per_route
                time.sleep(SETTLE)
                if scenario == "withdraw":
                    out = run.phase("withdraw", "withdrawn", per, timeout)
                else:
                    out = run.phase("close", "withdrawn", per, timeout)
                row.seconds, row.cpu_s = out.seconds, out.cpu_s
                if scenario == "flap":
                    rows.append(row)
                    row = Row(name, "flap-up", held, row.version)
                    time.sleep(SETTLE)
                    up = run.phase("reconnect", "announced", 2 * per, timeout)
                    row.seconds, row.cpu_s, row.note = up.seconds, up.cpu_s, up.note
            else:
                row.seconds, row.cpu_s, row.bytes_per_route = load.seconds, load.cpu_s, per_route
        except (Failed, TimeoutError) as exc:
            row.error = str(exc)
        except Exception as exc:  # one run's failure must not lose the others
            row.error = f"{type(exc).__name__}: {exc}"
        if run.target:
            peak = run.target.memory()[1] if run.target.process.alive() else 0
            for r in [*rows, row]:
                r.peak_rss_mb = peak / 1e6 if peak else None
    rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    """Measure every (scenario, target) in turn; print the report."""
    prefixes = args.prefixes or (QUICK_PREFIXES if args.quick else FULL_PREFIXES)
    if not bgp.PER_UPDATE <= prefixes <= bgp.MAX_PREFIXES:
        print(f"--prefixes must be {bgp.PER_UPDATE}..{bgp.MAX_PREFIXES}", file=sys.stderr)
        return 2
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    scenarios = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    bad = set(names) - set(ALL_TARGETS) or set(scenarios) - set(SCENARIOS)
    if bad:
        print(f"unknown target or scenario: {', '.join(sorted(bad))}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("pybgp bench reflect needs root (network namespaces)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pybgp-bench-reflect-"))
    rows: list[Row] = []
    try:
        for scenario in scenarios:
            for name in names:
                if name == "direct" and scenario not in DIRECT_SCENARIOS:
                    continue
                why = targets.missing(name) if name != "direct" else None
                if why:
                    rows.append(Row(name, scenario, 0, error=f"skipped: {why}"))
                    continue
                log(f"{scenario}: {name} ...")
                for row in measure(name, scenario, prefixes, args.timeout, work):
                    what = row.error or f"{row.seconds:.2f} s, {row.rate:,.0f}/s"
                    log(f"{scenario}: {name}: {row.scenario} {what}")
                    rows.append(row)
    finally:
        if args.keep:
            log(f"configurations and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        report = {"prefixes": prefixes, "rows": [r.as_dict() for r in rows]}
        print(json.dumps(report, indent=2))
    else:
        print(render(rows, prefixes))
        print(f"\n(total {time.perf_counter() - _STARTED:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pybgp bench reflect", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
