"""A plain rtnetlink socket: batched requests with ACKs matched by sequence number, dumps.

Why not pyroute2's socket: its request path waits for each answer before the next
request (about 4,400 routes/s here, see LAB-NOTES).  The kernel handles every message
of one ``send()`` in the sender's context (``netlink_rcv_skb`` loops over them and goes
on after an error), queueing one ACK per message on our socket, so many messages per
``send()`` and the ACKs read afterwards cost one system call per batch, not per route.
The messages themselves are encoded by pyroute2 in ``netlink.py``; this module is
standard library only (struct, socket, ctypes for setns(2)).

Socket options (rtnetlink(7), netlink(7)):

- NETLINK_CAP_ACK: an error ACK carries only the header of the refused message, not all
  of it, so ACKs stay small and many fit in the receive buffer.
- NETLINK_EXT_ACK: the kernel adds its reason as text ("Nexthop has invalid gateway"),
  which goes into :attr:`Fib.failed` together with the errno.
- SO_RCVBUFFORCE (root): room for the ACKs of a whole batch; an ACK dropped for lack of
  room (ENOBUFS) would leave a route's fate unknown.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

__all__ = [
    "RTM_DELROUTE",
    "RTM_GETROUTE",
    "RTM_NEWROUTE",
    "RtnlSocket",
    "in_netns",
    "parse_attrs",
]

T = TypeVar("T")

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
CLONE_NEWNET = 0x40000000

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ACK attributes follow
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
IFLA_IFNAME = 3

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_ERRHDR = struct.Struct("=iIHHII")  # error, then the (capped) header of the request
_RTA = struct.Struct("=HH")
_FLAGS = struct.Struct("=H")

_BUFFER = 8 << 20  # socket buffers, bytes


def in_netns(netns: str | None, func: Callable[[], T]) -> T:
    """Run ``func`` in network namespace ``netns`` (a name under /run/netns or a path).

    setns(2) with CLONE_NEWNET changes the namespace of the calling thread only, so
    ``func`` runs in a short-lived thread that enters the namespace and then ends; the
    rest of the process stays where it was.  A socket belongs to the namespace it was
    created in for its whole life, which is what makes this enough: create the netlink
    socket in there and use it from any thread.
    """
    if netns is None:
        return func()
    path = netns if "/" in netns else f"/run/netns/{netns}"
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns({path}): {os.strerror(code)}")
            finally:
                os.close(fd)
            outcome.append(func())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def parse_attrs(data: bytes | memoryview, offset: int, end: int) -> dict[int, memoryview]:
    """Netlink attributes (type -> payload) between ``offset`` and ``end``."""
    view = memoryview(data)
    attrs: dict[int, memoryview] = {}
    unpack = _RTA.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(view, offset)
        if length < 4:
            break
        attrs[kind & 0x3FFF] = view[offset + 4 : offset + length]  # without NLA_F_NESTED
        offset += (length + 3) & ~3
    return attrs


def describe_error(code: int, extack: str | None) -> str:
    """``"ENETUNREACH (Network is unreachable): Nexthop has invalid gateway"``."""
    name = errno.errorcode.get(code, f"errno {code}")
    text = f"{name} ({os.strerror(code)})"
    return f"{text}: {extack}" if extack else text


class RtnlSocket:
    """One NETLINK_ROUTE socket; not thread-safe: one caller at a time (the FIB's lock)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.sock = in_netns(netns, self._open)
        self._seq = 0
        self._seq_lock = threading.Lock()  # the loop thread and the worker both reserve
        # A send() may carry up to about the send buffer (netlink_sendmsg: EMSGSIZE).
        self.max_send = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
        self._buffer = bytearray(1 << 20)  # one datagram: an ACK or a dump part (<= 32 KiB)

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            sock.bind((0, 0))
            for force, plain in (
                (SO_SNDBUFFORCE, socket.SO_SNDBUF),
                (SO_RCVBUFFORCE, socket.SO_RCVBUF),
            ):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, force, _BUFFER)
                except PermissionError:  # not root: as much as net.core.*mem_max allows
                    sock.setsockopt(socket.SOL_SOCKET, plain, _BUFFER)
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        self.sock.close()

    def reserve(self, count: int) -> int:
        """Reserve ``count`` sequence numbers; return the first (they wrap at 2**32)."""
        with self._seq_lock:
            first = (self._seq + 1) & 0xFFFFFFFF
            self._seq = (self._seq + count) & 0xFFFFFFFF
        return first

    def execute(
        self, messages: Sequence[bytes], first_seq: int, per_send: int = 4096
    ) -> dict[int, tuple[int, str | None]]:
        """Send ``messages`` (message ``i`` carries sequence number ``first_seq + i``)
        ``per_send`` per ``send()`` and return ``{i: (errno, extended-ack text)}`` for
        the ones the kernel refused.

        The messages are built without NLM_F_ACK: the kernel answers a request without
        it only when it fails (``netlink_rcv_skb()``: ``if (flags & NLM_F_ACK || err)``),
        with the request's sequence number.  The last message of each send gets NLM_F_ACK
        as a barrier: its ACK comes after every error of the batch, because the kernel
        handles the messages of one send in order.  That saves one ``recv()`` per route
        (each ACK is a datagram of its own).
        """
        errors: dict[int, tuple[int, str | None]] = {}
        sock = self.sock
        start, total = 0, len(messages)
        while start < total:
            stop = min(total, start + per_send)
            chunk = list(messages[start:stop])
            while len(chunk) > 1 and sum(map(len, chunk)) > self.max_send:
                chunk = chunk[: len(chunk) // 2]  # EMSGSIZE above the send buffer
            stop = start + len(chunk)
            last = chunk[-1]
            flags = _FLAGS.unpack_from(last, 6)[0] | NLM_F_ACK
            chunk[-1] = last[:6] + _FLAGS.pack(flags) + last[8:]
            sock.send(b"".join(chunk))
            self._read_acks((first_seq + stop - 1) & 0xFFFFFFFF, first_seq, errors)
            start = stop
        return errors

    def _read_acks(
        self, barrier: int, first_seq: int, errors: dict[int, tuple[int, str | None]]
    ) -> None:
        """Read error messages until the answer to sequence number ``barrier``."""
        unpack_hdr = _NLMSGHDR.unpack_from
        buffer = self._buffer
        while True:
            size = self.sock.recv_into(buffer)
            data = buffer
            offset = 0
            done = False
            while offset + 16 <= size:
                length, kind, flags, seq, _pid = unpack_hdr(data, offset)
                if length < 16:
                    break
                if kind == NLMSG_ERROR:
                    code = unpack_err_code(data, offset + 16)
                    if code:
                        extack = None
                        if flags & NLM_F_ACK_TLVS:
                            # nlmsgerr: error (4) + the capped request header (16), then TLVs.
                            tlvs = parse_attrs(data, offset + 36, offset + length)
                            text = tlvs.get(NLMSGERR_ATTR_MSG)
                            if text is not None:
                                extack = bytes(text).rstrip(b"\0").decode(errors="replace")
                        errors[(seq - first_seq) & 0xFFFFFFFF] = (-code, extack)
                    if seq == barrier:
                        done = True
                offset += (length + 3) & ~3
            if done:
                return

    def dump(self, kind: int, header: bytes) -> Iterator[tuple[int, memoryview]]:
        """Dump request ``kind`` with family header ``header``; yield (type, payload).

        Payload views are of one received buffer and stay valid while referenced.
        """
        seq = self.reserve(1)
        self.sock.send(
            _NLMSGHDR.pack(16 + len(header), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + header
        )
        unpack_hdr = _NLMSGHDR.unpack_from
        while True:
            size = self.sock.recv_into(self._buffer)
            data = memoryview(bytes(self._buffer[:size]))
            offset, end = 0, len(data)
            while offset + 16 <= end:
                length, mtype, _flags, mseq, _pid = unpack_hdr(data, offset)
                if length < 16:
                    break
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return
                    if mtype == NLMSG_ERROR:
                        code = -unpack_err_code(data, offset + 16)
                        if code:
                            raise OSError(code, describe_error(code, None))
                        return
                    yield mtype, data[offset + 16 : offset + length]
                offset += (length + 3) & ~3

    def links(self) -> dict[str, int]:
        """Device name -> ifindex (RTM_GETLINK dump)."""
        found: dict[str, int] = {}
        ifinfomsg = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
        for mtype, payload in self.dump(RTM_GETLINK, ifinfomsg):
            if mtype != RTM_NEWLINK:
                continue
            index = struct.unpack_from("=i", payload, 4)[0]
            name = parse_attrs(payload, 16, len(payload)).get(IFLA_IFNAME)
            if name is not None:
                found[bytes(name).rstrip(b"\0").decode()] = index
        return found


def unpack_err_code(data: bytes | memoryview, offset: int) -> int:
    return struct.unpack_from("=i", data, offset)[0]
