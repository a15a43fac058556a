"""The control socket: JSON Lines over UNIX, the asyncio server and the blocking client."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pybgp.runtime.control import (
    MAX_LINE,
    ControlClient,
    ControlError,
    ControlServer,
    ControlUnavailable,
    request,
)


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    """A socket path under 108 bytes (sun_path), in tmp_path when that is short enough."""
    if len(str(tmp_path)) < 80:
        yield str(tmp_path / "c.sock")
        return
    with tempfile.TemporaryDirectory(prefix="pybgp-", dir="/tmp") as short:
        yield os.path.join(short, "c.sock")


def _boom(args: dict[str, Any]) -> Any:
    raise RuntimeError("boom: " + str(args.get("why")))


async def _later(args: dict[str, Any]) -> Any:
    await asyncio.sleep(0)  # yields once: the answer really comes from a coroutine
    return {"later": args}


HANDLERS = {
    "echo": lambda args: args,
    "status": lambda args: {"router_id": "198.18.0.1"},
    "boom": _boom,
    "later": _later,
    "set": lambda args: {1, 2},  # not JSON
}


@pytest.fixture
async def server(sock_path: str) -> AsyncIterator[ControlServer]:
    control = ControlServer(sock_path, HANDLERS)
    await control.start()
    yield control
    await control.close()


async def ask(path: str, command: str, **args: Any) -> Any:
    """The blocking client, off the event loop that serves it."""
    return await asyncio.to_thread(request, path, command, 5.0, **args)


class Conversation:
    """A raw connection: lines in, parsed answers out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, path: str) -> Conversation:
        return cls(*await asyncio.open_unix_connection(path))

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def answer(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        assert line.endswith(b"\n")
        return json.loads(line)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# --- round trips ------------------------------------------------------------------------


async def test_round_trip_through_the_client(server: ControlServer, sock_path: str) -> None:
    assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}
    assert await ask(sock_path, "echo", peer="198.18.0.2", n=3) == {"peer": "198.18.0.2", "n": 3}


async def test_handler_gets_arguments_without_command(
    server: ControlServer, sock_path: str
) -> None:
    talk = await Conversation.open(sock_path)
    await talk.send(b'{"command": "echo", "a": [1, "\xc3\xa9"]}\n')
    assert await talk.answer() == {"ok": True, "result": {"a": [1, "é"]}}
    await talk.close()


async def test_several_requests_on_one_connection(server: ControlServer, sock_path: str) -> None:
    talk = await Conversation.open(sock_path)
    for n in range(3):
        await talk.send(json.dumps({"command": "echo", "n": n}).encode() + b"\n")
        assert await talk.answer() == {"ok": True, "result": {"n": n}}
    # Pipelined in one write: answered in order.
    await talk.send(b'{"command": "echo", "n": 10}\n\n{"command": "later", "n": 11}\n')
    assert (await talk.answer())["result"] == {"n": 10}
    assert (await talk.answer())["result"] == {"later": {"n": 11}}
    await talk.close()


async def test_client_object_keeps_one_connection(server: ControlServer, sock_path: str) -> None:
    def two() -> list[Any]:
        with ControlClient(sock_path, timeout=5) as client:
            return [client.request("echo", n=1), client.request("status")]

    assert await asyncio.to_thread(two) == [{"n": 1}, {"router_id": "198.18.0.1"}]


async def test_async_handler(server: ControlServer, sock_path: str) -> None:
    assert await ask(sock_path, "later", x=1) == {"later": {"x": 1}}


# --- bad requests -----------------------------------------------------------------------


async def test_unknown_command(server: ControlServer, sock_path: str) -> None:
    with pytest.raises(ControlError) as caught:
        await ask(sock_path, "reboot")
    assert not isinstance(caught.value, ControlUnavailable)
    assert str(caught.value) == "unknown command 'reboot'; known: boom, echo, later, set, status"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"not json\n", "malformed request: Expecting value"),
        (b"\xff\xfe\n", "malformed request: 'utf-8' codec can't decode"),
        (b"[1, 2]\n", "malformed request: not a JSON object"),
        (b'{"args": 1}\n', 'malformed request: no "command" string'),
        (b'{"command": 7}\n', 'malformed request: no "command" string'),
    ],
)
async def test_malformed_request_keeps_connection(
    server: ControlServer, sock_path: str, raw: bytes, error: str
) -> None:
    talk = await Conversation.open(sock_path)
    await talk.send(raw)
    answer = await talk.answer()
    assert answer["ok"] is False
    assert answer["error"].startswith(error)
    await talk.send(b'{"command": "echo", "after": true}\n')
    assert await talk.answer() == {"ok": True, "result": {"after": True}}
    await talk.close()


