"""Helpers for running real `Speaker`s on loopback inside one pytest-asyncio loop.

Every speaker listens on its own 127.0.0.x address and a free port, with short timers
(hold-time 9, connect-retry 1), so that two or three of them peer in well under a
second.  Waits poll a condition with a deadline; none of them is an assertion by sleep.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import tempfile
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pybgp.config import Announcement, Config, PeerConfig, SpeakerConfig, Timers, loads_config
from pybgp.runtime.control import request
from pybgp.runtime.speaker import Speaker

T = TypeVar("T")

HOLD_TIME = 9  # short, yet long enough not to expire on a busy test machine
CONNECT_RETRY = 1
ESTABLISHED = "Established"  # RFC 4271 8.2.2 state name, as `status()` shows it
# The longest a UNIX socket path may be (sun_path is 108 octets with its NUL).
MAX_SOCKET_PATH = 100


# --- addresses and ports ------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at `host` right now (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sockdir(tmp_path: Path) -> Iterator[Path]:
    """A directory for control sockets whose paths fit in sun_path.

    tmp_path carries the test's name and can be too long; then a short one under /tmp.
    """
    if len(str(tmp_path / "speaker-x.sock")) <= MAX_SOCKET_PATH:
        yield tmp_path
        return
    short = Path(tempfile.mkdtemp(prefix="pybgp-", dir="/tmp"))
    try:
        yield short
    finally:
        shutil.rmtree(short, ignore_errors=True)


# --- configuration as TOML ------------------------------------------------------------------


def speaker_toml(
    *,
    asn: int,
    router_id: str,
    listen: Sequence[str],
    control_socket: Path | str,
    hold_time: int = HOLD_TIME,
    connect_retry: int = CONNECT_RETRY,
    announce: Sequence[str] = (),
) -> str:
    """A [speaker] table; `announce` entries are TOML values written as they are."""
    listen_list = ", ".join(f'"{entry}"' for entry in listen)
    announce_list = ",\n  ".join(announce)
    return textwrap.dedent(
        f"""\
        [speaker]
        asn = {asn}
        router-id = "{router_id}"
        listen = [{listen_list}]
        control-socket = "{control_socket}"
        hold-time = {hold_time}
        connect-retry = {connect_retry}
        """
    ) + (f"announce = [\n  {announce_list},\n]\n" if announce else "")


def peer_toml(address: str, asn: int, **keys: Any) -> str:
    """A [[peer]] table; keyword names become keys with '_' written as '-'."""
    lines = ["[[peer]]", f'address = "{address}"', f"asn = {asn}"]
    lines += [f"{name.replace('_', '-')} = {toml_value(value)}" for name, value in keys.items()]
    return "\n".join(lines) + "\n"


def peer_range_toml(prefix: str, asn: int, **keys: Any) -> str:
    lines = ["[[peer-range]]", f'prefix = "{prefix}"', f"asn = {asn}"]
    lines += [f"{name.replace('_', '-')} = {toml_value(value)}" for name, value in keys.items()]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return f'"{value}"'


def config(*parts: str) -> Config:
    return loads_config("".join(parts), source="test.toml")


@dataclass(frozen=True)
class Node:
    """One speaker of a test: its loopback address, a free port, AS, id, control socket."""

    address: str
    asn: int
    router_id: str
    port: int
    control_socket: Path

    def speaker(self, announce: Sequence[str] = (), hold_time: int = HOLD_TIME) -> str:
        """This node's [speaker] table (listening on its address and port)."""
        return speaker_toml(
            asn=self.asn,
            router_id=self.router_id,
            listen=[f"{self.address}:{self.port}"],
            control_socket=self.control_socket,
            hold_time=hold_time,
            announce=announce,
        )

    def config(
        self, *peers: Node, announce: Sequence[str] = (), hold_time: int = HOLD_TIME, **keys: Any
    ) -> Config:
        """This node peering with `peers` (each connecting from our address to its port);
        `keys` go into every [[peer]] table."""
        return config(
            self.speaker(announce, hold_time),
            *(
                peer_toml(
                    peer.address, peer.asn, port=peer.port, local_address=self.address, **keys
                )
                for peer in peers
            ),
        )


def make_node(sockdir: Path, address: str, asn: int, router_id: str) -> Node:
    name = address.rsplit(".", 1)[-1]
    return Node(address, asn, router_id, free_port(address), sockdir / f"speaker-{name}.sock")


