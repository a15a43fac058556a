"""Route reflection (RFC 4456) with BIRD 2, GoBGP and FRR clients (issue 4).

The reflector is `pybgp reflect` (the system under test) or BIRD 2 (the reference: the
same assertions passing with BIRD show that the expected values are right).  Each client
reports what it received through its own CLI (``birdc show route all``, ``gobgp neighbor
... adj-in -j``, ``vtysh show bgp ipv4 unicast json detail``).  See reflect_lab.py for
the topology.

BIRD 2.0.12 as a reflector checks CLUSTER_LIST for its own cluster id only on sessions
with ``rr client`` (attrs.c ``bgp_cluster_list_loopy`` tests ``p->rr_client``): from a
non-client reflector of the same cluster it keeps the looped route (it then loses the
best path selection to the client's own, on CLUSTER_LIST length).  RFC 4456 8 asks to
ignore it whoever sent it; that variant is an expected failure for BIRD.

pybgp keeps such a route in its Adj-RIB-In (``adj-rib-in`` shows every route as
received) and refuses it on import, so what a reflector *keeps* is read from its Loc-RIB
(``PeerDaemon.kept_routes``: `pybgp routes`; BIRD's tables hold accepted routes only).
"""

from __future__ import annotations

import pwd
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pybgp.lab import (
    DAEMONS,
    ExaBGP,
    Frr,
    Lab,
    Namespace,
    Neighbor,
    PeerDaemon,
    Pybgp,
    Route,
    cleanup_stale,
    have_root,
    wait_until,
)
from pybgp.lab import bird as bird_module
from pybgp.lab import frr as frr_module
from pybgp.lab import gobgp as gobgp_module
from pybgp.lab import speaker as speaker_module

from .conftest import skip_reason
from .reflect_lab import (
    CLIENTS,
    CLUSTER_ID,
    NON_CLIENTS,
    REFLECTOR_HOSTS,
    REFLECTORS,
    ReflectLab,
    address,
    build,
    host_of,
    prefix,
)

RR = address(REFLECTOR_HOSTS["rr"])
RR2 = address(REFLECTOR_HOSTS["rr2"])
CLIENT_PREFIXES = [prefix(host) for host in CLIENTS.values()]


def _lab(tag: str, kind: str, **options: object) -> Iterator[ReflectLab]:
    """Build the lab (skipping without root or a daemon), wait for every session."""
    reason = skip_reason([kind, *CLIENTS])
    if reason:
        pytest.skip(reason)
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix=f"pybgp-{tag}-") as tmp, Lab(tag, Path(tmp)) as lab:
        the_lab = build(lab, kind, **options)  # type: ignore[arg-type]
        try:
            the_lab.wait_all_established(timeout=60)
        except Exception as exc:
            exc.add_note(the_lab.dump_logs())
            raise
        yield the_lab


@pytest.fixture(scope="module", params=REFLECTORS, ids=[f"{k}-rr" for k in REFLECTORS])
def single(request: pytest.FixtureRequest) -> Iterator[ReflectLab]:
    """One reflector; clients BIRD, GoBGP, FRR; two non-client BIRDs."""
    yield from _lab(f"rr-{request.param}", request.param)


def routes_of(daemon: PeerDaemon, wanted: str, *, kept: bool = False) -> list[Route]:
    """The routes for prefix ``wanted`` that ``daemon`` reports, every path: as received,
    or (``kept``) as kept for route selection."""
    routes = daemon.kept_routes("ipv4") if kept else daemon.received_routes("ipv4")
    return [route for route in routes if route.prefix == wanted]


