"""The 3-node lab: a small Calico cluster in network namespaces, routed by pybgp.

    sudo .venv/bin/python -m pybgp.lab.cluster            # BGP mode, 3 nodes, then a reflector
    sudo .venv/bin/python -m pybgp.lab.cluster --mode ipip --with-bird --keep

What it builds (all in namespaces it creates and deletes itself; docs/lab.md walks
through the output):

- a hub namespace with one bridge per underlay subnet (198.18.0.0/24, and 198.18.1.0/24
  with `--subnets 2`), and a router namespace on every bridge (198.18.S.1, forwarding):
  the nodes' default gateway, as a data centre's top-of-rack router would be;
- N nodes: `eth0` = 198.18.S.(10+i)/24 on a bridge, one /26 block of the pod CIDR
  10.244.0.0/16 each, ip_forward on, and `tunl0` in the IPIP modes;
- two pods per node, wired exactly as Calico's CNI plugin wires them: a veth
  `caliXXXXXXXXXXX` on the node (proxy ARP on, a /32 route to the pod through it), its
  peer `eth0` in the pod holding the pod's /32, and `default via 169.254.1.1`, an
  address nobody has: the node answers the pod's ARP for it by proxy ARP.

Then it runs two phases on the same namespaces: `pybgp speak` on every node in a
full mesh, and `pybgp reflect` route reflector(s) with every node as a client.  Each
phase waits until every node's kernel holds the routes it should (`proto bird`), prints
`pybgp status` and `ip route` of every node and pings every pod of the other nodes from
a pod of node 1.  It exits 0 when every check came out as expected.

What this kernel cannot do is said, not hidden: without the ipip module `tunl0` is a
stand-in (a veth of that name), so IPIP routes are real and checked, but packets sent
into it go nowhere, and the lab prints so instead of pinging through it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import re
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pybgp.lab.cluster_bird import bird_config
from pybgp.lab.netns import (
    Lab,
    Namespace,
    Process,
    cleanup_stale,
    have_root,
    missing_tools,
    wait_until,
)

__all__ = ["Cluster", "Options", "Ping", "build", "execute", "main", "run"]

ASN = 64512
POD_CIDR = "10.244.0.0/16"
CLUSTER_ID = "244.0.0.1"  # the reflectors' shared cluster id, Calico's usual choice
LINK_LOCAL_GW = "169.254.1.1"  # the pods' default gateway: answered by proxy ARP
# Blocks as Calico's IPAM hands them out (random /26s of the pool); more nodes take
# 10.244.(100+i).0/26.
SEED_BLOCKS = ("10.244.58.192/26", "10.244.85.192/26", "10.244.190.128/26")
MODES = {"bgp": "none", "ipip": "ipip", "cross-subnet": "cross-subnet"}  # -> [node] encapsulation
MAX_NODES, MAX_REFLECTORS = 50, 8
UNREACHABLE = "is not directly reachable"  # what pybgp logs for a next hop off the link
NO_IPIP = (
    "this kernel has no ipip module: tunl0 on every node is a stand-in (a veth named"
    " tunl0), so the IPIP routes (via NH dev tunl0 onlink) are real kernel routes and are"
    " checked, but pod-to-pod traffic through tunl0 is not carried on this kernel"
)


@dataclass
class Options:
    """What to build; the command line's options."""

    mode: str = "bgp"  # bgp | ipip | cross-subnet
    nodes: int = 3
    reflectors: int = 1  # 0: the mesh phase only
    subnets: int | None = None  # underlay subnets; default 2 for cross-subnet, else 1
    with_bird: bool = False  # the last node runs BIRD 2 instead of pybgp
    keep: bool = False  # wait for Enter before tearing down
    phases: tuple[str, ...] = ("mesh", "reflector")

    def underlay_subnets(self) -> int:
        if self.subnets is not None:
            return self.subnets
        return 2 if self.mode == "cross-subnet" else 1


@dataclass
class Pod:
    name: str  # node1-pod1
    ip: str  # 10.244.58.193
    iface: str  # caliXXXXXXXXXXX, the node's end of its veth
    ns: Namespace


