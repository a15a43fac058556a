"""BGP's TCP sockets: listeners, outgoing connections, TCP MD5 and GTSM.

Everything here is Linux socket plumbing for the asyncio runtime; the runtime
owns the sockets once they are handed over. Python has no constants (and no
struct) for several of the options used, so they are spelt out below with the
values from the Linux UAPI headers (``linux/tcp.h``, ``linux/in.h``,
``linux/in6.h``).

Choices every BGP socket gets (:func:`tune`):

* Nagle stays on (``TCP_NODELAY`` = 0). BGP is bulk transfer of many small
  UPDATEs: Nagle packs them into full segments when a writer sends message by
  message, and its worst cost (one round trip or a delayed ACK, tens of
  milliseconds) is nothing beside hold timers in seconds and MRAI. A writer
  that already batches loses nothing either way.
* Traffic class CS6 (0xC0, "internetwork control", RFC 4594 3.2), as BIRD and
  FRR mark BGP, so queues on the path keep routing traffic ahead of data.
* ``SO_KEEPALIVE`` off: BGP has its own KEEPALIVE and hold timer
  (RFC 4271 4.4); TCP's probes (2 h by default) would only add noise.
* Non-blocking, as asyncio's ``sock_*`` calls need.
* ``TCP_NOTSENT_LOWAT`` at 64 KiB: the kernel takes more only once less than that is
  still unsent, so the session's priority queue (KEEPALIVE before UPDATEs) is not
  undone by megabytes of UPDATEs waiting in an autotuned socket buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "IPAddress",
    "IPNetwork",
    "TransportError",
    "accepted",
    "connect",
    "local_of",
    "open_listener",
    "peer_of",
    "set_max_ttl",
    "set_md5_key",
    "set_ttl_security",
    "syn_ttl",
    "tune",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# linux/tcp.h
TCP_MD5SIG = 14
TCP_MD5SIG_EXT = 32
TCP_MD5SIG_FLAG_PREFIX = 1
TCP_MD5SIG_MAXKEYLEN = 80
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)
TCP_SAVE_SYN = 27  # linux/tcp.h: keep the SYN of each connection a listener accepts
TCP_SAVED_SYN = 28  # read it back (network and TCP headers) from the accepted socket
NOTSENT_LOWAT = 64 * 1024  # unsent octets the kernel holds for one BGP socket
# linux/in.h, linux/in6.h
IP_FREEBIND = 15
IP_MINTTL = 21
IPV6_MINHOPCOUNT = 73

#: ToS / traffic class CS6 ("internetwork control"), RFC 4594 3.2.
TOS_CS6 = 0xC0
#: RFC 5082 3: a GTSM speaker sends every packet with the maximum TTL.
MAX_TTL = 255

# struct tcp_md5sig: sockaddr_storage (128 octets), u8 flags, u8 prefixlen,
# u16 keylen, u32 ifindex, 80-octet key; all in host byte order.
_MD5SIG = struct.Struct("=128sBBHI80s")
# struct sockaddr_in / sockaddr_in6: family in host order, port and address
# in network order.
_SOCKADDR_IN = struct.Struct("=H")
_PORT = struct.Struct("!H")
_SIN6_TAIL = struct.Struct("=I")  # sin6_flowinfo (network order) / sin6_scope_id


class TransportError(OSError):
    """A socket operation failed; the message says which one, for whom and why.

    ``errno`` carries the kernel's error number when there is one.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def _why(exc: OSError) -> str:
    """The errno text of an OSError ("Connection refused"), else its message.

    The errno's own text, not ``strerror``: asyncio puts "Connect call failed
    (addr)" there, which says less than the errno does.
    """
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _hostport(host: str | IPAddress, port: int) -> str:
    text = str(host)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


# ---------------------------------------------------------------- TCP MD5


