"""Capabilities (RFC 5492): one class per code, each with its own encode and decode.

A capability this codec does not know is kept as `UnknownCapability` and round-trips
byte for byte.  A known capability whose value is malformed raises `CapabilityError`,
which the OPEN decoder turns into an OPEN Message Error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .constants import CapabilityCode as Code
from .errors import WireError

# BGP Role values (RFC 9234 4.1).
ROLE_NAMES = {0: "provider", 1: "rs", 2: "rs-client", 3: "customer", 4: "peer"}
# ADD-PATH Send/Receive field (RFC 7911 4).
ADDPATH_RECEIVE = 1
ADDPATH_SEND = 2
ADDPATH_BOTH = 3
ADDPATH_NAMES = {1: "receive", 2: "send", 3: "send/receive"}


class CapabilityError(WireError):
    """A known capability with a value that does not parse."""


class Capability:
    """Base class: `code` and `encode_value()`; `decode(value)` builds one."""

    code: ClassVar[int]
    name: ClassVar[str]

    def encode_value(self) -> bytes:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def encode(self) -> bytes:
        value = self.encode_value()
        if len(value) > 255:
            raise CapabilityError(f"{self.name} value is {len(value)} octets, more than 255")
        return bytes((self.code, len(value))) + value


def _exact(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise CapabilityError(f"{name}: length {len(value)}, expected {size}")


def _multiple(value: bytes, size: int, name: str) -> None:
    if len(value) % size:
        raise CapabilityError(f"{name}: length {len(value)} is not a multiple of {size}")


def _pack_all(fmt: str, entries: tuple[tuple[int, ...], ...]) -> bytes:
    return b"".join(struct.pack(fmt, *entry) for entry in entries)


def _unpack_all(fmt: str, value: bytes, name: str) -> tuple[Any, ...]:
    """Fixed-size entries, one after another (a per-family list)."""
    _multiple(value, struct.calcsize(fmt), name)
    return tuple(struct.iter_unpack(fmt, value))


class _Flag(Capability):
    """A capability whose presence is all it says: an empty value."""

    def encode_value(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, value: bytes) -> _Flag:
        _exact(value, 0, cls.name)
        return cls()


@dataclass(frozen=True, slots=True)
class Multiprotocol(Capability):
    """RFC 4760 8: one family this speaker can carry."""

    afi: int
    safi: int
    code: ClassVar[int] = Code.MULTIPROTOCOL
    name: ClassVar[str] = "multiprotocol"

    def encode_value(self) -> bytes:
        return struct.pack("!HBB", self.afi, 0, self.safi)

    @classmethod
    def decode(cls, value: bytes) -> Multiprotocol:
        _exact(value, 4, cls.name)
        afi, _, safi = struct.unpack("!HBB", value)
        return cls(afi, safi)


@dataclass(frozen=True, slots=True)
class RouteRefresh(_Flag):
    """RFC 2918 2."""

    code: ClassVar[int] = Code.ROUTE_REFRESH
    name: ClassVar[str] = "route-refresh"


@dataclass(frozen=True, slots=True)
class EnhancedRouteRefresh(_Flag):
    """RFC 7313 3."""

    code: ClassVar[int] = Code.ENHANCED_ROUTE_REFRESH
    name: ClassVar[str] = "enhanced-route-refresh"


@dataclass(frozen=True, slots=True)
class ExtendedMessage(_Flag):
    """RFC 8654 3."""

    code: ClassVar[int] = Code.EXTENDED_MESSAGE
    name: ClassVar[str] = "extended-message"


@dataclass(frozen=True, slots=True)
class ExtendedNextHop(Capability):
    """RFC 8950 3: (NLRI AFI, NLRI SAFI, next-hop AFI) triples."""

    entries: tuple[tuple[int, int, int], ...]
    code: ClassVar[int] = Code.EXTENDED_NEXT_HOP
    name: ClassVar[str] = "extended-next-hop"

    def encode_value(self) -> bytes:
        return _pack_all("!HHH", self.entries)

    @classmethod
    def decode(cls, value: bytes) -> ExtendedNextHop:
        return cls(_unpack_all("!HHH", value, cls.name))


@dataclass(frozen=True, slots=True)
class Role(Capability):
    """RFC 9234 4.1: this speaker's role on the session."""

    role: int
    code: ClassVar[int] = Code.ROLE
    name: ClassVar[str] = "role"

    def encode_value(self) -> bytes:
        return bytes((self.role,))

    @classmethod
    def decode(cls, value: bytes) -> Role:
        _exact(value, 1, cls.name)
        return cls(value[0])


@dataclass(frozen=True, slots=True)
class GracefulRestart(Capability):
    """RFC 4724 3: restart flags (R, N bits), restart time, and per-family F bits."""

    restart_flags: int  # the 4 high bits: 0x8 Restart State, 0x4 Notification (RFC 8538)
    restart_time: int  # seconds, 12 bits
    families: tuple[tuple[int, int, int], ...] = ()  # (afi, safi, flags; 0x80 = F bit)
    code: ClassVar[int] = Code.GRACEFUL_RESTART
    name: ClassVar[str] = "graceful-restart"

    def encode_value(self) -> bytes:
        head = ((self.restart_flags & 0xF) << 12 | (self.restart_time & 0xFFF)).to_bytes(2, "big")
        return head + _pack_all("!HBB", self.families)

    @classmethod
    def decode(cls, value: bytes) -> GracefulRestart:
        if len(value) < 2 or (len(value) - 2) % 4:
            raise CapabilityError(f"{cls.name}: length {len(value)} is not 2 + 4n")
        head = int.from_bytes(value[:2], "big")
        return cls(head >> 12, head & 0xFFF, _unpack_all("!HBB", value[2:], cls.name))