@dataclass
class Node:
    index: int  # 1-based
    name: str  # node1
    address: str  # 198.18.0.11
    subnet: int  # 0 or 1: 198.18.<subnet>.0/24
    block: str  # 10.244.58.192/26
    ns: Namespace
    bird: bool = False  # runs BIRD 2 instead of pybgp
    pods: list[Pod] = field(default_factory=list)
    process: Process | None = None
    config: Path | None = None  # the running daemon's configuration file


@dataclass
class Reflector:
    name: str  # rr1
    address: str  # 198.18.0.2
    ns: Namespace
    process: Process | None = None
    config: Path | None = None


@dataclass
class Ping:
    """One pod-to-pod check: `answered` is what happened (None: not tried)."""

    source: Pod
    target: Pod
    node: Node  # the target's node
    expected: bool
    answered: bool | None
    why: str = ""  # why it is not expected to be answered

    @property
    def ok(self) -> bool:
        return self.answered is None or self.answered == self.expected


def block_of(index: int) -> str:
    """Node `index`'s /26 (1-based)."""
    if index <= len(SEED_BLOCKS):
        return SEED_BLOCKS[index - 1]
    return f"10.244.{100 + index}.0/26"


def cali_name(workload: str) -> str:
    """`cali` + 11 hex digits of a hash of the workload, as Calico's CNI plugin names the
    node's end of a pod's veth (15 octets: the longest name Linux allows)."""
    return "cali" + hashlib.sha1(workload.encode()).hexdigest()[:11]


