#!/usr/bin/env python3
"""Regenerate the golden BGP packet captures in ``tests/vectors/captures/``.

Every scenario runs two real BGP daemons (BIRD 2, GoBGP, FRR bgpd, ExaBGP) in a
pair of throw-away network namespaces joined by a veth pair, records the BGP
session with ``tcpdump`` on one end of the link, drives the daemons through their
CLIs (announce, withdraw, route refresh, administrative shutdown) and stores the
result as a classic pcap file.  ``bird.pcap`` is additionally converted to pcapng
with ``editcap`` so the decoder's pcapng reader has a real file to chew on.

Run as root from the repository root::

    python3 tests/vectors/make_captures.py            # all scenarios
    python3 tests/vectors/make_captures.py bird frr   # only some of them
    python3 tests/vectors/make_captures.py --list     # list the scenarios

Network hygiene: all traffic stays inside namespaces named ``pybgpcap-*`` that the
script creates and always deletes again (``try``/``finally``); the only addresses
used are from 198.18.0.0/15 and 2001:db8::/32.  Processes are started with their
own process group and stopped by that id, never by name.

Only the Python 3.11 standard library is used.  Needed on the host: ``ip``
(iproute2), ``tcpdump``, ``editcap``, ``bird``/``birdc``, ``gobgpd``/``gobgp``,
``/usr/lib/frr/bgpd`` with ``vtysh``, and ExaBGP 5.0.15 (the repository venv's
``.venv/bin/exabgp`` is preferred, else ``exabgp`` on ``PATH``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CAPTURES = HERE / "captures"
NS_PREFIX = "pybgpcap-"
PCAPNG_FROM = "bird"  # the one scenario that is also stored as pcapng
FRR_BGPD = "/usr/lib/frr/bgpd"
CMD_TIMEOUT = 20.0
ESTABLISH_TIMEOUT = 40.0


def exabgp_binary() -> str:
    """Return the ExaBGP executable: the repo venv's one if present, else ``PATH``'s."""
    venv = REPO / ".venv" / "bin" / "exabgp"
    if venv.exists():
        return str(venv)
    found = shutil.which("exabgp")
    if found is None:
        raise RuntimeError("exabgp not found (expected .venv/bin/exabgp)")
    return found


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[make_captures] {message}", file=sys.stderr, flush=True)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.2 s until it is true; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Daemon:
    """A process started inside a namespace; stopped through its own process group."""

    name: str
    proc: subprocess.Popen[bytes]
    logfile: Path

    def stop(self, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
        """Send ``sig`` to the process group, escalate to SIGKILL after ``grace`` s.

        The group is signalled even when the leader has already exited, so that
        helpers it started (ExaBGP's API process) cannot outlive it.
        """
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group

    def log_text(self) -> str:
        """Return what the process has written to its log so far."""
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Lab:
    """Namespaces, links and processes of one scenario; ``close`` removes them all."""

    tag: str
    workdir: Path
    namespaces: list[str] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)

    # -- namespaces and links -------------------------------------------------
    def netns(self, role: str) -> str:
        """Create namespace ``pybgpcap-<tag>-<role>`` with ``lo`` up; return its name."""
        name = f"{NS_PREFIX}{self.tag}-{role}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.namespaces.append(name)
        self.run(name, ["ip", "link", "set", "lo", "up"])
        # No router solicitations; no duplicate address detection, so that the
        # link-local address (used as second IPv6 next hop) is valid at once.
        for scope in ("all", "default"):
            for knob, value in (("router_solicitations", 0), ("accept_dad", 0)):
                self.run(name, ["sysctl", "-q", "-w", f"net.ipv6.conf.{scope}.{knob}={value}"])
        return name

    def pair(self, role_a: str, role_b: str, subnet: int) -> tuple[str, str]:
        """Two namespaces joined by ``eth0``: side a is 198.18.<subnet>.1/24 and
        2001:db8:<subnet>::1/64, side b the same with .2 / ::2."""
        ns_a, ns_b = self.netns(role_a), self.netns(role_b)
        self.link(ns_a, ns_b, subnet)
        return ns_a, ns_b

    def link(self, ns_a: str, ns_b: str, subnet: int) -> None:
        """Join ``ns_a`` and ``ns_b`` by a veth pair named ``eth0`` on both ends.

        The pair is created inside ``ns_a`` and its peer moved straight into
        ``ns_b``, so it never appears in the host's namespace.  The MAC addresses
        are fixed (``02:00:00:00:<subnet>:01`` and ``...:02``) so that the IPv6
        link-local addresses, which some daemons put into MP_REACH_NLRI next
        hops, are the same on every run.  IPv6 addresses are added ``nodad``.
        """
        mac_a, mac_b = (f"02:00:00:00:{subnet:02x}:{end:02x}" for end in (1, 2))
        veth = f"eth0 address {mac_a} type veth peer name eth0 address {mac_b} netns {ns_b}"
        self.run(ns_a, ["ip", "link", "add", *veth.split()])
        for end, ns in ((1, ns_a), (2, ns_b)):
            for addr in (f"198.18.{subnet}.{end}/24", f"2001:db8:{subnet}::{end}/64"):
                extra = ["nodad"] if ":" in addr else []
                self.run(ns, ["ip", "addr", "add", addr, "dev", "eth0", *extra])
            self.run(ns, ["ip", "link", "set", "eth0", "up"])

    # -- processes ------------------------------------------------------------
    def run(
        self, ns: str, argv: Sequence[str], check: bool = True, env: dict[str, str] | None = None
    ) -> str:
        """Run ``argv`` inside ``ns`` and return its stdout (stderr folded in)."""
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *argv],
            capture_output=True,
            text=True,
            timeout=CMD_TIMEOUT,
            env=env,
        )
        output = done.stdout + done.stderr
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {ns} failed ({done.returncode}): {output}")
        return output

    def spawn(
        self, ns: str, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> Daemon:
        """Start ``argv`` inside ``ns`` in its own session; output goes to ``<name>.log``."""
        logfile = self.workdir / f"{name}.log"
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=self.workdir,
            )
        daemon = Daemon(name, proc, logfile)
        self.daemons.append(daemon)
        return daemon

    def wait_listening(self, ns: str, port: int = 179) -> None:
        """Block until something listens on TCP ``port`` inside ``ns``."""
        wait_until(
            lambda: f":{port} " in self.run(ns, ["ss", "-Hltn"], check=False),
            15,
            f"a listener on port {port} in {ns}",
        )

    def capture(self, ns: str, pcap: Path, iface: str = "eth0") -> Daemon:
        """Start ``tcpdump`` on ``iface`` in ``ns`` and wait until it is listening."""
        # -U: write each packet at once; -Z root: keep the right to write the file.
        argv = ["tcpdump", "-i", iface, "-w", str(pcap), "-s", "0", "-U", "-Z", "root"]
        argv += ["tcp", "port", "179"]
        dump = self.spawn(ns, "tcpdump", argv)
        wait_until(lambda: "listening on" in dump.log_text(), 10, "tcpdump to listen")
        return dump

    def finish_capture(self, dump: Daemon) -> None:
        """Stop ``tcpdump`` with SIGINT so it flushes and closes the file."""
        dump.stop(signal.SIGINT)
        log(dump.log_text().strip().replace("\n", "; "))

    def write(self, name: str, text: str) -> Path:
        """Write a configuration file into the work directory and return its path."""
        path = self.workdir / name
        path.write_text(text)
        return path

    def close(self) -> None:
        """Stop every process (newest first) and delete every namespace."""
        for daemon in reversed(self.daemons):
            try:
                daemon.stop()
            except Exception as exc:  # keep cleaning up whatever happens
                log(f"could not stop {daemon.name}: {exc}")
        self.daemons.clear()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        self.namespaces.clear()


@contextlib.contextmanager
def lab(tag: str, workdir: Path) -> Iterator[Lab]:
    """Yield a fresh :class:`Lab` whose namespaces and processes vanish on exit."""
    scratch = workdir / tag
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o777)  # FRR drops privileges to user frr and writes here
    the_lab = Lab(tag, scratch)
    try:
        yield the_lab
    except Exception:
        for daemon in the_lab.daemons:
            log(f"--- log of {daemon.name} ---\n{daemon.log_text()[-3000:]}")
        raise
    finally:
        the_lab.close()


# ---------------------------------------------------------------------------
# Daemon helpers
# ---------------------------------------------------------------------------
class Speaker:
    """What the BIRD, GoBGP and FRR wrappers share: waiting for a session."""

    name: str

    def established(self, peer: str) -> bool:
        raise NotImplementedError

    def wait_established(self, peer: str) -> None:
        """Block until the session named ``peer`` (a protocol or an address) is up."""
        wait_until(
            lambda: self.established(peer),
            ESTABLISH_TIMEOUT,
            f"{self.name} session {peer} Established",
        )


class Bird(Speaker):
    """A BIRD 2 instance in a namespace, controlled through its own socket."""

    def __init__(self, the_lab: Lab, ns: str, name: str, config: str) -> None:
        self.lab, self.ns, self.name = the_lab, ns, name
        conf = the_lab.write(f"{name}.conf", config)
        self.sock = the_lab.workdir / f"{name}.ctl"
        pidfile = the_lab.workdir / f"{name}.pid"
        argv = ["bird", "-f", "-c", str(conf), "-s", str(self.sock), "-P", str(pidfile)]
        the_lab.spawn(ns, name, argv)
        wait_until(self.sock.exists, 10, f"{name} control socket")

    def cli(self, *words: str) -> str:
        """Run one ``birdc`` command and return its output."""
        out = self.lab.run(self.ns, ["birdc", "-s", str(self.sock), *words])
        last = out.strip().splitlines()[-1] if out.strip() else ""
        log(f"{self.name}> {' '.join(words)}: {last}")
        return out

    def established(self, proto: str) -> bool:
        """True once BGP protocol ``proto`` is in state Established."""
        out = self.lab.run(
            self.ns, ["birdc", "-s", str(self.sock), "show", "protocols", proto], check=False
        )
        return "Established" in out


class GoBGP(Speaker):
    """A ``gobgpd`` instance in a namespace; the CLI talks to its gRPC port on ``lo``."""

    def __init__(
        self, the_lab: Lab, ns: str, name: str, config: str, hostname: str = "gobgp"
    ) -> None:
        self.lab, self.ns, self.name = the_lab, ns, name
        conf = the_lab.write(f"{name}.toml", config)
        # GoBGP always sends the FQDN capability with the system host name; a
        # private UTS namespace makes that name fixed instead of the host's.
        uts = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
        gobgpd = ["gobgpd", "-f", str(conf), "-l", "info", "--log-plain"]
        gobgpd += ["--api-hosts=127.0.0.1:50051", "--pprof-disable"]
        the_lab.spawn(ns, name, [*uts, *gobgpd])
        wait_until(lambda: self._ok("global"), 15, f"{name} gRPC API")

    def _ok(self, *words: str) -> bool:
        """True if ``gobgp WORDS`` exits with status 0."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, "gobgp", *words],
            capture_output=True,
            text=True,
            timeout=CMD_TIMEOUT,
            check=False,
        )
        return out.returncode == 0

    def cli(self, *words: str) -> str:
        """Run one ``gobgp`` command and return its output."""
        out = self.lab.run(self.ns, ["gobgp", *words])
        log(f"{self.name}> {' '.join(words)} {out.strip()}")
        return out

    def established(self, peer: str) -> bool:
        """True once the session to ``peer`` is established."""
        out = self.lab.run(self.ns, ["gobgp", "neighbor", peer, "-j"], check=False)
        try:
            state = json.loads(out)["state"]["session_state"]
        except (ValueError, KeyError, TypeError):
            return False
        return state in (6, "established", "ESTABLISHED")


