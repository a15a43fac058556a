"""``NetlinkFib``: the node's routes in the kernel, over rtnetlink (rtnetlink(7)).

The only module of pybgp that imports pyroute2, and only for what pyroute2 is good at:
encoding RTM_NEWROUTE / RTM_DELROUTE messages (``pyroute2.netlink.rtnl.rtmsg.rtmsg``).
Encoding one message that way costs about 80 µs, far too slow for 100k routes, so each
message *shape* is encoded once (family, prefix length, route type, next hops with
their ifindex and onlink flag, add/replace/delete) with ``RTA_DST`` as the last
attribute.  A message for a prefix is then the template with two fields patched: the
sequence number (bytes 8..11 of the header) and the destination (the last 4 or 16
bytes).  A test checks patched messages against pyroute2's own encoding.

Writing: :class:`~pybgp.fib.rtnl.RtnlSocket` sends up to 4,096 messages per ``send()`` and
reads the kernel's answers afterwards, errors matched by sequence number.  Encoding and
I/O run in one dedicated worker thread, so the event loop never waits on the kernel and
writes reach the socket in order.  The GIL is released while the kernel works inside
``send()``, so the loop thread meanwhile prepares the next chunk (``BatchedFib``
pipelines chunks of 8,192 routes): on 2 cores the kernel's time and Python's overlap.

Flags: a new route is NLM_F_CREATE|NLM_F_EXCL, a change to one of ours NLM_F_CREATE|
NLM_F_REPLACE, a removal RTM_DELROUTE with our protocol set.  The kernel keeps one route
per (prefix, TOS, metric) whatever its protocol, and NLM_F_REPLACE takes the first one
of that metric (``fib_table_insert()``; IPv6 ``fib6_add_rt2node()`` the same), so
replacing blindly would overwrite an admin's ``proto static`` route.  EXCL makes the
kernel refuse instead (EEXIST); the refusal is reported in ``failed`` and retried.  A
delete with ``rtm_protocol`` set only ever matches a route of that protocol (IPv4
``fib_table_delete()``, IPv6 ``ip6_route_del()`` both compare ``fc_protocol``).

Namespaces: ``NetlinkFib(netns="NAME")`` creates its socket inside ``/run/netns/NAME``
(setns(2) in a short-lived thread); everything else follows from the socket.  The daemon
normally runs inside the node's namespace and passes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pybgp.fib.base import (
    FibKey,
    FibSettings,
    Hops,
    KernelRoute,
    NextHop,
    Prefix,
    ReconcileReport,
    Wanted,
    fib_key,
)
from pybgp.fib.batched import BatchedFib, KernelState, Op
from pybgp.fib.rtnl import (
    RTM_DELROUTE,
    RTM_GETROUTE,
    RTM_NEWROUTE,
    RtnlSocket,
    describe_error,
    parse_attrs,
)

__all__ = ["NetlinkFib", "RouteEncoder"]

log = logging.getLogger("pybgp.fib")
T = TypeVar("T")

NLM_F_REQUEST = 0x1
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
RTN_UNICAST = 1
RTN_BLACKHOLE = 6
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255  # in a delete: any scope (what `ip route del` sends)
RTNH_F_ONLINK = 4
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_MULTIPATH = 9
RTA_TABLE = 15

_RTMSG = struct.Struct("=BBBBBBBBI")  # family dst_len src_len tos table protocol scope type flags
_RTNH = struct.Struct("=HBBi")  # len flags hops ifindex
_SEQ = struct.Struct("=I")
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_EEXIST_HINT = "a route for this prefix with the same metric exists (another protocol's?)"

# (header up to the sequence number, rest up to RTA_DST's payload), or why there is none
Template = tuple[bytes, bytes] | str


@dataclass(slots=True)
class Encoded:
    """What :meth:`RouteEncoder.encode_all` made of a chunk of ops."""

    messages: list[bytes]
    # The op index of each message; None: message i is op i (nothing was refused).
    positions: list[int] | None = None
    refused: dict[int, str] = field(default_factory=dict)  # op index -> why no message


_KEY = attrgetter("key")
_HOPS = attrgetter("hops")
_REPLACE = attrgetter("replace")
_LAST = itemgetter(-1)  # a FibKey's prefix length
_DST = itemgetter(slice(None, -1))  # a FibKey's RTA_DST payload


class RouteEncoder:
    """Builds and caches message templates; ``ifindex`` maps device names (refreshable)."""

    # Distinct next-hop tuples remembered; more (a caller making a new tuple per route
    # rather than sharing one per next hop) empties the cache rather than growing it.
    MAX_SHAPES = 4096

    def __init__(self, settings: FibSettings, ifindex: dict[str, int] | None = None) -> None:
        self.settings = settings
        self.ifindex: dict[str, int] = dict(ifindex or {})
        # Deletes: (len(key), prefix length) -> template.
        self._deletes: dict[tuple[int, int], Template] = {}
        # Adds: id(hops) -> (hops, {(len(key), prefix length, replace): template}).  Keyed
        # by identity because hashing a tuple of NextHops runs Python code for every
        # route; holding ``hops`` keeps its id from being reused while it is cached.
        self._adds: dict[int, tuple[Hops, dict[tuple[int, int, bool], Template | str]]] = {}

    def set_links(self, ifindex: dict[str, int]) -> None:
        """New device map; templates embed ifindexes, so they are rebuilt on demand."""
        self.ifindex = dict(ifindex)
        self._adds.clear()

    def encode_all(self, ops: Sequence[Op], first: int) -> Encoded:
        """Messages for ``ops``, numbered from ``first`` in the order they are returned.

        Usually every op of a chunk has one shape (all deletes of /26s, or all adds via
        one node): then one template serves the whole chunk and the messages are made by
        C-level iteration, about 0.2 µs each instead of 1 µs through :meth:`encode`.
        """
        count = len(ops)
        if count and first + count <= 1 << 32:  # else the numbers wrap: the general path
            keys = list(map(_KEY, ops))
            if (
                len(set(map(id, map(_HOPS, ops)))) == 1
                and len(set(map(_REPLACE, ops))) == 1
                and len(set(map(len, keys))) == 1
                and len(set(map(_LAST, keys))) == 1
            ):
                template = self._lookup(ops[0])
                if not isinstance(template, str):
                    head, body = template
                    seqs = map(_SEQ.pack, range(first, first + count))
                    dsts = map(_DST, keys)
                    return Encoded(
                        [head + seq + body + dst for seq, dst in zip(seqs, dsts, strict=True)]
                    )
        messages: list[bytes] = []
        positions: list[int] = []
        refused: dict[int, str] = {}
        for i, op in enumerate(ops):
            message = self.encode(op, first + len(messages))
            if isinstance(message, str):
                refused[i] = message
            else:
                messages.append(message)
                positions.append(i)
        return Encoded(messages, positions if refused else None, refused)

    def encode(self, op: Op, seq: int) -> bytes | str:
        """The message for ``op`` with sequence number ``seq``, or why it cannot be built."""
        template = self._lookup(op)
        if isinstance(template, str):
            return template
        head, body = template
        return head + _SEQ.pack(seq & 0xFFFFFFFF) + body + op.key[:-1]

    def _lookup(self, op: Op) -> Template:
        """The cached template for ``op``'s shape (built on first use)."""
        key, hops = op.key, op.hops
        if hops is None:
            shape = (len(key), key[-1])
            template: Template | str | None = self._deletes.get(shape)
            if template is None:
                template = self._deletes[shape] = self._template(op)
        else:
            cached = self._adds.get(id(hops))
            if cached is None or cached[0] is not hops:
                if len(self._adds) >= self.MAX_SHAPES:
                    self._adds.clear()
                cached = self._adds[id(hops)] = (hops, {})
            shapes = cached[1]
            add_shape = (len(key), key[-1], op.replace)
            template = shapes.get(add_shape)
            if template is None:
                template = shapes[add_shape] = self._template(op)
        return template

    def _template(self, op: Op) -> Template:
        """Encode ``op`` with pyroute2 (sequence number 0) and cut out the variable parts;
        or the reason it cannot be written (a device that does not exist)."""
        settings, prefix, hops = self.settings, op.prefix, op.hops
        msg = rtmsg()
        msg["family"] = _FAMILY[prefix.version]
        msg["dst_len"] = prefix.prefixlen
        msg["table"] = settings.table if settings.table < 256 else 0
        msg["proto"] = settings.protocol
        attrs: list[list[object]] = [["RTA_TABLE", settings.table]]
        if hops is None:
            msg["scope"] = RT_SCOPE_NOWHERE
            msg["type"] = 0  # RTN_UNSPEC: any type
            msg["header"]["type"] = RTM_DELROUTE
            msg["header"]["flags"] = NLM_F_REQUEST
        else:
            msg["scope"] = RT_SCOPE_UNIVERSE
            msg["header"]["type"] = RTM_NEWROUTE
            exclusive = NLM_F_REPLACE if op.replace else NLM_F_EXCL
            msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_CREATE | exclusive
            if not hops:
                msg["type"] = RTN_BLACKHOLE
            else:
                msg["type"] = RTN_UNICAST
                for nh in hops:
                    if nh.device not in self.ifindex:
                        return f"ENODEV (No such device): no device {nh.device}"
                if len(hops) == 1:
                    nh = hops[0]
                    msg["flags"] = RTNH_F_ONLINK if nh.onlink else 0
                    attrs.append(["RTA_GATEWAY", str(nh.gateway)])
                    attrs.append(["RTA_OIF", self.ifindex[nh.device]])
                else:
                    multipath = [
                        {
                            "oif": self.ifindex[nh.device],
                            "hops": 0,
                            "flags": RTNH_F_ONLINK if nh.onlink else 0,
                            "attrs": [["RTA_GATEWAY", str(nh.gateway)]],
                        }
                        for nh in hops
                    ]
                    attrs.append(["RTA_MULTIPATH", multipath])
        attrs.append(["RTA_DST", str(prefix.network_address)])
        msg["attrs"] = attrs
        msg.encode()
        data = bytes(msg.data)
        size = 4 if prefix.version == 4 else 16
        # RTA_DST must be the last attribute: rta_len = 4 + size, rta_type = RTA_DST.
        if struct.unpack_from("=HH", data, len(data) - size - 4) != (4 + size, RTA_DST):
            raise AssertionError(f"pyroute2 did not put RTA_DST last: {data.hex()}")
        return data[:8], data[12 : len(data) - size]


