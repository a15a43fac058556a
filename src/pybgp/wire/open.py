"""OPEN messages: RFC 4271 4.2, capabilities in optional parameters (RFC 5492 4), and
extended optional parameters for long capability lists (RFC 9072 2).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from .capabilities import (
    Capability,
    CapabilityError,
    FourOctetAs,
    decode_capabilities,
)
from .constants import (
    AS_TRANS,
    BGP_VERSION,
    OPT_PARAM_CAPABILITIES,
    OPT_PARAM_EXTENDED,
    MessageType,
)
from .errors import EncodeError, MessageError, OpenSubcode

_FIXED = struct.Struct("!BHH4s")  # version, my AS, hold time, BGP identifier


@dataclass(slots=True)
class Open:
    my_as: int  # the 2-octet field: AS_TRANS when the real AS needs 4 octets
    hold_time: int
    bgp_id: str  # dotted quad
    capabilities: list[Capability] = field(default_factory=list)
    version: int = BGP_VERSION
    # Optional parameters other than capabilities, (type, value): RFC 4271 6.2 says
    # the session answers them with Unsupported Optional Parameter.
    other_parameters: list[tuple[int, bytes]] = field(default_factory=list)

    type = MessageType.OPEN

    @classmethod
    def for_speaker(
        cls, asn: int, hold_time: int, bgp_id: str, capabilities: list[Capability]
    ) -> Open:
        """An OPEN for `asn`, with AS_TRANS and a Four-Octet AS capability as needed."""
        caps = list(capabilities)
        if not any(isinstance(c, FourOctetAs) for c in caps):
            caps.append(FourOctetAs(asn))
        return cls(asn if asn <= 0xFFFF else AS_TRANS, hold_time, bgp_id, caps)

    @property
    def asn(self) -> int:
        """The speaker's AS: the Four-Octet AS capability's when present (RFC 6793 4.1)."""
        for cap in self.capabilities:
            if isinstance(cap, FourOctetAs):
                return cap.asn
        return self.my_as

    def capability(self, kind: type[Capability]) -> Iterator[Capability]:
        return (cap for cap in self.capabilities if isinstance(cap, kind))

    def encode(self, ctx: object = None) -> bytes:
        caps = b"".join(cap.encode() for cap in self.capabilities)
        params = [(OPT_PARAM_CAPABILITIES, caps)] if caps else []
        params += self.other_parameters
        # The classic form only when every value fits a one-octet Parameter Length.
        fits = all(len(value) <= 255 for _, value in params)
        short = b"".join(bytes((kind, len(v))) + v for kind, v in params) if fits else b""
        if fits and len(short) <= 255:
            opt = bytes((len(short),)) + short
        else:
            # RFC 9072 2: Non-Ext OP Len 255, Non-Ext OP Type 255, then a 2-octet length
            # and parameters with 2-octet lengths.
            long = b"".join(bytes((kind,)) + len(v).to_bytes(2, "big") + v for kind, v in params)
            if len(long) > 0xFFFF:
                raise EncodeError("optional parameters exceed 65535 octets")
            opt = bytes((255, OPT_PARAM_EXTENDED)) + len(long).to_bytes(2, "big") + long
        fixed = _FIXED.pack(
            self.version, self.my_as, self.hold_time, ipaddress.IPv4Address(self.bgp_id).packed
        )
        body = fixed + opt
        total = 19 + len(body)
        if total > 4096:  # RFC 8654 4: an OPEN never exceeds 4096 octets.
            raise EncodeError(f"OPEN of {total} octets exceeds 4096")
        return b"\xff" * 16 + total.to_bytes(2, "big") + b"\x01" + body


def _open_error(subcode: int, reason: str, data: bytes = b"") -> MessageError:
    return MessageError(2, subcode, data, reason)


def decode_open(body: bytes) -> Open:
    """RFC 4271 6.2 checks that need no configuration; the session does the rest."""
    if len(body) < 10:
        raise MessageError(1, 2, (19 + len(body)).to_bytes(2, "big"), "OPEN too short")
    version, my_as, hold_time, bgp_id = _FIXED.unpack_from(body)
    opt_len = body[9]
    if version != BGP_VERSION:
        # RFC 4271 6.2: the data is the largest version we support.
        raise _open_error(
            OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
            f"BGP version {version}",
            BGP_VERSION.to_bytes(2, "big"),
        )
    params = body[10:]
    if opt_len != 0 and len(params) > 0 and params[0] == OPT_PARAM_EXTENDED:
        # RFC 9072 2: extended optional parameters.  A non-zero Non-Ext OP Len means the
        # Non-Ext OP Type decides the encoding; the Non-Ext OP Len value is then ignored.
        if len(params) < 3:
            raise _open_error(0, "extended optional parameters length missing")
        ext_len = int.from_bytes(params[1:3], "big")
        params = params[3:]
        if ext_len != len(params):
            raise _open_error(0, "extended optional parameters length mismatch")
        header = 3  # type, 2-octet length
    else:
        if opt_len != len(params):
            raise _open_error(0, "optional parameters length mismatch")
        header = 2  # type, 1-octet length
    message = Open(my_as, hold_time, str(ipaddress.IPv4Address(bgp_id)))
    i = 0
    while i < len(params):
        if i + header > len(params):
            raise _open_error(0, "optional parameter header overruns OPEN")
        kind = params[i]
        plen = int.from_bytes(params[i + 1 : i + header], "big")
        value = params[i + header : i + header + plen]
        if len(value) != plen:
            raise _open_error(0, "optional parameter overruns OPEN")
        i += header + plen
        if kind == OPT_PARAM_CAPABILITIES:
            try:
                message.capabilities.extend(decode_capabilities(value))
            except CapabilityError as exc:
                raise _open_error(0, f"malformed capability: {exc}") from None
        else:
            message.other_parameters.append((kind, value))
    return message