@dataclass
class Cluster:
    """The built lab: its namespaces and what runs in them."""

    lab: Lab
    options: Options
    hub: Namespace
    router: Namespace
    nodes: list[Node]
    reflectors: list[Reflector]
    real_ipip: bool
    encapsulation: str
    out: TextIO = sys.stdout
    # iputils `ping` when installed, else pybgp.lab.cluster_ping (a minimal image has none)
    system_ping: bool = field(default_factory=lambda: not missing_tools("ping"))

    # -- output -------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self, ns: Namespace, *argv: str, shown: Sequence[str] | None = None) -> str:
        """Run `argv` in `ns` and print it as a shell session would (`shown`: the command
        as a reader would type it, when that differs from what is run)."""
        done = ns.run(*argv, check=False)
        self.say(f"$ ip netns exec {ns.name} {' '.join(shown or argv)}")
        text = (done.stdout + done.stderr).rstrip()
        if text:
            self.say(text)
        return text

    # -- expectations -------------------------------------------------------------------
    def tunnelled(self, node: Node, peer: Node) -> bool:
        """Whether `node` reaches `peer`'s block through tunl0 (the plan of fib/plan.py)."""
        if self.encapsulation == "ipip":
            return True
        return self.encapsulation == "cross-subnet" and node.subnet != peer.subnet

    @staticmethod
    def same_subnet(node: Node, address: str) -> bool:
        return address.startswith(f"198.18.{node.subnet}.")

    def expected_routes(self, node: Node) -> set[tuple[str, ...]]:
        """The `proto bird` routes `node` should hold: its blackhole and one route per other
        block, except what BGP mode cannot route (a next hop on another subnet)."""
        routes: set[tuple[str, ...]] = {("blackhole", node.block)}
        for peer in self.nodes:
            if peer is node:
                continue
            if self.tunnelled(node, peer):
                routes.add((peer.block, peer.address, "tunl0", "onlink"))
            elif peer.subnet == node.subnet:
                routes.add((peer.block, peer.address, "eth0"))
            elif node.bird:
                # BIRD resolves the next hop through the default route: to the router,
                # which knows no pod routes (pybgp refuses such a route and says why).
                routes.add((peer.block, f"198.18.{node.subnet}.1", "eth0"))
        return routes

    def kernel_routes(self, node: Node) -> set[tuple[str, ...]]:
        """`ip -j route show proto bird` of `node`, in the shape of expected_routes."""
        out = node.ns.run("ip", "-j", "route", "show", "proto", "bird").stdout
        routes: set[tuple[str, ...]] = set()
        for route in json.loads(out or "[]"):
            if route.get("type") == "blackhole":
                routes.add(("blackhole", route["dst"]))
                continue
            onlink = ("onlink",) if "onlink" in route.get("flags", []) else ()
            for hop in route.get("nexthops") or [route]:
                routes.add((route["dst"], hop.get("gateway", ""), hop.get("dev", ""), *onlink))
        return routes

    def why_not(self, source: Node, target: Node) -> str:
        """Why a ping from `source`'s pod to `target`'s is not expected to be answered
        ("" when it is)."""
        if self.tunnelled(source, target) and not self.real_ipip:
            return "IPIP through the stand-in tunl0: not carried on this kernel"
        if source.subnet != target.subnet and not self.tunnelled(source, target):
            return (
                f"BGP mode across subnets: next hop {target.address} is not on"
                f" {source.name}'s link, so no route for {target.block}"
            )
        return ""

    # -- daemons ------------------------------------------------------------------------
    def node_toml(self, node: Node, peers: Sequence[tuple[str, str]], sock: Path) -> str:
        lines = [
            "[speaker]",
            f"asn = {ASN}",
            f'router-id = "{node.address}"',
            f'listen = ["{node.address}"]',
            f'control-socket = "{sock}"',
            "connect-retry = 1",
            "",
            "[node]",
            f'blocks = ["{node.block}"]',
            f'encapsulation = "{self.encapsulation}"',
            'interface = "eth0"',
        ]
        for kind, address in peers:
            lines += ["", "[[peer]]", f'address = "{address}"', f"asn = {ASN}", f'type = "{kind}"']
        return "\n".join(lines) + "\n"

    def reflector_toml(self, rr: Reflector, sock: Path) -> str:
        lines = [
            "[speaker]",
            f"asn = {ASN}",
            f'router-id = "{rr.address}"',
            f'listen = ["{rr.address}"]',
            f'control-socket = "{sock}"',
            f'cluster-id = "{CLUSTER_ID}"',
            "connect-retry = 1",
        ]
        for node in self.nodes:
            lines += [
                "",
                "[[peer]]",
                f'address = "{node.address}"',
                f"asn = {ASN}",
                'type = "route reflector client"',
                "rr-client = true",
            ]
        return "\n".join(lines) + "\n"

    def start_node(self, node: Node, phase: str, peers: Sequence[tuple[str, str]]) -> None:
        """Start `node`'s daemon (pybgp speak, or BIRD) with these (type, address) peers."""
        workdir = self.lab.workdir
        if node.bird:
            conf = workdir / f"{node.name}-{phase}.bird.conf"
            kinds = {"node-to-node mesh": "Mesh", "route reflector": "Node"}
            conf.write_text(
                bird_config(
                    router_id=node.address,
                    asn=ASN,
                    block=node.block,
                    pod_cidr=POD_CIDR,
                    peers=[
                        (kinds[kind], address, self.same_subnet(node, address))
                        for kind, address in peers
                    ],
                    encapsulation=self.encapsulation,
                    subnet=f"198.18.{node.subnet}.0/24",
                )
            )
            sock = workdir / f"{node.name}-{phase}.bird.ctl"
            argv = ["bird", "-f", "-c", str(conf), "-s", str(sock)]
        else:
            conf = workdir / f"{node.name}-{phase}.toml"
            conf.write_text(self.node_toml(node, peers, workdir / f"{node.name}-{phase}.sock"))
            argv = [sys.executable, "-m", "pybgp.cli", "speak", "-c", str(conf)]
        node.config = conf
        node.process = self.lab.spawn(node.ns, argv, name=f"{node.name}-{phase}")

    def start_mesh(self) -> None:
        for node in self.nodes:
            peers = [("node-to-node mesh", p.address) for p in self.nodes if p is not node]
            self.start_node(node, "mesh", peers)

    def start_reflected(self) -> None:
        workdir = self.lab.workdir
        for rr in self.reflectors:
            conf = workdir / f"{rr.name}.toml"
            conf.write_text(self.reflector_toml(rr, workdir / f"{rr.name}.sock"))
            argv = [sys.executable, "-m", "pybgp.cli", "reflect", "-c", str(conf)]
            rr.config = conf
            rr.process = self.lab.spawn(rr.ns, argv, name=rr.name)
        for node in self.nodes:
            self.start_node(node, "rr", [("route reflector", rr.address) for rr in self.reflectors])

    def stop_nodes(self) -> None:
        """Stop every node's daemon by its PID.  pybgp removes its routes (persist =
        false); BIRD keeps them (persist, as Calico runs it), so they are flushed here:
        the next phase must show its own routes, not the last one's."""
        for node in self.nodes:
            if node.process is not None:
                node.process.stop()
                node.process = None
            if node.bird:
                node.ns.run("ip", "route", "flush", "proto", "bird", check=False)

    def check_alive(self) -> None:
        """Raise with the log of a daemon that exited (a bad configuration, a port taken)."""
        daemons: list[Node | Reflector] = [*self.nodes, *self.reflectors]
        for d in daemons:
            if d.process is not None and not d.process.alive():
                raise RuntimeError(f"{d.name} exited:\n{d.process.log_text()[-2000:]}")

    def converged(self) -> bool:
        """Every node's kernel holds exactly its expected routes, and every pybgp node that
        cannot route to another subnet has said so in its log."""
        self.check_alive()
        for node in self.nodes:
            if self.kernel_routes(node) != self.expected_routes(node):
                return False
            if node.bird or node.process is None:
                continue
            for peer in self.nodes:
                if self.why_not(node, peer).startswith("BGP mode") and (
                    f"next hop {peer.address} {UNREACHABLE}" not in node.process.log_text()
                ):
                    return False
        return True

    def wait_converged(self, timeout: float = 40) -> float:
        """Block until converged(); return how long it took."""
        started = time.monotonic()
        try:
            wait_until(self.converged, timeout, "every node's kernel routes", interval=0.2)
        except TimeoutError as exc:
            for node in self.nodes:
                exc.add_note(
                    f"{node.name}: expected {sorted(self.expected_routes(node))},"
                    f" kernel has {sorted(self.kernel_routes(node))}"
                )
            raise
        return time.monotonic() - started

    # -- the report ---------------------------------------------------------------------
    def print_status(self) -> None:
        for rr in self.reflectors:
            if rr.process is not None and rr.config is not None:
                self.say()
                self.show_pybgp_status(rr.ns, rr.config)
        for node in self.nodes:
            self.say()
            if node.bird:
                sock = str(node.config).replace(".conf", ".ctl")
                self.show(
                    node.ns,
                    "birdc",
                    "-s",
                    sock,
                    "show",
                    "protocols",
                    shown=["birdc", "show", "protocols"],
                )
            elif node.config is not None:
                self.show_pybgp_status(node.ns, node.config)
            self.say()
            self.show(node.ns, "ip", "route")

    def show_pybgp_status(self, ns: Namespace, config: Path) -> None:
        argv = [sys.executable, "-m", "pybgp.cli", "status", "-c", str(config)]
        self.show(ns, *argv, shown=["pybgp", "status", "-c", config.name])

    def ping_all(self) -> list[Ping]:
        """Ping every pod of the other nodes from node 1's first pod (one packet each,
        after a warm-up that lets ARP settle); pings that this kernel cannot carry are
        reported, not tried."""
        source_node = self.nodes[0]
        source = source_node.pods[0]
        pings: list[Ping] = []
        self.say()
        for node in self.nodes[1:]:
            why = self.why_not(source_node, node)
            for pod in node.pods:
                expected = not why
                tried = not why.startswith("IPIP")
                answered = self.ping(source, pod, expected) if tried else None
                pings.append(Ping(source, pod, node, expected, answered, why))
        return pings

    def ping(self, source: Pod, target: Pod, expected: bool) -> bool:
        """One ping; a few tries when an answer is expected (the first packet may wait for
        ARP on three links), one short one when it is not."""
        argv = ["ping", "-n", "-c", "1", "-W", "1", target.ip]
        run = argv
        if not self.system_ping:  # no iputils: the lab's own one-packet echo
            run = [sys.executable, "-m", "pybgp.lab.cluster_ping", target.ip, "1"]
        for _ in range(3 if expected else 1):
            done = source.ns.run(*run, check=False)
            if done.returncode == 0:
                break
        shown = argv if self.system_ping else ["python", *run[1:]]
        self.say(f"$ ip netns exec {source.ns.name} {' '.join(shown)}")
        for line in done.stdout.splitlines():
            if line.startswith(("64 bytes", "From ")) or "packet loss" in line:
                self.say(line)
        return done.returncode == 0

    def report_pings(self, pings: Sequence[Ping]) -> None:
        self.say()
        for p in pings:
            if p.answered is None:
                verdict = f"not tried: {p.why}"
            elif p.answered:
                verdict = "answered" + ("" if p.expected else "  UNEXPECTED")
            else:
                verdict = f"no answer, as expected: {p.why}" if not p.expected else "NO ANSWER"
            self.say(f"  {p.source.name} {p.source.ip} -> {p.target.name} {p.target.ip}: {verdict}")
        carried = [p for p in pings if p.answered is not None]
        answered = sum(1 for p in carried if p.answered)
        self.say(f"  {answered} of {len(carried)} pings answered")

    def explain_failures(self) -> None:
        """Print the log line in which pybgp says why a next hop cannot be used."""
        for node in self.nodes:
            if node.process is None or node.bird:
                continue
            lines = [ln for ln in node.process.log_text().splitlines() if UNREACHABLE in ln]
            if lines:
                self.say(f"{node.name}'s pybgp log says why:")
                for line in lines:
                    self.say("  " + re.sub(r"^\S+ \S+ ", "", line))

    def phase(self, name: str, start: Callable[[], None]) -> list[Ping]:
        """Run one phase (mesh or reflector): start, converge, print, ping."""
        self.say()
        self.say(f"=== {name} ===")
        start()
        took = self.wait_converged()
        self.say(f"every node's kernel holds its routes ({took:.1f} s after start)")
        self.print_status()
        if self.options.underlay_subnets() > 1 and self.encapsulation == "none":
            self.say()
            self.explain_failures()
        if not self.real_ipip and self.encapsulation != "none":
            self.say()
            self.say(f"NOTE: {NO_IPIP}.")
        pings = self.ping_all()
        self.report_pings(pings)
        return pings