class Frr(Speaker):
    """FRR ``bgpd`` without zebra (``-Z``) in a namespace, driven through ``vtysh``."""

    def __init__(self, the_lab: Lab, ns: str, name: str, config: str, listen: str) -> None:
        self.lab, self.ns, self.name = the_lab, ns, name
        conf = the_lab.write(f"{name}.conf", config)
        self.vty_dir = the_lab.workdir / f"{name}-vty"
        self.vty_dir.mkdir()
        shutil.chown(self.vty_dir, "frr", "frr")
        pidfile = the_lab.workdir / f"{name}.pid"
        argv = [FRR_BGPD, "-Z", "-f", str(conf), "-i", str(pidfile), "-l", listen]
        argv += ["--vty_socket", str(self.vty_dir), "-u", "frr", "-g", "frr"]
        the_lab.spawn(ns, name, argv)
        wait_until((self.vty_dir / "bgpd.vty").exists, 15, f"{name} vty socket")

    def vtysh(self, *commands: str) -> str:
        """Run ``vtysh`` with one ``-c`` per command (in order) and return its output."""
        argv = ["vtysh", "--vty_socket", str(self.vty_dir), "-d", "bgpd"]
        for command in commands:
            argv += ["-c", command]
        out = self.lab.run(self.ns, argv)
        log(f"{self.name}> {' | '.join(commands)} {out.strip()}")
        return out

    def established(self, peer: str) -> bool:
        """True once the session to ``peer`` is Established."""
        vtysh = ["vtysh", "--vty_socket", str(self.vty_dir), "-d", "bgpd"]
        out = self.lab.run(self.ns, [*vtysh, "-c", f"show bgp neighbors {peer} json"], check=False)
        try:
            return json.loads(out)[peer]["bgpState"] == "Established"
        except (ValueError, KeyError, TypeError):
            return False


