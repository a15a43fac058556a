"""AS_PATH segments: decode, encode, and the RFC 6793 dance with 2-octet speakers.

A path is a tuple of segments, each `(segment_type, (asn, ...))`, in wire order.
"""

from __future__ import annotations

import struct

from .constants import AS_CONFED_SEQUENCE, AS_CONFED_SET, AS_SEQUENCE, AS_SET, AS_TRANS
from .errors import AttributeMalformed, UpdateSubcode

Segment = tuple[int, tuple[int, ...]]
AsPath = tuple[Segment, ...]

_SEGMENT_TYPES = (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET)
_CONFED = (AS_CONFED_SEQUENCE, AS_CONFED_SET)


def decode_as_path(data: bytes, asn_size: int) -> AsPath:
    """RFC 4271 4.3 and RFC 7606 7.2: any inconsistency is a malformed AS_PATH."""
    segments: list[Segment] = []
    fmt = "!H" if asn_size == 2 else "!I"
    i = 0
    n = len(data)
    while i < n:
        if i + 2 > n:
            raise AttributeMalformed(UpdateSubcode.MALFORMED_AS_PATH, "truncated segment header")
        seg_type = data[i]
        count = data[i + 1]
        if seg_type not in _SEGMENT_TYPES:
            raise AttributeMalformed(
                UpdateSubcode.MALFORMED_AS_PATH, f"unknown segment type {seg_type}"
            )
        if count == 0:
            raise AttributeMalformed(UpdateSubcode.MALFORMED_AS_PATH, "empty segment")
        end = i + 2 + count * asn_size
        if end > n:
            raise AttributeMalformed(UpdateSubcode.MALFORMED_AS_PATH, "segment overruns attribute")
        asns = struct.unpack(f"!{count}{fmt[1]}", data[i + 2 : end])
        segments.append((seg_type, asns))
        i = end
    return tuple(segments)


def encode_as_path(path: AsPath, asn_size: int) -> bytes:
    """Segments longer than 255 ASNs are split (RFC 4271 9.1.2.2 b) keeps the order)."""
    code = "H" if asn_size == 2 else "I"
    out = bytearray()
    for seg_type, asns in path:
        for start in range(0, len(asns), 255):
            chunk = asns[start : start + 255]
            out += bytes((seg_type, len(chunk)))
            out += struct.pack(f"!{len(chunk)}{code}", *chunk)
    return bytes(out)


def path_length(path: AsPath) -> int:
    """RFC 4271 9.1.2.2 a): a set counts as one, confederation segments not at all."""
    total = 0
    for seg_type, asns in path:
        if seg_type == AS_SEQUENCE:
            total += len(asns)
        elif seg_type == AS_SET:
            total += 1
    return total


def needs_as4(path: AsPath) -> bool:
    return any(asn > 0xFFFF for _, asns in path for asn in asns)


def to_two_octet(path: AsPath) -> AsPath:
    """RFC 6793 4.2.2: ASNs that do not fit in 2 octets become AS_TRANS."""
    return tuple(
        (seg_type, tuple(asn if asn <= 0xFFFF else AS_TRANS for asn in asns))
        for seg_type, asns in path
    )


def as4_path_for(path: AsPath) -> AsPath:
    """RFC 6793 4.2.2: AS4_PATH carries the real path without confederation segments."""
    return tuple(seg for seg in path if seg[0] not in _CONFED)


def merge_as4_path(as_path: AsPath, as4_path: AsPath) -> AsPath:
    """RFC 6793 4.2.3: rebuild the real path from AS_PATH and AS4_PATH.

    If AS_PATH holds fewer ASes than AS4_PATH, AS4_PATH is ignored.  Otherwise the
    leading ASes of AS_PATH (as many as AS_PATH has more than AS4_PATH) are kept, and
    AS4_PATH follows them.  Confederation segments of AS_PATH are kept as they are.
    """
    surplus = path_length(as_path) - path_length(as4_path)
    if surplus < 0:
        return as_path
    kept: list[Segment] = []
    for seg_type, asns in as_path:
        if surplus <= 0:
            if seg_type in _CONFED:
                kept.append((seg_type, asns))
                continue
            break
        if seg_type in _CONFED:
            kept.append((seg_type, asns))
        elif seg_type == AS_SET:
            kept.append((seg_type, asns))
            surplus -= 1
        else:
            take = asns[:surplus]
            kept.append((seg_type, take))
            surplus -= len(take)
    merged = kept + list(as4_path)
    return _join_sequences(merged)


def _join_sequences(path: list[Segment]) -> AsPath:
    """Adjacent AS_SEQUENCE segments become one, as they would be on the wire."""
    out: list[Segment] = []
    for seg_type, asns in path:
        if out and seg_type == AS_SEQUENCE and out[-1][0] == AS_SEQUENCE:
            out[-1] = (AS_SEQUENCE, out[-1][1] + asns)
        else:
            out.append((seg_type, asns))
    return tuple(out)