def build(lab: Lab, options: Options, out: TextIO = sys.stdout) -> Cluster:
    """Create the namespaces, links, pods and tunl0 devices (no daemon runs yet)."""
    subnets = options.underlay_subnets()
    hub = lab.namespace("hub")
    router = lab.namespace("router")
    router.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    for s in range(subnets):
        lab.bridge(hub, f"br{s}")
        lab.attach(hub, router, [f"198.18.{s}.1/24"], dev=f"eth{s}", bridge=f"br{s}")
    nodes: list[Node] = []
    for i in range(1, options.nodes + 1):
        # The first half of the nodes on subnet 0, the rest on subnet 1.
        s = 0 if subnets == 1 or i <= (options.nodes + 1) // 2 else 1
        ns = lab.namespace(f"node{i}")
        node = Node(i, f"node{i}", f"198.18.{s}.{10 + i}", s, block_of(i), ns)
        node.bird = options.with_bird and i == options.nodes
        lab.attach(hub, ns, [f"{node.address}/24"], dev="eth0", bridge=f"br{s}")
        ns.run("ip", "route", "add", "default", "via", f"198.18.{s}.1")
        ns.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        nodes.append(node)
    reflectors: list[Reflector] = []
    for k in range(1, options.reflectors + 1):
        ns = lab.namespace(f"rr{k}")
        rr = Reflector(f"rr{k}", f"198.18.0.{1 + k}", ns)
        lab.attach(hub, ns, [f"{rr.address}/24"], dev="eth0", bridge="br0")
        ns.run("ip", "route", "add", "default", "via", "198.18.0.1")
        reflectors.append(rr)
    encapsulation = MODES[options.mode]
    real_ipip = True
    for node in nodes:
        hosts = list(ipaddress.ip_network(node.block).hosts())
        if encapsulation != "none":
            real_ipip = make_tunl0(node.ns, f"{ipaddress.ip_network(node.block)[0]}/32")
        for j in (1, 2):
            node.pods.append(add_pod(lab, node, j, str(hosts[j - 1])))
    return Cluster(lab, options, hub, router, nodes, reflectors, real_ipip, encapsulation, out)


