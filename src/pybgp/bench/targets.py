"""The reflectors of ``pybgp bench reflect``: configurations, start-up, CPU and memory.

Every target is one process in the ``rr`` namespace at :data:`RR` (AS 64512, cluster id
= router id = :data:`RR`), with one passive iBGP neighbour per injector and sink, each a
route-reflector client.  The configurations are written here, tuned for speed the way
bgperf tunes them:

``bird``   no kernel protocol (nothing is written to a FIB); a device protocol and
           ``direct`` so that the clients' next hops resolve on the shared subnet;
           ``error wait time 1, 5`` so that a flapped client may come back at once.
``frr``    bgpd ``-Z`` (no zebra), ``no bgp ebgp-requires-policy``,
           ``advertisement-interval 0``, ``route-reflector-client``, one peer-group.
``gobgp``  ``route-reflector-client = true`` and ``route-reflector-cluster-id`` under
           ``[neighbors.route-reflector.config]``; graceful restart enabled, without
           which it sends no End-of-RIB; accept-all default policies.
``pybgp``  ``pybgp reflect -c rr.toml``: ``[[peer]] rr-client = true, passive = true``.

CPU seconds (utime + stime of the whole process, all threads) and memory (VmRSS, VmHWM)
come from ``/proc/PID`` for every target alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pybgp
from pybgp.lab import Lab, Namespace, Process

from . import bgp

RR = "198.18.0.1"
FRR_BGPD = "/usr/lib/frr/bgpd"
BINARIES = {"pybgp": (), "bird": ("bird",), "frr": (FRR_BGPD,), "gobgp": ("gobgpd",)}
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """A running reflector."""

    name: str
    version: str
    process: Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        """CPU seconds used so far (user + system, every thread)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in octets."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
        return found.get("VmRSS", 0), found.get("VmHWM", 0)


def missing(name: str) -> str | None:
    """Why target ``name`` cannot run here, or None."""
    for binary in BINARIES[name]:
        if shutil.which(binary) is None and not os.access(binary, os.X_OK):
            return f"{binary} not installed"
    return None


