"""Listen endpoints: every spelling a user may write, checked with hypothesis."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.config import ConfigError
from pybgp.config.values import endpoint

parse = endpoint(179)
v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
ports = st.integers(0, 65535)


@given(v4)
def test_bare_ipv4_takes_the_bgp_port(address: IPv4Address) -> None:
    assert parse(str(address), "k") == (str(address), 179)


@given(v4, ports)
def test_ipv4_with_port(address: IPv4Address, port: int) -> None:
    assert parse(f"{address}:{port}", "k") == (str(address), port)


@given(v6)
def test_bare_ipv6_takes_the_bgp_port(address: IPv6Address) -> None:
    assert parse(address.exploded, "k") == (str(address), 179)


@given(v6, ports)
def test_bracketed_ipv6_with_port(address: IPv6Address, port: int) -> None:
    assert parse(f"[{address.exploded}]:{port}", "k") == (str(address), port)
    assert parse(f"[{address}]", "k") == (str(address), 179)


@given(v4 | v6, st.integers(65536, 10**7))
def test_port_out_of_range(address: IPv4Address | IPv6Address, port: int) -> None:
    text = f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"
    with pytest.raises(ConfigError, match="port must be between 0 and 65535"):
        parse(text, "k")


@given(st.text(max_size=40))
def test_any_string_parses_or_raises_config_error(text: str) -> None:
    try:
        host, port = parse(text, "speaker.listen[0]")
    except ConfigError as err:
        assert err.key == "speaker.listen[0]"
    else:
        assert 0 <= port <= 65535
        assert parse(host if ":" not in host else f"[{host}]", "k")[0] == host


@pytest.mark.parametrize(
    "text", ["[198.18.0.1]:179", "[::1]179", "[::1]:", "198.18.0.1:+1", "198.18.0.1:1_0", ":179"]
)
def test_malformed(text: str) -> None:
    with pytest.raises(ConfigError):
        parse(text, "k")