def make_tunl0(ns: Namespace, address: str) -> bool:
    """Give the node a `tunl0` with `address` (Calico puts the block's first address on
    it); True if it is the real IPIP device, False for the stand-in.

    With the ipip module loaded every namespace has the fallback `tunl0` already, and
    `ip link add ... type ipip` loads it where it can.  Where neither works, a veth
    named tunl0 (its peer `tunl0-standin` beside it) lets the kernel accept
    `via NH dev tunl0 onlink` routes, so the routes pybgp writes are real and checked.
    """
    real = ns.run("ip", "link", "show", "tunl0", check=False).returncode == 0
    if not real:
        real = ns.run("ip", "link", "add", "tunl0", "type", "ipip", check=False).returncode == 0
    if not real:
        ns.run("ip", "link", "add", "tunl0", "type", "veth", "peer", "name", "tunl0-standin")
        ns.run("ip", "link", "set", "tunl0-standin", "up")
    ns.run("ip", "link", "set", "tunl0", "up", "mtu", "1480")
    ns.add_address("tunl0", address)
    return real


def add_pod(lab: Lab, node: Node, j: int, ip: str) -> Pod:
    """One pod on `node`, wired as Calico's CNI plugin wires it."""
    name = f"{node.name}-pod{j}"
    pod_ns = lab.namespace(name)
    cali = cali_name(f"{node.name}.default.{name}")
    # The veth is made in the node and its peer moved into the pod as eth0.
    node.ns.run(
        "ip", "link", "add", cali, "type", "veth", "peer", "name", "eth0", "netns", pod_ns.name
    )
    pod_ns.add_address("eth0", f"{ip}/32")
    pod_ns.run("ip", "link", "set", "eth0", "up")
    # 169.254.1.1 is on no interface: the node's proxy ARP answers for it.
    pod_ns.run("ip", "route", "add", LINK_LOCAL_GW, "dev", "eth0", "scope", "link")
    pod_ns.run("ip", "route", "add", "default", "via", LINK_LOCAL_GW, "dev", "eth0")
    node.ns.run("ip", "link", "set", cali, "up")
    node.ns.run("sysctl", "-q", "-w", f"net.ipv4.conf.{cali}.proxy_arp=1")
    node.ns.run("sysctl", "-q", "-w", f"net.ipv4.neigh.{cali}.proxy_delay=0")
    node.ns.run("ip", "route", "add", f"{ip}/32", "dev", cali, "scope", "link")
    return Pod(name, ip, cali, pod_ns)