def _sockaddr_storage(family: int, address: IPAddress) -> bytes:
    """A ``struct sockaddr_storage`` holding ``address`` (port 0), 128 octets."""
    if family == socket.AF_INET:
        raw = _SOCKADDR_IN.pack(socket.AF_INET) + _PORT.pack(0) + address.packed
    else:
        raw = (
            _SOCKADDR_IN.pack(socket.AF_INET6)
            + _PORT.pack(0)
            + _SIN6_TAIL.pack(0)
            + address.packed
            + _SIN6_TAIL.pack(0)
        )
    return raw.ljust(128, b"\0")


def _md5_target(family: int, peer: IPAddress | IPNetwork) -> tuple[IPAddress, int, bool]:
    """(address as the socket's family sees it, prefix length, is a prefix).

    An IPv4 peer on an AF_INET6 (dual-stack) socket is keyed as the IPv4-mapped
    address ::ffff:a.b.c.d; the kernel files such a key as IPv4 and, for a
    prefix, wants the IPv4 prefix length (at most 32), not 96 + it.
    """
    is_net = isinstance(peer, ipaddress.IPv4Network | ipaddress.IPv6Network)
    address = peer.network_address if is_net else peer
    prefixlen = peer.prefixlen if is_net else address.max_prefixlen
    # A mapped IPv6 peer is an IPv4 peer in disguise: unwrap it first.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        if is_net and prefixlen < 96:
            raise TransportError(f"TCP MD5 for {peer}: prefix spans beyond ::ffff:0:0/96")
        address = address.ipv4_mapped
        prefixlen = prefixlen - 96 if is_net else 32
    if isinstance(address, ipaddress.IPv4Address):
        if family == socket.AF_INET6:
            return (
                ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed),
                prefixlen,
                is_net,
            )
        return address, prefixlen, is_net
    if family != socket.AF_INET6:
        raise TransportError(
            f"TCP MD5 for {peer}: an IPv6 peer cannot be keyed on an IPv4 socket",
            errno.EAFNOSUPPORT,
        )
    return address, prefixlen, is_net


def set_md5_key(sock: socket.socket, peer: IPAddress | IPNetwork, key: str | None) -> None:
    """Install (or, with ``key`` None or "", delete) the TCP MD5 key for ``peer``.

    RFC 2385 2.0: every segment to and from ``peer`` carries an MD5 digest over
    the segment and the shared key; segments without a good one are dropped by
    the kernel. A network installs one key for the whole range
    (``TCP_MD5SIG_EXT`` with ``TCP_MD5SIG_FLAG_PREFIX``), for dynamic peers.
    Deleting a key that is not there is not an error.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        raise TransportError(f"TCP MD5 for {peer}: not an IP socket", errno.EAFNOSUPPORT)
    address, prefixlen, is_net = _md5_target(sock.family, peer)
    secret = (key or "").encode()
    # RFC 2385 leaves the key length open; Linux takes at most 80 octets.
    if len(secret) > TCP_MD5SIG_MAXKEYLEN:
        raise TransportError(
            f"TCP MD5 for {peer}: key is {len(secret)} octets, "
            f"the kernel takes at most {TCP_MD5SIG_MAXKEYLEN}",
            errno.EINVAL,
        )
    flags = TCP_MD5SIG_FLAG_PREFIX if is_net else 0
    option = TCP_MD5SIG_EXT if is_net else TCP_MD5SIG
    storage = _sockaddr_storage(sock.family, address)
    blob = _MD5SIG.pack(storage, flags, prefixlen if is_net else 0, len(secret), 0, secret)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, blob)
    except OSError as exc:
        if not secret and exc.errno == errno.ENOENT:
            return  # no key to delete: the state asked for already holds
        action = "kernel refused key" if secret else "kernel refused to delete key"
        raise TransportError(f"TCP MD5 for {peer}: {action} ({_why(exc)})", exc.errno) from exc


# ---------------------------------------------------------------- GTSM


def set_ttl_security(sock: socket.socket, hops: int | None) -> None:
    """Apply GTSM (RFC 5082) for a peer ``hops`` hops away; None leaves the socket as is.

    On an AF_INET6 socket the IPv4 options are set as well, best effort, for
    IPv4-mapped traffic on a dual-stack socket.
    """
    if hops is None:
        return
    # RFC 5082 3: the trusted radius is 1..254 hops (255 would accept anything).
    if not 1 <= hops <= 254:
        raise ValueError(f"GTSM hop count must be 1..254, not {hops}")
    # RFC 5082 3 (1): accept only TTL >= 255 - (hops - 1) = 256 - hops.
    _set_ttl_options(sock, 256 - hops, f"GTSM ({hops} hops)")


def set_max_ttl(sock: socket.socket) -> None:
    """Send with TTL (hop limit) 255 and accept anything: a listener shared by peers with
    and without GTSM, whose SYN-ACKs must pass a GTSM peer's check (RFC 5082 3)."""
    _set_ttl_options(sock, None, "TTL 255")


