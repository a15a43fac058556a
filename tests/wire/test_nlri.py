"""Prefix keys: decode_prefixes (fast and general paths), canonical form, text forms."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import NlriError, decode_prefixes, prefix_key, prefix_str, split_path_id
from pybgp.wire.constants import Afi
from pybgp.wire.nlri import _decode_general
from tests.wire import strategies as s

SETTINGS = settings(deadline=None, max_examples=300)


def reference_decode(data: bytes, max_bits: int, addpath: bool = False) -> list[bytes]:
    """RFC 4271 4.3 / RFC 7911 3, one prefix at a time, host bits cleared bit by bit."""
    keys = []
    i = 0
    while i < len(data):
        path_id = b""
        if addpath:
            if len(data) - i < 5:
                raise NlriError("short ADD-PATH header")
            path_id = data[i : i + 4]
            i += 4
        plen = data[i]
        if plen > max_bits:
            raise NlriError("prefix too long")
        octets = -(-plen // 8)
        if i + 1 + octets > len(data):
            raise NlriError("overrun")
        value = int.from_bytes(data[i + 1 : i + 1 + octets], "big") if octets else 0
        value &= ~((1 << (octets * 8 - plen)) - 1)  # keep the first plen bits
        keys.append(path_id + bytes((plen,)) + value.to_bytes(octets, "big"))
        i += 1 + octets
    return keys


def outcome(fn, *args) -> list[bytes] | type:
    try:
        return fn(*args)
    except NlriError:
        return NlriError


@st.composite
def raw_prefix(draw: st.DrawFn, plen: int | None = None, max_bits: int = 32) -> bytes:
    """A prefix as a peer might send it: any bits after the length (not canonical)."""
    plen = draw(st.integers(0, max_bits)) if plen is None else plen
    return bytes((plen,)) + draw(st.binary(min_size=-(-plen // 8), max_size=-(-plen // 8)))


@st.composite
def same_length_fields(draw: st.DrawFn, max_bits: int = 32) -> bytes:
    plen = draw(st.integers(0, max_bits))
    return b"".join(draw(st.lists(raw_prefix(plen, max_bits), min_size=1, max_size=20)))


@st.composite
def mixed_fields(draw: st.DrawFn, max_bits: int = 32) -> bytes:
    return b"".join(draw(st.lists(raw_prefix(max_bits=max_bits), max_size=20)))


@st.composite
def nearly_uniform_fields(draw: st.DrawFn) -> bytes:
    """Same length everywhere but one prefix: the stride check must not be fooled."""
    field = draw(same_length_fields())
    odd = draw(raw_prefix())
    at = draw(st.integers(0, len(field)))
    return field[:at] + odd + field[at:]


fields = st.one_of(
    same_length_fields(),
    mixed_fields(),
    nearly_uniform_fields(),
    st.binary(max_size=60),
)


@SETTINGS
@given(data=fields, max_bits=st.sampled_from([32, 128]))
def test_decode_prefixes_agrees_with_reference(data: bytes, max_bits: int) -> None:
    expected = outcome(reference_decode, data, max_bits)
    assert outcome(decode_prefixes, data, max_bits) == expected
    assert outcome(_decode_general, data, max_bits) == expected


@SETTINGS
@given(data=same_length_fields(max_bits=128))
def test_fast_path_and_general_path_agree_on_uniform_fields(data: bytes) -> None:
    assert decode_prefixes(data, 128) == _decode_general(data, 128)
    assert decode_prefixes(data, 128) == reference_decode(data, 128)


@SETTINGS
@given(
    prefixes=st.lists(st.tuples(s.U32, raw_prefix(max_bits=128)), max_size=10),
    tail=st.binary(max_size=6),
)
def test_addpath_decode_agrees_with_reference(
    prefixes: list[tuple[int, bytes]], tail: bytes
) -> None:
    data = b"".join(pid.to_bytes(4, "big") + p for pid, p in prefixes) + tail
    assert outcome(decode_prefixes, data, 128, True) == outcome(reference_decode, data, 128, True)


@SETTINGS
@given(data=fields, max_bits=st.sampled_from([32, 128]))
def test_decoded_keys_are_canonical_and_re_encode_to_the_field_length(
    data: bytes, max_bits: int
) -> None:
    try:
        keys = decode_prefixes(data, max_bits)
    except NlriError:
        return
    # Equal prefixes have equal keys: bits past the length are zero (nlri.py docstring).
    for key in keys:
        assert key == s.canonical_key(key[0], key[1:])
    assert sum(len(k) for k in keys) == len(data)


@pytest.mark.parametrize(
    ("wire", "canonical"),
    [
        (b"\x1a\x0a\xf4\x01\xff", b"\x1a\x0a\xf4\x01\xc0"),  # 10.244.1.255/26 -> .192
        (b"\x1f\x0a\x00\x00\x03", b"\x1f\x0a\x00\x00\x02"),  # /31: last bit cleared
        (b"\x01\xff", b"\x01\x80"),  # /1
        (b"\x18\x0a\x00\x01", b"\x18\x0a\x00\x01"),  # /24: nothing past the length
        (b"\x00", b"\x00"),  # /0
    ],
)
def test_host_bits_are_cleared(wire: bytes, canonical: bytes) -> None:
    assert decode_prefixes(wire) == [canonical]  # fast path: one length
    assert decode_prefixes(wire * 3) == [canonical] * 3  # fast path, several
    assert decode_prefixes(b"\x08\x0a" + wire) == [b"\x08\x0a", canonical]  # general path
    assert decode_prefixes(b"\0\0\0\x07" + wire, 32, True) == [b"\0\0\0\x07" + canonical]


@pytest.mark.parametrize(
    ("data", "max_bits"),
    [
        (b"\x21\x0a\x00\x00\x00\x00", 32),  # /33 in IPv4
        (b"\x81" + bytes(17), 128),  # /129 in IPv6
        (b"\x18\x0a\x00", 32),  # /24 with two octets
        (b"\x18\x0a\x00\x00\x18\x0a", 32),  # the second prefix overruns
        (b"\x18\x0a\x00\x00" * 3 + b"\x20", 32),  # uniform then one more length octet
    ],
)
def test_bad_fields_raise_nlri_error(data: bytes, max_bits: int) -> None:
    with pytest.raises(NlriError):
        decode_prefixes(data, max_bits)


@pytest.mark.parametrize("data", [b"\0\0\0", b"\0\0\0\x01\x18\x0a", b"\0\0\0\x01\x21" + bytes(5)])
def test_bad_addpath_fields_raise_nlri_error(data: bytes) -> None:
    with pytest.raises(NlriError):
        decode_prefixes(data, 32, True)


@SETTINGS
@given(text=s.network_texts(4))
def test_ipv4_prefix_key_and_prefix_str_round_trip(text: str) -> None:
    key = prefix_key(text)
    net = ipaddress.ip_network(text)
    assert key[0] == net.prefixlen and len(key) == 1 + -(-net.prefixlen // 8)
    assert prefix_str(key, Afi.IPV4) == text
    assert decode_prefixes(key) == [key]


@SETTINGS
@given(text=s.network_texts(6))
def test_ipv6_prefix_key_and_prefix_str_round_trip(text: str) -> None:
    key = prefix_key(text)
    # inet_ntop may write an IPv4-embedded tail (::1.2.3.4), so compare as networks.
    assert ipaddress.ip_network(prefix_str(key, Afi.IPV6)) == ipaddress.ip_network(text)
    assert prefix_key(prefix_str(key, Afi.IPV6)) == key
    assert decode_prefixes(key, 128) == [key]


def test_known_prefix_keys() -> None:
    assert prefix_key("10.244.1.0/26") == b"\x1a\x0a\xf4\x01\x00"
    assert prefix_key("0.0.0.0/0") == b"\x00"
    assert prefix_key("2001:db8::/32") == b"\x20\x20\x01\x0d\xb8"
    assert prefix_str(b"\x1a\x0a\xf4\x01\x00") == "10.244.1.0/26"
    assert prefix_str(b"\x30\x20\x01\x0d\xb8\x00\x01", Afi.IPV6) == "2001:db8:1::/48"


def test_prefix_key_rejects_host_bits() -> None:
    with pytest.raises(ValueError):
        prefix_key("10.244.1.1/26")


@SETTINGS
@given(text=s.network_texts(4) | s.network_texts(6), path_id=s.U32)
def test_addpath_keys_carry_the_path_id_in_front(text: str, path_id: int) -> None:
    # RFC 7911 3: a 4-octet Path Identifier precedes each prefix.
    key = prefix_key(text, path_id)
    assert split_path_id(key) == (path_id, prefix_key(text))
    max_bits = 32 if ":" not in text else 128
    assert decode_prefixes(key * 2, max_bits, addpath=True) == [key, key]
