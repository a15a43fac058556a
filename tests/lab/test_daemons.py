"""Real daemons against each other: sessions, routes with attributes, MD5, shutdown texts.

Each test puts two daemons in two namespaces joined by one veth pair: side a is
198.18.<n>.1/24 + 2001:db8:<n>::1/64, side b .2 / ::2.  Both daemons start at once and
have short timers, so a test takes a few seconds.  Needs root and the daemons
(``scripts/setup.sh --with-peers``); skips otherwise.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pybgp.lab import (
    DAEMONS,
    Bird,
    CommandError,
    Lab,
    Namespace,
    Neighbor,
    PeerDaemon,
    Route,
    available,
    wait_until,
)

ASN_A, ASN_B, ASN_IBGP = 65001, 65002, 65010
TEXT = "pybgp lab self-test: maintenance"


@dataclass(frozen=True)
class Pair:
    """Two daemons, how their session runs, and the per-daemon options."""

    a: str
    b: str
    subnet: int
    ibgp: bool = False
    transport: str = "ipv4"
    families: tuple[str, ...] = ("ipv4", "ipv6")
    password: str | None = None
    passive: int = 2  # the side that only listens (GoBGP connects out only after ~5 s)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        kind = "ibgp" if self.ibgp else "ebgp"
        return f"{self.a}-{self.b}-{kind}-{self.transport}"


def address(pair: Pair, side: int, family: str) -> str:
    return f"198.18.{pair.subnet}.{side}" if family == "ipv4" else f"2001:db8:{pair.subnet}::{side}"


def asn(pair: Pair, side: int) -> int:
    return ASN_IBGP if pair.ibgp else (ASN_A, ASN_B)[side - 1]


def announced(pair: Pair, side: int, family: str) -> Route:
    """What side ``side`` announces in ``family``: every attribute set, all different.

    Over iBGP the IPv4 route has a third-party next hop on the link, which iBGP passes on
    unchanged (RFC 4271 5.1.3); elsewhere the daemon picks its own address.
    """
    tag = pair.subnet * 10 + side
    prefix = f"10.244.{tag}.0/24" if family == "ipv4" else f"2001:db8:{tag:x}00::/48"
    third_party = f"198.18.{pair.subnet}.{100 + side}" if pair.ibgp and family == "ipv4" else None
    return Route(
        prefix,
        next_hop=third_party,
        as_path=(64500 + tag, 64600 + tag),
        origin=("egp", "incomplete")[side - 1],
        med=100 + tag,
        local_pref=200 + tag if pair.ibgp else None,
        communities=(f"64512:{tag}", f"65535:{tag}"),
        large_communities=(f"{asn(pair, side)}:{tag}:1",),
    )


def expected(pair: Pair, side: int, family: str) -> Route:
    """How the other side reports ``announced(pair, side, family)``."""
    route = announced(pair, side, family)
    # RFC 4271 5.1.2: towards an eBGP peer the speaker prepends its own AS.
    path = route.as_path if pair.ibgp else (asn(pair, side), *route.as_path)
    next_hop = route.next_hop or address(pair, side, family)
    return dataclasses.replace(route, next_hop=next_hop, as_path=path)


def daemon(lab: Lab, pair: Pair, side: int, ns: Namespace, **overrides: Any) -> PeerDaemon:
    kind = (pair.a, pair.b)[side - 1]
    other = 3 - side
    neighbor = Neighbor(
        address(pair, other, pair.transport),
        asn(pair, other),
        address(pair, side, pair.transport),
        password=pair.password,
        passive=side == pair.passive,  # one side connects: no collisions to resolve
        families=pair.families,
    )
    kwargs: dict[str, Any] = {
        "asn": asn(pair, side),
        "router_id": address(pair, side, "ipv4"),
        "neighbors": [neighbor],
        "announce": [announced(pair, side, f) for f in pair.families],
    }
    kwargs.update(pair.options.get(kind, {}))
    kwargs.update(overrides)
    return DAEMONS[kind](lab, ns, **kwargs)


@dataclass
class Running:
    """A started pair: ``a`` connects, ``b`` is passive."""

    pair: Pair
    a: PeerDaemon
    b: PeerDaemon

    def peer_of(self, d: PeerDaemon) -> str:
        """The session address of the daemon on the other side of ``d``."""
        return address(self.pair, 2 if d is self.a else 1, self.pair.transport)


@contextmanager
def start_pair(pair: Pair, workdir: Path, **overrides: Any) -> Iterator[Running]:
    """Both daemons started and their session Established; everything removed on exit."""
    with Lab(f"t{pair.subnet}", workdir) as lab:
        ns_a, ns_b = lab.namespace("a"), lab.namespace("b")
        lab.link(
            ns_a,
            ns_b,
            [f"{address(pair, 1, f)}/{24 if f == 'ipv4' else 64}" for f in ("ipv4", "ipv6")],
            [f"{address(pair, 2, f)}/{24 if f == 'ipv4' else 64}" for f in ("ipv4", "ipv6")],
        )
        a = daemon(lab, pair, 1, ns_a, **overrides)
        b = daemon(lab, pair, 2, ns_b, **overrides)
        running = Running(pair, a, b)
        for d in (b, a) if pair.passive == 2 else (a, b):  # the passive side first
            d.start()
        for d in (running.a, running.b):
            d.wait_established(running.peer_of(d), timeout=30)
        yield running


def skips(*kinds: str) -> list[pytest.MarkDecorator]:
    """A skip mark naming the first of ``kinds`` that cannot run here, if any."""
    reasons = [reason for kind in kinds if (reason := available(DAEMONS[kind]))]
    return [pytest.mark.skip(reason=reasons[0])] if reasons else []


def params(*pairs: Pair) -> list[Any]:
    return [pytest.param(pair, id=pair.id, marks=skips(pair.a, pair.b)) for pair in pairs]


# FRR's bgpd runs without zebra, knows no interfaces and so withdraws routes whose IPv6
# next hop has a link-local part; multihop makes BIRD send the global address only.
BIRD_TO_FRR = {"bird": {"link_local_next_hop": False}}

PAIRS = params(
    Pair("bird", "gobgp", subnet=11, ibgp=True),
    Pair("frr", "exabgp", subnet=12),
    Pair("bird", "frr", subnet=13, transport="ipv6", families=("ipv6",), options=BIRD_TO_FRR),
    Pair("exabgp", "gobgp", subnet=14, ibgp=True),
    # pybgp itself through the same interface: two `pybgp speak` in namespaces, and
    # against BIRD over IPv6 with IPv4 routes too (RFC 8950 next hops).
    Pair("pybgp", "pybgp", subnet=23),
    Pair("pybgp", "pybgp", subnet=24, ibgp=True, transport="ipv6", families=("ipv6",)),
)


@pytest.mark.parametrize("pair", PAIRS)
def test_each_side_receives_the_others_routes_with_attributes(pair: Pair, tmp_path: Path) -> None:
    with start_pair(pair, tmp_path) as running:
        for receiver, sender_side in ((running.b, 1), (running.a, 2)):
            for family in pair.families:
                want = expected(pair, sender_side, family)
                # Only the sender's route: FRR also echoes ExaBGP's own routes back to it
                # (no sender-side loop check) and ExaBGP keeps them.
                got = [
                    r
                    for r in receiver.wait_routes([want.prefix], family)
                    if r.prefix == want.prefix
                ]
                if not pair.ibgp:
                    # LOCAL_PREF is not sent to eBGP peers (RFC 4271 5.1.5); some daemons
                    # then report their default, others nothing.
                    got = [dataclasses.replace(r, local_pref=None) for r in got]
                assert got == [want], f"{receiver.label} {family}"


MD5_PAIRS = params(
    Pair("bird", "exabgp", subnet=15, families=("ipv4",), password="pybgp-md5"),
    Pair("frr", "gobgp", subnet=16, families=("ipv4",), password="pybgp-md5"),
)

CONNECT = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(1.5); s.bind((sys.argv[1], 0))\n"
    "try:\n    s.connect((sys.argv[2], 179))\nexcept OSError:\n    sys.exit(3)\n"
)


@pytest.mark.parametrize("pair", MD5_PAIRS)
def test_md5_sessions_come_up_and_unsigned_connections_do_not(pair: Pair, tmp_path: Path) -> None:
    with start_pair(pair, tmp_path) as running:
        assert running.b.established(running.peer_of(running.b))
        # The same peer address without the TCP MD5 option (RFC 2385): the kernel drops
        # the unsigned SYN, so the connection times out instead of reaching the daemon.
        a_ns, b_addr, a_addr = running.a.ns, running.peer_of(running.a), running.peer_of(running.b)
        attempt = a_ns.run(sys.executable, "-c", CONNECT, a_addr, b_addr, check=False)
        assert attempt.returncode == 3, attempt.stdout + attempt.stderr


# Who sends the shutdown to whom: every daemon sends one and receives one.
SHUTDOWN_PAIRS = params(
    Pair("gobgp", "bird", subnet=17, families=("ipv4",), passive=1),
    Pair("frr", "exabgp", subnet=18, families=("ipv4",)),
    Pair("bird", "frr", subnet=19, families=("ipv4",)),
    Pair("exabgp", "gobgp", subnet=20, families=("ipv4",)),
    Pair("pybgp", "pybgp", subnet=25, families=("ipv4",)),
)


@pytest.mark.parametrize("pair", SHUTDOWN_PAIRS)
def test_shutdown_message_reports_the_text_the_sender_sent(pair: Pair, tmp_path: Path) -> None:
    with start_pair(pair, tmp_path, announce=()) as running:
        sender, receiver = running.a, running.b
        assert receiver.shutdown_message(running.peer_of(receiver)) is None
        sender.admin_shutdown(running.peer_of(sender), TEXT)
        # ExaBGP cannot choose the text of its Administrative Shutdown.
        text = TEXT if sender.custom_shutdown_text else "Administrative Shutdown"
        peer = running.peer_of(receiver)
        wait_until(lambda: receiver.shutdown_message(peer) is not None, 10, "a shutdown text")
        assert receiver.shutdown_message(peer) == text


@pytest.mark.parametrize("kind", [pytest.param(k, marks=skips(k)) for k in sorted(DAEMONS)])
def test_every_option_gives_a_configuration_the_daemon_accepts(kind: str, tmp_path: Path) -> None:
    neighbors = [
        Neighbor(
            "198.18.22.2",
            ASN_B,
            "198.18.22.1",
            password="pw",
            port=1179,
            families=("ipv4", "ipv6"),
            ttl_security=2,  # GTSM (RFC 5082) two hops away, over eBGP
        ),
        Neighbor(
            "2001:db8:22::3",
            ASN_A,
            "2001:db8:22::1",
            passive=True,
            hold_time=9,
            families=("ipv4", "ipv6"),
            ttl_security=1,  # GTSM over iBGP, directly connected
        ),
        Neighbor("198.18.23.4", 65003, "198.18.22.1", multihop=3),  # eBGP multihop
    ]
    routes = [
        announced(Pair(kind, kind, subnet=22, ibgp=True), 1, "ipv4"),
        dataclasses.replace(announced(Pair(kind, kind, subnet=22), 2, "ipv6"), next_hop=None),
        Route("198.19.22.0/24", next_hop="198.18.22.1"),
    ]
    with Lab("t22", tmp_path) as lab:
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.link(a, b, ["198.18.22.1/24", "2001:db8:22::1/64"], ["198.18.22.2/24"])
        good = DAEMONS[kind](
            lab,
            a,
            asn=ASN_A,
            router_id="198.18.22.1",
            neighbors=neighbors,
            announce=routes,
            listen=["198.18.22.1", "2001:db8:22::1"],
        )
        good.check_config()
        bad = DAEMONS[kind](
            lab,
            a,
            asn=ASN_A,
            router_id="198.18.22.1",
            neighbors=neighbors,
            config_text="neighbor { this is not ] a configuration;\n",
        )
        assert bad.label != good.label  # each has its own files
        with pytest.raises(CommandError):
            bad.check_config()


@pytest.mark.parametrize("kind", [pytest.param("bird", marks=skips("bird"))])
def test_freeze_thaw_and_restart(kind: str, tmp_path: Path) -> None:
    pair = Pair(kind, kind, subnet=21, families=("ipv4",))
    with start_pair(pair, tmp_path) as running:
        a, b = running.a, running.b
        assert a.process is not None
        pid = a.process.pid
        a.freeze()
        wait_until(lambda: _state(pid) == "T", 5, "bird to stop")  # SIGSTOP
        a.thaw()
        wait_until(lambda: _state(pid) in ("R", "S"), 5, "bird to continue")
        a.restart()
        assert a.process is not None and a.process.pid != pid
        b.wait_established(running.peer_of(b), timeout=20)
        b.wait_routes([expected(pair, 1, "ipv4").prefix])


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


# -- GTSM and multihop in the written configurations (no daemon, no root) ------------------


def test_neighbor_checks_gtsm_hop_count_and_multihop() -> None:
    assert Neighbor("198.18.1.2", ASN_B, "198.18.1.1", ttl_security=1).min_ttl == 255
    assert Neighbor("198.18.1.2", ASN_B, "198.18.1.1", ttl_security=254).min_ttl == 2
    assert Neighbor("198.18.1.2", ASN_B, "198.18.1.1").min_ttl is None
    for bad in ({"ttl_security": 0}, {"ttl_security": 255}, {"multihop": 0}, {"multihop": 256}):
        with pytest.raises(ValueError):
            Neighbor("198.18.1.2", ASN_B, "198.18.1.1", **bad)


def _protocol_block(config: str, neighbor: str) -> list[str]:
    """The lines of the ``protocol bgp`` block for ``neighbor`` in a BIRD configuration."""
    name = "n_" + neighbor.replace(".", "_")
    block = config.split(f"protocol bgp {name} {{", 1)[1].split("\n}", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("options", "ibgp", "wanted", "unwanted"),
    [
        ({"ttl_security": 1}, False, ["ttl security on;"], ["multihop", "direct;"]),
        ({"ttl_security": 1}, True, ["ttl security on;", "direct;"], ["multihop"]),
        # BIRD derives GTSM's minimum TTL from multihop (256 - hops).
        ({"ttl_security": 2}, False, ["ttl security on;", "multihop 2;"], []),
        ({"ttl_security": 2}, True, ["multihop 2;"], ["direct;"]),
        ({"ttl_security": 1, "multihop": 3}, False, ["multihop 1;", "ttl security on;"], []),
        ({"multihop": 3}, False, ["multihop 3;"], ["ttl security"]),
        ({}, False, [], ["multihop", "ttl security"]),
    ],
)
def test_bird_takes_the_gtsm_hop_count_from_multihop(
    options: dict[str, int], ibgp: bool, wanted: list[str], unwanted: list[str], tmp_path: Path
) -> None:
    lab = Lab("conf", tmp_path)  # no namespace is created
    ns = Namespace("pybgp-conf-a-1", "a", tmp_path)
    neighbor = Neighbor("198.18.1.2", ASN_A if ibgp else ASN_B, "198.18.1.1", **options)
    config = Bird(lab, ns, asn=ASN_A, router_id="198.18.1.1", neighbors=[neighbor]).config()
    lines = _protocol_block(config, "198.18.1.2")
    for line in wanted:
        assert line in lines, config
    for word in unwanted:
        assert not any(line.startswith(word) for line in lines), config
    # Next hops two hops away resolve through connected routes.
    assert ("protocol direct" in config) == any(line.startswith("multihop") for line in lines)