def wait_copies(
    daemon: PeerDaemon, wanted: str, count: int, timeout: float = 30, *, kept: bool = False
) -> list[Route]:
    """Block until ``daemon`` holds exactly ``count`` paths for ``wanted``; return them."""
    found: list[Route] = []

    def arrived() -> bool:
        found[:] = routes_of(daemon, wanted, kept=kept)
        return len(found) == count

    try:
        wait_until(arrived, timeout, f"{daemon.label} to hold {count} x {wanted}", interval=0.2)
    except TimeoutError as exc:
        exc.add_note(f"it holds {found}\n--- log ---\n{daemon.log_text()[-2000:]}")
        raise
    return found


def holds_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Assert that ``check`` stays true for ``seconds`` (something must *not* happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.25)


def assert_reflected(route: Route, origin: str) -> None:
    """``route`` as RFC 4456 has a reflector pass on a route of ``origin`` (a name)."""
    origin_address = address(host_of(origin))
    assert route.originator_id == origin_address, route  # RFC 4456 8: the originator
    assert route.cluster_list == (CLUSTER_ID,), route  # one reflection, our cluster
    assert route.next_hop == origin_address, route  # an RR does not touch the next hop
    assert route.as_path == (), route
    assert route.local_pref == 100, route


# -- one reflector ----------------------------------------------------------------------------
def test_reflector_holds_every_speakers_route_as_sent(single: ReflectLab) -> None:
    """The reflector learned each client's and non-client's route, not yet reflected."""
    rr = single.reflectors["rr"]
    for name, host in {**CLIENTS, **NON_CLIENTS}.items():
        (route,) = wait_copies(rr, prefix(host), 1)
        assert route.next_hop == address(host), name
        assert route.originator_id is None and route.cluster_list == (), route


@pytest.mark.parametrize("origin", list(CLIENTS))
def test_client_route_reaches_other_clients_with_originator_and_cluster(
    single: ReflectLab, origin: str
) -> None:
    """Each other client shows one path: ORIGINATOR_ID the originating client's router id,
    CLUSTER_LIST the cluster id, the next hop the originating client's address."""
    wanted = prefix(CLIENTS[origin])
    for name, client in single.clients.items():
        if name == origin:
            continue
        (route,) = wait_copies(client, wanted, 1)
        assert_reflected(route, origin)


@pytest.mark.parametrize("origin", list(CLIENTS))
def test_client_route_reaches_non_clients(single: ReflectLab, origin: str) -> None:
    """RFC 4456 6: a client's route goes to non-clients too."""
    for non_client in single.non_clients.values():
        (route,) = wait_copies(non_client, prefix(CLIENTS[origin]), 1)
        assert_reflected(route, origin)


def test_originator_is_not_sent_its_own_route_back(single: ReflectLab) -> None:
    """No client holds a path for its own prefix from the reflector."""
    for name, client in single.clients.items():
        others = [prefix(h) for n, h in CLIENTS.items() if n != name]
        client.wait_routes(others, timeout=30)  # the reflector has passed routes on
        assert routes_of(client, prefix(CLIENTS[name])) == [], name


def test_non_client_route_reaches_clients_but_not_other_non_clients(single: ReflectLab) -> None:
    """RFC 4456 6: from a non-client, reflect to clients only."""
    for origin in NON_CLIENTS:
        wanted = prefix(NON_CLIENTS[origin])
        for client in single.clients.values():
            (route,) = wait_copies(client, wanted, 1)
            assert_reflected(route, origin)
    for name, non_client in single.non_clients.items():
        other = next(prefix(h) for n, h in NON_CLIENTS.items() if n != name)
        holds_for(
            lambda d=non_client, p=other: routes_of(d, p) == [],
            2,
            f"{name} got the other non-client's {other}",
        )


