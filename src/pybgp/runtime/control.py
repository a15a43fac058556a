"""The control socket: a UNIX stream socket speaking JSON Lines.

The daemon serves it (`ControlServer`, asyncio); the CLI talks to it (`request`,
`ControlClient`, plain blocking sockets so that a short-lived command needs no
event loop).

Protocol: one UTF-8 JSON object per line each way, answered in order.  A request
is ``{"command": "status", ...arguments}``; the answer is ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": "text"}``.  A connection may carry
any number of requests.  A bad request (not JSON, not an object, an unknown
command) or a failing handler gets an ``ok: false`` answer and the connection
stays usable; only a line longer than `MAX_LINE` ends it, because the stream
cannot be resynchronised after it.  Blank lines are ignored, so that a person
typing into ``socat - UNIX:/run/pybgp/pybgp.sock`` is not scolded for Enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_LINE",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "ControlUnavailable",
    "Handler",
    "request",
]

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/pybgp/pybgp.sock"
# A request is a command and a few arguments; anything this long is a mistake.
MAX_LINE = 1 << 20
# Who may talk to the daemon: root and the socket's group (as BIRD's birdc socket).
SOCKET_MODE = 0o660
DIRECTORY_MODE = 0o755
# How long start() waits for an existing socket to accept before calling it live.
_PROBE_TIMEOUT = 1.0

Handler = Callable[[dict[str, Any]], Any | Awaitable[Any]]
"""Gets the request's arguments (the request without "command"); returns the result.

A sync handler runs on the event loop, so it must be quick; a slow one should be
`async`.  Whatever it raises becomes the ``error`` text of the answer.
"""


class ControlError(Exception):
    """The control request failed; the message is fit to show to a person."""


class ControlUnavailable(ControlError):
    """No daemon listens on the socket: missing file, refused connection, not a socket."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"pybgp is not running ({reason})")
        self.path = path
        self.reason = reason


# --- server -----------------------------------------------------------------------------


class ControlServer:
    """Serves `handlers` on a UNIX socket at `path` until `close()`."""

    def __init__(self, path: str, handlers: Mapping[str, Handler]) -> None:
        self.path = path
        self._handlers = dict(handlers)
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._connections: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Bind and listen.  Raises ControlError if another daemon owns the path."""
        if self._server is not None:
            raise ControlError(f"control server already started on {self.path}")
        _make_parent(self.path)
        await self._clear_stale()
        try:
            server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_LINE)
        except OSError as exc:
            raise ControlError(f"cannot listen on {self.path}: {_reason(exc)}") from exc
        # The file is created by bind() with the umask's mode; under the usual 022 nobody
        # else may connect (that needs write permission) until this chmod opens it to the group.
        os.chmod(self.path, SOCKET_MODE)
        info = os.stat(self.path)
        self._identity = (info.st_dev, info.st_ino)
        self._server = server
        log.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        """Stop accepting, end every client connection, unlink the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        self._unlink()

    async def _clear_stale(self) -> None:
        """Remove a socket file left by a daemon that died; refuse to steal a live one."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ControlError(f"{self.path} exists and is not a socket; not replacing it")
        if await _answers(self.path):
            raise ControlError(f"another pybgp is running on {self.path}")
        log.info("removing stale control socket %s", self.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _unlink(self) -> None:
        """Unlink the socket file, unless someone has since put another one there."""
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._identity = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._converse(reader, writer)
        except ConnectionError:
            pass  # the client went away mid-answer: nothing to tell anyone
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # asyncio's LimitOverrunError, re-raised by readline()
                writer.write(_encode(_failure(f"request longer than {MAX_LINE} bytes")))
                await writer.drain()
                return
            if not line:
                return
            if not line.strip():
                continue
            writer.write(_encode(await self._answer(line)))
            await writer.drain()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _failure(f"malformed request: {exc}")
        if not isinstance(message, dict):
            return _failure("malformed request: not a JSON object")
        command = message.pop("command", None)
        if not isinstance(command, str):
            return _failure('malformed request: no "command" string')
        handler = self._handlers.get(command)
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            return _failure(f"unknown command {command!r}; known: {known}")
        try:
            result = handler(message)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.exception("control command %r failed", command)
            return _failure(str(exc) or type(exc).__name__)
        return {"ok": True, "result": result}


def _make_parent(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(parent):
        return
    try:
        os.makedirs(parent, mode=DIRECTORY_MODE)
        os.chmod(parent, DIRECTORY_MODE)  # makedirs' mode is masked by the umask
    except FileExistsError:
        pass  # made meanwhile by someone else: theirs to keep as it is
    except OSError as exc:
        raise ControlError(f"cannot create {parent}: {_reason(exc)}") from exc


async def _answers(path: str) -> bool:
    """Whether something accepts connections on the socket at `path`."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), _PROBE_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True  # a listener with a full backlog is still a listener
    except OSError as exc:
        raise ControlError(f"cannot check {path}: {_reason(exc)}") from exc
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return True


def _failure(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _encode(answer: dict[str, Any]) -> bytes:
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and a strict client would choke.
        text = json.dumps(answer, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        log.exception("control answer is not JSON")
        text = json.dumps(_failure(f"the result is not JSON: {exc}"))
    return (text + "\n").encode("utf-8")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- client -----------------------------------------------------------------------------


class ControlClient:
    """A blocking connection to the daemon's control socket, for several requests in turn.

    `timeout` bounds connecting and each request as a whole.
    """

    def __init__(self, path: str = DEFAULT_SOCKET, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._buffer = b""
        self._sock = _connect(path, timeout)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def request(self, command: str, **args: Any) -> Any:
        """Send one request; return its result or raise ControlError with the daemon's text."""
        deadline = time.monotonic() + self.timeout
        line = json.dumps({"command": command, **args}, ensure_ascii=False) + "\n"
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(line.encode("utf-8"))
            answer = self._read_line(deadline)
        except TimeoutError:
            raise ControlError(
                f"no answer from pybgp on {self.path} within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise ControlError(f"control connection to {self.path} failed: {_reason(exc)}") from exc
        return _result(answer)

    def _read_line(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise ControlError(f"pybgp closed the control connection on {self.path}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def request(path: str, command: str, timeout: float = 10.0, **args: Any) -> Any:
    """Ask the daemon at `path` one thing; return the result or raise ControlError."""
    with ControlClient(path, timeout) as client:
        return client.request(command, **args)


def _connect(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise _connect_error(path, exc, timeout) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_error(path: str, exc: OSError, timeout: float) -> ControlError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return ControlUnavailable(path, f"no control socket at {path}")
    if isinstance(exc, ConnectionRefusedError):
        # Linux answers ECONNREFUSED for a regular file too; say which it was.
        with contextlib.suppress(OSError):
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                return ControlUnavailable(path, f"{path} is not a socket")
        return ControlUnavailable(path, f"connection refused on {path}")
    if exc.errno == errno.ENOTSOCK:
        return ControlUnavailable(path, f"{path} is not a socket")
    if isinstance(exc, PermissionError):
        return ControlError(f"permission denied on {path}: run as root or in its group")
    if isinstance(exc, TimeoutError):
        return ControlError(f"pybgp did not accept a connection on {path} within {timeout:g}s")
    return ControlError(f"cannot connect to {path}: {_reason(exc)}")


def _result(line: bytes) -> Any:
    try:
        answer = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(f"malformed answer from pybgp: {exc}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise ControlError('malformed answer from pybgp: no "ok" field')
    if not answer["ok"]:
        raise ControlError(str(answer.get("error") or "the request failed"))
    return answer.get("result")
