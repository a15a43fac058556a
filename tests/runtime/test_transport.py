"""BGP TCP sockets on loopback: listeners, connect, TCP MD5 (RFC 2385), GTSM (RFC 5082).

Everything runs on 127.0.0.1 and ::1 and needs no root: TCP MD5 keys and the
TTL options are unprivileged. A wrong key or a failed TTL check makes the
kernel drop the SYN silently, so those cases show up as a connect timeout;
the timeout is short (FAIL_FAST) to keep the suite quick.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest

from pybgp.runtime import transport
from pybgp.runtime.transport import (
    IP_MINTTL,
    IPV6_MINHOPCOUNT,
    TransportError,
    accepted,
    connect,
    local_of,
    open_listener,
    peer_of,
    set_md5_key,
    set_ttl_security,
    tune,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sockets only")

FAIL_FAST = 0.5  # seconds a connect that the far kernel silently drops may take
KEY = "s3cret-bgp"


def _ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback_works(), reason="IPv6 loopback (::1) disabled")

LOOPBACKS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=needs_ipv6),
]


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Every socket a test registers here is closed afterwards, pass or fail."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


MakeListener = Callable[..., tuple[socket.socket, int]]


@pytest.fixture
def make_listener(sockets: list[socket.socket]) -> MakeListener:
    """open_listener(host, 0, **kwargs) -> (listener, its port), closed afterwards."""

    def make(host: str, **kwargs: Any) -> tuple[socket.socket, int]:
        listener = open_listener(host, 0, **kwargs)
        sockets.append(listener)
        return listener, local_of(listener)[1]

    return make


async def accept_one(listener: socket.socket) -> socket.socket:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(2):
        conn, _ = await loop.sock_accept(listener)
    return conn


async def exchange(a: socket.socket, b: socket.socket) -> None:
    """Data flows both ways between two connected sockets."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(2):
        await loop.sock_sendall(a, b"\xff" * 16 + b"ping")
        assert await recv_exactly(b, 20) == b"\xff" * 16 + b"ping"
        await loop.sock_sendall(b, b"pong")
        assert await recv_exactly(a, 4) == b"pong"