@pytest.mark.parametrize("origin", list(CLIENTS))
def test_withdrawal_reaches_the_other_clients(single: ReflectLab, origin: str) -> None:
    """The originating client withdraws its route; it goes from every other client and
    non-client; announced again, it comes back reflected as before."""
    daemon = single.clients[origin]
    wanted = prefix(CLIENTS[origin])
    others = {n: d for n, d in single.speakers.items() if n != origin}
    for other in others.values():
        wait_copies(other, wanted, 1)
    (sent,) = [route for route in daemon.announce if route.prefix == wanted]
    daemon.delete_route(wanted)
    try:
        for other in others.values():
            wait_copies(other, wanted, 0)
        wait_copies(single.reflectors["rr"], wanted, 0)
    finally:
        daemon.add_route(sent)
    for name in CLIENTS:
        if name != origin:
            assert_reflected(wait_copies(single.clients[name], wanted, 1)[0], origin)


# -- two reflectors of one cluster ------------------------------------------------------------
PEERINGS = ("non-client", "client")


@pytest.fixture(
    scope="module",
    params=[(kind, peering) for kind in REFLECTORS for peering in PEERINGS],
    ids=[f"{kind}-rr-pair-{peering}" for kind in REFLECTORS for peering in PEERINGS],
)
def pair(request: pytest.FixtureRequest) -> Iterator[ReflectLab]:
    """Two reflectors with the same cluster id, every client peering with both; the
    reflectors peer with each other as non-clients or as each other's clients."""
    kind, peering = request.param
    yield from _lab(
        f"rrpair-{kind}-{peering}",
        kind,
        reflectors=2,
        non_clients=False,
        reflectors_as_clients=peering == "client",
    )


def _expected(pair: ReflectLab, name: str) -> dict[str, int]:
    """What client ``name`` should hold: one path per reflector of every other client's
    prefix, nothing else."""
    return {prefix(h): len(pair.reflectors) for n, h in CLIENTS.items() if n != name}


def _counts(daemon: PeerDaemon, *, kept: bool = False) -> dict[str, int]:
    """Paths per prefix, as received or (``kept``) as kept for route selection."""
    counts: dict[str, int] = {}
    for route in daemon.kept_routes("ipv4") if kept else daemon.received_routes("ipv4"):
        counts[route.prefix] = counts.get(route.prefix, 0) + 1
    return counts


def test_two_reflectors_each_client_holds_one_copy_per_reflector(pair: ReflectLab) -> None:
    """Every client's route reaches the other clients once through each reflector, each
    copy with the originator and a CLUSTER_LIST of the one shared cluster id."""
    for name, client in pair.clients.items():
        for wanted, count in _expected(pair, name).items():
            origin = next(n for n, h in CLIENTS.items() if prefix(h) == wanted)
            for route in wait_copies(client, wanted, count):
                assert_reflected(route, origin)


def _reflected_by(reflector: Pybgp, other: str) -> set[str]:
    """The prefixes in ``reflector``'s Adj-RIB-In from ``other`` with our cluster id."""
    return {
        entry["prefix"]
        for entry in reflector.received(other)
        if CLUSTER_ID in entry.get("cluster_list", [])
    }


def test_reflector_ignores_routes_with_its_own_cluster_id(
    pair: ReflectLab, request: pytest.FixtureRequest
) -> None:
    """RFC 4456 8: a reflector does not keep a route whose CLUSTER_LIST holds its own
    cluster id, so neither keeps what the other reflected; each holds one path per
    client prefix, learned from that client."""
    if pair.kind == "bird" and request.node.callspec.id.endswith("-non-client"):
        reason = "BIRD 2.0.12 checks CLUSTER_LIST only on `rr client` sessions"
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    for role, other in (("rr", RR2), ("rr2", RR)):
        reflector = pair.reflectors[role]
        if isinstance(reflector, Pybgp):
            # The other reflector did send what it reflected (its Adj-RIB-In shows it)...
            wait_until(
                lambda r=reflector, o=other: _reflected_by(r, o) == set(CLIENT_PREFIXES),
                30,
                f"{role}'s Adj-RIB-In to hold what {other} reflected",
            )
        # ... but it keeps one path per client prefix, the client's own.
        for host in CLIENTS.values():
            (route,) = wait_copies(reflector, prefix(host), 1, 10, kept=True)
            assert route.originator_id is None, (role, route)
        holds_for(
            lambda r=reflector: (
                [route for route in r.kept_routes("ipv4") if route.cluster_list] == []
            ),
            2,
            f"{role} kept a route from {other} carrying its own cluster id",
        )


