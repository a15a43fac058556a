"""`pybgp status`: calicoctl's table from the daemon's "status" answer, and --json."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pybgp.cli.main import main
from pybgp.cli.status import render, sorted_peers, table
from pybgp.runtime.control import ControlServer

NOW = datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))
MINUS_5 = timezone(timedelta(hours=-5))


def peer(address: str, state: str = "Established", **fields: Any) -> dict[str, Any]:
    counters = {"open": 1, "update": 2, "notification": 0, "keepalive": 5, "route-refresh": 0}
    return {
        "address": address,
        "asn": 64512,
        "type": "node-to-node mesh",
        "state": state,
        "since": "2026-11-26T13:30:04Z",
        "info": "",
        "received": 3,
        "accepted": 3,
        "advertised": 1,
        "families": ["ipv4"],
        "messages": {"sent": counters, "received": counters},
        "last_error": None,
        **fields,
    }


def status_of(*peers: dict[str, Any]) -> dict[str, Any]:
    return {"router_id": "198.18.0.1", "asn": 64512, "uptime": 12.5, "peers": list(peers)}


# --- rendering (pure) -------------------------------------------------------------------


def test_golden_one_ipv4_peer() -> None:
    assert render(status_of(peer("198.18.0.2")), NOW) == (
        "pybgp process is running.\n"
        "\n"
        "IPv4 BGP status\n"
        "+--------------+-------------------+-------+----------+-------------+\n"
        "| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |\n"
        "+--------------+-------------------+-------+----------+-------------+\n"
        "| 198.18.0.2   | node-to-node mesh | up    | 13:30:04 | Established |\n"
        "+--------------+-------------------+-------+----------+-------------+\n"
        "\n"
        "IPv6 BGP status\n"
        "No IPv6 peers found.\n"
    )


# Wider than the line limit inside a call, hence out here.
GOLDEN_IPV6 = """\
pybgp process is running.

IPv4 BGP status
No IPv4 peers found.

