"""`LinkMonitor`: tell the node when its links or addresses change.

The kernel removes every route through a device that goes away, without telling the
routes' owner, and a re-created device has a new index; an address change moves which
next hops are on-link.  BIRD's `protocol device` watches for the same reason.  The
monitor is a netlink socket subscribed to the link and address groups (rtnetlink(7)),
read on the event loop; a burst of messages (a device re-created with its addresses)
becomes one call of `on_change`, `settle` seconds after the last of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from .rtnl import in_netns

log = logging.getLogger("pybgp.fib")

# rtnetlink(7) multicast groups (the legacy bit masks bind() takes).
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100


class LinkMonitor:
    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        netns: str | None = None,
        settle: float = 0.2,
    ) -> None:
        self.on_change = on_change
        self.netns = netns
        self.settle = settle
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = in_netns(self.netns, self._open)
        self._loop.add_reader(self._sock.fileno(), self._readable)

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _readable(self) -> None:
        assert self._sock is not None and self._loop is not None
        while True:  # what the messages say does not matter: any change means look again
            try:
                if not self._sock.recv(65536):
                    break
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: we missed some; looking again covers it
                log.debug("link monitor: %s", exc)
                break
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self.settle, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.on_change()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