def test_two_reflectors_route_counts_stay_stable(pair: ReflectLab) -> None:
    """No loop: once converged, what every client and reflector holds does not change."""
    for name, client in pair.clients.items():
        for wanted, count in _expected(pair, name).items():
            wait_copies(client, wanted, count)

    def snapshot() -> dict[str, dict[str, int]]:
        reflectors = {role: _counts(d, kept=True) for role, d in pair.reflectors.items()}
        return {**reflectors, **{name: _counts(d) for name, d in pair.clients.items()}}

    before = snapshot()
    for name in pair.clients:
        assert before[name] == _expected(pair, name), name
    holds_for(lambda: snapshot() == before, 3, "route counts changed after convergence")


def test_daemon_kinds_are_registered() -> None:
    """The lab's reflector kinds are lab daemons (a typo would skip everything)."""
    assert set(REFLECTORS) <= set(DAEMONS)


# -- without daemons: configuration and parsing (outputs copied from the lab) -----------------
BIRD_REFLECTED = """\
BIRD 2.0.12 ready.
Table master4:
10.99.3.0/24         unicast [n_198_18_0_1 15:55:16.543 from 198.18.0.1] * (100) [i]
\tvia 198.18.0.3 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path:
\tBGP.next_hop: 198.18.0.3
\tBGP.local_pref: 100
\tBGP.originator_id: 198.18.0.3
\tBGP.cluster_list: 198.19.255.1 198.19.255.2
"""
GOBGP_REFLECTED = {
    "nlri": {"prefix": "10.99.2.0/24"},
    "attrs": [
        {"type": 1, "value": 0},
        {"type": 2, "as_paths": []},
        {"type": 3, "nexthop": "198.18.0.2"},
        {"type": 5, "value": 100},
        {"type": 9, "value": "198.18.0.2"},
        {"type": 10, "value": ["198.19.255.1"]},
    ],
}
FRR_REFLECTED = {
    "aspath": {"string": "Local", "segments": [], "length": 0},
    "origin": "IGP",
    "locPrf": 100,
    "originatorId": "198.18.0.2",
    "clusterList": {"list": ["198.19.255.1"]},
    "nexthops": [{"ip": "198.18.0.2", "afi": "ipv4"}],
    "peer": {"peerId": "198.18.0.1", "routerId": "198.18.0.1", "type": "internal"},
}
PYBGP_REFLECTED = {
    "family": "ipv4",
    "prefix": "10.99.4.0/24",
    "next_hop": "198.18.0.4",
    "origin": "igp",
    "local_pref": 100,
    "originator_id": "198.18.0.4",
    "cluster_list": ["198.19.255.1"],
}


def test_every_driver_reads_originator_id_and_cluster_list() -> None:
    (route,) = bird_module.parse_routes(BIRD_REFLECTED)
    assert route.originator_id == "198.18.0.3"
    assert route.cluster_list == ("198.19.255.1", "198.19.255.2")
    route = gobgp_module.parse_path("10.99.2.0/24", GOBGP_REFLECTED)
    assert (route.originator_id, route.cluster_list) == ("198.18.0.2", ("198.19.255.1",))
    route = frr_module.parse_path("10.99.2.0/24", FRR_REFLECTED)
    assert (route.originator_id, route.cluster_list) == ("198.18.0.2", ("198.19.255.1",))
    route = speaker_module._route(PYBGP_REFLECTED)
    assert (route.originator_id, route.cluster_list) == ("198.18.0.4", ("198.19.255.1",))
    # Unreflected routes: no originator, an empty list.
    route = gobgp_module.parse_path("10.99.2.0/24", {"attrs": GOBGP_REFLECTED["attrs"][:4]})
    assert (route.originator_id, route.cluster_list) == (None, ())


