"""NOTIFICATION (RFC 4271 4.5) with the shutdown communication of RFC 8203 / RFC 9003."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import MessageType
from .errors import CeaseSubcode, ErrorCode, MessageError, error_name

# RFC 9003 2: the communication is up to 255 octets of UTF-8 (RFC 8203 allowed 128).
MAX_SHUTDOWN_MESSAGE = 255
_SHUTDOWN_SUBCODES = (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET)


@dataclass(slots=True)
class Notification:
    code: int
    subcode: int = 0
    data: bytes = b""

    type = MessageType.NOTIFICATION

    @classmethod
    def shutdown(
        cls, message: str = "", subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN
    ) -> Notification:
        """Cease / Administrative Shutdown (or Reset) with an RFC 9003 communication."""
        text = message.encode("utf-8")
        if len(text) > MAX_SHUTDOWN_MESSAGE:
            # Cut on a character boundary so the text stays valid UTF-8.
            text = text[:MAX_SHUTDOWN_MESSAGE].decode("utf-8", "ignore").encode("utf-8")
        return cls(ErrorCode.CEASE, subcode, bytes((len(text),)) + text if text else b"")

    @classmethod
    def from_error(cls, error: MessageError) -> Notification:
        return cls(error.code, error.subcode, error.data)

    @property
    def name(self) -> str:
        return error_name(self.code, self.subcode)

    @property
    def shutdown_message(self) -> str | None:
        """The RFC 9003 communication, or None when there is none (or it is invalid)."""
        if self.code != ErrorCode.CEASE or self.subcode not in _SHUTDOWN_SUBCODES:
            return None
        if not self.data:
            return None
        length = self.data[0]
        if length == 0 or length + 1 > len(self.data) or length > MAX_SHUTDOWN_MESSAGE:
            return None
        try:
            return self.data[1 : 1 + length].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def encode(self, ctx: object = None) -> bytes:
        body = bytes((self.code, self.subcode)) + self.data
        return b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + b"\x03" + body


def decode_notification(body: bytes) -> Notification:
    # Length at least 21 is checked by the framing (RFC 4271 6.1).
    return Notification(body[0], body[1], body[2:])