@dataclass(frozen=True, slots=True)
class FourOctetAs(Capability):
    """RFC 6793 3: this speaker's 4-octet AS number."""

    asn: int
    code: ClassVar[int] = Code.FOUR_OCTET_AS
    name: ClassVar[str] = "four-octet-as"

    def encode_value(self) -> bytes:
        return self.asn.to_bytes(4, "big")

    @classmethod
    def decode(cls, value: bytes) -> FourOctetAs:
        _exact(value, 4, cls.name)
        return cls(int.from_bytes(value, "big"))


@dataclass(frozen=True, slots=True)
class AddPath(Capability):
    """RFC 7911 4: (afi, safi, send/receive) per family."""

    entries: tuple[tuple[int, int, int], ...]
    code: ClassVar[int] = Code.ADD_PATH
    name: ClassVar[str] = "add-path"

    def encode_value(self) -> bytes:
        return _pack_all("!HBB", self.entries)

    @classmethod
    def decode(cls, value: bytes) -> AddPath:
        entries = _unpack_all("!HBB", value, cls.name)
        for afi, safi, mode in entries:
            if mode not in ADDPATH_NAMES:
                raise CapabilityError(f"{cls.name}: send/receive value {mode} for {afi}/{safi}")
        return cls(entries)


@dataclass(frozen=True, slots=True)
class LongLivedGracefulRestart(Capability):
    """RFC 9494 3: (afi, safi, flags, long-lived stale time in seconds) per family."""

    families: tuple[tuple[int, int, int, int], ...]
    code: ClassVar[int] = Code.LONG_LIVED_GRACEFUL_RESTART
    name: ClassVar[str] = "long-lived-graceful-restart"

    def encode_value(self) -> bytes:
        return b"".join(
            struct.pack("!HBB", afi, safi, flags) + stale.to_bytes(3, "big")
            for afi, safi, flags, stale in self.families
        )

    @classmethod
    def decode(cls, value: bytes) -> LongLivedGracefulRestart:
        _multiple(value, 7, cls.name)
        families = tuple(
            (*struct.unpack("!HBB", value[i : i + 4]), int.from_bytes(value[i + 4 : i + 7], "big"))
            for i in range(0, len(value), 7)
        )
        return cls(families)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Fqdn(Capability):
    """draft-walton-bgp-hostname-capability: host and domain name (FRR sends it)."""

    hostname: str
    domain: str = ""
    code: ClassVar[int] = Code.FQDN
    name: ClassVar[str] = "fqdn"

    def encode_value(self) -> bytes:
        host = self.hostname.encode()
        domain = self.domain.encode()
        return bytes((len(host),)) + host + bytes((len(domain),)) + domain

    @classmethod
    def decode(cls, value: bytes) -> Fqdn:
        if not value or 1 + value[0] > len(value):
            raise CapabilityError(f"{cls.name}: host name overruns the capability")
        host_end = 1 + value[0]
        host = value[1:host_end]
        domain = b""
        if host_end < len(value):
            dlen = value[host_end]
            if host_end + 1 + dlen > len(value):
                raise CapabilityError(f"{cls.name}: domain name overruns the capability")
            domain = value[host_end + 1 : host_end + 1 + dlen]
        return cls(host.decode("utf-8", "replace"), domain.decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class UnknownCapability(Capability):
    """Any other code, kept raw (RFC 5492 3: ignore what you do not understand)."""

    unknown_code: int
    value: bytes
    name: ClassVar[str] = "unknown"

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.unknown_code

    def encode_value(self) -> bytes:
        return self.value

    def encode(self) -> bytes:
        return bytes((self.unknown_code, len(self.value))) + self.value


CAPABILITIES: dict[int, Callable[[bytes], Capability]] = {
    cls.code: cls.decode  # type: ignore[attr-defined]
    for cls in (
        Multiprotocol,
        RouteRefresh,
        ExtendedNextHop,
        ExtendedMessage,
        Role,
        GracefulRestart,
        FourOctetAs,
        AddPath,
        EnhancedRouteRefresh,
        LongLivedGracefulRestart,
        Fqdn,
    )
}


def decode_capabilities(data: bytes) -> list[Capability]:
    """The capabilities inside one Capabilities optional parameter (RFC 5492 4)."""
    found: list[Capability] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise CapabilityError("capability header runs past the parameter")
        code = data[i]
        end = i + 2 + data[i + 1]
        if end > len(data):
            raise CapabilityError(f"capability {code} runs past the parameter")
        value = data[i + 2 : end]
        decode = CAPABILITIES.get(code)
        found.append(decode(value) if decode else UnknownCapability(code, value))
        i = end
    return found