def parse_route(
    payload: bytes | memoryview, names: dict[int, str]
) -> tuple[int, int, Prefix, KernelRoute | None]:
    """One RTM_NEWROUTE of a dump -> (table, protocol, prefix, route or None).

    ``None``: a route pybgp does not write (device route, unreachable, RTA_VIA...).
    """
    family, dst_len, src_len, tos, table, protocol, _scope, rtype, flags = _RTMSG.unpack_from(
        payload, 0
    )
    attrs = parse_attrs(payload, 12, len(payload))
    if RTA_TABLE in attrs:
        table = struct.unpack("=I", attrs[RTA_TABLE])[0]
    size = 4 if family == socket.AF_INET else 16
    dst = attrs.get(RTA_DST)
    address = ip_address(bytes(dst) if dst is not None else bytes(size))
    prefix = ip_network((address, dst_len))
    route: KernelRoute | None = None
    if src_len or tos:  # source-specific or TOS routes: not ours to represent, so stale
        return table, protocol, prefix, None
    if rtype == RTN_BLACKHOLE:
        route = KernelRoute(prefix, blackhole=True)
    elif rtype == RTN_UNICAST:
        hops: list[NextHop] = []
        if RTA_MULTIPATH in attrs:
            data = attrs[RTA_MULTIPATH]
            offset = 0
            while offset + 8 <= len(data):
                length, nh_flags, _hops, index = _RTNH.unpack_from(data, offset)
                if length < 8:
                    break
                gateway = parse_attrs(data, offset + 8, offset + length).get(RTA_GATEWAY)
                if gateway is None:
                    return table, protocol, prefix, None
                hop = _next_hop(gateway, index, nh_flags, names)
                hops.append(hop)
                offset += (length + 3) & ~3
        elif RTA_GATEWAY in attrs and RTA_OIF in attrs:
            index = struct.unpack("=i", attrs[RTA_OIF])[0]
            hops.append(_next_hop(attrs[RTA_GATEWAY], index, flags, names))
        if hops:
            with contextlib.suppress(ValueError):
                route = KernelRoute(prefix, tuple(hops))
    return table, protocol, prefix, route


