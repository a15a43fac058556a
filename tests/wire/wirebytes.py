"""Tiny hand-written builders and readers of wire bytes, independent of the codec.

The malformed-input table and a few round-trip checks need to write or read raw
octets without going through the encoder under test; these follow the RFC 4271 4
layouts directly.
"""

from __future__ import annotations

MARKER = b"\xff" * 16


def message(kind: int, body: bytes, length: int | None = None) -> bytes:
    """RFC 4271 4.1: marker, 2-octet length (the real one unless given), type."""
    total = 19 + len(body) if length is None else length
    return MARKER + total.to_bytes(2, "big") + bytes((kind,)) + body


def attr(flags: int, code: int, value: bytes) -> bytes:
    """RFC 4271 4.3 path attribute; Extended Length when the flags ask for it."""
    if flags & 0x10:
        return bytes((flags, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


def update_body(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    """RFC 4271 4.3 UPDATE body with correct length fields."""
    return (
        len(withdrawn).to_bytes(2, "big") + withdrawn + len(attrs).to_bytes(2, "big") + attrs + nlri
    )


def update(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    return message(2, update_body(withdrawn, attrs, nlri))


def as_path_value(segments: list[tuple[int, list[int]]], size: int) -> bytes:
    """AS_PATH / AS4_PATH value: type, count, ASNs of `size` octets (RFC 4271 4.3)."""
    out = b""
    for seg_type, asns in segments:
        out += bytes((seg_type, len(asns))) + b"".join(a.to_bytes(size, "big") for a in asns)
    return out


def read_attributes(wire: bytes) -> list[tuple[int, int, bytes]]:
    """(flags, code, value) of each path attribute of a whole UPDATE message."""
    body = wire[19:]
    wlen = int.from_bytes(body[0:2], "big")
    alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
    data = body[4 + wlen : 4 + wlen + alen]
    out = []
    i = 0
    while i < len(data):
        flags, code = data[i], data[i + 1]
        if flags & 0x10:
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            i += 4
        else:
            length = data[i + 2]
            i += 3
        out.append((flags, code, data[i : i + length]))
        i += length
    return out


# Well-formed attributes used as a base by the malformed-input table.
ORIGIN_IGP = attr(0x40, 1, b"\x00")
AS_PATH_4 = attr(0x40, 2, as_path_value([(2, [65001])], 4))  # AS_SEQUENCE 65001, 4-octet
AS_PATH_2 = attr(0x40, 2, as_path_value([(2, [65001])], 2))
NEXT_HOP = attr(0x40, 3, bytes((192, 0, 2, 1)))
NLRI_10_0_0 = b"\x18\x0a\x00\x00"  # 10.0.0.0/24
MANDATORY_4 = ORIGIN_IGP + AS_PATH_4 + NEXT_HOP
MANDATORY_2 = ORIGIN_IGP + AS_PATH_2 + NEXT_HOP