# --- waiting ----------------------------------------------------------------------------------


async def wait_for(
    condition: Callable[[], T | None], timeout: float = 5.0, what: str = "the condition"
) -> T:
    """Poll `condition` until it returns something truthy; return that, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if result:
            return result
        if loop.time() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


def peer_status(speaker: Speaker, address: str) -> dict[str, Any] | None:
    """The peer's row of `speaker.status()`, or None when it is not listed."""
    for row in speaker.status()["peers"]:
        if row["address"] == address:
            return dict(row)
    return None


def is_established(speaker: Speaker, address: str) -> bool:
    row = peer_status(speaker, address)
    return row is not None and row["state"] == ESTABLISHED


async def wait_established(speaker: Speaker, address: str, timeout: float = 5.0) -> dict[str, Any]:
    await wait_for(lambda: is_established(speaker, address), timeout, f"{address} Established")
    row = peer_status(speaker, address)
    assert row is not None
    return row


async def wait_info(
    speaker: Speaker, address: str, text: str, timeout: float = 5.0, *, ignore_case: bool = False
) -> dict[str, Any]:
    """Wait until the peer's status `info` contains `text`; return that row."""
    wanted = text.lower() if ignore_case else text

    def matching() -> dict[str, Any] | None:
        row = peer_status(speaker, address)
        if row is None:
            return None
        info = row["info"].lower() if ignore_case else row["info"]
        return row if wanted in info else None

    return await wait_for(matching, timeout, f"{address} info containing {text!r}")


async def control(path: Path | str, command: str, **args: Any) -> Any:
    """One request on a control socket, off the loop (the client is blocking)."""
    return await asyncio.to_thread(request, str(path), command, 5.0, **args)


async def rib_in(path: Path | str, peer: str) -> dict[str, dict[str, Any]]:
    """The `adj-rib-in` answer for `peer`, by prefix."""
    routes = await control(path, "adj-rib-in", peer=peer)
    return {route["prefix"]: route for route in routes}


async def wait_rib_in(
    path: Path | str, peer: str, prefixes: set[str], timeout: float = 5.0
) -> dict[str, dict[str, Any]]:
    """Poll `adj-rib-in` until it holds exactly `prefixes`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        routes = await rib_in(path, peer)
        if set(routes) == prefixes:
            return routes
        if loop.time() >= deadline:
            pytest.fail(f"adj-rib-in of {peer}: {sorted(routes)}, wanted {sorted(prefixes)}")
        await asyncio.sleep(0.02)


# --- running speakers -------------------------------------------------------------------------


class Speakers:
    """Starts speakers for one test and closes every one of them at teardown."""

    def __init__(self) -> None:
        self.running: list[Speaker] = []

    async def start(self, cfg: Config, *, with_control: bool = True) -> Speaker:
        speaker = Speaker(cfg, control=with_control)
        await speaker.start()
        self.running.append(speaker)
        return speaker

    async def start_together(self, *configs: Config) -> list[Speaker]:
        """Start speakers in one go (no await between them: the same loop iteration)."""
        speakers = [Speaker(cfg, control=False) for cfg in configs]
        await asyncio.gather(*(speaker.start() for speaker in speakers))
        self.running.extend(speakers)
        return speakers

    async def close(self, speaker: Speaker) -> None:
        await speaker.close()
        self.running.remove(speaker)

    async def close_all(self) -> None:
        while self.running:
            await self.close(self.running[-1])


@pytest.fixture
async def speakers() -> AsyncIterator[Speakers]:
    pool = Speakers()
    try:
        yield pool
    finally:
        await pool.close_all()


def table_config(port: int, routes: int, hold_time: int, peer: str) -> Config:
    """A speaker on 127.0.0.1:`port` originating `routes` /26s of 10.0.0.0/8 to one
    passive iBGP `peer` (keepalive every second), with no control socket needed."""
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    announce = tuple(
        Announcement(ipaddress.IPv4Network((base + (i << 6), 26))) for i in range(routes)
    )
    timers = Timers(hold_time=hold_time, keepalive_time=1, connect_retry=1)
    return Config(
        speaker=SpeakerConfig(
            asn=64512,
            router_id="198.18.0.1",
            listen=(("127.0.0.1", port),),
            control_socket="/nonexistent/pybgp.sock",
            timers=timers,
            announce=announce,
        ),
        peers=(PeerConfig(ipaddress.ip_address(peer), 64512, passive=True, timers=timers),),
    )