IPv6 BGP status
+--------------+-------------------+-------+------------+-----------------------------------+
| PEER ADDRESS |     PEER TYPE     | STATE |   SINCE    |               INFO                |
+--------------+-------------------+-------+------------+-----------------------------------+
| 2001:db8::2  | global            | up    | 13:30:04   | Established                       |
| 2001:db8::9  | node-to-node mesh | start | 2026-11-20 | Idle Hold timer expired           |
| 2001:db8::10 | node-to-node mesh | start |            | Active Socket: Connection refused |
+--------------+-------------------+-------+------------+-----------------------------------+
"""


def test_golden_ipv6_only_and_states() -> None:
    peers = [
        peer("2001:db8::10", "Active", info="Socket: Connection refused", since=None),
        peer("2001:db8::9", "Idle", info="Hold timer expired", since="2026-11-20T08:00:00Z"),
        peer("2001:db8::2", type="global", families=["ipv6"]),
    ]
    assert render(status_of(*peers), NOW) == GOLDEN_IPV6


def test_both_families_sorted_numerically() -> None:
    peers = [peer("2001:db8::1"), peer("198.18.0.10"), peer("198.18.0.9")]
    text = render(status_of(*peers), NOW)
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows == ["PEER ADDRESS", "198.18.0.9", "198.18.0.10", "PEER ADDRESS", "2001:db8::1"]
    assert "No IPv" not in text


def test_no_peers_at_all() -> None:
    assert render(status_of(), NOW) == (
        "pybgp process is running.\n"
        "\n"
        "IPv4 BGP status\n"
        "No IPv4 peers found.\n"
        "\n"
        "IPv6 BGP status\n"
        "No IPv6 peers found.\n"
    )


@pytest.mark.parametrize(
    ("now", "since", "shown"),
    [
        # The local zone is now's: 13:30:04Z is 15:30:04 at +02:00.
        (
            datetime(2026, 11, 26, 16, 0, tzinfo=timezone(timedelta(hours=2))),
            "13:30:04",
            "15:30:04",
        ),
        # 23:30Z on the 25th is already the 26th at +02:00: today, so a time.
        (datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=2))), "", "01:30:04"),
        # ... and still the 25th at -05:00 when it is the 26th there: a date.
        (datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=-5))), "", "2026-11-25"),
    ],
)
def test_since_in_local_time(now: datetime, since: str, shown: str) -> None:
    moment = f"2026-11-26T{since}Z" if since else "2026-11-25T23:30:04Z"
    text = render(status_of(peer("198.18.0.2", since=moment)), now)
    assert f"| {shown} " in text


def test_since_kept_when_not_iso() -> None:
    text = render(status_of(peer("198.18.0.2", since="a while")), NOW)
    assert "| a while |" in text


def test_header_centring_puts_the_odd_space_right() -> None:
    assert table(["AB", "X"], [["abcde", "xy"]]) == [
        "+-------+----+",
        "|  AB   | X  |",
        "+-------+----+",
        "| abcde | xy |",
        "+-------+----+",
    ]


def test_sorted_peers_keeps_everything_else() -> None:
    given = status_of(peer("198.18.0.3"), peer("198.18.0.2"))
    given["extra"] = {"x": 1}
    result = sorted_peers(given)
    assert [p["address"] for p in result["peers"]] == ["198.18.0.2", "198.18.0.3"]
    assert {k: v for k, v in result.items() if k != "peers"} == {
        k: v for k, v in given.items() if k != "peers"
    }
    assert [p["address"] for p in given["peers"]] == ["198.18.0.3", "198.18.0.2"]  # not mutated


# --- the command against a real control server ------------------------------------------


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    if len(str(tmp_path)) < 80:
        yield str(tmp_path / "c.sock")
        return
    with tempfile.TemporaryDirectory(prefix="pybgp-", dir="/tmp") as short:
        yield os.path.join(short, "c.sock")


DAEMON_STATUS = status_of(
    peer("198.18.0.3", "OpenSent"),
    peer("2001:db8::2", families=["ipv6"]),
    peer("198.18.0.2", last_error="Hold timer expired"),
) | {"extra": "kept"}


def _failing(args: dict[str, Any]) -> Any:
    raise RuntimeError("the RIB is busy")


@pytest.fixture
async def daemon(sock_path: str) -> AsyncIterator[str]:
    async with ControlServer(sock_path, {"status": lambda args: DAEMON_STATUS}):
        yield sock_path


async def pybgp(*argv: str) -> int:
    """`main()` off the loop: its blocking client must not stall the server it asks."""
    return await asyncio.to_thread(main, list(argv))


async def test_json_passthrough(daemon: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await pybgp("status", "--socket", daemon, "--json") == 0
    out = capsys.readouterr().out
    expected = dict(DAEMON_STATUS)
    expected["peers"] = [DAEMON_STATUS["peers"][i] for i in (2, 0, 1)]
    assert out == json.dumps(expected, indent=2) + "\n"
    contract = {"address", "asn", "type", "state", "since", "info", "received", "accepted"}
    assert contract | {"advertised", "families"} <= set(json.loads(out)["peers"][0])


async def test_table_from_the_daemon(daemon: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await pybgp("status", "--socket", daemon) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "pybgp process is running."
    rows = [line for line in lines if line.startswith("| 198.") or line.startswith("| 2001:")]
    assert [row.split("|")[3].strip() for row in rows] == ["up", "start", "up"]
    assert rows[1].split("|")[5].strip() == "OpenSent"
    assert captured.err == ""


async def test_daemon_error_exits_1(sock_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with ControlServer(sock_path, {"status": _failing}):
        assert await pybgp("status", "--socket", sock_path) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "pybgp status: the RIB is busy\n"


async def test_unexpected_answer_exits_1(
    sock_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with ControlServer(sock_path, {"status": lambda args: [1]}):
        assert await pybgp("status", "--socket", sock_path, "--json") == 1
    assert "unexpected answer" in capsys.readouterr().err


def test_not_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--socket", "/nonexistent"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "pybgp is not running: no control socket at /nonexistent\n"


def test_not_running_from_the_shell() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pybgp.cli", "status", "--socket", "/nonexistent", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "pybgp is not running: no control socket at /nonexistent\n"
