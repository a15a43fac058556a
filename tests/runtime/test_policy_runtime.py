"""Import and export policy on running speakers, reloads, and `Speaker.watch()`.

The speaker under test reads its configuration from a file, so that `reload()` (and
the `reload` control command, and `pybgp reload`) read the changed file again.  A
reload must apply policy changes without restarting any session: every session still
has exactly the one OPEN it started with, and `since` has not moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pybgp.cli.main import main
from pybgp.config import ConfigError, load_config
from pybgp.runtime.changes import Change, PeerChange, RouteChange
from pybgp.runtime.control import ControlError
from pybgp.runtime.rib_view import loc_rib_entries
from pybgp.runtime.speaker import Speaker

from .helpers import (
    Node,
    Speakers,
    config,
    control,
    make_node,
    peer_status,
    peer_toml,
    rib_in,
    wait_established,
    wait_for,
)

ASN = 64512
UPSTREAM_ASN = 65001
KEPT = ("10.1.0.0/24", "10.2.0.0/24")
PRIVATE = "192.168.5.0/24"


def policy_toml(*, reject_private: bool, local_pref: int, community: str) -> str:
    """upstream-in: (maybe) reject 192.168.0.0/16 and longer, set LOCAL_PREF on the rest;
    tag: add one community."""
    reject = (
        """\
        [[policy.term]]
        prefix = ["192.168.0.0/16 le 32"]
        action = "reject"
        """
        if reject_private
        else ""
    )
    return textwrap.dedent(
        """\
        [[policy]]
        name = "upstream-in"
        """
        + reject
        + f"""\
        [[policy.term]]
        action = "accept"
        set-local-pref = {local_pref}

        [[policy]]
        name = "tag"
          [[policy.term]]
          action = "accept"
          add-communities = ["{community}"]
        """
    )


class Topology:
    """r (AS 64512, configured from a file) learns routes from u (eBGP, import policy
    upstream-in) and sends them to d (iBGP, export policy tag) and d2 (iBGP, none)."""

    def __init__(self, sockdir: Path, tmp_path: Path) -> None:
        self.r = make_node(sockdir, "127.0.0.70", ASN, "198.18.0.70")
        self.u = make_node(sockdir, "127.0.0.71", UPSTREAM_ASN, "198.18.0.71")
        self.d = make_node(sockdir, "127.0.0.72", ASN, "198.18.0.72")
        self.d2 = make_node(sockdir, "127.0.0.73", ASN, "198.18.0.73")
        self.file = tmp_path / "r.toml"

    def write(self, policies: str) -> None:
        r = self.r

        def peer(node: Node, **keys: Any) -> str:
            return peer_toml(node.address, node.asn, local_address=r.address, passive=True, **keys)

        self.file.write_text(
            r.speaker()
            + "\n"
            + policies
            + "\n"
            + peer(self.u, **{"import": ["upstream-in"]})
            + peer(self.d, export=["tag"])
            + peer(self.d2)
        )


@pytest.fixture
def topology(sockdir: Path, tmp_path: Path) -> Topology:
    return Topology(sockdir, tmp_path)


def sessions(speaker: Speaker) -> dict[str, tuple[int, str, str]]:
    """Per peer: OPENs sent, since, state."""
    return {
        row["address"]: (row["messages"]["sent"]["open"], row["since"], row["state"])
        for row in speaker.status()["peers"]
    }


async def wait_routes(
    node: Node, peer: str, check: Any, what: str, timeout: float = 5.0
) -> dict[str, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        routes = await rib_in(node.control_socket, peer)
        if check(routes):
            return routes
        if loop.time() >= deadline:
            pytest.fail(f"adj-rib-in of {peer} at {node.address} never showed {what}: {routes}")
        await asyncio.sleep(0.02)


def attributes(routes: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        prefix: (route.get("local_pref"), tuple(route.get("communities", ())))
        for prefix, route in routes.items()
    }


async def test_policies_apply_and_reload_without_a_session_restart(
    speakers: Speakers, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    t = topology
    t.write(policy_toml(reject_private=True, local_pref=300, community="64512:77"))
    r = await speakers.start(load_config(t.file))
    su = await speakers.start(t.u.config(t.r))
    sd = await speakers.start(t.d.config(t.r))
    sd2 = await speakers.start(t.d2.config(t.r))
    for node, speaker in ((t.u, su), (t.d, sd), (t.d2, sd2)):
        await wait_established(speaker, t.r.address)
        await wait_established(r, node.address)
    for prefix in (*KEPT, PRIVATE):
        su.announce(prefix)

    # Import: 192.168.5.0/24 rejected (kept in the Adj-RIB-In), LOCAL_PREF 300 on the rest.
    row = await wait_for(
        lambda: (x := peer_status(r, t.u.address)) is not None and x["received"] == 3 and x,
        what="u's three routes at r",
    )
    assert row["accepted"] == 2
    assert {e["prefix"] for e in loc_rib_entries(r.rib)} == set(KEPT)
    # Export: d gets the community, d2 does not.
    want_d = {prefix: (300, ("64512:77",)) for prefix in KEPT}
    want_d2 = {prefix: (300, ()) for prefix in KEPT}
    await wait_routes(t.d, t.r.address, lambda x: attributes(x) == want_d, "tagged routes")
    await wait_routes(t.d2, t.r.address, lambda x: attributes(x) == want_d2, "plain routes")
    before = sessions(r)
    assert {opens for opens, _, _ in before.values()} == {1}

    # A new policy: nothing rejected, LOCAL_PREF 250, another community.
    t.write(policy_toml(reject_private=False, local_pref=250, community="64512:88"))
    summary = r.reload()
    assert summary.startswith(f"reloaded {t.file}")
    every = (*KEPT, PRIVATE)
    want_d = {prefix: (250, ("64512:88",)) for prefix in every}
    want_d2 = {prefix: (250, ()) for prefix in every}
    await wait_routes(t.d, t.r.address, lambda x: attributes(x) == want_d, "the new tag")
    await wait_routes(t.d2, t.r.address, lambda x: attributes(x) == want_d2, "LOCAL_PREF 250")
    row = peer_status(r, t.u.address)
    assert row is not None and (row["received"], row["accepted"]) == (3, 3)
    assert sessions(r) == before  # no session restarted: one OPEN each, same `since`
    for speaker in (su, sd, sd2):
        row = peer_status(speaker, t.r.address)
        assert row is not None
        assert row["messages"]["received"]["open"] == 1
        assert row["messages"]["received"]["notification"] == 0

    # Through the CLI this time (`pybgp reload --socket`): the private prefix goes again.
    t.write(policy_toml(reject_private=True, local_pref=250, community="64512:99"))
    assert await asyncio.to_thread(main, ["reload", "--socket", str(t.r.control_socket)]) == 0
    assert capsys.readouterr().out.startswith(f"reloaded {t.file}")
    want_d = {prefix: (250, ("64512:99",)) for prefix in KEPT}
    await wait_routes(t.d, t.r.address, lambda x: attributes(x) == want_d, "the third tag")
    await wait_routes(t.d2, t.r.address, lambda x: PRIVATE not in x, "the private withdrawn")
    assert sessions(r) == before

    # A bad file is refused, naming the key; the running configuration stays.
    running = r.config
    t.write(
        policy_toml(reject_private=True, local_pref=250, community="64512:99").replace(
            "set-local-pref = 250", 'set-local-pref = "high"'
        )
    )
    key = "policy[0].term[1].set-local-pref"
    with pytest.raises(ConfigError, match=re.escape(key)):
        r.reload()
    with pytest.raises(ControlError, match=r"reload refused.*set-local-pref"):
        await control(t.r.control_socket, "reload")
    assert await asyncio.to_thread(main, ["reload", "--socket", str(t.r.control_socket)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "reload refused" in captured.err and key in captured.err
    assert r.config is running
    # Still the third policy: a new route from u gets it.
    su.announce("10.3.0.0/24")
    routes = await wait_routes(t.d, t.r.address, lambda x: "10.3.0.0/24" in x, "10.3.0.0/24")
    assert attributes(routes)["10.3.0.0/24"] == (250, ("64512:99",))
    assert sessions(r) == before


async def test_reload_naming_an_unknown_policy_is_refused(
    speakers: Speakers, topology: Topology
) -> None:
    t = topology
    t.write(policy_toml(reject_private=True, local_pref=300, community="64512:77"))
    r = await speakers.start(load_config(t.file))
    t.write(
        policy_toml(reject_private=True, local_pref=300, community="64512:77").replace(
            'name = "tag"', 'name = "tagged"'
        )
    )
    with pytest.raises(ControlError, match=r"peer\[1\]\.export\[0\]: no policy named 'tag'"):
        await control(t.r.control_socket, "reload")
    assert r.config.peers[1].export_policy == ("tag",)
    assert set(r.config.policies) == {"upstream-in", "tag"}


# --- watch() --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def watching(speaker: Speaker) -> AsyncIterator[list[Change]]:
    """The changes `speaker.watch()` yields, gathered into a list by a task."""
    seen: list[Change] = []

    async def gather() -> None:
        async for change in speaker.watch():
            seen.append(change)

    task = asyncio.create_task(gather())
    await wait_for(lambda: speaker.rib.watchers, what="the watcher to register")
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert speaker.rib.watchers == []  # leaving the loop unregisters it


async def test_watch_yields_session_and_route_changes(speakers: Speakers, sockdir: Path) -> None:
    a = make_node(sockdir, "127.0.0.80", ASN, "198.18.0.80")
    b = make_node(sockdir, "127.0.0.81", ASN, "198.18.0.81")
    prefix = "10.244.8.0/26"
    speaker_a = await speakers.start(a.config(b, passive=True))
    async with watching(speaker_a) as seen:
        speaker_b = await speakers.start(b.config(a, announce=[f'"{prefix}"']))
        await wait_for(lambda: len(seen) >= 2, what="two changes")
        up, learned = seen[:2]
        assert up == PeerChange(peer=b.address, state="established", reason="")
        assert isinstance(learned, RouteChange)
        assert (learned.prefix, learned.peer, learned.next_hop, learned.reason) == (
            prefix,
            b.address,
            b.address,
            "only path",
        )
        assert learned.best is not None and not learned.withdrawn

        speaker_b.withdraw(prefix)
        await wait_for(lambda: len(seen) >= 3, what="the withdrawal")
        gone = seen[2]
        assert isinstance(gone, RouteChange)
        assert (gone.prefix, gone.best, gone.withdrawn) == (prefix, None, True)
        assert (gone.peer, gone.next_hop) == (None, None)

        # A route present when the session goes is withdrawn, and the session reported down.
        speaker_b.announce(prefix)
        await wait_for(lambda: len(seen) >= 4, what="the route again")
        await speakers.close(speaker_b)
        await wait_for(lambda: len(seen) >= 6, what="the session going down")
        down = [c for c in seen[4:] if isinstance(c, PeerChange)]
        withdrawn = [c for c in seen[4:] if isinstance(c, RouteChange)]
        assert [(c.peer, c.state) for c in down] == [(b.address, "down")]
        assert "Cease" in down[0].reason
        assert [(c.prefix, c.best) for c in withdrawn] == [(prefix, None)]
    assert len(seen) == 6


# --- export policy matching on prefixes ------------------------------------------------------

NO_10_2 = """\
[[policy]]
name = "no-10-2"
  [[policy.term]]
  prefix = ["10.2.0.0/16 le 32"]
  action = "reject"