# The ExaBGP API process: copy lines from a FIFO (written by this script) to
# ExaBGP.  Opening the FIFO read-write means it never sees end-of-file.
EXABGP_API_FORWARDER = """\
import os
import sys

with os.fdopen(os.open(sys.argv[1], os.O_RDWR), "r") as fifo:
    for line in fifo:
        sys.stdout.write(line)
        sys.stdout.flush()
"""


class ExaBGP:
    """An ExaBGP 5 instance in a namespace, driven through an API process and a FIFO.

    ``config`` holds the ``neighbor`` blocks; each should contain
    ``api { processes [ ctl ]; }`` to accept commands sent with :meth:`command`.
    ExaBGP never listens here (``exabgp.tcp.bind`` stays empty): it always
    connects out, so its peer is configured passive and must already listen.
    ``exabgp.tcp.attempts=1`` stops ExaBGP from reconnecting right after the
    closing NOTIFICATION, which would add a stray OPEN to the capture.
    """

    def __init__(self, the_lab: Lab, ns: str, name: str, config: str) -> None:
        self.lab, self.name = the_lab, name
        self.fifo = the_lab.workdir / f"{name}.fifo"
        os.mkfifo(self.fifo)
        forwarder = the_lab.write(f"{name}-api.py", EXABGP_API_FORWARDER)
        conf = the_lab.write(
            f"{name}.conf",
            (
                f"process ctl {{\n  run {sys.executable} -u {forwarder} {self.fifo};\n"
                "  encoder text;\n}\n" + config
            ),
        )
        env = dict(
            os.environ,
            exabgp_daemon_user="root",
            exabgp_api_cli="false",
            exabgp_daemon_daemonize="false",
            exabgp_log_destination="stdout",
            exabgp_tcp_bind="",
            exabgp_tcp_attempts="1",
        )
        the_lab.spawn(ns, name, [exabgp_binary(), str(conf)], env=env)

    def command(self, line: str) -> None:
        """Send one API command line (e.g. ``announce route ...``) to ExaBGP."""
        deadline = time.monotonic() + 10
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:  # ENXIO: the API process has not opened the FIFO yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        log(f"{self.name}< {line}")


