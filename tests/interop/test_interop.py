"""pybgp against real BIRD 2, GoBGP, FRR bgpd and ExaBGP (issue 3's interop list).

Each test runs once per daemon.  The lab (pybgp.lab.interop) gives every daemon two
sessions with pybgp, over IPv4 (with TCP MD5) and over IPv6; BIRD and FRR are iBGP
peers, GoBGP and ExaBGP eBGP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from pybgp.lab import Route, wait_until
from pybgp.lab.interop import (
    PEERS,
    PYBGP_ASN,
    PYBGP_ROUTES,
    PYBGP_V4,
    PYBGP_V6,
    InteropLab,
    daemon_routes,
    v4,
    v6,
)

from .conftest import HOLD_TIME

DAEMON_NAMES = list(PEERS)


def _external(name: str) -> bool:
    return PEERS[name][0] != PYBGP_ASN


def _session(name: str, family: str) -> tuple[str, str]:
    """(the daemon's address, pybgp's address) of the session carrying `family`."""
    host = PEERS[name][1]
    return (v4(host), PYBGP_V4) if family == "ipv4" else (v6(host), PYBGP_V6)


def _wait_up(interop: InteropLab, name: str, timeout: float = 60) -> None:
    daemon = interop.daemons[name]
    for family in ("ipv4", "ipv6"):
        theirs, ours = _session(name, family)
        interop.pybgp.wait_established(theirs, timeout)
        daemon.wait_established(ours, timeout)


@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_established_over_ipv4_and_ipv6(interop: InteropLab, name: str) -> None:
    daemon = interop.daemons[name]
    for family in ("ipv4", "ipv6"):
        theirs, ours = _session(name, family)
        peer = interop.pybgp.peer_status(theirs)
        assert peer["state"] == "Established"
        assert peer["asn"] == PEERS[name][0]
        assert peer["families"] == [family]
        assert daemon.established(ours), f"{name} does not see {ours} Established"


def test_status_lists_all_four_peers_established(interop: InteropLab) -> None:
    """`pybgp status` (the CLI, both forms) against the running daemon."""
    argv = [sys.executable, "-m", "pybgp.cli", "status", "--socket", interop.pybgp.socket]
    table = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert table.startswith("pybgp process is running.")
    for name in DAEMON_NAMES:
        for address in (v4(PEERS[name][1]), v6(PEERS[name][1])):
            row = next(line for line in table.splitlines() if f"| {address} " in line)
            assert "| up " in row and "Established" in row, row
    status = json.loads(
        subprocess.run([*argv, "--json"], capture_output=True, text=True, check=True).stdout
    )
    states = {peer["address"]: peer["state"] for peer in status["peers"]}
    assert len(states) == 2 * len(DAEMON_NAMES)
    assert set(states.values()) == {"Established"}
    assert status["asn"] == PYBGP_ASN and status["router_id"] == PYBGP_V4


def _as_path(entry: dict[str, Any]) -> list[int]:
    return [asn for segment in entry.get("as_path", []) for asn in segment["asns"]]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_routes_from_peer_arrive_intact(interop: InteropLab, name: str, family: str) -> None:
    """The daemon's route, in pybgp's Adj-RIB-In, with every attribute it was sent with."""
    theirs, _ = _session(name, family)
    sent = daemon_routes(name)[0 if family == "ipv4" else 1]
    entry: dict[str, Any] = {}

    def arrived() -> bool:
        nonlocal entry
        found = [r for r in interop.pybgp.received(theirs) if r["prefix"] == sent.prefix]
        entry = found[0] if found else {}
        return bool(found)

    wait_until(arrived, 30, f"{sent.prefix} from {name} in pybgp")
    assert entry["family"] == family
    assert entry["next_hop"] == theirs
    assert entry["origin"] == sent.origin
    assert entry.get("med") == sent.med
    assert entry.get("communities") == list(sent.communities)
    assert entry.get("large_communities") == list(sent.large_communities)
    if _external(name):
        assert _as_path(entry)[0] == PEERS[name][0]  # RFC 4271 5.1.2: the peer prepended
        assert "local_pref" not in entry
    else:
        assert _as_path(entry) == []
        assert entry.get("local_pref") == 100


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_routes_from_pybgp_arrive_intact(interop: InteropLab, name: str, family: str) -> None:
    """pybgp's route as the daemon itself reports it."""
    daemon = interop.daemons[name]
    _, ours = _session(name, family)
    sent = PYBGP_ROUTES[0 if family == "ipv4" else 1]
    got: list[Route] = []

    def arrived() -> bool:
        nonlocal got
        got = [r for r in daemon.received_routes(family) if r.prefix == sent.prefix]
        return bool(got)

    wait_until(arrived, 30, f"{sent.prefix} from pybgp in {name}")
    route = got[0]
    assert route.next_hop == ours
    assert route.origin == "igp"
    assert route.med == sent.med
    assert set(route.communities) == set(sent.communities)
    assert set(route.large_communities) == set(sent.large_communities)
    if _external(name):
        assert route.as_path == (PYBGP_ASN,)
    else:
        assert route.as_path == ()
        assert route.local_pref == 100


