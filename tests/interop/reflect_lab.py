"""The route reflection lab of test_reflect.py (RFC 4456, issue 4).

One bridge 198.18.0.0/24 in the namespace of the (first) reflector; every other speaker
sits in a namespace of its own on that bridge.  All speakers are internal (AS 64600):

- the reflector ``rr`` (198.18.0.1) and, in the two-reflector lab, ``rr2`` (198.18.0.9),
  both with cluster id :data:`CLUSTER_ID`, peering with each other as non-clients (or,
  with ``reflectors_as_clients``, each as the other's client);
- the clients BIRD (.2), GoBGP (.3) and FRR (.4), each peering with every reflector;
- in the one-reflector lab, two non-client BIRDs (.5 and .6).

Every speaker but the reflectors originates one prefix, ``10.99.<host>.0/24``; its
router id is its address.  The reflector is either pybgp (`pybgp reflect`, the system
under test) or BIRD, whose results document that the expected values are right.

Daemon quirks the build works around: GoBGP connects out only about 5 s after it starts,
so it stays passive and the reflectors connect to it; BIRD's iBGP sessions carry
``direct`` (the lab driver's default) so that the clients' next hops resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pybgp.lab import Bird, Frr, GoBGP, Lab, Namespace, Neighbor, PeerDaemon, Pybgp, Route

ASN = 64600
CLUSTER_ID = "198.19.255.1"
#: The reflector kinds the tests run with: pybgp is tested, BIRD is the reference.
REFLECTORS = ("pybgp", "bird")
#: Reflector role -> host number.
REFLECTOR_HOSTS = {"rr": 1, "rr2": 9}
#: Client name (its daemon) -> host number.
CLIENTS = {"bird": 2, "gobgp": 3, "frr": 4}
#: Non-client name -> host number (both BIRD).
NON_CLIENTS = {"nc1": 5, "nc2": 6}
CLIENT_KINDS: dict[str, type[PeerDaemon]] = {"bird": Bird, "gobgp": GoBGP, "frr": Frr}
HOLD_TIME = 9


def address(host: int) -> str:
    """The bridge address (and router id) of host number ``host``."""
    return f"198.18.0.{host}"


def prefix(host: int) -> str:
    """The prefix that host number ``host`` originates."""
    return f"10.99.{host}.0/24"


def host_of(name: str) -> int:
    """The host number of a client, non-client or reflector name."""
    return {**CLIENTS, **NON_CLIENTS, **REFLECTOR_HOSTS}[name]


@dataclass
class ReflectLab:
    """The running lab: reflectors by role, clients and non-clients by name."""

    lab: Lab
    kind: str
    reflectors: dict[str, PeerDaemon] = field(default_factory=dict)
    clients: dict[str, PeerDaemon] = field(default_factory=dict)
    non_clients: dict[str, PeerDaemon] = field(default_factory=dict)

    @property
    def speakers(self) -> dict[str, PeerDaemon]:
        """Clients and non-clients: everyone that originates a route."""
        return {**self.clients, **self.non_clients}

    def wait_all_established(self, timeout: float = 60) -> None:
        """Every session up, seen from both ends."""
        for role, reflector in self.reflectors.items():
            for neighbor in reflector.neighbors:
                reflector.wait_established(neighbor.address, timeout)
            for speaker in self.speakers.values():
                speaker.wait_established(address(REFLECTOR_HOSTS[role]), timeout)

    def dump_logs(self) -> str:
        """The tail of every daemon's log, for a failing build."""
        daemons = {**self.reflectors, **self.speakers}
        return "\n".join(
            f"--- {name} log ---\n{daemon.log_text()[-3000:]}" for name, daemon in daemons.items()
        )


def _reflector(
    lab: Lab, kind: str, ns: Namespace, role: str, neighbors: Sequence[Neighbor]
) -> PeerDaemon:
    host = REFLECTOR_HOSTS[role]
    common = {
        "asn": ASN,
        "router_id": address(host),
        "neighbors": neighbors,
        "cluster_id": CLUSTER_ID,
    }
    if kind == "pybgp":
        return Pybgp(lab, ns, reflect=True, **common)
    if kind == "bird":
        return Bird(lab, ns, **common)
    raise ValueError(f"no reflector kind {kind!r}")


def build(
    lab: Lab,
    kind: str,
    *,
    reflectors: int = 1,
    non_clients: bool = True,
    reflectors_as_clients: bool = False,
) -> ReflectLab:
    """Namespaces, addresses and every daemon, started (sessions not yet up).

    ``reflectors_as_clients``: with two reflectors, each is the other's client (else
    they peer as non-clients)."""
    roles = list(REFLECTOR_HOSTS)[:reflectors]
    hub = lab.namespace("rr")
    lab.bridge(hub, "br0", [f"{address(REFLECTOR_HOSTS['rr'])}/24"])
    namespaces = {"rr": hub}
    for role in roles[1:]:
        namespaces[role] = lab.namespace(role)
        lab.attach(hub, namespaces[role], [f"{address(REFLECTOR_HOSTS[role])}/24"])
    others = {**CLIENTS, **(NON_CLIENTS if non_clients else {})}
    for name, host in others.items():
        namespaces[name] = lab.namespace(name)
        lab.attach(hub, namespaces[name], [f"{address(host)}/24"])

    result = ReflectLab(lab, kind)
    for name, host in others.items():
        # GoBGP waits about 5 s before it connects out: let the reflectors connect.
        towards_rr = [
            Neighbor(address(REFLECTOR_HOSTS[r]), ASN, address(host), hold_time=HOLD_TIME)
            for r in roles
        ]
        if name == "gobgp":
            towards_rr = [
                Neighbor(n.address, ASN, n.local_address, hold_time=HOLD_TIME, passive=True)
                for n in towards_rr
            ]
        daemon_kind = CLIENT_KINDS.get(name, Bird)
        daemon = daemon_kind(
            lab,
            namespaces[name],
            asn=ASN,
            router_id=address(host),
            neighbors=towards_rr,
            announce=[Route(prefix(host))],
        )
        (result.clients if name in CLIENTS else result.non_clients)[name] = daemon

    for role in roles:
        own = address(REFLECTOR_HOSTS[role])
        neighbors = [
            Neighbor(address(host), ASN, own, hold_time=HOLD_TIME, rr_client=name in CLIENTS)
            for name, host in others.items()
        ]
        neighbors += [
            Neighbor(
                address(REFLECTOR_HOSTS[other]),
                ASN,
                own,
                hold_time=HOLD_TIME,
                rr_client=reflectors_as_clients,
            )
            for other in roles
            if other != role
        ]
        result.reflectors[role] = _reflector(lab, kind, namespaces[role], role, neighbors)

    daemons = [*result.reflectors.values(), *result.speakers.values()]
    with ThreadPoolExecutor(len(daemons)) as pool:
        for future in [pool.submit(daemon.start) for daemon in daemons]:
            future.result()
    return result