def gobgp_passive_config(
    asn: int, router_id: str, neighbor: str, peer_as: int, restart_time: int
) -> str:
    """gobgpd TOML: one passive eBGP neighbour, IPv4 + IPv6 unicast, graceful restart."""
    families = "".join(
        f"""
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{family}-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true"""
        for family in ("ipv4", "ipv6")
    )
    return f"""
[global.config]
  as = {asn}
  router-id = "{router_id}"
  local-address-list = ["{router_id}"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {peer_as}
  [neighbors.transport.config]
    local-address = "{router_id}"
    passive-mode = true
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = {restart_time}{families}
"""


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------
def scenario_bird(the_lab: Lab, pcap: Path) -> None:
    """BIRD 2 (AS 4200000001) <-> GoBGP (AS 64512), eBGP, IPv4 + IPv6 unicast."""
    ns_a, ns_b = the_lab.pair("bird", "gobgp", subnet=1)
    dump = the_lab.capture(ns_a, pcap)
    gobgp = GoBGP(
        the_lab,
        ns_b,
        "gobgpd",
        gobgp_passive_config(64512, "198.18.1.2", "198.18.1.1", 4200000001, 120),
    )
    bird = Bird(
        the_lab,
        ns_a,
        "bird",
        """
router id 198.18.1.1;
log stderr all;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.244.1.0/24 blackhole;
  route 10.244.2.0/24 blackhole;
  route 10.244.3.0/24 blackhole;
  route 198.19.1.0/24 blackhole;
}
protocol static s4w { ipv4; route 10.244.9.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; route 2001:db8:101::/48 blackhole; }
protocol static s6w { ipv6; route 2001:db8:109::/48 blackhole; }
# Attributes are set in the export filter, not in per-route blocks such as
# "route P blackhole { bgp_med = 10; bgp_community.add(...); }": with BIRD
# 2.0.12 the MED of such a block went missing on the wire when the block also
# set a (large) community.
filter to_peer {
  if net = 10.244.1.0/24 then { bgp_med = 10; bgp_community.add((64512, 101)); }
  if net ~ [10.244.2.0/24, 10.244.3.0/24] then {
    bgp_med = 20;
    bgp_large_community.add((4200000001, 2, 3));
  }
  if net = 198.19.1.0/24 then {
    bgp_ext_community.add((rt, 4200000001, 7));
    bgp_ext_community.add((ro, 64512, 9));
    bgp_ext_community.add((rt, 198.18.1.1, 5));
  }
  if net = 10.244.9.0/24 then bgp_med = 99;
  if net = 2001:db8:100::/48 then bgp_med = 60;
  if net = 2001:db8:101::/48 then bgp_community.add((64512, 601));
  bgp_community.add((65535, 65281));
  bgp_large_community.add((4200000001, 0, 1));
  accept;
}
protocol bgp gobgp {
  local 198.18.1.1 as 4200000001;
  neighbor 198.18.1.2 as 64512;
  connect delay time 1;
  error wait time 1, 2;
  graceful restart on;
  ipv4 { import all; export filter to_peer; };
  ipv6 { import all; export filter to_peer; next hop address 2001:db8:1::1; };
}
""",
    )
    bird.wait_established("gobgp")
    time.sleep(1.5)
    gobgp.cli(
        "global", "rib", "add", "10.244.128.0/24", "community", "64512:7", "med", "5", "-a", "ipv4"
    )
    gobgp.cli("global", "rib", "add", "2001:db8:180::/48", "-a", "ipv6")
    time.sleep(1)
    bird.cli("disable", "s4w")  # IPv4 withdrawal (WITHDRAWN ROUTES field)
    bird.cli("disable", "s6w")  # IPv6 withdrawal (MP_UNREACH_NLRI)
    time.sleep(1)
    # BIRD sends ROUTE-REFRESH for IPv4 and IPv6; GoBGP re-sends its routes.
    # (``gobgp neighbor X softresetin`` would not help: GoBGP 3.10 replays its
    # Adj-RIB-In locally and sends nothing on the wire.)
    bird.cli("reload", "in", "gobgp")
    time.sleep(1.5)
    bird.cli("disable", "gobgp", '"pybgp golden capture: maintenance"')
    time.sleep(1)
    the_lab.finish_capture(dump)


def scenario_bird_addpath(the_lab: Lab, pcap: Path) -> None:
    """BIRD 2 (AS 4200000002) <-> BIRD 2 (AS 4200000020): ADD-PATH both ways, LLGR."""
    ns_a, ns_b = the_lab.pair("birda", "birdb", subnet=2)
    dump = the_lab.capture(ns_a, pcap)
    session = """
  connect delay time 1;
  error wait time 1, 2;
  graceful restart on;
  long lived graceful restart on;
  long lived stale time 3600;
  enable extended messages on;
  ipv4 { import all; export filter to_peer; add paths on; };
  ipv6 { import all; export filter to_peer; add paths on; next hop address %s; };
"""
    # Three static protocols originate the same prefixes; with ``add paths`` BIRD
    # exports every one of them, each under its own path identifier.
    bird_b = Bird(
        the_lab,
        ns_b,
        "bird-b",
        """
router id 198.18.2.2;
log stderr all;
protocol device {}
protocol static sx { ipv4; route 10.244.22.0/24 blackhole; }
protocol static sy { ipv4; route 10.244.22.0/24 blackhole; route 198.19.2.0/25 blackhole; }
protocol static sz { ipv6; route 2001:db8:220::/48 blackhole; }
filter to_peer {
  if proto = "sx" then bgp_med = 100;
  if proto = "sy" then bgp_med = 200;
  accept;
}
protocol bgp peer_a {
  local 198.18.2.2 as 4200000020;
  neighbor 198.18.2.1 as 4200000002;
  passive on;
"""
        + session % "2001:db8:2::2"
        + "}\n",
    )
    bird_a = Bird(
        the_lab,
        ns_a,
        "bird-a",
        """
router id 198.18.2.1;
log stderr all;
protocol device {}
protocol static sa {
  ipv4; route 10.244.20.0/24 blackhole; route 10.244.21.0/24 blackhole;
}
protocol static sb { ipv4; route 10.244.20.0/24 blackhole; route 10.244.21.0/24 blackhole; }
protocol static sc { ipv4; route 10.244.20.0/24 blackhole; }
protocol static s6a { ipv6; route 2001:db8:200::/48 blackhole; }
protocol static s6b { ipv6; route 2001:db8:200::/48 blackhole; }
filter to_peer {
  if proto = "sa" then { bgp_med = 10; bgp_community.add((64520, 1)); }
  if proto = "sb" then { bgp_med = 20; bgp_community.add((64520, 2)); }
  if proto = "sc" then { bgp_med = 30; bgp_large_community.add((4200000002, 3, 3)); }
  if proto = "s6a" then bgp_med = 61;
  if proto = "s6b" then bgp_med = 62;
  accept;
}
protocol bgp peer_b {
  local 198.18.2.1 as 4200000002;
  neighbor 198.18.2.2 as 4200000020;
"""
        + session % "2001:db8:2::1"
        + "}\n",
    )
    bird_a.wait_established("peer_b")
    bird_b.wait_established("peer_a")
    time.sleep(2)
    bird_a.cli("disable", "sb")  # withdraws one path of 10.244.20/24 and 10.244.21/24
    bird_a.cli("disable", "s6b")  # withdraws one IPv6 path (MP_UNREACH with path id)
    time.sleep(1)
    bird_a.cli("reload", "in", "peer_b")  # ROUTE-REFRESH; B answers with BoRR ... EoRR
    time.sleep(2)
    bird_b.cli("disable", "peer_a", '"pybgp golden capture: add-path session closing"')
    time.sleep(1)
    the_lab.finish_capture(dump)


