"""`pybgp decode`: BGP messages from hex or from a packet capture, as JSON Lines.

The output contract is documented in docs/decode.md.  Exit status: 0 when every
message decoded, 1 when any did not (each such message is an ERROR line and decoding
goes on), 2 for a usage error (an unreadable file, input that is not hex).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..capture.conversation import ConversationDecoder, Decoded
from ..capture.pcap import CaptureError, tcp_stream_chunks
from ..wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AttributeCache,
    CodecContext,
    MessageError,
)
from ..wire.constants import MARKER, MAX_EXTENDED_MESSAGE_LEN
from ..wire.messages import check_header, decode_body
from ..wire.render import message_to_dict

_FAMILIES = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST}
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "decode",
        help="decode BGP messages (hex or pcap) to JSON Lines",
        description=(
            "Decode BGP messages to one JSON object per line. Hex comes from the "
            "arguments or, one message per line, from standard input; the 16-octet "
            "marker may be left out. With --pcap, TCP streams on port 179 are "
            "reassembled and each connection's OPEN exchange sets how later messages "
            "are read."
        ),
    )
    parser.add_argument("hex", nargs="*", help="messages as hex (default: read stdin)")
    parser.add_argument("--pcap", metavar="FILE", help="a pcap or pcapng capture")
    parser.add_argument(
        "--port",
        type=int,
        action="append",
        metavar="N",
        help="TCP port of the BGP streams in the capture (default 179; repeatable)",
    )
    parser.add_argument(
        "--as2",
        action="store_true",
        help="read AS numbers as 2 octets (a peer without the four-octet AS capability)",
    )
    parser.add_argument(
        "--addpath",
        metavar="FAMILIES",
        default="",
        help="comma-separated families whose NLRI carry ADD-PATH identifiers: ipv4,ipv6",
    )
    parser.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    parser.set_defaults(run=run)


def _context(args: argparse.Namespace) -> CodecContext:
    families = set()
    for name in filter(None, (part.strip() for part in args.addpath.split(","))):
        if name not in _FAMILIES:
            raise SystemExit(f"pybgp decode: --addpath: unknown family {name!r} (ipv4, ipv6)")
        families.add(_FAMILIES[name])
    return CodecContext(four_octet_as=not args.as2, addpath=frozenset(families))


def run(args: argparse.Namespace) -> int:
    ctx = _context(args)
    out = sys.stdout
    if args.pcap:
        if args.hex:
            print("pybgp decode: give hex or --pcap, not both", file=sys.stderr)
            return 2
        ports = frozenset(args.port or [179])
        return _write(out, _from_pcap(args.pcap, ports, ctx), args.indent)
    lines: Iterable[str] = args.hex if args.hex else sys.stdin
    return _write(out, _from_hex(lines, ctx), args.indent)


def _write(out: TextIO, records: Iterator[dict[str, Any]], indent: int | None) -> int:
    status = 0
    try:
        for record in records:
            if record["type"] == "ERROR":
                status = 1
            out.write(json.dumps(record, indent=indent, ensure_ascii=False) + "\n")
    except _UsageError as exc:
        print(f"pybgp decode: {exc}", file=sys.stderr)
        return 2
    out.flush()
    return status


class _UsageError(Exception):
    pass


def _error(message: str, code: int | None = None, subcode: int | None = None) -> dict[str, Any]:
    return {"type": "ERROR", "error": message, "code": code, "subcode": subcode}


def _from_hex(lines: Iterable[str], ctx: CodecContext) -> Iterator[dict[str, Any]]:
    cache = AttributeCache()
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        text = text.removeprefix("0x").replace(":", "").replace(" ", "")
        if _NOT_HEX.search(text) or len(text) % 2:
            yield _error(f"line {number}: not an even number of hex digits")
            continue
        data = bytes.fromhex(text)
        if not data.startswith(MARKER) and not _has_damaged_marker(data):
            data = MARKER + data
        yield from _decode_run(data, ctx, cache, number)


def _has_damaged_marker(data: bytes) -> bool:
    """A whole message whose marker is wrong, rather than one given without marker."""
    return len(data) >= 19 and int.from_bytes(data[16:18], "big") == len(data)


def _decode_run(
    data: bytes, ctx: CodecContext, cache: AttributeCache, line: int
) -> Iterator[dict[str, Any]]:
    """One line may hold several messages back to back; decode each."""
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 19]
        try:
            if len(header) < 19:
                raise MessageError(1, 2, b"", f"line {line}: {len(header)} octets left over")
            kind, length = check_header(header, MAX_EXTENDED_MESSAGE_LEN)
            if offset + length > len(data):
                raise MessageError(
                    1,
                    2,
                    header[16:18],
                    f"line {line}: length {length} but {len(data) - offset} octets",
                )
            message = decode_body(kind, data[offset + 19 : offset + length], ctx, cache)
        except MessageError as exc:
            yield _error(exc.reason, exc.code, exc.subcode)
            return
        yield message_to_dict(message, ctx)
        offset += length


def _from_pcap(path: str, ports: frozenset[int], ctx: CodecContext) -> Iterator[dict[str, Any]]:
    decoder = ConversationDecoder(assumed=ctx)
    try:
        for item in decoder.decode(tcp_stream_chunks(path, ports)):
            yield _record(item)
    except (OSError, CaptureError) as exc:
        raise _UsageError(str(exc)) from None


def _record(item: Decoded) -> dict[str, Any]:
    if item.message is None:
        record = _error(item.error, item.code, item.subcode)
    else:
        record = message_to_dict(item.message, item.context)
    record["src"] = str(item.src)
    record["dst"] = str(item.dst)
    record["ts"] = item.ts
    return record