"""


async def test_export_policy_matching_prefixes_judges_each_prefix(
    speakers: Speakers, sockdir: Path, tmp_path: Path
) -> None:
    """u sends 10.1.0.0/24 and 10.2.0.0/24 in one UPDATE (one attribute set, so one path
    at r); r's export policy towards d rejects 10.2.0.0/16 and longer: d must get
    10.1.0.0/24 only.  (The update group must judge each prefix, not apply the first
    prefix's outcome to the whole run of prefixes sharing the path.)"""
    r = make_node(sockdir, "127.0.0.90", ASN, "198.18.0.90")
    u = make_node(sockdir, "127.0.0.91", UPSTREAM_ASN, "198.18.0.91")
    d = make_node(sockdir, "127.0.0.92", ASN, "198.18.0.92")
    speaker_r = await speakers.start(
        config(
            r.speaker(),
            NO_10_2,
            peer_toml(u.address, u.asn, local_address=r.address, passive=True),
            peer_toml(d.address, d.asn, local_address=r.address, passive=True, export=["no-10-2"]),
        )
    )
    su = await speakers.start(u.config(r, announce=[f'"{p}"' for p in KEPT]))
    await wait_established(su, r.address)
    await wait_for(lambda: len(loc_rib_entries(speaker_r.rib)) == 2, what="both routes at r")
    sd = await speakers.start(d.config(r))
    await wait_established(sd, r.address)
    # The table, then End-of-RIB: after it, d holds everything r meant to send.
    await wait_for(lambda: peer_status(sd, r.address)["end_of_rib"] == ["ipv4"], what="EoR")
    assert set(await rib_in(d.control_socket, r.address)) == {"10.1.0.0/24"}
