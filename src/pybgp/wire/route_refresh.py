"""ROUTE-REFRESH (RFC 2918 3) and its Enhanced Route Refresh subtypes (RFC 7313 4)."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import IPV4_UNICAST, Family, MessageType
from .errors import MessageError, RouteRefreshSubcode

REFRESH = 0  # RFC 2918: a normal request
BEGIN_OF_ROUTE_REFRESH = 1  # RFC 7313 4: BoRR
END_OF_ROUTE_REFRESH = 2  # RFC 7313 4: EoRR
SUBTYPE_NAMES = {REFRESH: "refresh", BEGIN_OF_ROUTE_REFRESH: "borr", END_OF_ROUTE_REFRESH: "eorr"}


@dataclass(slots=True)
class RouteRefresh:
    afi: int = IPV4_UNICAST[0]
    safi: int = IPV4_UNICAST[1]
    subtype: int = REFRESH

    type = MessageType.ROUTE_REFRESH

    @property
    def family(self) -> Family:
        return (self.afi, self.safi)

    def encode(self, ctx: object = None) -> bytes:
        body = self.afi.to_bytes(2, "big") + bytes((self.subtype, self.safi))
        return b"\xff" * 16 + b"\x00\x17\x05" + body


def decode_route_refresh(body: bytes, message: bytes = b"") -> RouteRefresh:
    if len(body) != 4:
        # RFC 7313 5: a wrong length is a ROUTE-REFRESH Message Error; the data is the
        # whole message.
        raise MessageError(
            7, RouteRefreshSubcode.INVALID_MESSAGE_LENGTH, message, "ROUTE-REFRESH length"
        )
    # RFC 7313 4: an unknown subtype is ignored by the session; the codec keeps it.
    return RouteRefresh((body[0] << 8) | body[1], body[3], body[2])
