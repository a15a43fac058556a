"""Prefixes in their wire form.

A prefix is kept as the bytes it has on the wire, RFC 4271 4.3: one length octet, then
just enough octets to hold that many bits (`b"\\x1a\\x0a\\xf4\\x01\\x00"` is
10.244.1.0/26).  With ADD-PATH the 4-octet path identifier stands in front (RFC 7911 3).
Such a key is compact (a 5-byte bytes object for a /26), hashable, canonical (bits past
the length are cleared on decode) and encodes by concatenation: the hot path never
builds an ipaddress object.  `prefix_str` and `prefix_key` convert for people.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Callable

from .constants import Afi
from .errors import WireError

# Octets needed for each prefix length.
_OCTETS = [(n + 7) >> 3 for n in range(129)]
# For a length whose last octet is partial, the mask of the bits that count.
_LAST_OCTET_MASK = [0xFF, 0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE]
# bytes.translate tables that clear the bits past the length in a prefix's last octet.
_CLEAR_TABLES = [bytes(b & m for b in range(256)) for m in _LAST_OCTET_MASK]
_MAX_BITS = {Afi.IPV4: 32, Afi.IPV6: 128}
_ADDRESS_LEN = {Afi.IPV4: 4, Afi.IPV6: 16}


class NlriError(WireError):
    """A prefix list that cannot be parsed: a length past the address size or an overrun."""


def max_prefix_bits(afi: int) -> int:
    return _MAX_BITS.get(afi, 255)


def decode_prefixes(data: bytes, max_bits: int = 32, addpath: bool = False) -> list[bytes]:
    """Split an NLRI field into prefix keys (RFC 4271 4.3, RFC 7911 3).

    Raises NlriError on a prefix length above `max_bits` or a field that ends inside a
    prefix.  Bits beyond the prefix length are cleared, so equal prefixes have equal keys.
    """
    if addpath:
        return _decode_addpath(data, max_bits)
    n = len(data)
    if not n:
        return []
    plen = data[0]
    if plen <= max_bits:
        # Fast path for packed UPDATEs, where every prefix has the same length: if the
        # length octets found at a fixed stride are all `plen`, parsing one by one
        # would find exactly those boundaries.  Slicing at a stride is done in C.
        step = 1 + _OCTETS[plen]
        count = n // step
        if n % step == 0 and data[::step] == bytes((plen,)) * count:
            keys = list(_splitter(step, count)(data))
            bits = plen & 7
            if bits and step > 1:
                last = data[step - 1 :: step]
                if last.translate(_CLEAR_TABLES[bits]) != last:
                    keys = [_canonical(k) for k in keys]
            return keys
    return _decode_general(data, max_bits)


@functools.lru_cache(maxsize=1024)
def _splitter(step: int, count: int) -> Callable[[bytes], tuple[bytes, ...]]:
    """One struct call that cuts `count` keys of `step` octets: C does the slicing."""
    return struct.Struct(f"{step}s" * count).unpack


def _step_table(max_bits: int) -> tuple[int, ...]:
    """Octets a prefix of each length byte occupies; 0 marks a length above max_bits."""
    return tuple(1 + _OCTETS[plen] if plen <= max_bits else 0 for plen in range(256))


# Per length byte: the bits of the last octet that must be zero (host bits).
_HOST_BITS = tuple(~_LAST_OCTET_MASK[plen & 7] & 0xFF if plen & 7 else 0 for plen in range(256))
_STEPS = {32: _step_table(32), 128: _step_table(128)}


def _decode_general(data: bytes, max_bits: int) -> list[bytes]:
    """One prefix at a time, with two table lookups per prefix."""
    steps = _STEPS.get(max_bits) or _step_table(max_bits)
    host_bits = _HOST_BITS
    keys: list[bytes] = []
    append = keys.append
    i = 0
    n = len(data)
    while i < n:
        plen = data[i]
        j = i + steps[plen]
        if j <= i:
            raise NlriError(f"prefix length {plen} exceeds {max_bits} bits at offset {i}")
        if j > n:
            raise NlriError(f"prefix /{plen} at offset {i} runs past the end of the field")
        if data[j - 1] & host_bits[plen]:
            append(_canonical(data[i:j]))
        else:
            append(data[i:j])
        i = j
    return keys


def _decode_addpath(data: bytes, max_bits: int) -> list[bytes]:
    keys: list[bytes] = []
    i = 0
    n = len(data)
    while i < n:
        if i + 5 > n:
            raise NlriError(f"ADD-PATH prefix at offset {i} is shorter than its header")
        plen = data[i + 4]
        if plen > max_bits:
            raise NlriError(f"prefix length {plen} exceeds {max_bits} bits at offset {i + 4}")
        j = i + 5 + _OCTETS[plen]
        if j > n:
            raise NlriError(f"prefix /{plen} at offset {i + 4} runs past the end of the field")
        key = data[i:j]
        if plen & 7 and key[-1] & ~_LAST_OCTET_MASK[plen & 7] & 0xFF:
            key = key[:4] + _canonical(key[4:])
        keys.append(key)
        i = j
    return keys


def _canonical(key: bytes) -> bytes:
    bits = key[0] & 7
    if not bits or len(key) < 2:
        return key
    return key[:-1] + bytes((key[-1] & _LAST_OCTET_MASK[bits],))


def prefix_key(text: str, path_id: int | None = None) -> bytes:
    """'10.244.1.0/26' -> its key.  Host bits must be zero (ValueError otherwise)."""
    net = ipaddress.ip_network(text, strict=True)
    plen = net.prefixlen
    key = bytes((plen,)) + net.network_address.packed[: _OCTETS[plen]]
    return key if path_id is None else path_id.to_bytes(4, "big") + key


def split_path_id(key: bytes) -> tuple[int, bytes]:
    """An ADD-PATH key -> (path identifier, plain key)."""
    return int.from_bytes(key[:4], "big"), key[4:]


def network_key(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    """The key of a parsed network (no text parsed again, unlike `prefix_key`)."""
    length = network.prefixlen
    return bytes((length,)) + network.network_address.packed[: (length + 7) // 8]


def prefix_str(key: bytes, afi: int = Afi.IPV4) -> str:
    """A plain key -> '10.244.1.0/26' (or '2001:db8::/48')."""
    plen = key[0]
    size = _ADDRESS_LEN.get(afi)
    if size is None:
        return key.hex()
    address = ipaddress.ip_address(key[1:].ljust(size, b"\0"))
    return f"{address}/{plen}"


def address_str(packed: bytes) -> str:
    """4 or 16 packed octets -> the address in its usual text form."""
    if len(packed) in (4, 16):
        return str(ipaddress.ip_address(packed))
    return packed.hex()