def _configs(tmp_path: Path) -> dict[str, str]:
    lab = Lab("rrconf", tmp_path)  # no namespace is created: no root needed
    ns = Namespace("pybgp-rrconf-a-1", "a", tmp_path)
    neighbors = [
        Neighbor("198.18.0.2", 64600, "198.18.0.1", rr_client=True),
        Neighbor("198.18.0.5", 64600, "198.18.0.1"),
    ]
    out: dict[str, str] = {}
    for name in ("bird", "gobgp", "pybgp"):
        options: dict[str, object] = {"reflect": True} if name == "pybgp" else {}
        daemon = DAEMONS[name](
            lab,
            ns,
            asn=64600,
            router_id="198.18.0.1",
            neighbors=neighbors,
            cluster_id=CLUSTER_ID,
            **options,  # type: ignore[arg-type]
        )
        out[name] = daemon.config()  # type: ignore[attr-defined]
        if name == "pybgp":
            assert daemon._argv()[3:5] == ["reflect", "-c"]
    return out


def test_every_reflector_driver_writes_rr_client_and_cluster_id(tmp_path: Path) -> None:
    configs = _configs(tmp_path)
    bird_client = configs["bird"].split("protocol bgp n_198_18_0_2")[1].split("}\n")[0]
    assert "rr client;" in bird_client and f"rr cluster id {CLUSTER_ID};" in bird_client
    bird_other = configs["bird"].split("protocol bgp n_198_18_0_5")[1]
    assert "rr client;" not in bird_other and f"rr cluster id {CLUSTER_ID};" in bird_other
    assert configs["gobgp"].count("route-reflector-client = true") == 1
    assert configs["gobgp"].count(f'route-reflector-cluster-id = "{CLUSTER_ID}"') == 2
    assert f'cluster-id = "{CLUSTER_ID}"' in configs["pybgp"]
    assert configs["pybgp"].count("rr-client = true") == 1


def test_frr_writes_route_reflector_client_and_cluster_id(tmp_path: Path) -> None:
    try:
        pwd.getpwnam("frr")  # the constructor hands its run directory to user frr
    except KeyError:
        pytest.skip("no user frr (FRR not installed)")
    if not have_root():
        pytest.skip("only root can give a directory to user frr")
    with Lab("rrconf", tmp_path) as lab:
        frr = Frr(
            lab,
            Namespace("pybgp-rrconf-a-1", "a", tmp_path),
            asn=64600,
            router_id="198.18.0.1",
            neighbors=[
                Neighbor("198.18.0.2", 64600, "198.18.0.1", rr_client=True),
                Neighbor("198.18.0.5", 64600, "198.18.0.1"),
            ],
            cluster_id=CLUSTER_ID,
        )
        text = frr.config()
    assert f" bgp cluster-id {CLUSTER_ID}\n" in text
    assert "  neighbor 198.18.0.2 route-reflector-client\n" in text
    assert "198.18.0.5 route-reflector-client" not in text


def test_rr_client_must_be_internal_and_exabgp_cannot_reflect(tmp_path: Path) -> None:
    lab = Lab("rrconf", tmp_path)
    ns = Namespace("pybgp-rrconf-a-1", "a", tmp_path)
    client = Neighbor("198.18.0.2", 64600, "198.18.0.1", rr_client=True)
    with pytest.raises(ValueError, match="not an internal"):
        DAEMONS["bird"](lab, ns, asn=64601, router_id="198.18.0.1", neighbors=[client])
    with pytest.raises(ValueError, match="does not reflect"):
        ExaBGP(lab, ns, asn=64600, router_id="198.18.0.1", neighbors=[client])
    with pytest.raises(ValueError):
        DAEMONS["bird"](
            lab, ns, asn=64600, router_id="198.18.0.1", neighbors=[client], cluster_id="1.2.3"
        )
