"""GTSM (RFC 5082, ``ttl-security``) between pybgp and each real daemon, one and two hops away.

One lab per daemon (AS 65002); two ``pybgp speak`` (AS 65001) are its eBGP peers::

    strict ──eth0── daemon                         one hop:  198.18.40.0/24
      └─eth1── router ──eth2── daemon              two hops: 198.18.41.0/24 - 198.18.42.0/24
    mixed ──eth3──┘                                two hops: 198.18.43.0/24 - 198.18.42.0/24

The router forwards, so what a GTSM speaker sends with TTL 255 arrives two hops away with
TTL 254, which GTSM with a hop count of 1 (minimum TTL 255) must drop.  Five sessions run at
once, each between its own pair of addresses:

- one hop, GTSM 1 at both ends: Established, and routes flow both ways;
- two hops, GTSM 1 at both ends: never Established;
- two hops, pybgp GTSM 1, the daemon GTSM 2: never (pybgp's check drops TTL 254);
- two hops, pybgp GTSM 2, the daemon GTSM 1: never at the daemon (its check drops it);
- two hops, no GTSM, the daemon multihop: Established, which proves that the path works
  and that it is GTSM that keeps the others down.

Why two pybgp: GTSM filters a connection's SYN only on a listener whose every peer asks for
it (with the same hop count); one that accepts from a peer without GTSM, or from farther
away, can only set the minimum TTL on each connection after accept(), and whatever the peer
sent before that (its OPEN) has got in.  So ``strict`` has GTSM 1 towards every peer, and
``mixed`` (GTSM 2 and off) only takes part where its own check is meant to pass.  For the
same reason ``mixed`` never connects out to a daemon whose check must fail: the daemons,
too, set the minimum TTL on an accepted connection only after accept().  Connecting out,
FRR, GoBGP and ExaBGP set it before connect(), BIRD only just after (see
:meth:`GtsmLab.assert_blocked_sessions_down`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pybgp.lab import DAEMONS, Lab, Namespace, Neighbor, PeerDaemon, Pybgp, Route, wait_until
from pybgp.lab.interop import PEERS

from .conftest import skip_reason

PYBGP_ASN, DAEMON_ASN = 65001, 65002
LAB_NET = "198.18.40.0/21"  # every address of the lab; routed through the router
PYBGP_ROUTE = Route("10.244.71.0/24")
DAEMON_ROUTE = Route("10.244.72.0/24")
# Seconds from the start that the GTSM-blocked sessions must stay down: many connect
# retries (1 s) of pybgp, BIRD, FRR and ExaBGP, and GoBGP's first one (about 5 s).
OBSERVE = 9.0
NO_CONNECTION = ("Idle", "Connect", "Active")  # RFC 4271 8.2.2 states without a connection


@dataclass(frozen=True)
class Session:
    what: str
    speaker: str  # which pybgp: "strict" or "mixed"
    pybgp: str  # its address
    daemon: str  # the daemon's address
    pybgp_gtsm: int | None  # GTSM hop counts (None: off)
    daemon_gtsm: int | None
    comes_up: bool

    @property
    def two_hops(self) -> bool:
        return not self.daemon.startswith("198.18.40.")

    @property
    def pybgp_passive(self) -> bool:
        # Connecting out, pybgp would let its OPEN into a daemon whose check must fail
        # before that daemon sets the minimum TTL on the accepted connection.
        return not self.comes_up and self.speaker == "mixed"


SESSIONS = (
    Session("one hop, GTSM 1 at both ends", "strict", "198.18.40.1", "198.18.40.2", 1, 1, True),
    Session("two hops, GTSM 1 at both ends", "strict", "198.18.41.1", "198.18.42.1", 1, 1, False),
    Session("two hops, pybgp's check", "strict", "198.18.41.2", "198.18.42.2", 1, 2, False),
    Session("two hops, the daemon's check", "mixed", "198.18.43.3", "198.18.42.3", 2, 1, False),
    Session("two hops, no GTSM", "mixed", "198.18.43.4", "198.18.42.4", None, None, True),
)
ONE_HOP = SESSIONS[0]


@dataclass
class GtsmLab:
    speakers: dict[str, Pybgp]
    daemon: PeerDaemon

    def pybgp_state(self, session: Session) -> str:
        return str(self.speakers[session.speaker].peer_status(session.daemon)["state"])

    def established(self, session: Session) -> bool:
        """Established at both ends."""
        up = self.pybgp_state(session) == "Established"
        return up and self.daemon.established(session.pybgp)

    def assert_blocked_sessions_down(self) -> None:
        """No blocked session is Established at the daemon, and none has sent pybgp a
        route.  Where pybgp's own check is the one that fails (the strict speaker), pybgp
        never even got a TCP connection, so no OPEN crossed (RFC 4271 8.2.2).

        Where only the daemon's check fails, pybgp's state proves nothing: BIRD sets the
        minimum TTL only after connect(), so on a busy machine pybgp's OPEN can slip in
        first, and pybgp (for which two hops are fine) goes on to Established while BIRD,
        which drops everything after that OPEN, waits in OpenConfirm for a KEEPALIVE.
        """
        for session in SESSIONS:
            if session.comes_up:
                continue
            speaker = self.speakers[session.speaker]
            if session.speaker == "strict":
                state = self.pybgp_state(session)
                assert state in NO_CONNECTION, f"pybgp is {state}: {session.what}"
            assert not self.daemon.established(session.pybgp), f"daemon: {session.what}"
            assert speaker.received(session.daemon) == [], f"routes: {session.what}"


def addresses(speaker: str) -> list[str]:
    return [f"{s.pybgp}/24" for s in SESSIONS if s.speaker == speaker and s.two_hops]


def build(lab: Lab, name: str) -> GtsmLab:
    """The namespaces, links and routes; both pybgp and the daemon started."""
    strict, mixed = lab.namespace("strict"), lab.namespace("mixed")
    router, theirs = lab.namespace("router"), lab.namespace(name)
    lab.link(strict, theirs, [f"{ONE_HOP.pybgp}/24"], [f"{ONE_HOP.daemon}/24"], dev="eth0")
    lab.link(strict, router, addresses("strict"), ["198.18.41.254/24"], dev="eth1")
    far = [f"{s.daemon}/24" for s in SESSIONS if s.two_hops]
    lab.link(router, theirs, ["198.18.42.254/24"], far, dev="eth2")
    lab.link(mixed, router, addresses("mixed"), ["198.18.43.254/24"], dev="eth3")
    router.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")  # and so decrements the TTL
    gateways: list[tuple[Namespace, str]] = [
        (strict, "198.18.41.254"),
        (mixed, "198.18.43.254"),
        (theirs, "198.18.42.254"),
    ]
    for ns, gateway in gateways:
        ns.run("ip", "route", "add", LAB_NET, "via", gateway)  # the links' own /24s win

    speakers: dict[str, Pybgp] = {}
    for role, ns in (("strict", strict), ("mixed", mixed)):
        sessions = [s for s in SESSIONS if s.speaker == role]
        speakers[role] = Pybgp(
            lab,
            ns,
            asn=PYBGP_ASN,
            router_id=sessions[0].pybgp,
            neighbors=[
                Neighbor(
                    s.daemon,
                    DAEMON_ASN,
                    s.pybgp,
                    passive=s.pybgp_passive,
                    ttl_security=s.pybgp_gtsm,
                )
                for s in sessions
            ],
            announce=[PYBGP_ROUTE],
        )
    daemon = DAEMONS[name](
        lab,
        theirs,
        asn=DAEMON_ASN,
        router_id=ONE_HOP.daemon,
        neighbors=[
            Neighbor(
                s.pybgp,
                PYBGP_ASN,
                s.daemon,
                ttl_security=s.daemon_gtsm,
                multihop=2 if s.two_hops else None,
            )
            for s in SESSIONS
        ],
        announce=[DAEMON_ROUTE],
    )
    for speaker in speakers.values():
        speaker.start()
    daemon.start()
    return GtsmLab(speakers, daemon)


@pytest.mark.parametrize("name", list(PEERS))
def test_gtsm_admits_one_hop_and_stops_two_hops(name: str) -> None:
    reason = skip_reason([name])
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="pybgp-gtsm-") as tmp, Lab("gtsm", Path(tmp)) as lab:
        gtsm = build(lab, name)
        started = time.monotonic()

        def all_up() -> bool:
            gtsm.assert_blocked_sessions_down()
            return all(gtsm.established(s) for s in SESSIONS if s.comes_up)

        wait_until(all_up, 30, f"the one-hop and the plain two-hop sessions with {name}", 0.3)

        # Routes flow over the one-hop GTSM session, both ways.
        strict = gtsm.speakers["strict"]
        wait_until(
            lambda: DAEMON_ROUTE.prefix in {e["prefix"] for e in strict.received(ONE_HOP.daemon)},
            10,
            f"pybgp to receive {DAEMON_ROUTE.prefix} from {name}",
        )
        routes = gtsm.daemon.wait_routes([PYBGP_ROUTE.prefix])
        hops = {r.next_hop for r in routes if r.prefix == PYBGP_ROUTE.prefix}
        assert ONE_HOP.pybgp in hops, f"{name} has {PYBGP_ROUTE.prefix} only via {hops}"

        # The GTSM-blocked sessions stay down while the others have long been up.
        while time.monotonic() < started + OBSERVE:
            gtsm.assert_blocked_sessions_down()
            time.sleep(0.5)
        gtsm.assert_blocked_sessions_down()