async def recv_exactly(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


async def connected_pair(
    listener: socket.socket, host: str, port: int, sockets: list[socket.socket], **kwargs: object
) -> tuple[socket.socket, socket.socket]:
    client_task = asyncio.ensure_future(connect(ip_address(host), port, **kwargs))  # type: ignore[arg-type]
    server = await accept_one(listener)
    sockets.append(server)
    client = await client_task
    sockets.append(client)
    return client, server


# ------------------------------------------------------------------ plain connections


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_listener_and_connect_exchange_data(host, make_listener, sockets) -> None:
    listener, port = make_listener(host)
    client, server = await connected_pair(listener, host, port, sockets, timeout=2)
    accepted(server, None)
    await exchange(client, server)
    assert peer_of(client) == (ip_address(host), port)
    assert peer_of(server) == local_of(client)
    assert local_of(server) == (ip_address(host), port)


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_connect_binds_local_address(host, make_listener, sockets) -> None:
    listener, port = make_listener(host)
    client, server = await connected_pair(
        listener, host, port, sockets, local_address=ip_address(host), timeout=2
    )
    assert local_of(client)[0] == ip_address(host)
    assert peer_of(server)[0] == ip_address(host)


def test_uvloop_connect(sockets) -> None:
    """The daemon may run on uvloop: connect() and sock_accept work there too."""
    uvloop = pytest.importorskip("uvloop")
    listener = open_listener("127.0.0.1", 0, md5=[(IPv4Address("127.0.0.1"), KEY)])
    sockets.append(listener)
    port = local_of(listener)[1]

    async def main() -> None:
        client, server = await connected_pair(listener, "127.0.0.1", port, sockets, password=KEY)
        await exchange(client, server)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


# ------------------------------------------------------------------ tuning


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_tune_sets_bgp_socket_options(host, make_listener, sockets) -> None:
    listener, port = make_listener(host)
    client, server = await connected_pair(listener, host, port, sockets, timeout=2)
    accepted(server, None)
    for sock in (listener, client, server):
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        if sock.family == socket.AF_INET6:
            assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == 0xC0
        else:
            assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0xC0


def test_tune_turns_off_what_was_on() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tune(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


# ------------------------------------------------------------------ listeners


@needs_ipv6
def test_ipv6_listener_is_v6only(sockets) -> None:
    listener = open_listener("::1", 0)
    sockets.append(listener)
    assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1


@pytest.mark.parametrize(
    "host", ["198.18.0.1", pytest.param("2001:db8::1", marks=needs_ipv6)]
)  # documentation / benchmarking ranges, configured nowhere here; nothing is sent
def test_listener_binds_address_not_configured(host, sockets) -> None:
    listener = open_listener(host, 0)
    sockets.append(listener)
    assert local_of(listener)[0] == ip_address(host)


def test_listener_on_port_in_use_names_host_and_port(sockets) -> None:
    first = open_listener("127.0.0.1", 0)
    sockets.append(first)
    port = local_of(first)[1]
    with pytest.raises(TransportError) as info:
        open_listener("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "Address already in use" in str(info.value)
    assert info.value.errno == errno.EADDRINUSE


@needs_ipv6
def test_ipv6_listener_error_brackets_host(sockets) -> None:
    first = open_listener("::1", 0)
    sockets.append(first)
    port = local_of(first)[1]
    with pytest.raises(TransportError, match=rf"\[::1\]:{port}"):
        open_listener("::1", port)


def test_listener_rejects_hostname() -> None:
    with pytest.raises(TransportError, match=r"localhost:179.*not a numeric address"):
        open_listener("localhost", 179)


# ------------------------------------------------------------------ connect errors


async def test_connect_refused_names_both_ends(sockets) -> None:
    # Bound but not listening: the kernel answers a SYN with RST at once.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets.append(closed)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    with pytest.raises(TransportError) as info:
        await connect(
            IPv4Address("127.0.0.1"), port, local_address=IPv4Address("127.0.0.1"), timeout=2
        )
    assert str(info.value) == f"connect to 127.0.0.1:{port} from 127.0.0.1: Connection refused"
    assert info.value.errno == errno.ECONNREFUSED


@needs_ipv6
async def test_connect_family_mismatch() -> None:
    with pytest.raises(TransportError, match="address families differ"):
        await connect(IPv6Address("::1"), 179, local_address=IPv4Address("127.0.0.1"))


# ------------------------------------------------------------------ TCP MD5 (RFC 2385)


def test_md5sig_struct_layout() -> None:
    """struct tcp_md5sig is 216 octets; sockaddr_storage built by hand."""
    assert transport._MD5SIG.size == 128 + 1 + 1 + 2 + 4 + 80
    v4 = transport._sockaddr_storage(socket.AF_INET, IPv4Address("198.18.0.2"))
    assert len(v4) == 128
    assert struct.unpack_from("=H", v4)[0] == socket.AF_INET
    assert v4[2:8] == b"\0\0" + bytes([198, 18, 0, 2])
    assert v4[8:] == bytes(120)
    v6 = transport._sockaddr_storage(socket.AF_INET6, IPv6Address("2001:db8::2"))
    assert len(v6) == 128
    assert struct.unpack_from("=H", v6)[0] == socket.AF_INET6
    assert v6[2:8] == bytes(6)  # port, flowinfo
    assert v6[8:24] == IPv6Address("2001:db8::2").packed
    assert v6[24:] == bytes(104)  # scope id and padding


def test_md5_target_maps_ipv4_on_dual_stack() -> None:
    v6 = socket.AF_INET6
    assert transport._md5_target(v6, IPv4Address("198.18.0.2")) == (
        IPv6Address("::ffff:198.18.0.2"),
        32,
        False,
    )
    # The kernel wants the IPv4 prefix length for a mapped prefix key.
    assert transport._md5_target(v6, IPv4Network("198.18.0.0/15")) == (
        IPv6Address("::ffff:198.18.0.0"),
        15,
        True,
    )
    assert transport._md5_target(socket.AF_INET, IPv6Address("::ffff:198.18.0.2")) == (
        IPv4Address("198.18.0.2"),
        32,
        False,
    )


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_md5_matching_keys_connect(host, make_listener, sockets) -> None:
    listener, port = make_listener(host, md5=[(ip_address(host), KEY)])
    client, server = await connected_pair(listener, host, port, sockets, password=KEY, timeout=2)
    accepted(server, None)
    await exchange(client, server)


@pytest.mark.parametrize("host", LOOPBACKS)
@pytest.mark.parametrize(
    ("listener_key", "client_key"),
    [("right", "wrong"), ("right", None), (None, "right")],
    ids=["wrong-key", "listener-only", "client-only"],
)
async def test_md5_mismatch_times_out(host, listener_key, client_key, make_listener) -> None:
    md5 = [(ip_address(host), listener_key)] if listener_key else []
    _, port = make_listener(host, md5=md5)
    with pytest.raises(TimeoutError, match=r"no answer within 0\.5 s"):
        await connect(ip_address(host), port, password=client_key, timeout=FAIL_FAST)


@pytest.mark.parametrize(
    ("host", "network"),
    [
        pytest.param("127.0.0.1", IPv4Network("127.0.0.0/8"), id="ipv4"),
        pytest.param("::1", IPv6Network("::/64"), id="ipv6", marks=needs_ipv6),
    ],
)
async def test_md5_prefix_key(host, network, make_listener, sockets) -> None:
    listener, port = make_listener(host, md5=[(network, KEY)])
    client, server = await connected_pair(listener, host, port, sockets, password=KEY, timeout=2)
    await exchange(client, server)
    # The range key is enforced: an unsigned SYN from inside the range is dropped.
    with pytest.raises(TimeoutError):
        await connect(ip_address(host), port, timeout=FAIL_FAST)


async def test_md5_key_deleted(make_listener, sockets) -> None:
    listener, port = make_listener("127.0.0.1", md5=[(IPv4Network("127.0.0.0/8"), KEY)])
    set_md5_key(listener, IPv4Network("127.0.0.0/8"), None)
    set_md5_key(listener, IPv4Address("127.0.0.1"), "")  # never set: deleting is a no-op
    client, server = await connected_pair(listener, "127.0.0.1", port, sockets, timeout=2)
    await exchange(client, server)


@needs_ipv6
@pytest.mark.parametrize(
    "peer", [IPv4Address("127.0.0.1"), IPv4Network("127.0.0.0/8")], ids=["host", "prefix"]
)
async def test_md5_ipv4_peer_on_dual_stack_listener(peer, sockets) -> None:
    """An IPv4 peer on an AF_INET6 socket with V6ONLY off is keyed as ::ffff:a.b.c.d."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sockets.append(listener)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::ffff:127.0.0.1", 0))
    set_md5_key(listener, peer, KEY)
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    client, server = await connected_pair(listener, "127.0.0.1", port, sockets, password=KEY)
    assert server.getpeername()[0] == "::ffff:127.0.0.1"
    assert peer_of(server) == (IPv4Address("127.0.0.1"), local_of(client)[1])
    assert local_of(server) == (IPv4Address("127.0.0.1"), port)
    await exchange(client, server)
    with pytest.raises(TimeoutError):
        await connect(IPv4Address("127.0.0.1"), port, timeout=FAIL_FAST)


def test_md5_key_too_long() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(TransportError, match="81 octets"),
    ):
        set_md5_key(sock, IPv4Address("198.18.0.2"), "x" * 81)


def test_md5_ipv6_peer_on_ipv4_socket() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(TransportError, match=r"2001:db8::2: .* IPv4 socket"),
    ):
        set_md5_key(sock, IPv6Address("2001:db8::2"), KEY)


def test_md5_kernel_refusal_is_transport_error() -> None:
    # A UDP socket has no TCP options: the kernel says no, and we say who and why.
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(TransportError, match=r"TCP MD5 for 198\.18\.0\.2: kernel refused key \("),
    ):
        set_md5_key(sock, IPv4Address("198.18.0.2"), KEY)


# ------------------------------------------------------------------ GTSM (RFC 5082)


def _client_with_ttl(host: str, ttl: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    return sock


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_gtsm_listener_drops_low_ttl(host, make_listener, sockets) -> None:
    listener, port = make_listener(host, ttl_security=1)
    low = _client_with_ttl(host, 254)
    sockets.append(low)
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(FAIL_FAST):
            await loop.sock_connect(low, (host, port))
    # With TTL 255 (what connect(ttl_security=...) sends) the same listener answers.
    client, server = await connected_pair(listener, host, port, sockets, ttl_security=1, timeout=2)
    accepted(server, 1)
    await exchange(client, server)


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_gtsm_two_hops_accepts_ttl_254(host, make_listener, sockets) -> None:
    listener, port = make_listener(host, ttl_security=2)
    low = _client_with_ttl(host, 254)
    sockets.append(low)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(2):
        await loop.sock_connect(low, (host, port))
    sockets.append(await accept_one(listener))


@pytest.mark.parametrize("hops", [1, 2, 254])
def test_gtsm_socket_options_ipv4(hops) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        set_ttl_security(sock, hops)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 255
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 256 - hops


@needs_ipv6
def test_gtsm_socket_options_ipv6() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        set_ttl_security(sock, 1)
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 255
        assert sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT) == 255
        # Best effort for IPv4-mapped traffic on a dual-stack socket.
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 255


def test_gtsm_none_leaves_socket_alone() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 17)
        set_ttl_security(sock, None)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 17
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 0


@pytest.mark.parametrize("hops", [0, 255, -1])
def test_gtsm_rejects_bad_hop_count(hops) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ValueError, match=r"1\.\.254"),
    ):
        set_ttl_security(sock, hops)


def test_transport_error_is_oserror_with_errno() -> None:
    exc = TransportError("listen on 127.0.0.1:179: bind: Permission denied", errno.EACCES)
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EACCES
    assert str(exc) == "listen on 127.0.0.1:179: bind: Permission denied"