def _version(argv: Sequence[str], prefix: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return prefix
    words = (done.stdout + done.stderr).split()
    numbers = [w for w in words if w[:1].isdigit()]
    return f"{prefix} {numbers[0]}" if numbers else prefix


def bird_config(peers: Sequence[str]) -> str:
    lines = [
        f"router id {RR};",
        "log stderr { warning, error, fatal };",
        "protocol device { scan time 60; }",
        "template bgp clients {",
        f"  local {RR} as {bgp.ASN};",
        "  passive on;",
        "  rr client;",
        f"  rr cluster id {RR};",
        "  direct;",
        f"  hold time {bgp.HOLD_TIME};",
        "  error wait time 1, 5;",
        "  ipv4 { import all; export all; };",
        "}",
    ]
    for address in peers:
        name = "p_" + address.replace(".", "_")
        lines.append(f"protocol bgp {name} from clients {{ neighbor {address} as {bgp.ASN}; }}")
    return "\n".join(lines) + "\n"


def frr_config(peers: Sequence[str]) -> str:
    group = " neighbor clients"
    lines = [
        "frr defaults traditional",
        "hostname reflector",
        "log stdout warnings",
        "!",
        f"router bgp {bgp.ASN}",
        f" bgp router-id {RR}",
        f" bgp cluster-id {RR}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        f"{group} peer-group",
        f"{group} remote-as {bgp.ASN}",
        f"{group} update-source {RR}",
        f"{group} passive",
        f"{group} advertisement-interval 0",
        f"{group} timers {bgp.HOLD_TIME // 3} {bgp.HOLD_TIME}",
        *(f" neighbor {address} peer-group clients" for address in peers),
        " address-family ipv4 unicast",
        f" {group} activate",
        f" {group} route-reflector-client",
        " exit-address-family",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def gobgp_config(peers: Sequence[str]) -> str:
    lines = [
        "[global.config]",
        f"  as = {bgp.ASN}",
        f'  router-id = "{RR}"',
        f'  local-address-list = ["{RR}"]',
        "[global.apply-policy.config]",
        '  default-import-policy = "accept-route"',
        '  default-export-policy = "accept-route"',
    ]
    for address in peers:
        lines += [
            "[[neighbors]]",
            "  [neighbors.config]",
            f'    neighbor-address = "{address}"',
            f"    peer-as = {bgp.ASN}",
            "  [neighbors.timers.config]",
            f"    hold-time = {bgp.HOLD_TIME}",
            f"    keepalive-interval = {bgp.HOLD_TIME // 3}",
            "    idle-hold-time-after-reset = 1",
            "  [neighbors.transport.config]",
            f'    local-address = "{RR}"',
            "    passive-mode = true",
            "  [neighbors.route-reflector.config]",
            "    route-reflector-client = true",
            f'    route-reflector-cluster-id = "{RR}"',
            "  [neighbors.graceful-restart.config]",
            "    enabled = true",
            "  [[neighbors.afi-safis]]",
            "    [neighbors.afi-safis.config]",
            '      afi-safi-name = "ipv4-unicast"',
        ]
    return "\n".join(lines) + "\n"


def pybgp_config(peers: Sequence[str], control_socket: Path) -> str:
    lines = [
        "[speaker]",
        f"asn = {bgp.ASN}",
        f'router-id = "{RR}"',
        f'listen = ["{RR}"]',
        f'control-socket = "{control_socket}"',
        f'cluster-id = "{RR}"',
        f"hold-time = {bgp.HOLD_TIME}",
    ]
    for address in peers:
        lines += [
            "",
            "[[peer]]",
            f'address = "{address}"',
            f"asn = {bgp.ASN}",
            "rr-client = true",
            "passive = true",
        ]
    return "\n".join(lines) + "\n"


def start(name: str, lab: Lab, ns: Namespace, peers: Sequence[str]) -> Target:
    """Write target ``name``'s configuration for ``peers`` and start it in ``ns``."""
    work = lab.workdir
    if name == "bird":
        conf = work / "bird.conf"
        conf.write_text(bird_config(peers))
        argv = ["bird", "-f", "-c", str(conf), "-s", str(work / "bird.ctl")]
        version = _version(["bird", "--version"], "BIRD")
    elif name == "frr":
        # bgpd drops to user frr: its files live in a directory frr may write.
        run_dir = Path(tempfile.mkdtemp(prefix="pybgp-bench-frr-"))
        run_dir.chmod(0o755)
        shutil.chown(run_dir, "frr", "frr")
        lab.on_close(lambda: shutil.rmtree(run_dir, ignore_errors=True))
        conf = run_dir / "bgpd.conf"
        conf.write_text(frr_config(peers))
        shutil.copyfile(conf, work / "bgpd.conf")
        argv = [FRR_BGPD, "-Z", "-f", str(conf), "-i", str(run_dir / "bgpd.pid")]
        argv += ["--vty_socket", str(run_dir), "-u", "frr", "-g", "frr", "--vty_port", "0"]
        argv += ["-l", RR]
        version = _version([FRR_BGPD, "--version"], "FRR")
    elif name == "gobgp":
        conf = work / "gobgpd.toml"
        conf.write_text(gobgp_config(peers))
        argv = ["gobgpd", "-f", str(conf), "-l", "warn"]
        version = _version(["gobgpd", "--version"], "GoBGP")
    elif name == "pybgp":
        conf = work / "rr.toml"
        conf.write_text(pybgp_config(peers, work / "pybgp.sock"))
        argv = [sys.executable, "-m", "pybgp.cli", "reflect", "-c", str(conf)]
        version = f"pybgp {pybgp.__version__}"
    else:
        raise ValueError(f"unknown target {name!r}")
    process = lab.spawn(ns, argv, name)
    return Target(name, version, process)
