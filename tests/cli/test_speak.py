"""`pybgp speak`: refusing bad configurations, and the daemon's life as a real process.

The daemon runs as a subprocess on loopback (127.0.0.1 and a free port) and peers with a
`Speaker` in the test's own event loop (127.0.0.2), so that signals (SIGSTOP, SIGTERM)
can be observed from the other end of the session.  Its log goes to a file, so that a
full pipe never blocks it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.runtime.helpers import free_port, wait_for

from pybgp.cli.main import main
from pybgp.config import loads_config
from pybgp.runtime.speaker import Speaker

T = TypeVar("T")

DAEMON, TEST = "127.0.0.1", "127.0.0.2"
PYBGP = [sys.executable, "-m", "pybgp.cli"]
START_TIMEOUT = 15.0  # a cold interpreter on a loaded machine
GOOD = """\
[speaker]
asn = 64512
router-id = "198.18.0.1"
listen = ["127.0.0.1:0"]
control-socket = "{socket}"
hold-time = 9

[[peer]]
address = "127.0.0.2"
asn = 64512
password = "mesh-secret"
"""


# --- configuration errors (in process: main() returns the exit status) ----------------------


def write(tmp_path: Path, text: str, name: str = "pybgp.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def speak(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["speak", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\nhold-time = 2\n',
            "speaker.hold-time: must be 0 or between 3 and 65535 (RFC 4271 4.2), got 2",
        ),
        (
            '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n'
            '[[peer]]\naddress = "198.18.0.2"\nasn = 64512\npasword = "mesh-secret"\n',
            "peer[0].pasword: unknown key; did you mean 'password'?",
        ),
        (
            "[speaker]\nasn = 64512\n",
            "speaker.router-id: required key is missing",
        ),
        (
            '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n[[peer]]\naddress = "198.18.0.2"\n',
            "peer[0].asn: required key is missing",
        ),
        (
            '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\nhold-time = "90"\n',
            "speaker.hold-time: expected an integer, got a string",
        ),
    ],
    ids=["hold-time-2", "misspelt-password", "no-router-id", "no-peer-asn", "string-hold-time"],
)
def test_bad_configuration_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    status, out, err = speak(capsys, "-c", str(path))
    assert status == 2
    assert out == ""
    # One line: who complains, the file, then KEY: MESSAGE.
    assert err == f"pybgp speak: {path}: {expected}\n"


def test_bad_configuration_is_refused_by_check_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[speaker]\nasn = 64512\n")
    status, out, err = speak(capsys, "-c", str(path), "--check")
    assert status == 2
    assert "speaker.router-id: required key is missing" in err
    assert "OK" not in out


def test_check_accepts_a_good_file_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    control = tmp_path / "never.sock"
    path = write(tmp_path, GOOD.format(socket=control))
    status, out, err = speak(capsys, "-c", str(path), "--check")
    assert status == 0
    assert out == f"{path}: configuration OK\n"
    assert err == ""
    assert not control.exists()


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.toml"
    status, _, err = speak(capsys, "-c", str(path))
    assert status == 2
    assert err == f"pybgp speak: {path}: cannot read the file: No such file or directory\n"


def test_toml_syntax_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[speaker]\nasn 64512\n")
    status, _, err = speak(capsys, "-c", str(path))
    assert status == 2
    assert err.startswith(f"pybgp speak: {path}: invalid TOML: ")
    assert "line 2" in err


def test_status_without_a_daemon_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--socket", "/nonexistent/pybgp.sock"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "pybgp is not running: no control socket at /nonexistent/pybgp.sock\n"


def test_the_real_command_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    """The exit status as a shell sees it, not only main()'s return value."""
    path = write(tmp_path, '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\nhold-time = 2\n')
    done = subprocess.run(
        [*PYBGP, "speak", "-c", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "speaker.hold-time" in done.stderr
    assert "Traceback" not in done.stderr


# --- the daemon as a process --------------------------------------------------------------------


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose socket paths fit in sun_path (tmp_path may be too long)."""
    path = Path(tempfile.mkdtemp(prefix="pybgp-speak-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Daemon:
    """A `pybgp speak` subprocess peering with `speaker`, a Speaker in this loop."""

    process: asyncio.subprocess.Process
    socket: Path
    port: int  # where it listens for BGP
    log: Path
    speaker: Speaker

    def peer_row(self) -> dict[str, Any] | None:
        """The daemon's row in the in-process speaker's status."""
        rows = [row for row in self.speaker.status()["peers"] if row["address"] == DAEMON]
        return rows[0] if rows else None

    def established(self) -> bool:
        row = self.peer_row()
        return row is not None and row["state"] == "Established"

    def info(self, text: str) -> dict[str, Any] | None:
        row = self.peer_row()
        return row if row is not None and text.lower() in row["info"].lower() else None

    async def pybgp(self, *args: str) -> tuple[int, str, str]:
        """Run a `pybgp` command without blocking the loop the speaker runs on."""
        process = await asyncio.create_subprocess_exec(
            *PYBGP, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        async with asyncio.timeout(30):
            out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


def daemon_config(control: Path, port: int, test_port: int, hold_time: int) -> str:
    return textwrap.dedent(
        f"""\
        [speaker]
        asn = 64512
        router-id = "198.18.0.1"
        listen = ["{DAEMON}:{port}"]
        control-socket = "{control}"
        hold-time = {hold_time}
        connect-retry = 1
        announce = ["10.244.1.0/26"]

        [[peer]]
        address = "{TEST}"
        asn = 64512
        port = {test_port}
        local-address = "{DAEMON}"
        type = "node-to-node mesh"
        """
    )


async def start_daemon(short_dir: Path, hold_time: int) -> AsyncIterator[Daemon]:
    port, test_port = free_port(DAEMON), free_port(TEST)
    control = short_dir / "pybgp.sock"
    path = short_dir / "pybgp.toml"
    path.write_text(daemon_config(control, port, test_port, hold_time))
    speaker = Speaker(
        loads_config(
            textwrap.dedent(
                f"""\
                [speaker]
                asn = 64512
                router-id = "198.18.0.2"
                listen = ["{TEST}:{test_port}"]
                control-socket = "{short_dir / "test.sock"}"
                hold-time = {hold_time}
                connect-retry = 1

                [[peer]]
                address = "{DAEMON}"
                asn = 64512
                port = {port}
                local-address = "{TEST}"
                """
            )
        )
    )
    await speaker.start()
    log = short_dir / "speak.log"
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *PYBGP, "speak", "-c", str(path), stdout=log_file, stderr=log_file
        )
    daemon = Daemon(process, control, port, log, speaker)
    try:
        yield daemon
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)  # in case a test left it stopped
            process.kill()
            await process.wait()
        await speaker.close()
        print(log.read_text())  # shown by pytest when the test failed


@pytest.fixture
async def daemon(short_dir: Path) -> AsyncIterator[Daemon]:
    async for running in start_daemon(short_dir, hold_time=9):
        yield running


@pytest.fixture
async def quick_daemon(short_dir: Path) -> AsyncIterator[Daemon]:
    """hold-time 3, the least RFC 4271 4.2 allows, so a silent peer is noticed soon."""
    async for running in start_daemon(short_dir, hold_time=3):
        yield running


async def test_daemon_status_and_sigterm(daemon: Daemon) -> None:
    await wait_for(daemon.established, START_TIMEOUT, "the daemon's session")

    status, out, err = await daemon.pybgp("status", "--socket", str(daemon.socket), "--json")
    assert (status, err) == (0, "")
    answer = json.loads(out)
    assert answer["router_id"] == "198.18.0.1"
    assert answer["asn"] == 64512
    [peer] = answer["peers"]
    assert peer["address"] == TEST
    assert peer["state"] == "Established"
    assert peer["type"] == "node-to-node mesh"
    assert peer["advertised"] == 1
    assert peer["families"] == ["ipv4"]

    status, out, err = await daemon.pybgp("status", "--socket", str(daemon.socket))
    assert (status, err) == (0, "")
    assert out.startswith("pybgp process is running.\n")
    [row] = [line for line in out.splitlines() if TEST in line]
    assert "node-to-node mesh" in row
    assert "| up " in row
    assert "No IPv6 peers found." in out

    daemon.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(5):
        assert await daemon.process.wait() == 0
    assert not daemon.socket.exists()
    # RFC 9003: the peer is told why.
    await wait_for(
        lambda: daemon.info("Received: Cease / Administrative Shutdown: pybgp shutting down"),
        3,
        "the shutdown NOTIFICATION",
    )
    status, _, err = await daemon.pybgp("status", "--socket", str(daemon.socket))
    assert status == 1
    assert "pybgp is not running" in err


async def test_a_stopped_daemon_is_dropped_by_the_hold_timer(quick_daemon: Daemon) -> None:
    daemon = quick_daemon
    await wait_for(daemon.established, START_TIMEOUT, "the daemon's session")
    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        # RFC 4271 6.5: no KEEPALIVE within the hold time (3 s) ends the session.
        row = await wait_for(lambda: daemon.info("Hold Timer Expired"), 3 + 2, "the hold timer")
        assert loop.time() - stopped >= 2.5
        assert row["state"] != "Established"
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    await wait_for(daemon.established, 10, "the session to come back")


async def test_a_second_daemon_on_the_same_socket_exits_1(daemon: Daemon, short_dir: Path) -> None:
    await wait_for(daemon.socket.exists, START_TIMEOUT, "the first daemon's control socket")
    second = short_dir / "second.toml"
    second.write_text(daemon_config(daemon.socket, free_port(DAEMON), free_port(TEST), hold_time=9))
    status, _, err = await daemon.pybgp("speak", "-c", str(second))
    assert status == 1
    assert "another pybgp is running" in err
    assert "Traceback" not in err
    status, _, _ = await daemon.pybgp("status", "--socket", str(daemon.socket))
    assert status == 0  # the first one still answers


async def test_a_second_daemon_on_the_same_port_exits_1(daemon: Daemon, short_dir: Path) -> None:
    await wait_for(daemon.established, START_TIMEOUT, "the first daemon's session")
    control = short_dir / "second.sock"
    second = short_dir / "second.toml"
    second.write_text(daemon_config(control, daemon.port, free_port(TEST), hold_time=9))
    status, _, err = await daemon.pybgp("speak", "-c", str(second))
    assert status == 1
    assert f"listen on {DAEMON}:{daemon.port}" in err
    assert "Traceback" not in err
    assert not control.exists()  # its control socket went with it
    assert daemon.established()  # and the first one's session was never disturbed