def _next_hop(gateway: memoryview, index: int, flags: int, names: dict[int, str]) -> NextHop:
    device = names.get(index, f"if{index}")
    return NextHop(ip_address(bytes(gateway)), device, bool(flags & RTNH_F_ONLINK))


class NetlinkFib(BatchedFib):
    """:class:`~pybgp.fib.base.Fib` on the kernel's table ``settings.table``.

    ``netns``: program the routes of that namespace (name or path) instead of the one
    the process runs in.  ``retry_interval``: seconds between retries of refused routes
    (0 disables the timer; every flush retries anyway).  ``per_send``: messages per
    ``send()``.
    """

    def __init__(
        self,
        settings: FibSettings | None = None,
        *,
        netns: str | None = None,
        retry_interval: float = 5.0,
        per_send: int = 4096,
    ) -> None:
        super().__init__(settings)
        self.netns = netns
        self.retry_interval = retry_interval
        self.per_send = per_send
        self._sock: RtnlSocket | None = None
        self._encoder = RouteEncoder(self.settings)
        self._links_stale = True
        self._retry_task: asyncio.Task[None] | None = None
        # One worker thread: writes reach the socket one at a time and in order.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fib-netlink")

    async def start(self, wanted: Wanted, keep_stale: bool = False) -> ReconcileReport:
        """Open the socket (in ``netns``), reconcile, start the retry timer."""
        self._sock = await self._in_worker(RtnlSocket, self.netns)
        report = await super().start(wanted, keep_stale)
        if self.retry_interval > 0:
            self._retry_task = asyncio.create_task(self._retry_loop(), name="fib-retry")
        return report

    async def close(self, keep: bool = False) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
            self._retry_task = None
        try:
            await super().close(keep)
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._worker.shutdown(wait=False)

    def _in_worker(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    async def _retry_loop(self) -> None:
        """Retry refused routes every ``retry_interval`` s: the missing device or the
        route to the next hop may have appeared since (links are re-read first)."""
        while True:
            await asyncio.sleep(self.retry_interval)
            if not self._failed:
                continue
            self._links_stale = True
            try:
                await self.flush()
            except Exception:  # the timer must survive; the next tick tries again
                log.exception("fib: retry failed")

    # -- backend --------------------------------------------------------------------------
    def _socket(self) -> RtnlSocket:
        if self._sock is None:
            raise RuntimeError("NetlinkFib is not started (or already closed)")
        return self._sock

    async def _read(self) -> KernelState:
        return await self._in_worker(self._read_sync)

    def _read_sync(self) -> KernelState:
        sock = self._socket()
        links = sock.links()
        self._encoder.set_links(links)
        self._links_stale = False
        names = {index: name for name, index in links.items()}
        table, ours = self.settings.table, self.settings.protocol
        own: list[tuple[FibKey, Hops | None]] = []
        foreign = 0
        for family in (socket.AF_INET, socket.AF_INET6):
            header = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
            for mtype, payload in sock.dump(RTM_GETROUTE, header):
                if mtype != RTM_NEWROUTE:
                    continue
                # Cheap filter first: table and protocol are in the fixed header (the
                # table byte is 0 or 252 for ids above 255; then RTA_TABLE decides).
                if payload[5] != ours:
                    if payload[4] == table or table > 255:
                        rt_table = parse_route(payload, names)[0]
                        foreign += rt_table == table
                    continue
                rt_table, _proto, prefix, route = parse_route(payload, names)
                if rt_table == table:
                    own.append((fib_key(prefix), None if route is None else route.next_hops))
        return KernelState(own, foreign)

    async def _before_write(self) -> None:
        """Re-read the devices after a refusal (the next hop's device may exist now)."""
        if self._links_stale:
            self._encoder.set_links(await self._in_worker(self._socket().links))
            self._links_stale = False

    async def _write(self, ops: Sequence[Op]) -> dict[int, str]:
        """Encode ``ops`` here (cheap: templates), send them from the worker thread.

        Encoding stays on the loop's thread so that the worker needs the GIL only
        briefly around each ``send()``: the kernel works on one chunk while this thread
        encodes the next.  The submission to the worker happens before the first
        ``await``, so chunks reach the socket in the order they were written.
        """
        sock = self._socket()
        first = sock.reserve(len(ops))
        encoded = self._encoder.encode_all(ops, first)
        results: dict[int, str] = encoded.refused
        if encoded.refused:
            self._links_stale = True  # a device may have appeared: re-read before retrying
        if not encoded.messages:
            return results
        errors = await self._in_worker(sock.execute, encoded.messages, first, self.per_send)
        positions = encoded.positions
        for position, (code, extack) in errors.items():
            i = position if positions is None else positions[position]
            op = ops[i]
            if op.hops is None and code == errno.ESRCH:
                continue  # already gone: what we wanted
            reason = describe_error(code, extack)
            if code == errno.EEXIST and not op.replace:
                reason = f"{reason}: {_EEXIST_HINT}"
            results[i] = reason
        if errors:
            self._links_stale = True  # a device may have been replaced: re-read before retrying
        return results
