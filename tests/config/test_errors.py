"""Every key's error case: the message names the key path exactly and says what is wrong."""

from __future__ import annotations

import pytest

from pybgp.config import ConfigError, loads_config

S = '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n'  # append keys of [speaker]
P = S + '[[peer]]\naddress = "198.18.0.2"\nasn = 64512\n'  # append keys of peer[0]
R = S + '[[peer-range]]\nprefix = "198.18.4.0/24"\nasn = 64512\n'  # keys of peer-range[0]
A = S + "announce = [{ prefix = '10.244.1.0/26', "  # append keys of announce[0], then " }]"

AS_RANGE = "must be between 1 and 4294967295 (RFC 7607: AS 0 is reserved)"
ENDPOINT = "expected 'address', 'address:port', '[ipv6-address]:port' or an IPv6 address"
HOLD = "must be 0 or between 3 and 65535 (RFC 4271 4.2)"

CASES: list[tuple[str, str, str]] = [
    # id, TOML, str(ConfigError)
    # -- top level
    ("no-speaker", "", "speaker: required key is missing"),
    ("speaker-type", "speaker = 1", "speaker: expected a table, got an integer"),
    ("top-unknown", "spaeker = 1\n" + S, "spaeker: unknown key; did you mean 'speaker'?"),
    ("peers", S + "[[peers]]\n", "peers: unknown key; did you mean 'peer'?"),
    ("peer-table", S + "[peer]\n", "peer: expected an array of tables ([[peer]]), got a table"),
    ("peer-int", "peer = 1\n" + S, "peer: expected an array of tables ([[peer]]), got an integer"),
    ("peer-item", "peer = [1]\n" + S, "peer[0]: expected a table, got an integer"),
    (
        "quoted-key",
        S + '"hold time" = 1',
        "speaker.\"hold time\": unknown key; did you mean 'hold-time'?",
    ),
    # -- [speaker]
    ("asn-missing", '[speaker]\nrouter-id = "198.18.0.1"', "speaker.asn: required key is missing"),
    ("rid-missing", "[speaker]\nasn = 1", "speaker.router-id: required key is missing"),
    (
        "asn-string",
        '[speaker]\nasn = "64512"\nrouter-id = "198.18.0.1"',
        "speaker.asn: expected an integer, got a string",
    ),
    (
        "asn-bool",
        '[speaker]\nasn = true\nrouter-id = "198.18.0.1"',
        "speaker.asn: expected an integer, got a boolean",
    ),
    (
        "asn-float",
        '[speaker]\nasn = 1.5\nrouter-id = "198.18.0.1"',
        "speaker.asn: expected an integer, got a float",
    ),
    ("asn-zero", '[speaker]\nasn = 0\nrouter-id = "198.18.0.1"', f"speaker.asn: {AS_RANGE}, got 0"),
    (
        "asn-big",
        '[speaker]\nasn = 4294967296\nrouter-id = "198.18.0.1"',
        f"speaker.asn: {AS_RANGE}, got 4294967296",
    ),
    (
        "rid-zero",
        '[speaker]\nasn = 1\nrouter-id = "0.0.0.0"',
        "speaker.router-id: must not be 0.0.0.0 (RFC 6286 2.1)",
    ),
    (
        "rid-v6",
        '[speaker]\nasn = 1\nrouter-id = "2001:db8::1"',
        "speaker.router-id: expected an IPv4 address like '198.18.0.1', got '2001:db8::1'",
    ),
    (
        "rid-int",
        "[speaker]\nasn = 1\nrouter-id = 3322",
        "speaker.router-id: expected a string, got an integer",
    ),
    ("listen-str", S + 'listen = "198.18.0.1"', "speaker.listen: expected an array, got a string"),
    ("listen-item", S + "listen = [179]", "speaker.listen[0]: expected a string, got an integer"),
    (
        "listen-port",
        S + 'listen = ["::1", "198.18.0.1:70000"]',
        "speaker.listen[1]: port must be between 0 and 65535, got '70000'",
    ),
    (
        "listen-no-port",
        S + 'listen = ["198.18.0.1:"]',
        "speaker.listen[0]: port must be between 0 and 65535, got ''",
    ),
    (
        "listen-v4-brackets",
        S + 'listen = ["[198.18.0.1]:179"]',
        f"speaker.listen[0]: {ENDPOINT}, got '[198.18.0.1]:179'",
    ),
    (
        "listen-name",
        S + 'listen = ["localhost:179"]',
        f"speaker.listen[0]: {ENDPOINT}, got 'localhost:179'",
    ),
    (
        "listen-bracket",
        S + 'listen = ["[2001:db8::1:179"]',
        f"speaker.listen[0]: {ENDPOINT}, got '[2001:db8::1:179'",
    ),
    (
        "listen-dup",
        S + 'listen = ["198.18.0.1", "198.18.0.1:179"]',
        "speaker.listen[1]: duplicate of speaker.listen[0]",
    ),
    ("socket-empty", S + 'control-socket = ""', "speaker.control-socket: must not be empty"),
    (
        "socket-type",
        S + "control-socket = false",
        "speaker.control-socket: expected a string, got a boolean",
    ),
    ("hold-2", S + "hold-time = 2", f"speaker.hold-time: {HOLD}, got 2"),
    ("hold-big", S + "hold-time = 65536", f"speaker.hold-time: {HOLD}, got 65536"),
    ("hold-str", S + 'hold-time = "90"', "speaker.hold-time: expected an integer, got a string"),
    (
        "keepalive-eq",
        S + "keepalive-time = 90",
        "speaker.keepalive-time: must be less than hold-time (90), got 90",
    ),
    (
        "keepalive-0",
        S + "keepalive-time = 0",
        "speaker.keepalive-time: must not be 0 unless hold-time is 0 (RFC 4271 4.4)",
    ),
    (
        "keepalive-neg",
        S + "keepalive-time = -1",
        "speaker.keepalive-time: must be between 0 and 65535, got -1",
    ),
    (
        "retry-0",
        S + "connect-retry = 0",
        "speaker.connect-retry: must be between 1 and 65535, got 0",
    ),
    ("delay-neg", S + "delay-open = -1", "speaker.delay-open: must be between 0 and 65535, got -1"),
    (
        "damp-int",
        S + "damp-peer-oscillations = 1",
        "speaker.damp-peer-oscillations: expected a boolean, got an integer",
    ),
    (
        "speaker-unknown",
        S + "holdtime = 3",
        "speaker.holdtime: unknown key; did you mean 'hold-time'?",
    ),
    # -- speaker.announce
    (
        "announce-str",
        S + 'announce = "10.244.1.0/26"',
        "speaker.announce: expected an array, got a string",
    ),
    (
        "announce-item",
        S + 'announce = ["10.244.0.0/26", 1]',
        "speaker.announce[1]: expected a prefix string or an inline table, got an integer",
    ),
    (
        "announce-host-bits",
        S + 'announce = ["10.244.1.1/26"]',
        "speaker.announce[0]: host bits set in '10.244.1.1/26'; did you mean '10.244.1.0/26'?",
    ),
    (
        "announce-no-len",
        S + 'announce = ["10.244.1.0"]',
        "speaker.announce[0]: expected a prefix like '10.244.1.0/26', got '10.244.1.0'",
    ),
    (
        "announce-bad-len",
        S + 'announce = ["10.244.1.0/33"]',
        "speaker.announce[0]: '10.244.1.0/33' is not an IPv4 or IPv6 prefix",
    ),
    (
        "announce-dup",
        S + 'announce = ["10.244.1.0/26", { prefix = "10.244.1.0/26" }]',
        "speaker.announce[1]: duplicate of speaker.announce[0]",
    ),
    (
        "announce-no-prefix",
        S + "announce = [{ med = 1 }]",
        "speaker.announce[0].prefix: required key is missing",
    ),
    (
        "announce-unknown",
        A + "medd = 1 }]",
        "speaker.announce[0].medd: unknown key; did you mean 'med'?",
    ),
    (
        "prefix-type",
        S + "announce = [{ prefix = 1 }]",
        "speaker.announce[0].prefix: expected a string, got an integer",
    ),
    (
        "next-hop-family",
        A + "next-hop = '2001:db8::1' }]",
        "speaker.announce[0].next-hop: an IPv4 prefix needs an IPv4 next hop, got '2001:db8::1'",
    ),
    (
        "next-hop-v6",
        S + "announce = [{ prefix = '2001:db8::/64', next-hop = '198.18.0.1' }]",
        "speaker.announce[0].next-hop: an IPv6 prefix needs an IPv6 next hop, got '198.18.0.1'",
    ),
    (
        "next-hop-bad",
        A + "next-hop = 'nope' }]",
        "speaker.announce[0].next-hop: 'nope' is not an IPv4 or IPv6 address",
    ),
    (
        "origin",
        A + "origin = 'IGP' }]",
        "speaker.announce[0].origin: unknown origin 'IGP'; did you mean 'igp'?",
    ),
    (
        "origin-far",
        A + "origin = 'static' }]",
        "speaker.announce[0].origin: unknown origin 'static'; expected one of: igp, egp,"
        " incomplete",
    ),
    (
        "origin-type",
        A + "origin = 0 }]",
        "speaker.announce[0].origin: expected a string, got an integer",
    ),
    (
        "med-neg",
        A + "med = -1 }]",
        "speaker.announce[0].med: must be between 0 and 4294967295, got -1",
    ),
    (
        "local-pref-big",
        A + "local-pref = 4294967296 }]",
        "speaker.announce[0].local-pref: must be between 0 and 4294967295, got 4294967296",
    ),
    (
        "local-pref-str",
        A + "local-pref = 'high' }]",
        "speaker.announce[0].local-pref: expected an integer, got a string",
    ),
    (
        "communities-type",
        A + "communities = '1:2' }]",
        "speaker.announce[0].communities: expected an array, got a string",
    ),
    (
        "community-range",
        A + "communities = ['1:2', '65536:1'] }]",
        "speaker.announce[0].communities[1]: each part of 'A:B' must be between 0 and 65535,"
        " got '65536:1'",
    ),
    (
        "community-name",
        A + "communities = ['no-exprt'] }]",
        "speaker.announce[0].communities[0]: unknown community 'no-exprt';"
        " did you mean 'no-export'?",
    ),
    (
        "community-parts",
        A + "communities = ['1:2:3'] }]",
        "speaker.announce[0].communities[0]: expected 'A:B', got '1:2:3'",
    ),
    (
        "community-neg",
        A + "communities = ['-1:2'] }]",
        "speaker.announce[0].communities[0]: expected 'A:B', got '-1:2'",
    ),
    (
        "community-int",
        A + "communities = [65536] }]",
        "speaker.announce[0].communities[0]: expected a string, got an integer",
    ),
    (
        "community-dup",
        A + "communities = ['no-export', '65535:65281'] }]",
        "speaker.announce[0].communities[1]: duplicate of speaker.announce[0].communities[0]",
    ),
    (
        "large-parts",
        A + "large-communities = ['1:2'] }]",
        "speaker.announce[0].large-communities[0]: expected 'A:B:C', got '1:2'",
    ),
    (
        "large-range",
        A + "large-communities = ['4294967296:1:2'] }]",
        "speaker.announce[0].large-communities[0]: each part of 'A:B:C' must be between 0 and"
        " 4294967295, got '4294967296:1:2'",
    ),
    (
        "as-path-0",
        A + "as-path = [64600, 0] }]",
        f"speaker.announce[0].as-path[1]: {AS_RANGE}, got 0",
    ),
    (
        "as-path-str",
        A + "as-path = '64600' }]",
        "speaker.announce[0].as-path: expected an array, got a string",
    ),
    # -- [[peer]]
    ("peer-no-address", S + "[[peer]]\nasn = 1", "peer[0].address: required key is missing"),
    ("peer-no-asn", S + '[[peer]]\naddress = "198.18.0.2"', "peer[0].asn: required key is missing"),
    (
        "peer-asn-0",
        S + '[[peer]]\naddress = "198.18.0.2"\nasn = 0',
        f"peer[0].asn: {AS_RANGE}, got 0",
    ),
    (
        "address-bad",
        S + '[[peer]]\naddress = "198.18.0.256"\nasn = 1',
        "peer[0].address: '198.18.0.256' is not an IPv4 or IPv6 address",
    ),
    (
        "address-any",
        S + '[[peer]]\naddress = "::"\nasn = 1',
        "peer[0].address: '::' is not a unicast address",
    ),
    (
        "address-multicast",
        S + '[[peer]]\naddress = "224.0.0.5"\nasn = 1',
        "peer[0].address: '224.0.0.5' is not a unicast address",
    ),
    (
        "address-dup",
        P + '[[peer]]\naddress = "198.18.0.3"\nasn = 1\n[[peer]]\naddress = "198.18.0.2"\nasn = 2',
        "peer[2].address: duplicate of peer[0].address",
    ),
    (
        "address-dup-v6",
        S + '[[peer]]\naddress = "2001:db8::2"\nasn = 1\n'
        '[[peer]]\naddress = "2001:DB8:0::2"\nasn = 1',
        "peer[1].address: duplicate of peer[0].address",
    ),
    (
        "later-peer",
        P + '[[peer]]\naddress = "198.18.0.3"\nasn = 1\nport = 0',
        "peer[1].port: must be between 1 and 65535, got 0",
    ),
    ("type-empty", P + 'type = ""', "peer[0].type: must not be empty"),
    ("type-int", P + "type = 1", "peer[0].type: expected a string, got an integer"),
    ("passive-str", P + 'passive = "yes"', "peer[0].passive: expected a boolean, got a string"),
    ("port-0", P + "port = 0", "peer[0].port: must be between 1 and 65535, got 0"),
    ("port-big", P + "port = 65536", "peer[0].port: must be between 1 and 65535, got 65536"),
    (
        "local-family",
        P + 'local-address = "2001:db8::1"',
        "peer[0].local-address: must be an IPv4 address like address, got '2001:db8::1'",
    ),
    (
        "local-bad",
        P + 'local-address = "x"',
        "peer[0].local-address: 'x' is not an IPv4 or IPv6 address",
    ),
    ("password-empty", P + 'password = ""', "peer[0].password: must not be empty"),
    (
        "password-long",
        P + f'password = "{"x" * 81}"',
        "peer[0].password: must be at most 80 octets (TCP_MD5SIG_MAXKEYLEN), got 81",
    ),
    (
        "password-octets",
        P + f'password = "{"é" * 41}"',
        "peer[0].password: must be at most 80 octets (TCP_MD5SIG_MAXKEYLEN), got 82",
    ),
    ("password-int", P + "password = 1234", "peer[0].password: expected a string, got an integer"),
    (
        "ttl-0",
        P + "ttl-security = 0",
        "peer[0].ttl-security: must be between 1 and 254 (RFC 5082), got 0",
    ),
    (
        "ttl-255",
        P + "ttl-security = 255",
        "peer[0].ttl-security: must be between 1 and 254 (RFC 5082), got 255",
    ),
    (
        "ttl-bool",
        P + "ttl-security = true",
        "peer[0].ttl-security: expected an integer, got a boolean",
    ),
    ("families-empty", P + "families = []", "peer[0].families: must not be empty"),
    ("families-str", P + 'families = "ipv4"', "peer[0].families: expected an array, got a string"),
    (
        "families-dup",
        P + 'families = ["ipv4", "ipv6", "ipv4"]',
        "peer[0].families[2]: duplicate of peer[0].families[0]",
    ),
    (
        "families-name",
        P + 'families = ["ipv4-unicast"]',
        "peer[0].families[0]: unknown family 'ipv4-unicast'; expected one of: ipv4, ipv6",
    ),
    (
        "families-case",
        P + 'families = ["IPv6"]',
        "peer[0].families[0]: unknown family 'IPv6'; did you mean 'ipv6'?",
    ),
    ("peer-hold", P + "hold-time = 1", f"peer[0].hold-time: {HOLD}, got 1"),
    (
        "peer-keepalive",
        P + "keepalive-time = 100",
        "peer[0].keepalive-time: must be less than hold-time (90), got 100",
    ),
    (
        "peer-keepalive-0",
        P + "hold-time = 30\nkeepalive-time = 0",
        "peer[0].keepalive-time: must not be 0 unless hold-time is 0 (RFC 4271 4.4)",
    ),
    (
        "peer-hold-under-speaker-keepalive",
        S + 'keepalive-time = 30\n[[peer]]\naddress = "198.18.0.2"\nasn = 1\nhold-time = 9',
        "peer[0].hold-time: must be greater than keepalive-time (30, set in [speaker]), got 9;"
        " set keepalive-time here too",
    ),
    (
        "peer-retry",
        P + "connect-retry = 0",
        "peer[0].connect-retry: must be between 1 and 65535, got 0",
    ),
    (
        "peer-delay",
        P + "delay-open = 65536",
        "peer[0].delay-open: must be between 0 and 65535, got 65536",
    ),
    ("peer-unknown", P + 'pasword = "x"', "peer[0].pasword: unknown key; did you mean 'password'?"),
    # -- [[peer-range]]
    (
        "range-no-prefix",
        S + "[[peer-range]]\nasn = 1",
        "peer-range[0].prefix: required key is missing",
    ),
    (
        "range-no-asn",
        S + '[[peer-range]]\nprefix = "198.18.4.0/24"',
        "peer-range[0].asn: required key is missing",
    ),
    (
        "range-host-bits",
        S + '[[peer-range]]\nprefix = "198.18.4.1/24"\nasn = 1',
        "peer-range[0].prefix: host bits set in '198.18.4.1/24'; did you mean '198.18.4.0/24'?",
    ),
    (
        "range-address",
        S + '[[peer-range]]\nprefix = "198.18.4.1"\nasn = 1',
        "peer-range[0].prefix: expected a prefix like '10.244.1.0/26', got '198.18.4.1'",
    ),
    (
        "range-dup",
        R + '[[peer-range]]\nprefix = "198.18.4.0/24"\nasn = 2',
        "peer-range[1].prefix: duplicate of peer-range[0].prefix",
    ),
    (
        "range-password",
        R + f'password = "{"x" * 81}"',
        "peer-range[0].password: must be at most 80 octets (TCP_MD5SIG_MAXKEYLEN), got 81",
    ),
    (
        "range-ttl",
        R + "ttl-security = 0",
        "peer-range[0].ttl-security: must be between 1 and 254 (RFC 5082), got 0",
    ),
    ("range-families", R + "families = []", "peer-range[0].families: must not be empty"),
    ("range-hold", R + "hold-time = 2", f"peer-range[0].hold-time: {HOLD}, got 2"),
    (
        "range-keepalive",
        R + "keepalive-time = 90",
        "peer-range[0].keepalive-time: must be less than hold-time (90), got 90",
    ),
    (
        "range-delay",
        R + "delay-open = -1",
        "peer-range[0].delay-open: must be between 0 and 65535, got -1",
    ),
    ("range-type", R + 'type = ""', "peer-range[0].type: must not be empty"),
    (
        "range-unknown",
        R + "ttl_security = 1",
        "peer-range[0].ttl_security: unknown key; did you mean 'ttl-security'?",
    ),
    (
        "range-retry",
        R + "connect-retry = 5",
        "peer-range[0].connect-retry: unknown key; expected one of: prefix, asn, type, password,"
        " ttl-security, families, hold-time, keepalive-time, delay-open, rr-client,"
        " next-hop-self, import, export",
    ),
]


@pytest.mark.parametrize(("toml", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config(toml)
    assert str(caught.value) == expected
    key, _, message = expected.partition(": ")
    assert (caught.value.key, caught.value.message) == (key, message)


def test_error_with_an_empty_key_is_just_the_message() -> None:
    assert str(ConfigError("", "no configuration")) == "no configuration"


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