def _set_ttl_options(sock: socket.socket, min_ttl: int | None, what: str) -> None:
    v4 = [(socket.IPPROTO_IP, socket.IP_TTL, MAX_TTL, "TTL")]
    v6 = [(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, MAX_TTL, "hop limit")]
    if min_ttl is not None:
        v4.append((socket.IPPROTO_IP, IP_MINTTL, min_ttl, "minimum TTL"))
        v6.append((socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl, "minimum hop count"))
    if sock.family == socket.AF_INET:
        required, optional = v4, []
    elif sock.family == socket.AF_INET6:
        required, optional = v6, v4
    else:
        raise TransportError(f"{what}: not an IP socket", errno.EAFNOSUPPORT)
    for level, option, value, name in required:
        try:
            sock.setsockopt(level, option, value)
        except OSError as exc:
            raise TransportError(
                f"{what}: kernel refused {name} {value} ({_why(exc)})", exc.errno
            ) from exc
    for level, option, value, _ in optional:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)


# ---------------------------------------------------------------- tuning


def tune(sock: socket.socket) -> None:
    """What every BGP socket gets; see the module docstring for the why."""
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
            # For IPv4-mapped traffic on a dual-stack socket; harmless otherwise.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
        if sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            # Keep the kernel's queue of unsent octets short, so a KEEPALIVE written now
            # leaves soon even while a large table streams to a slow peer.
            sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
    except OSError as exc:
        raise TransportError(f"tuning BGP socket: {_why(exc)}", exc.errno) from exc


# ---------------------------------------------------------------- addresses


def _resolve(host: str, port: int, passive: bool) -> tuple[int, tuple[object, ...]]:
    """(family, sockaddr) for a numeric host; scoped IPv6 ("fe80::1%eth0") works."""
    flags = socket.AI_NUMERICHOST | (socket.AI_PASSIVE if passive else 0)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _unmap(host: str) -> IPAddress:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_of(sock: socket.socket) -> tuple[IPAddress, int]:
    """The remote (address, port), with IPv4-mapped IPv6 turned back into IPv4."""
    name = sock.getpeername()
    return _unmap(name[0]), name[1]


def local_of(sock: socket.socket) -> tuple[IPAddress, int]:
    """The local (address, port), with IPv4-mapped IPv6 turned back into IPv4."""
    name = sock.getsockname()
    return _unmap(name[0]), name[1]


# ---------------------------------------------------------------- listeners


@contextlib.contextmanager
def _closed_on_failure(
    sock: socket.socket, where: str, step: Callable[[], str] | None = None
) -> Iterator[None]:
    """Close `sock` if the block fails; a kernel error becomes a TransportError that says
    `where` (and `step()`, the operation under way) and why.  Timeouts pass as they are."""
    try:
        yield
    except TransportError as exc:
        sock.close()
        raise TransportError(f"{where}: {exc}", exc.errno) from exc
    except TimeoutError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        doing = f"{step()}: " if step is not None else ""
        raise TransportError(f"{where}: {doing}{_why(exc)}", exc.errno) from exc
    except BaseException:
        sock.close()
        raise