def scenario_gobgp(the_lab: Lab, pcap: Path) -> None:
    """GoBGP (AS 4200000003) <-> ExaBGP (AS 64503), eBGP, IPv4 + IPv6, graceful restart."""
    ns_g, ns_x = the_lab.pair("gobgp", "exabgp", subnet=3)
    dump = the_lab.capture(ns_g, pcap)
    gobgp = GoBGP(
        the_lab,
        ns_g,
        "gobgpd",
        gobgp_passive_config(4200000003, "198.18.3.1", "198.18.3.2", 64503, 90),
    )
    the_lab.wait_listening(ns_g)
    exabgp = ExaBGP(
        the_lab,
        ns_x,
        "exabgp",
        """
neighbor 198.18.3.1 {
  router-id 198.18.3.2;
  local-address 198.18.3.2;
  local-as 64503;
  peer-as 4200000003;
  hold-time 30;
  family { ipv4 unicast; ipv6 unicast; }
  capability { route-refresh; graceful-restart 60; }
  api { processes [ ctl ]; }
  static {
    route 10.244.35.0/24 next-hop 198.18.3.2 community [ 64503:35 ];
  }
}
""",
    )
    gobgp.wait_established("198.18.3.2")
    time.sleep(1.5)
    rib_add = ("global", "rib", "add")
    gobgp.cli(
        *rib_add,
        "10.244.30.0/24",
        "nexthop",
        "198.18.3.1",
        "community",
        "64503:100,65535:65281",
        "med",
        "30",
        "-a",
        "ipv4",
    )
    gobgp.cli(
        *rib_add,
        "10.244.31.0/24",
        "nexthop",
        "198.18.3.1",
        "origin",
        "egp",
        "large-community",
        "4200000003:31:1",
        "-a",
        "ipv4",
    )
    gobgp.cli(*rib_add, "198.19.3.0/24", "nexthop", "198.18.3.1", "med", "7", "-a", "ipv4")
    gobgp.cli(
        *rib_add,
        "2001:db8:300::/48",
        "nexthop",
        "2001:db8:3::1",
        "community",
        "64503:600",
        "med",
        "60",
        "-a",
        "ipv6",
    )
    gobgp.cli(*rib_add, "2001:db8:301::/48", "nexthop", "2001:db8:3::1", "-a", "ipv6")
    time.sleep(1)
    gobgp.cli("global", "rib", "del", "10.244.31.0/24", "-a", "ipv4")
    gobgp.cli("global", "rib", "del", "2001:db8:301::/48", "-a", "ipv6")
    time.sleep(1)
    # GoBGP's ``softresetin`` only replays its Adj-RIB-In locally, so the
    # ROUTE-REFRESH comes from ExaBGP; GoBGP answers by re-sending its routes.
    gobgp.cli("neighbor", "198.18.3.2", "softresetin", "-a", "ipv4")
    exabgp.command("announce route-refresh ipv4 unicast")
    exabgp.command("announce route-refresh ipv6 unicast")
    time.sleep(1.5)
    # The deprecated ``shutdown`` (not ``disable``, which drops --reason in GoBGP
    # 3.10) puts the text into the NOTIFICATION as an RFC 9003 shutdown message.
    reason = "pybgp golden capture: gobgp shutdown"
    gobgp.cli("neighbor", "198.18.3.2", "shutdown", "--reason", reason)
    time.sleep(1)
    the_lab.finish_capture(dump)