def describe(cluster: Cluster) -> None:
    """Print what was built: underlay, nodes, blocks, pods."""
    say = cluster.say
    opts = cluster.options
    mode = f"--mode {opts.mode} ([node] encapsulation = {cluster.encapsulation!r})"
    say(f"pybgp lab: {len(cluster.nodes)} nodes, {mode}")
    subnets = ", ".join(f"198.18.{s}.0/24" for s in range(opts.underlay_subnets()))
    say(f"underlay {subnets} (router {cluster.router.name}); pod CIDR {POD_CIDR}")
    for node in cluster.nodes:
        daemon = "BIRD 2" if node.bird else "pybgp"
        say(f"  {node.name}  {node.address}  block {node.block}  ({daemon})")
        for pod in node.pods:
            say(f"    {pod.name}  {pod.ip}/32 on eth0, node side {pod.iface}")
    if cluster.encapsulation != "none":
        kind = "the real ipip device" if cluster.real_ipip else "a stand-in (no ipip module)"
        say(f"  tunl0 on every node: {kind}")


def execute(options: Options, out: TextIO = sys.stdout, workdir: Path | None = None) -> list[Ping]:
    """Build the lab, run its phases and tear it down; every ping it made or skipped.

    Everything is removed before this returns or raises (the Lab context manager),
    including after a failure, whose exception then carries the daemons' logs.
    """
    check_options(options)
    cleanup_stale()
    pings: list[Ping] = []
    with tempfile.TemporaryDirectory(prefix="pybgp-cluster-") as tmp:
        with Lab("cluster", workdir or Path(tmp)) as lab:
            cluster = build(lab, options, out)
            describe(cluster)
            if "mesh" in options.phases:
                pings += cluster.phase("full mesh: pybgp speak on every node", cluster.start_mesh)
            if "reflector" in options.phases and cluster.reflectors:
                if "mesh" in options.phases:
                    cluster.stop_nodes()
                n = len(cluster.reflectors)
                title = f"route reflection: {n} pybgp reflect, every node a client"
                pings += cluster.phase(title, cluster.start_reflected)
            if options.keep:
                cluster.say(f"\nlab is up; configurations and logs in {lab.workdir}")
                with contextlib.suppress(EOFError):  # stdin closed: tear down at once
                    input("press Enter to tear it down ")
        cluster.say("\nlab torn down: every namespace and process removed")
    return pings


