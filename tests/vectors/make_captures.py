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

The namespaces, links and daemons come from :mod:`pybgp.lab` (imported from ``src/``,
so any Python 3.11 runs this script; it needs only the standard library).  Each daemon
runs from the configuration written here verbatim, since the captures use features
(ADD-PATH, roles, LLGR, extended messages) that the lab's generated configurations
leave out.

Network hygiene: all traffic stays inside namespaces named ``pybgpcap-<scenario>-<role>-<pid>``
that the script creates and always deletes again; the only addresses used are from
198.18.0.0/15 and 2001:db8::/32.  Processes are stopped by their PID, never by name.

Needed on the host: ``ip`` (iproute2), ``tcpdump``, ``editcap``, ``bird``/``birdc``,
``gobgpd``/``gobgp``, ``/usr/lib/frr/bgpd`` with ``vtysh``, and ExaBGP 5.0.15 (the
repository venv's ``.venv/bin/exabgp`` is preferred, else ``exabgp`` on ``PATH``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "src"))  # pybgp.lab uses the standard library only

from pybgp.lab import (  # noqa: E402
    Bird,
    ExaBGP,
    Frr,
    GoBGP,
    Lab,
    Namespace,
    PeerDaemon,
    Process,
    cleanup_stale,
    wait_until,
)

CAPTURES = HERE / "captures"
NS_PREFIX = "pybgpcap-"
PCAPNG_FROM = "bird"  # the one scenario that is also stored as pcapng
ESTABLISH_TIMEOUT = 40.0
D = TypeVar("D", bound=PeerDaemon)


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


# ---------------------------------------------------------------------------
# Namespaces, capture, daemons (thin wrappers around pybgp.lab)
# ---------------------------------------------------------------------------
def pair(the_lab: Lab, role_a: str, role_b: str, subnet: int) -> tuple[Namespace, Namespace]:
    """Two namespaces joined by ``eth0``: side a is 198.18.<subnet>.1/24 and
    2001:db8:<subnet>::1/64, side b the same with .2 / ::2.

    The MAC addresses are fixed (``02:00:00:00:<subnet>:01`` and ``...:02``) so that the
    IPv6 link-local addresses, which some daemons put into MP_REACH_NLRI next hops, are
    the same on every run.  The lab turns duplicate address detection off, so they are
    valid at once.
    """
    ns_a, ns_b = the_lab.namespace(role_a), the_lab.namespace(role_b)
    mac_a, mac_b = (f"02:00:00:00:{subnet:02x}:{end:02x}" for end in (1, 2))
    the_lab.link(
        ns_a,
        ns_b,
        [f"198.18.{subnet}.1/24", f"2001:db8:{subnet}::1/64"],
        [f"198.18.{subnet}.2/24", f"2001:db8:{subnet}::2/64"],
        macs=(mac_a, mac_b),
    )
    return ns_a, ns_b


def capture(the_lab: Lab, ns: Namespace, pcap: Path, iface: str = "eth0") -> Process:
    """Start ``tcpdump`` on ``iface`` in ``ns`` and wait until it is listening."""
    # -U: write each packet at once; -Z root: keep the right to write the file.
    argv = ["tcpdump", "-i", iface, "-w", str(pcap), "-s", "0", "-U", "-Z", "root"]
    argv += ["tcp", "port", "179"]
    dump = the_lab.spawn(ns, argv, "tcpdump")
    wait_until(lambda: "listening on" in dump.log_text(), 10, "tcpdump to listen")
    return dump


def finish_capture(dump: Process) -> None:
    """Stop ``tcpdump`` with SIGINT so it flushes and closes the file."""
    dump.stop(sig=signal.SIGINT)
    log(dump.log_text().strip().replace("\n", "; "))


def start(
    kind: type[D],
    the_lab: Lab,
    ns: Namespace,
    asn: int,
    router_id: str,
    config_text: str,
    **options: Any,
) -> D:
    """Start a ``kind`` daemon from its verbatim configuration and return it."""
    daemon = kind(
        the_lab, ns, asn=asn, router_id=router_id, neighbors=(), config_text=config_text, **options
    )
    daemon.start()
    return daemon


def established(daemon: PeerDaemon, peer: str) -> None:
    """Block until ``daemon``'s session ``peer`` (an address, or a BIRD protocol) is up."""
    daemon.wait_established(peer, timeout=ESTABLISH_TIMEOUT)


def birdc(bird: Bird, *words: str) -> str:
    """Run one ``birdc`` command and return its output."""
    out = bird.birdc(*words)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    log(f"{bird.label}> {' '.join(words)}: {last}")
    return out


def gobgp_cli(daemon: GoBGP, *words: str) -> str:
    """Run one ``gobgp`` command and return its output."""
    out = daemon.gobgp(*words)
    log(f"{daemon.label}> {' '.join(words)} {out.strip()}")
    return out


def vtysh(frr: Frr, *commands: str) -> str:
    """Run ``vtysh`` with one ``-c`` per command (in order) and return its output."""
    out = frr.vtysh(*commands)
    log(f"{frr.label}> {' | '.join(commands)} {out.strip()}")
    return out


def start_exabgp(the_lab: Lab, ns: Namespace, asn: int, router_id: str, config: str) -> ExaBGP:
    """Start ExaBGP with the ``neighbor`` blocks of ``config``.

    Each block should contain ``api { processes [ api ]; }`` to accept commands sent with
    :func:`exacmd`.  ExaBGP never listens here (no passive neighbours): it always
    connects out, so its peer is configured passive and must already listen.
    ``tcp_attempts=1`` stops ExaBGP from reconnecting right after the closing
    NOTIFICATION, which would add a stray OPEN to the capture.
    """
    return start(
        ExaBGP, the_lab, ns, asn, router_id, config, tcp_attempts=1, binary=exabgp_binary()
    )


def exacmd(daemon: ExaBGP, line: str) -> None:
    """Send one API command line (e.g. ``announce route ...``) to ExaBGP."""
    daemon.command(line)
    log(f"{daemon.label}< {line}")


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
    ns_a, ns_b = pair(the_lab, "bird", "gobgp", subnet=1)
    dump = capture(the_lab, ns_a, pcap)
    gobgp = start(
        GoBGP,
        the_lab,
        ns_b,
        64512,
        "198.18.1.2",
        config_text=gobgp_passive_config(64512, "198.18.1.2", "198.18.1.1", 4200000001, 120),
    )
    bird = start(
        Bird,
        the_lab,
        ns_a,
        4200000001,
        "198.18.1.1",
        config_text="""
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
    established(bird, "gobgp")
    time.sleep(1.5)
    gobgp_cli(
        gobgp,
        "global",
        "rib",
        "add",
        "10.244.128.0/24",
        "community",
        "64512:7",
        "med",
        "5",
        "-a",
        "ipv4",
    )
    gobgp_cli(gobgp, "global", "rib", "add", "2001:db8:180::/48", "-a", "ipv6")
    time.sleep(1)
    birdc(bird, "disable", "s4w")  # IPv4 withdrawal (WITHDRAWN ROUTES field)
    birdc(bird, "disable", "s6w")  # IPv6 withdrawal (MP_UNREACH_NLRI)
    time.sleep(1)
    # BIRD sends ROUTE-REFRESH for IPv4 and IPv6; GoBGP re-sends its routes.
    # (``gobgp neighbor X softresetin`` would not help: GoBGP 3.10 replays its
    # Adj-RIB-In locally and sends nothing on the wire.)
    birdc(bird, "reload", "in", "gobgp")
    time.sleep(1.5)
    birdc(bird, "disable", "gobgp", '"pybgp golden capture: maintenance"')
    time.sleep(1)
    finish_capture(dump)


def scenario_bird_addpath(the_lab: Lab, pcap: Path) -> None:
    """BIRD 2 (AS 4200000002) <-> BIRD 2 (AS 4200000020): ADD-PATH both ways, LLGR."""
    ns_a, ns_b = pair(the_lab, "birda", "birdb", subnet=2)
    dump = capture(the_lab, ns_a, pcap)
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
    bird_b = start(
        Bird,
        the_lab,
        ns_b,
        4200000020,
        "198.18.2.2",
        config_text="""
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
    bird_a = start(
        Bird,
        the_lab,
        ns_a,
        4200000002,
        "198.18.2.1",
        config_text="""
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
    established(bird_a, "peer_b")
    established(bird_b, "peer_a")
    time.sleep(2)
    birdc(bird_a, "disable", "sb")  # withdraws one path of 10.244.20/24 and 10.244.21/24
    birdc(bird_a, "disable", "s6b")  # withdraws one IPv6 path (MP_UNREACH with path id)
    time.sleep(1)
    birdc(bird_a, "reload", "in", "peer_b")  # ROUTE-REFRESH; B answers with BoRR ... EoRR
    time.sleep(2)
    birdc(bird_b, "disable", "peer_a", '"pybgp golden capture: add-path session closing"')
    time.sleep(1)
    finish_capture(dump)


def scenario_gobgp(the_lab: Lab, pcap: Path) -> None:
    """GoBGP (AS 4200000003) <-> ExaBGP (AS 64503), eBGP, IPv4 + IPv6, graceful restart."""
    ns_g, ns_x = pair(the_lab, "gobgp", "exabgp", subnet=3)
    dump = capture(the_lab, ns_g, pcap)
    gobgp = start(
        GoBGP,
        the_lab,
        ns_g,
        4200000003,
        "198.18.3.1",
        config_text=gobgp_passive_config(4200000003, "198.18.3.1", "198.18.3.2", 64503, 90),
    )
    ns_g.wait_listening(timeout=15)
    exabgp = start_exabgp(
        the_lab,
        ns_x,
        64503,
        "198.18.3.2",
        """
neighbor 198.18.3.1 {
  router-id 198.18.3.2;
  local-address 198.18.3.2;
  local-as 64503;
  peer-as 4200000003;
  hold-time 30;
  family { ipv4 unicast; ipv6 unicast; }
  capability { route-refresh; graceful-restart 60; }
  api { processes [ api ]; }
  static {
    route 10.244.35.0/24 next-hop 198.18.3.2 community [ 64503:35 ];
  }
}
""",
    )
    established(gobgp, "198.18.3.2")
    time.sleep(1.5)
    rib_add = ("global", "rib", "add")
    gobgp_cli(
        gobgp,
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
    gobgp_cli(
        gobgp,
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
    gobgp_cli(gobgp, *rib_add, "198.19.3.0/24", "nexthop", "198.18.3.1", "med", "7", "-a", "ipv4")
    gobgp_cli(
        gobgp,
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
    gobgp_cli(gobgp, *rib_add, "2001:db8:301::/48", "nexthop", "2001:db8:3::1", "-a", "ipv6")
    time.sleep(1)
    gobgp_cli(gobgp, "global", "rib", "del", "10.244.31.0/24", "-a", "ipv4")
    gobgp_cli(gobgp, "global", "rib", "del", "2001:db8:301::/48", "-a", "ipv6")
    time.sleep(1)
    # GoBGP's ``softresetin`` only replays its Adj-RIB-In locally, so the
    # ROUTE-REFRESH comes from ExaBGP; GoBGP answers by re-sending its routes.
    gobgp_cli(gobgp, "neighbor", "198.18.3.2", "softresetin", "-a", "ipv4")
    exacmd(exabgp, "announce route-refresh ipv4 unicast")
    exacmd(exabgp, "announce route-refresh ipv6 unicast")
    time.sleep(1.5)
    # The deprecated ``shutdown`` (not ``disable``, which drops --reason in GoBGP
    # 3.10) puts the text into the NOTIFICATION as an RFC 9003 shutdown message.
    reason = "pybgp golden capture: gobgp shutdown"
    gobgp_cli(gobgp, "neighbor", "198.18.3.2", "shutdown", "--reason", reason)
    time.sleep(1)
    finish_capture(dump)


def scenario_frr(the_lab: Lab, pcap: Path) -> None:
    """FRR bgpd (AS 4200000004) <-> BIRD 2 (AS 65004) over IPv6: roles, ext. next hop.

    BIRD runs with ``multihop``: on a direct session it sends IPv4 routes with a
    32-byte next hop (global + link-local, RFC 8950 allows it) and FRR 8.4.4
    answers with NOTIFICATION UPDATE error / Invalid Network Field.
    """
    ns_f, ns_b = pair(the_lab, "frr", "bird", subnet=4)
    dump = capture(the_lab, ns_f, pcap)
    bird = start(
        Bird,
        the_lab,
        ns_b,
        65004,
        "198.18.4.2",
        config_text="""
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
    ns_b.wait_listening(timeout=15)
    frr = start(
        Frr,
        the_lab,
        ns_f,
        4200000004,
        "198.18.4.1",
        listen=["2001:db8:4::1"],
        config_text="""
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
    )
    established(frr, "2001:db8:4::2")
    time.sleep(2)
    router = ("configure terminal", "router bgp 4200000004")
    vtysh(frr, *router, "address-family ipv4 unicast", "no network 10.244.41.0/24")
    vtysh(frr, *router, "address-family ipv6 unicast", "no network 2001:db8:401::/48")
    time.sleep(1)
    vtysh(frr, "clear bgp * soft in")  # FRR sends ROUTE-REFRESH; BIRD answers BoRR..EoRR
    time.sleep(1.5)
    birdc(bird, "reload", "in", "frr")  # BIRD sends ROUTE-REFRESH; FRR answers BoRR..EoRR
    time.sleep(1.5)
    vtysh(
        frr,
        *router,
        "neighbor 2001:db8:4::2 shutdown message pybgp golden capture: FRR neighbor shutdown",
    )
    time.sleep(1)
    finish_capture(dump)


def scenario_exabgp(the_lab: Lab, pcap: Path) -> None:
    """ExaBGP (AS 4200000005) <-> BIRD 2 (AS 4200000005), iBGP, ADD-PATH, many attributes."""
    ns_x, ns_b = pair(the_lab, "exabgp", "bird", subnet=5)
    dump = capture(the_lab, ns_x, pcap)
    bird = start(
        Bird,
        the_lab,
        ns_b,
        4200000005,
        "198.18.5.2",
        config_text="""
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
    ns_b.wait_listening(timeout=15)
    exabgp = start_exabgp(
        the_lab,
        ns_x,
        4200000005,
        "198.18.5.1",
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
  api { processes [ api ]; }
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
    established(bird, "exa")
    time.sleep(1.5)
    exacmd(
        exabgp,
        "announce route 198.19.5.0/24 next-hop 198.18.5.1 local-preference 300 "
        "community [ 65535:65281 ] origin incomplete",
    )
    exacmd(
        exabgp,
        "announce route 2001:db8:501::/48 next-hop 2001:db8:5::1 med 5 "
        "large-community [ 4200000005:501:1 ]",
    )
    time.sleep(1)
    exacmd(exabgp, "withdraw route 198.19.5.0/24 next-hop 198.18.5.1")
    exacmd(exabgp, "withdraw route 2001:db8:501::/48 next-hop 2001:db8:5::1")
    time.sleep(1)
    birdc(bird, "reload", "in", "exa")  # BIRD sends ROUTE-REFRESH, ExaBGP re-sends its routes
    time.sleep(1.5)
    exacmd(exabgp, "neighbor 198.18.5.2 teardown 2")  # Cease / Administrative Shutdown
    time.sleep(1.5)
    finish_capture(dump)


def scenario_exabgp_as2(the_lab: Lab, pcap: Path) -> None:
    """ExaBGP (AS 65006, asn4 disabled) <-> BIRD 2 (AS 4200000006): AS_TRANS, AS4_PATH."""
    ns_x, ns_b = pair(the_lab, "exabgp", "bird", subnet=6)
    dump = capture(the_lab, ns_x, pcap)
    bird = start(
        Bird,
        the_lab,
        ns_b,
        4200000006,
        "198.18.6.2",
        config_text="""
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
    ns_b.wait_listening(timeout=15)
    start_exabgp(
        the_lab,
        ns_x,
        65006,
        "198.18.6.1",
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
  api { processes [ api ]; }
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
    established(bird, "exa")
    time.sleep(1.5)
    birdc(bird, "reload", "in", "exa")  # ROUTE-REFRESH towards the 2-octet speaker
    time.sleep(1.5)
    birdc(bird, "disable", "exa", '"pybgp golden capture: AS_TRANS session down"')
    time.sleep(1)
    finish_capture(dump)


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
    for name in cleanup_stale(NS_PREFIX):
        log(f"removed stale namespace {name}")
    workdir = Path(tempfile.mkdtemp(prefix="pybgpcap-"))
    os.chmod(workdir, 0o755)
    failed: list[str] = []
    try:
        for name in selected:
            started = time.monotonic()
            log(f"=== scenario {name} ===")
            pcap = workdir / f"{name}.pcap"
            try:
                with Lab(name, workdir / name, prefix=NS_PREFIX) as the_lab:
                    SCENARIOS[name](the_lab, pcap)
            except Exception as exc:
                notes = "\n".join(getattr(exc, "__notes__", []))
                log(f"scenario {name} FAILED: {exc}\n{notes}")
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