def scenario_frr(the_lab: Lab, pcap: Path) -> None:
    """FRR bgpd (AS 4200000004) <-> BIRD 2 (AS 65004) over IPv6: roles, ext. next hop.

    BIRD runs with ``multihop``: on a direct session it sends IPv4 routes with a
    32-byte next hop (global + link-local, RFC 8950 allows it) and FRR 8.4.4
    answers with NOTIFICATION UPDATE error / Invalid Network Field.
    """
    ns_f, ns_b = the_lab.pair("frr", "bird", subnet=4)
    dump = the_lab.capture(ns_f, pcap)
    bird = Bird(
        the_lab,
        ns_b,
        "bird",
        """
router id 198.18.4.2;
log stderr all;
protocol device {}
protocol static s4 { ipv4; route 10.244.45.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:450::/48 blackhole; }
filter to_frr { bgp_large_community.add((65004, 45, 1)); accept; }
protocol bgp frr {
  local 2001:db8:4::2 as 65004;
  neighbor 2001:db8:4::1 as 4200000004;
  passive on;
  multihop;  # global next hop only: FRR 8.4 rejects a 32-byte one for IPv4 NLRI
  local role customer;
  error wait time 1, 2;
  graceful restart on;
  enable extended messages on;
  ipv4 { import all; export filter to_frr; extended next hop on; };
  ipv6 { import all; export filter to_frr; };
}
""",
    )
    the_lab.wait_listening(ns_b)
    frr = Frr(
        the_lab,
        ns_f,
        "bgpd",
        """
frr defaults traditional
hostname frr-pybgp
domainname capture.example
log stdout informational
!
route-map SET4 permit 10
 set metric 40
 set community 64504:40 64504:41
 set large-community 4200000004:40:1
 set extcommunity rt 64504:40
exit
!
route-map SET6 permit 10
 set metric 60
 set large-community 4200000004:60:1 4200000004:60:2
exit
!
router bgp 4200000004
 bgp router-id 198.18.4.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart
 neighbor 2001:db8:4::2 remote-as 65004
 neighbor 2001:db8:4::2 local-role provider
 neighbor 2001:db8:4::2 capability extended-nexthop
 neighbor 2001:db8:4::2 advertisement-interval 0
 neighbor 2001:db8:4::2 timers connect 1
 !
 address-family ipv4 unicast
  network 10.244.40.0/24 route-map SET4
  network 10.244.41.0/24
  network 198.19.4.0/24 route-map SET4
  neighbor 2001:db8:4::2 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:400::/48 route-map SET6
  network 2001:db8:401::/48
  neighbor 2001:db8:4::2 activate
 exit-address-family
exit
!
""",
        listen="2001:db8:4::1",
    )
    frr.wait_established("2001:db8:4::2")
    time.sleep(2)
    router = ("configure terminal", "router bgp 4200000004")
    frr.vtysh(*router, "address-family ipv4 unicast", "no network 10.244.41.0/24")
    frr.vtysh(*router, "address-family ipv6 unicast", "no network 2001:db8:401::/48")
    time.sleep(1)
    frr.vtysh("clear bgp * soft in")  # FRR sends ROUTE-REFRESH; BIRD answers BoRR..EoRR
    time.sleep(1.5)
    bird.cli("reload", "in", "frr")  # BIRD sends ROUTE-REFRESH; FRR answers BoRR..EoRR
    time.sleep(1.5)
    frr.vtysh(
        *router,
        "neighbor 2001:db8:4::2 shutdown message pybgp golden capture: FRR neighbor shutdown",
    )
    time.sleep(1)
    the_lab.finish_capture(dump)


def scenario_exabgp(the_lab: Lab, pcap: Path) -> None:
    """ExaBGP (AS 4200000005) <-> BIRD 2 (AS 4200000005), iBGP, ADD-PATH, many attributes."""
    ns_x, ns_b = the_lab.pair("exabgp", "bird", subnet=5)
    dump = the_lab.capture(ns_x, pcap)
    bird = Bird(
        the_lab,
        ns_b,
        "bird",
        """
router id 198.18.5.2;
log stderr all;
protocol device {}
protocol static s4 { ipv4; route 10.244.55.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:550::/48 blackhole; }
protocol bgp exa {
  local 198.18.5.2 as 4200000005;
  neighbor 198.18.5.1 as 4200000005;
  direct;
  passive on;
  error wait time 1, 2;
  ipv4 { import all; export all; add paths on; };
  ipv6 { import all; export all; add paths on; next hop address 2001:db8:5::2; };
}
""",
    )
    the_lab.wait_listening(ns_b)
    exabgp = ExaBGP(
        the_lab,
        ns_x,
        "exabgp",
        """
neighbor 198.18.5.2 {
  router-id 198.18.5.1;
  local-address 198.18.5.1;
  local-as 4200000005;
  peer-as 4200000005;
  hold-time 60;
  adj-rib-out true;
  family { ipv4 unicast; ipv6 unicast; }
  capability { route-refresh; add-path send/receive; }
  api { processes [ ctl ]; }
  static {
    route 10.244.50.0/24 {
      next-hop 198.18.5.1;
      origin igp;
      as-path [ 64500 64501 4200000099 ];
      med 50;
      local-preference 250;
      community [ 64505:50 no-export ];
      large-community [ 4200000005:50:1 ];
      extended-community [ target:64505:50 origin:198.18.5.1:7 ];
      originator-id 198.18.5.100;
      cluster-list [ 198.18.5.200 198.18.5.201 ];
      atomic-aggregate;
      aggregator ( 4200000099:198.18.5.99 );
    }
    route 10.244.51.0/24 next-hop 198.18.5.1 path-information 0.0.0.1 med 10;
    route 10.244.51.0/24 next-hop 198.18.5.3 path-information 0.0.0.2 med 20 origin egp;
    route 2001:db8:500::/48 next-hop 2001:db8:5::1 local-preference 120 as-path [ 64500 ];
  }
}
""",
    )
    bird.wait_established("exa")
    time.sleep(1.5)
    exabgp.command(
        "announce route 198.19.5.0/24 next-hop 198.18.5.1 local-preference 300 "
        "community [ 65535:65281 ] origin incomplete"
    )
    exabgp.command(
        "announce route 2001:db8:501::/48 next-hop 2001:db8:5::1 med 5 "
        "large-community [ 4200000005:501:1 ]"
    )
    time.sleep(1)
    exabgp.command("withdraw route 198.19.5.0/24 next-hop 198.18.5.1")
    exabgp.command("withdraw route 2001:db8:501::/48 next-hop 2001:db8:5::1")
    time.sleep(1)
    bird.cli("reload", "in", "exa")  # BIRD sends ROUTE-REFRESH, ExaBGP re-sends its routes
    time.sleep(1.5)
    exabgp.command("neighbor 198.18.5.2 teardown 2")  # Cease / Administrative Shutdown
    time.sleep(1.5)
    the_lab.finish_capture(dump)