@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_administrative_shutdown_text_reaches_peer(interop: InteropLab, name: str) -> None:
    """RFC 9003: the Cease / Administrative Shutdown communication, as the daemon shows it."""
    theirs, ours = _session(name, "ipv4")
    text = f"pybgp interop: maintenance of {name}"
    # Through the CLI, as an operator would.
    argv = [sys.executable, "-m", "pybgp.cli", "peer", "disable", theirs, "--message", text]
    subprocess.run([*argv, "--socket", interop.pybgp.socket], check=True, capture_output=True)
    daemon = interop.daemons[name]
    try:
        wait_until(lambda: daemon.shutdown_message(ours) == text, 20, f"{name} shows the text")
        status = interop.pybgp.peer_status(theirs)
        assert status["state"] != "Established"
        assert "Administrative shutdown" in status["info"]
    finally:
        interop.pybgp.control("peer-enable", peer=theirs)
    _wait_up(interop, name)


@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_hold_timer_expires_when_peer_freezes(interop: InteropLab, name: str) -> None:
    """SIGSTOP the daemon: pybgp's HoldTimer expires (RFC 4271 6.5) and it says so."""
    daemon = interop.daemons[name]
    theirs, _ = _session(name, "ipv4")
    daemon.freeze()
    frozen_at = time.monotonic()
    try:
        wait_until(
            lambda: interop.pybgp.peer_status(theirs)["state"] != "Established",
            HOLD_TIME + 10,
            f"pybgp to give up on frozen {name}",
        )
        waited = time.monotonic() - frozen_at
        status = interop.pybgp.peer_status(theirs)
        assert "Hold timer expired" in status["info"] or "Hold Timer" in status["info"]
        # The HoldTimer last restarted at the daemon's last KEEPALIVE, up to a keepalive
        # interval (a third of the hold time) before the freeze.
        least = HOLD_TIME * 2 / 3 - 0.5
        assert waited >= least, f"gave up after {waited:.1f}s, hold time {HOLD_TIME}"
        assert status["received"] == 0  # RFC 4271 8: the routes went with the session
    finally:
        daemon.thaw()
    _wait_up(interop, name)


@pytest.mark.parametrize("name", DAEMON_NAMES)
def test_reestablishes_after_peer_restart(interop: InteropLab, name: str) -> None:
    daemon = interop.daemons[name]
    theirs, _ = _session(name, "ipv4")
    daemon.stop()
    wait_until(
        lambda: interop.pybgp.peer_status(theirs)["state"] != "Established",
        HOLD_TIME + 10,
        f"pybgp to see {name} go",
    )
    daemon.start()
    _wait_up(interop, name)
    prefix = daemon_routes(name)[0].prefix
    wait_until(
        lambda: any(r["prefix"] == prefix for r in interop.pybgp.received(theirs)),
        30,
        f"{prefix} learned again from {name}",
    )