def run(options: Options, out: TextIO = sys.stdout, workdir: Path | None = None) -> int:
    """`execute`, then a one-line verdict; 0 when every check came out as expected."""
    pings = execute(options, out, workdir)
    bad = [p for p in pings if not p.ok]
    answered = sum(1 for p in pings if p.answered)
    tried = sum(1 for p in pings if p.answered is not None)
    out.write(f"result: {answered} of {tried} pings answered, {len(bad)} unexpected\n")
    return 0 if not bad else 1


def check_options(options: Options) -> None:
    """Refuse what the lab cannot build, with the reason (ValueError)."""
    if options.mode not in MODES:
        raise ValueError(f"--mode: one of {', '.join(MODES)}, got {options.mode!r}")
    if not 2 <= options.nodes <= MAX_NODES:
        raise ValueError(f"--nodes: 2..{MAX_NODES}, got {options.nodes}")
    if not 0 <= options.reflectors <= MAX_REFLECTORS:
        raise ValueError(f"--reflectors: 0..{MAX_REFLECTORS}, got {options.reflectors}")
    if options.underlay_subnets() not in (1, 2):
        raise ValueError(f"--subnets: 1 or 2, got {options.subnets}")
    if options.underlay_subnets() == 2 and options.nodes < 3:
        raise ValueError("--subnets 2 needs --nodes 3 or more (two on the first subnet)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pybgp.lab.cluster",
        description=textwrap.dedent(__doc__.split("\n\n")[0]),
    )
    parser.add_argument("--mode", choices=list(MODES), default="bgp", help="default: bgp")
    parser.add_argument("--nodes", type=int, default=3, help="default: 3")
    parser.add_argument(
        "--reflectors", type=int, default=1, help="reflectors of the second phase; 0: none"
    )
    parser.add_argument(
        "--subnets",
        type=int,
        choices=[1, 2],
        help="underlay subnets joined by the router (default: 2 with cross-subnet, else 1)",
    )
    parser.add_argument("--with-bird", action="store_true", help="the last node runs BIRD 2")
    parser.add_argument("--keep", action="store_true", help="wait for Enter before teardown")
    args = parser.parse_args(argv)
    options = Options(
        mode=args.mode,
        nodes=args.nodes,
        reflectors=args.reflectors,
        subnets=args.subnets,
        with_bird=args.with_bird,
        keep=args.keep,
    )
    try:
        check_options(options)
    except ValueError as exc:
        parser.error(str(exc))
    missing = missing_tools("ip", *(["bird"] if options.with_bird else []))
    if not have_root() or missing:
        need = ", ".join(["root"] * (not have_root()) + missing)
        parser.exit(2, f"{parser.prog}: needs {need} (it creates network namespaces)\n")
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