def scenario_exabgp_as2(the_lab: Lab, pcap: Path) -> None:
    """ExaBGP (AS 65006, asn4 disabled) <-> BIRD 2 (AS 4200000006): AS_TRANS, AS4_PATH."""
    ns_x, ns_b = the_lab.pair("exabgp", "bird", subnet=6)
    dump = the_lab.capture(ns_x, pcap)
    bird = Bird(
        the_lab,
        ns_b,
        "bird",
        """
router id 198.18.6.2;
log stderr all;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.244.60.0/24 blackhole;
  route 10.244.61.0/24 blackhole;
  route 198.19.6.0/24 blackhole;
}
filter to_exa {
  # 4-octet ASNs in the path force AS_TRANS into AS_PATH and an AS4_PATH.
  if net = 10.244.60.0/24 then bgp_path.prepend(4200000066);
  if net = 10.244.61.0/24 then { bgp_path.prepend(64600); bgp_path.prepend(4200000067); }
  bgp_community.add((65006, 6));
  accept;
}
protocol bgp exa {
  local 198.18.6.2 as 4200000006;
  neighbor 198.18.6.1 as 65006;
  passive on;
  error wait time 1, 2;
  ipv4 { import all; export filter to_exa; };
}
""",
    )
    the_lab.wait_listening(ns_b)
    ExaBGP(
        the_lab,
        ns_x,
        "exabgp",
        """
neighbor 198.18.6.2 {
  router-id 198.18.6.1;
  local-address 198.18.6.1;
  local-as 65006;
  peer-as 23456;  # without asn4 ExaBGP compares this with the OPEN's My AS (AS_TRANS)
  hold-time 60;
  adj-rib-out true;
  family { ipv4 unicast; }
  capability { asn4 disable; route-refresh; }
  api { processes [ ctl ]; }
  static {
    route 10.244.65.0/24 {
      next-hop 198.18.6.1;
      as-path [ 65006 4200000065 64610 ];
      aggregator ( 4200000065:198.18.6.65 );
      community [ 65006:65 ];
    }
    route 10.244.66.0/24 next-hop 198.18.6.1 as-path [ 65006 ] med 66;
  }
}
""",
    )
    bird.wait_established("exa")
    time.sleep(1.5)
    bird.cli("reload", "in", "exa")  # ROUTE-REFRESH towards the 2-octet speaker
    time.sleep(1.5)
    bird.cli("disable", "exa", '"pybgp golden capture: AS_TRANS session down"')
    time.sleep(1)
    the_lab.finish_capture(dump)


SCENARIOS: dict[str, Callable[[Lab, Path], None]] = {
    "bird": scenario_bird,
    "bird-addpath": scenario_bird_addpath,
    "gobgp": scenario_gobgp,
    "frr": scenario_frr,
    "exabgp": scenario_exabgp,
    "exabgp-as2": scenario_exabgp_as2,
}


# ---------------------------------------------------------------------------
# Describing a capture with tshark's BGP dissector (``--describe``)
# ---------------------------------------------------------------------------
@dataclass
class Node:
    """One line of ``tshark -V`` output with the more-indented lines below it."""

    text: str
    children: list[Node] = field(default_factory=list)

    def find(self, prefix: str) -> list[Node]:
        """Return the children whose text starts with ``prefix``."""
        return [child for child in self.children if child.text.startswith(prefix)]

    def value(self, prefix: str) -> str:
        """Return the text after ``prefix`` of the first matching child, or ''."""
        found = self.find(prefix)
        return found[0].text[len(prefix) :].strip() if found else ""