def open_listener(
    host: str,
    port: int,
    md5: Sequence[tuple[IPAddress | IPNetwork, str]] = (),
    backlog: int = 64,
    ttl_security: int | None = None,
    max_ttl: bool = False,
    save_syn: bool = False,
) -> socket.socket:
    """A non-blocking BGP listening socket on ``host``:``port``.

    ``md5`` keys are installed before listen(), so no unsigned SYN is ever
    answered for a keyed peer. ``ttl_security`` applies GTSM to every
    connection: IP_MINTTL on a listener filters SYNs, while on an accepted
    socket it only filters later segments.  ``max_ttl`` only sends with TTL 255
    (SYN-ACKs included), for a listener some of whose peers use GTSM, and
    ``save_syn`` keeps each SYN so that `accepted` can check its TTL.
    """
    where = _hostport(host, port)
    try:
        family, sockaddr = _resolve(host, port, passive=True)
    except (OSError, UnicodeError) as exc:
        raise TransportError(f"listen on {where}: not a numeric address ({exc})") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    step = "socket options"
    with _closed_on_failure(sock, f"listen on {where}", lambda: step):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # IPv4 gets its own listener, so "0.0.0.0" and "::" can both be bound.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # An address not configured yet (a floating or late address) can be bound.
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        tune(sock)
        for peer, key in md5:
            set_md5_key(sock, peer, key)
        set_ttl_security(sock, ttl_security)
        if max_ttl and ttl_security is None:
            set_max_ttl(sock)
        if save_syn:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)
        step = "bind"
        sock.bind(sockaddr)
        step = "listen"
        sock.listen(backlog)
    return sock


def syn_ttl(sock: socket.socket) -> int | None:
    """The TTL (hop limit) the connection's SYN arrived with, if the listener saved it."""
    try:
        syn = sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512)
    except OSError:
        return None
    if len(syn) >= 20 and syn[0] >> 4 == 4:
        return syn[8]  # IPv4 header: Time to Live
    if len(syn) >= 40 and syn[0] >> 4 == 6:
        return syn[7]  # IPv6 header: Hop Limit
    return None


def accepted(sock: socket.socket, ttl_security: int | None) -> None:
    """Per-connection setup after accept(): tuning and GTSM for that peer.

    A listener shared with peers that do not use GTSM cannot filter SYNs by TTL, so
    the SYN it saved (`open_listener(save_syn=True)`) is checked here, before anything
    the peer sent is read: RFC 5082 3 wants no packet from too far away accepted.
    Raises TransportError when the SYN fails the check.  The MD5 key needs nothing
    here: the kernel copies the listener's key for the peer onto the new socket.
    """
    tune(sock)
    if ttl_security is not None:
        ttl = syn_ttl(sock)
        least = 256 - ttl_security
        if ttl is not None and ttl < least:
            raise TransportError(
                f"GTSM: the SYN arrived with TTL {ttl}; {ttl_security} hop(s) means "
                f"{least} or more (RFC 5082 3)"
            )
    set_ttl_security(sock, ttl_security)


# ---------------------------------------------------------------- connect


async def connect(
    address: IPAddress,
    port: int,
    *,
    local_address: IPAddress | None = None,
    password: str | None = None,
    ttl_security: int | None = None,
    timeout: float = 10.0,
) -> socket.socket:
    """Open a BGP connection to ``address``:``port``; returns the connected socket.

    Raises TransportError when the kernel refuses (its errno text in the
    message) and TimeoutError when no answer came within ``timeout`` seconds,
    which is also how a wrong MD5 key or a failed GTSM check looks: the
    far side drops our segments silently.
    """
    where = f"connect to {_hostport(address, port)}"
    if local_address is not None:
        where += f" from {local_address}"
    try:
        family, sockaddr = _resolve(str(address), port, passive=False)
    except (OSError, UnicodeError) as exc:
        raise TransportError(f"{where}: bad address ({exc})") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    with _closed_on_failure(sock, where):
        tune(sock)
        if local_address is not None:
            local_family, local = _resolve(str(local_address), 0, passive=False)
            if local_family != family:
                raise TransportError("address families differ", errno.EAFNOSUPPORT)
            sock.bind(local)
        if password:
            set_md5_key(sock, address, password)
        set_ttl_security(sock, ttl_security)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, sockaddr)
        except TimeoutError as exc:
            raise TimeoutError(f"{where}: no answer within {timeout:g} s") from exc
    return sock
