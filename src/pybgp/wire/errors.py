"""The codec's typed errors and the RFC 7606 error-handling actions.

Decoding bytes from a peer never raises anything but `WireError` subclasses:

* `MessageError` carries the NOTIFICATION the RFC names (code, subcode, data); the
  session sends it and resets ("session reset", RFC 7606 2).
* `FamilyError` is a `MessageError` for which RFC 7606 also allows disabling just one
  AFI/SAFI (RFC 4760 7) instead of resetting the whole session.

The two gentler actions do not raise: the decoder applies them and records an
`AttributeIssue` on the returned UPDATE ("treat-as-withdraw", "attribute discard").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class ErrorCode(IntEnum):
    """RFC 4271 4.5 NOTIFICATION error codes, plus RFC 7313 5."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH_MESSAGE = 7


class HeaderSubcode(IntEnum):
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(IntEnum):
    UNSUPPORTED_VERSION_NUMBER = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7  # RFC 5492 5
    ROLE_MISMATCH = 11  # RFC 9234 4.2


class UpdateSubcode(IntEnum):
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):  # RFC 6608 4
    UNEXPECTED_MESSAGE_IN_OPENSENT = 1
    UNEXPECTED_MESSAGE_IN_OPENCONFIRM = 2
    UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):  # RFC 4486 4, RFC 8538 5, RFC 9384 3
    MAXIMUM_NUMBER_OF_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


class RouteRefreshSubcode(IntEnum):  # RFC 7313 5
    INVALID_MESSAGE_LENGTH = 1


SUBCODES: dict[int, type[IntEnum]] = {
    ErrorCode.MESSAGE_HEADER: HeaderSubcode,
    ErrorCode.OPEN_MESSAGE: OpenSubcode,
    ErrorCode.UPDATE_MESSAGE: UpdateSubcode,
    ErrorCode.FSM: FsmSubcode,
    ErrorCode.CEASE: CeaseSubcode,
    ErrorCode.ROUTE_REFRESH_MESSAGE: RouteRefreshSubcode,
}


CODE_NAMES = {
    ErrorCode.MESSAGE_HEADER: "Message Header Error",
    ErrorCode.OPEN_MESSAGE: "OPEN Message Error",
    ErrorCode.UPDATE_MESSAGE: "UPDATE Message Error",
    ErrorCode.HOLD_TIMER_EXPIRED: "Hold Timer Expired",
    ErrorCode.FSM: "Finite State Machine Error",
    ErrorCode.CEASE: "Cease",
    ErrorCode.ROUTE_REFRESH_MESSAGE: "ROUTE-REFRESH Message Error",
}
_WORD_FIXES = {
    "As": "AS",
    "Path": "PATH",
    "Bgp": "BGP",
    "Bfd": "BFD",
    "Opensent": "OpenSent",
    "Openconfirm": "OpenConfirm",
}


def _subcode_words(member: IntEnum) -> str:
    words = [_WORD_FIXES.get(w, w) for w in member.name.title().split("_")]
    return " ".join(words).replace("AS PATH", "AS_PATH")


def error_name(code: int, subcode: int) -> str:
    """'UPDATE Message Error / Malformed AS_PATH', as people read it in logs."""
    head = CODE_NAMES.get(code, f"Error code {code}")  # type: ignore[call-overload]
    if subcode == 0:
        return head
    table = SUBCODES.get(code)
    if table is not None and subcode in table._value2member_map_:
        return f"{head} / {_subcode_words(table(subcode))}"
    return f"{head} / subcode {subcode}"


class Action(Enum):
    """RFC 7606 2: the four ways to handle a malformed UPDATE, most severe first."""

    SESSION_RESET = "session-reset"
    AFI_SAFI_DISABLE = "afi-safi-disable"
    TREAT_AS_WITHDRAW = "treat-as-withdraw"
    ATTRIBUTE_DISCARD = "attribute-discard"


class WireError(Exception):
    """Base of every error the codec raises for bad input."""


class MessageError(WireError):
    """A malformed message whose handling is a NOTIFICATION and a session reset."""

    action = Action.SESSION_RESET

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.reason = reason or error_name(code, subcode)
        super().__init__(f"{self.reason} ({self.code}/{self.subcode})")


class FamilyError(MessageError):
    """RFC 7606 5.3 / RFC 4760 7: an MP attribute that cannot be parsed.

    The session may disable (afi, safi) instead of resetting; the NOTIFICATION
    fields are there for a speaker that prefers the reset.
    """

    action = Action.AFI_SAFI_DISABLE

    def __init__(
        self, afi: int, safi: int, code: int, subcode: int, data: bytes = b"", reason: str = ""
    ) -> None:
        super().__init__(code, subcode, data, reason)
        self.afi = afi
        self.safi = safi


class EncodeError(ValueError):
    """The caller asked to encode something that does not fit the wire format."""


@dataclass(frozen=True, slots=True)
class AttributeIssue:
    """One RFC 7606 action the decoder applied to an UPDATE instead of resetting.

    `code`/`subcode` are what a NOTIFICATION would have said (for logs and counters).
    """

    action: Action
    attribute: int
    subcode: int
    reason: str


class AttributeMalformed(Exception):
    """Raised by an attribute decoder; the registry row decides the action."""

    def __init__(self, subcode: int, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