async def test_handler_exception_reported_and_logged(
    server: ControlServer, sock_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    talk = await Conversation.open(sock_path)
    with caplog.at_level(logging.ERROR, logger="pybgp.runtime.control"):
        await talk.send(b'{"command": "boom", "why": "test"}\n')
        assert await talk.answer() == {"ok": False, "error": "boom: test"}
    [record] = [r for r in caplog.records if r.name == "pybgp.runtime.control"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    # The same connection and a new one both still work.
    await talk.send(b'{"command": "status"}\n')
    assert (await talk.answer())["ok"] is True
    await talk.close()
    assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}


async def test_result_that_is_not_json(server: ControlServer, sock_path: str) -> None:
    with pytest.raises(ControlError, match="the result is not JSON"):
        await ask(sock_path, "set")
    assert await ask(sock_path, "echo") == {}


async def test_overlong_line_ends_the_connection(server: ControlServer, sock_path: str) -> None:
    talk = await Conversation.open(sock_path)
    await talk.send(b'{"command": "echo", "x": "' + b"a" * MAX_LINE + b'"}\n')
    answer = await talk.answer()
    assert answer == {"ok": False, "error": f"request longer than {MAX_LINE} bytes"}
    assert await asyncio.wait_for(talk.reader.read(), 5) == b""
    await talk.close()
    assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}


# --- the socket file --------------------------------------------------------------------


async def test_socket_mode_and_parent_created(tmp_path: Path) -> None:
    path = tmp_path / "run" / "pybgp" / "c.sock"
    if len(str(path)) > 100:
        pytest.skip("tmp_path too long for a UNIX socket path")
    async with ControlServer(str(path), HANDLERS):
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
        assert await ask(str(path), "status") == {"router_id": "198.18.0.1"}


async def test_stale_socket_replaced(sock_path: str) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)  # a file nobody listens on, as a killed daemon leaves it
    dead.close()
    with pytest.raises(ControlUnavailable, match="connection refused"):
        await ask(sock_path, "status")
    async with ControlServer(sock_path, HANDLERS):
        assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}


async def test_live_socket_refused(server: ControlServer, sock_path: str) -> None:
    second = ControlServer(sock_path, {"status": lambda args: "impostor"})
    with pytest.raises(ControlError, match=re.escape(f"another pybgp is running on {sock_path}")):
        await second.start()
    assert not second.serving
    await second.close()  # a no-op, and above all does not unlink the first one's file
    assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}


async def test_regular_file_not_replaced(sock_path: str) -> None:
    Path(sock_path).write_text("keep me")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        await ControlServer(sock_path, HANDLERS).start()
    assert Path(sock_path).read_text() == "keep me"
    with pytest.raises(ControlUnavailable, match="is not a socket"):
        await ask(sock_path, "status")


async def test_close_unlinks_and_ends_connections(sock_path: str) -> None:
    control = ControlServer(sock_path, HANDLERS)
    await control.start()
    talk = await Conversation.open(sock_path)
    await talk.send(b'{"command": "status"}\n')
    assert (await talk.answer())["ok"] is True
    await control.close()
    assert not os.path.exists(sock_path)
    assert await asyncio.wait_for(talk.reader.read(), 5) == b""
    await talk.close()
    with pytest.raises(ControlUnavailable, match=re.escape(f"no control socket at {sock_path}")):
        await ask(sock_path, "status")


async def test_close_cancels_a_handler_in_progress(sock_path: str) -> None:
    entered = asyncio.Event()

    async def hang(args: dict[str, Any]) -> Any:
        entered.set()
        await asyncio.Event().wait()

    control = ControlServer(sock_path, {"hang": hang})
    await control.start()
    talk = await Conversation.open(sock_path)
    await talk.send(b'{"command": "hang"}\n')
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(control.close(), 5)
    assert await asyncio.wait_for(talk.reader.read(), 5) == b""
    await talk.close()


async def test_restart_after_close(sock_path: str) -> None:
    control = ControlServer(sock_path, HANDLERS)
    await control.start()
    await control.close()
    await control.start()
    assert await ask(sock_path, "status") == {"router_id": "198.18.0.1"}
    await control.close()


# --- the client's errors ----------------------------------------------------------------


def test_client_no_socket_file(sock_path: str) -> None:
    with pytest.raises(ControlUnavailable) as caught:
        request(sock_path, "status")
    assert str(caught.value) == f"pybgp is not running (no control socket at {sock_path})"
    assert caught.value.reason == f"no control socket at {sock_path}"
    assert caught.value.path == sock_path


def test_client_missing_directory() -> None:
    with pytest.raises(ControlUnavailable, match=r"no control socket at /nonexistent/x\.sock"):
        request("/nonexistent/x.sock", "status")


async def test_client_times_out(sock_path: str) -> None:
    async def hang(args: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    async with ControlServer(sock_path, {"hang": hang}):
        with pytest.raises(ControlError, match=r"no answer from pybgp on .* within 0\.2s"):
            await asyncio.to_thread(request, sock_path, "hang", 0.2)


async def test_client_rejects_a_malformed_answer(sock_path: str) -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'{"result": 1}\n')
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(liar, path=sock_path)
    async with server:
        with pytest.raises(ControlError, match='malformed answer from pybgp: no "ok" field'):
            await ask(sock_path, "status")
    os.unlink(sock_path)


async def test_client_sees_a_closed_connection(sock_path: str) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    server = await asyncio.start_unix_server(hang_up, path=sock_path)
    async with server:
        with pytest.raises(ControlError, match="pybgp closed the control connection"):
            await ask(sock_path, "status")
    os.unlink(sock_path)