def parse_tshark_tree(text: str) -> list[Node]:
    """Turn indented ``tshark -V`` text (4 spaces a level) into a forest of nodes."""
    roots: list[Node] = []
    stack: list[tuple[int, Node]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 4
        node = Node(line.strip())
        while stack and stack[-1][0] >= depth:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(node)
        stack.append((depth, node))
    return roots


def _capability(cap: Node) -> str:
    name = cap.text.removeprefix("Capability: ")
    details = [
        c.text
        for c in cap.children
        if not c.text.startswith(("Type:", "Length:"))
        and not c.text.endswith("Length: 0")
        and "Reserved" not in c.text
    ]
    return f"{name} [{'; '.join(details)}]" if details else name


def _prefixes(node: Node) -> list[str]:
    return [c.text for c in node.children if "/" in c.text]


def _describe_update(msg: Node) -> str:
    parts: list[str] = []
    withdrawn = [p for w in msg.find("Withdrawn Routes") for p in _prefixes(w)]
    if withdrawn:
        parts.append(f"withdrawn {', '.join(withdrawn)}")
    attrs = [a for pa in msg.find("Path attributes") for a in pa.children]
    nlri = [p for n in msg.find("Network Layer Reachability") for p in _prefixes(n)]
    if not attrs and not withdrawn and not nlri:
        return "UPDATE End-of-RIB IPv4 unicast"
    for attr in attrs:
        name = attr.text.removeprefix("Path Attribute - ")
        if name.startswith("MP_REACH_NLRI"):
            hops = [h.text.split(": ", 1)[1] for nh in attr.find("Next hop") for h in nh.children]
            hops = hops or [attr.value("Next hop:")]
            reach = [p for n in attr.find("Network Layer Reachability") for p in _prefixes(n)]
            name = (
                f"MP_REACH_NLRI({attr.value('Address family identifier (AFI):')} "
                f"nh={' '.join(hops)} nlri={', '.join(reach)})"
            )
        elif name.startswith("MP_UNREACH_NLRI"):
            gone = [p for w in attr.find("Withdrawn Routes") for p in _prefixes(w)]
            afi = attr.value("Address family identifier (AFI):")
            if not gone and len(attrs) == 1 and not withdrawn and not nlri:
                return f"UPDATE End-of-RIB {afi} (empty MP_UNREACH_NLRI)"
            name = f"MP_UNREACH_NLRI({afi} withdrawn={', '.join(gone)})"
        elif name.startswith("EXTENDED_COMMUNITIES"):
            carried = [e.text for ec in attr.find("Carried extended") for e in ec.children]
            name = f"EXTENDED_COMMUNITIES: {'; '.join(carried)}"
        elif name.startswith("Unknown"):
            code = attr.value("Type Code:")
            name = f"attribute {code} len={attr.value('Length:')} (not decoded by tshark)"
        parts.append(name)
    if nlri:
        parts.append(f"nlri {', '.join(nlri)}")
    return "UPDATE " + " | ".join(parts)


def describe_message(msg: Node) -> str:
    """Summarise one ``Border Gateway Protocol - ...`` subtree on one line."""
    kind = msg.text.removeprefix("Border Gateway Protocol - ").removesuffix(" Message")
    if kind == "OPEN":
        caps = [
            _capability(c)
            for op in msg.find("Optional Parameters")
            for param in op.children
            for c in param.find("Capability:")
        ]
        # tshark 4.0 does not name the RFC 9234 role values.
        caps = [
            c.replace("BGP Role [Unknown: 00]", "BGP Role [00 = Provider]").replace(
                "BGP Role [Unknown: 03]", "BGP Role [03 = Customer]"
            )
            for c in caps
        ]
        return (
            f"OPEN as={msg.value('My AS:')} hold={msg.value('Hold Time:')} "
            f"id={msg.value('BGP Identifier:')} caps: " + ", ".join(caps)
        )
    if kind == "UPDATE":
        return _describe_update(msg)
    if kind == "ROUTE-REFRESH":
        return (
            f"ROUTE-REFRESH {msg.value('Address family identifier (AFI):')} "
            f"{msg.value('Subsequent address family identifier (SAFI):')} "
            f"subtype={msg.value('Subtype:')}"
        )
    if kind == "NOTIFICATION":
        details = [
            c.text for c in msg.children if not c.text.startswith(("Marker:", "Length:", "Type:"))
        ]
        return "NOTIFICATION " + "; ".join(details)
    return kind


def describe(pcap: Path) -> list[str]:
    """Return one line per BGP message in ``pcap`` (``frame src: summary``)."""
    text = subprocess.run(
        ["tshark", "-r", str(pcap), "-V", "-Y", "bgp"], capture_output=True, text=True, check=True
    ).stdout
    lines: list[str] = []
    frame, src = "", ""
    for node in parse_tshark_tree(text):
        if node.text.startswith("Frame "):
            frame = node.text.split(":")[0].removeprefix("Frame ")
        elif node.text.startswith("Internet Protocol Version"):
            src = node.text.split("Src: ")[1].split(",")[0]
        elif node.text.startswith("Border Gateway Protocol"):
            lines.append(f"#{frame} {src}: {describe_message(node)}")
    return lines


def cleanup_stale_namespaces() -> None:
    """Delete ``pybgpcap-*`` namespaces left behind by an interrupted earlier run."""
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(NS_PREFIX):
            log(f"removing stale namespace {name}")
            subprocess.run(["ip", "netns", "del", name], check=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the selected scenarios, copy the pcaps into place."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument("--out", type=Path, default=CAPTURES, help="output directory")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep configs and daemon logs (path is printed)"
    )
    parser.add_argument(
        "--describe",
        action="store_true",
        help="do not capture; print one line per BGP message of the stored "
        "captures, decoded by tshark (to check README.md)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for name, func in SCENARIOS.items():
            print(f"{name:12} {(func.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if args.describe:
        for name in args.scenarios or list(SCENARIOS):
            print(f"== {name}.pcap")
            print("\n".join(describe(args.out / f"{name}.pcap")))
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    if os.geteuid() != 0:
        parser.error("must run as root (network namespaces, tcpdump)")
    selected = args.scenarios or list(SCENARIOS)
    args.out.mkdir(parents=True, exist_ok=True)
    cleanup_stale_namespaces()
    workdir = Path(tempfile.mkdtemp(prefix="pybgpcap-"))
    os.chmod(workdir, 0o755)
    failed: list[str] = []
    try:
        for name in selected:
            started = time.monotonic()
            log(f"=== scenario {name} ===")
            pcap = workdir / f"{name}.pcap"
            try:
                with lab(name, workdir) as the_lab:
                    SCENARIOS[name](the_lab, pcap)
            except Exception as exc:
                log(f"scenario {name} FAILED: {exc}")
                failed.append(name)
                continue
            shutil.copyfile(pcap, args.out / pcap.name)
            log(
                f"wrote {args.out / pcap.name} ({pcap.stat().st_size} bytes, "
                f"{time.monotonic() - started:.1f}s)"
            )
            if name == PCAPNG_FROM:
                pcapng = args.out / f"{name}.pcapng"
                subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(pcapng)], check=True)
                log(f"wrote {pcapng}")
    finally:
        if args.keep_workdir:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        log(f"FAILED scenarios: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
