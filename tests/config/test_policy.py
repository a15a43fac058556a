"""[[policy]] tables and the import / export lists that name them."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.cli.main import main
from pybgp.config import ConfigError, PeerRangeConfig, loads_config
from pybgp.config.policy import prefix_match
from pybgp.rib.policy import PolicyDefinition, PrefixMatch, Term, compile_chain
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, NO_ADVERTISE, NO_EXPORT
from pybgp.wire.nlri import prefix_key

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"
S = '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n'
T = S + '[[policy]]\nname = "p"\n[[policy.term]]\n'  # append keys of policy[0].term[0]


def c(text: str) -> int:
    high, low = text.split(":")
    return int(high) << 16 | int(low)


FULL = (
    S
    + """
[[policy]]
name = "clients-in"
default = "reject"
  [[policy.term]]
  prefix = ["10.244.0.0/16 ge 26 le 26", "2001:db8::/32 le 64"]
  as-path = "_64512_"
  community = ["65000:100", "no-export"]
  large-community = ["64512:1:2"]
  action = "accept"
  set-local-pref = 200
  set-med = 10
  add-communities = ["65000:1", "no-advertise"]
  remove-communities = ["65000:2"]
  add-large-communities = ["64512:0:1"]
  remove-large-communities = ["64512:0:2"]
  [[policy.term]]
  action = "reject"

[[policy]]
name = "empty"

[[peer]]
address = "198.18.0.2"
asn = 64512
import = ["clients-in", "empty"]
export = ["empty"]

[[peer-range]]
prefix = "198.18.4.0/24"
asn = 64512
import = ["empty"]
"""
)


def test_full_policy_becomes_the_model() -> None:
    config = loads_config(FULL)
    assert list(config.policies) == ["clients-in", "empty"]
    assert config.policies["clients-in"] == PolicyDefinition(
        name="clients-in",
        default_accept=False,
        terms=(
            Term(
                accept=True,
                prefixes=(
                    PrefixMatch(ip_network("10.244.0.0/16"), 26, 26),
                    PrefixMatch(ip_network("2001:db8::/32"), 32, 64),
                ),
                as_path="_64512_",
                communities=(c("65000:100"), NO_EXPORT),
                large_communities=((64512, 1, 2),),
                set_local_pref=200,
                set_med=10,
                add_communities=(c("65000:1"), NO_ADVERTISE),
                remove_communities=(c("65000:2"),),
                add_large_communities=((64512, 0, 1),),
                remove_large_communities=((64512, 0, 2),),
            ),
            Term(accept=False),
        ),
    )
    assert config.policies["empty"] == PolicyDefinition("empty")
    (peer,) = config.peers
    assert peer.import_policy == ("clients-in", "empty")
    assert peer.export_policy == ("empty",)
    (peer_range,) = config.peer_ranges
    assert (peer_range.import_policy, peer_range.export_policy) == (("empty",), ())


def test_policies_are_read_only() -> None:
    config = loads_config(FULL)
    with pytest.raises(TypeError):
        config.policies["x"] = PolicyDefinition("x")  # type: ignore[index]


def test_defaults_without_policy() -> None:
    config = loads_config(S + '[[peer]]\naddress = "198.18.0.2"\nasn = 1\n')
    assert dict(config.policies) == {}
    assert (config.peers[0].import_policy, config.peers[0].export_policy) == ((), ())


def test_a_dynamic_peer_inherits_the_range_policies() -> None:
    config = loads_config(FULL)
    peer = config.match(ip_network("198.18.4.9/32").network_address)
    assert peer is not None
    assert isinstance(config.peer_ranges[0], PeerRangeConfig)
    assert (peer.import_policy, peer.export_policy) == (("empty",), ())


def test_configured_chain_works_end_to_end() -> None:
    config = loads_config(FULL)
    chain = compile_chain(config.peers[0].import_policy, config.policies)
    attributes = PathAttributes(
        as_path=((2, (64512,)),),
        communities=(c("65000:100"), NO_EXPORT, c("65000:2")),
        large_communities=((64512, 1, 2), (64512, 0, 2)),
    )
    result = chain.apply(IPV4_UNICAST, prefix_key("10.244.3.64/26"), attributes)
    assert result is not None
    assert (result.local_pref, result.med) == (200, 10)
    assert result.communities == (c("65000:100"), NO_EXPORT, c("65000:1"), NO_ADVERTISE)
    assert result.large_communities == ((64512, 1, 2), (64512, 0, 1))
    # The second term rejects the rest.
    assert chain.apply(IPV4_UNICAST, prefix_key("10.244.3.0/24"), attributes) is None


@pytest.mark.parametrize(
    ("spec", "prefix", "ge", "le"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", 8, 8),
        ("10.0.0.0/8 le 24", "10.0.0.0/8", 8, 24),
        ("10.0.0.0/8 ge 16", "10.0.0.0/8", 16, 32),
        ("10.0.0.0/8 ge 16 le 24", "10.0.0.0/8", 16, 24),
        ("10.0.0.0/8 le 24 ge 16", "10.0.0.0/8", 16, 24),  # either order
        ("10.0.0.0/8 ge 8", "10.0.0.0/8", 8, 32),  # ge may equal the length
        ("10.0.0.0/8 le 8", "10.0.0.0/8", 8, 8),
        ("10.0.0.0/8 ge 32 le 32", "10.0.0.0/8", 32, 32),
        ("  0.0.0.0/0   le 32 ", "0.0.0.0/0", 0, 32),  # any spacing
        ("2001:db8::/32 le 64", "2001:db8::/32", 32, 64),
        ("2001:db8::/32 ge 48", "2001:db8::/32", 48, 128),
        ("2001:DB8::/32 ge 128", "2001:db8::/32", 128, 128),
    ],
)
def test_prefix_entry_forms(spec: str, prefix: str, ge: int, le: int) -> None:
    assert prefix_match(spec, "k") == PrefixMatch(ip_network(prefix), ge, le)


@st.composite
def prefix_entries(draw: st.DrawFn) -> PrefixMatch:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    length = draw(st.integers(0, bits))
    address = draw(st.integers(0, 2**bits - 1)) >> (bits - length) << (bits - length)
    make = IPv4Network if version == 4 else IPv6Network
    network = make((address, length))
    ge = draw(st.integers(length, bits))
    le = draw(st.integers(ge, bits))
    return PrefixMatch(network, ge, le)


@given(prefix_entries())
def test_an_entry_reads_back_from_its_text(entry: PrefixMatch) -> None:
    assert prefix_match(str(entry), "k") == entry


PREFIX = "expected 'PREFIX [ge N] [le N]' like '10.244.0.0/16 ge 24 le 26'"
NO_TERM_DEFAULT = "belongs to the [[policy]] table: write it before its first [[policy.term]]"

CASES: list[tuple[str, str, str]] = [
    # id, TOML, str(ConfigError)
    # -- [[policy]]
    (
        "policy-table",
        S + "[policy]\n",
        "policy: expected an array of tables ([[policy]]), got a table",
    ),
    ("policy-item", "policy = [1]\n" + S, "policy[0]: expected a table, got an integer"),
    ("name-missing", S + "[[policy]]\n", "policy[0].name: required key is missing"),
    ("name-empty", S + '[[policy]]\nname = ""', "policy[0].name: must not be empty"),
    (
        "name-duplicate",
        S + '[[policy]]\nname = "a"\n[[policy]]\nname = "b"\n[[policy]]\nname = "a"\n',
        "policy[2].name: duplicate of policy[0].name",
    ),
    (
        "default-bad",
        S + '[[policy]]\nname = "a"\ndefault = "deny"',
        "policy[0].default: unknown action 'deny'; expected one of: accept, reject",
    ),
    (
        "policy-unknown",
        S + '[[policy]]\nname = "a"\nterms = []',
        "policy[0].terms: unknown key; did you mean 'term'?",
    ),
    (
        "term-table",
        S + '[[policy]]\nname = "a"\n[policy.term]\naction = "accept"',
        "policy[0].term: expected an array of tables ([[policy.term]]), got a table",
    ),
    (
        "default-in-term",
        T + 'action = "accept"\ndefault = "reject"',
        f"policy[0].term[0].default: {NO_TERM_DEFAULT}",
    ),
    # -- [[policy.term]]
    ("action-missing", T + "set-med = 1", "policy[0].term[0].action: required key is missing"),
    (
        "action-bad",
        T + 'action = "Accept"',
        "policy[0].term[0].action: unknown action 'Accept'; did you mean 'accept'?",
    ),
    (
        "term-unknown",
        T + 'action = "accept"\nset-localpref = 1',
        "policy[0].term[0].set-localpref: unknown key; did you mean 'set-local-pref'?",
    ),
    (
        "second-term",
        T + 'action = "accept"\n[[policy.term]]\nprefix = ["10.0.0.0/8 le 7"]\naction = "reject"',
        "policy[0].term[1].prefix[0]: le must be at least the prefix length 8, got 7",
    ),
    (
        "prefix-string",
        T + 'prefix = "10.0.0.0/8"\naction = "accept"',
        "policy[0].term[0].prefix: expected an array, got a string",
    ),
    (
        "prefix-empty",
        T + 'prefix = []\naction = "accept"',
        "policy[0].term[0].prefix: must not be empty",
    ),
    (
        "prefix-ge-short",
        T + 'prefix = ["10.244.0.0/16 ge 8"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: ge must be at least the prefix length 16, got 8",
    ),
    (
        "prefix-le-below-ge",
        T + 'prefix = ["10.0.0.0/8", "10.244.0.0/16 ge 26 le 24"]\naction = "accept"',
        "policy[0].term[0].prefix[1]: le must be at least ge (26), got 24",
    ),
    (
        "prefix-le-long-v4",
        T + 'prefix = ["10.244.0.0/16 le 33"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: le must be at most 32 for an IPv4 prefix, got 33",
    ),
    (
        "prefix-ge-long-v6",
        T + 'prefix = ["2001:db8::/32 ge 129"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: ge must be at most 128 for an IPv6 prefix, got 129",
    ),
    (
        "prefix-host-bits",
        T + 'prefix = ["10.244.1.0/16 le 24"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: host bits set in '10.244.1.0/16';"
        " did you mean '10.244.0.0/16'?",
    ),
    (
        "prefix-no-length",
        T + 'prefix = ["10.244.0.0"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: expected a prefix like '10.244.1.0/26', got '10.244.0.0'",
    ),
    (
        "prefix-word",
        T + 'prefix = ["10.0.0.0/8 gt 9"]\naction = "accept"',
        f"policy[0].term[0].prefix[0]: {PREFIX}, got '10.0.0.0/8 gt 9'",
    ),
    (
        "prefix-repeated-ge",
        T + 'prefix = ["10.0.0.0/8 ge 9 ge 10"]\naction = "accept"',
        f"policy[0].term[0].prefix[0]: {PREFIX}, got '10.0.0.0/8 ge 9 ge 10'",
    ),
    (
        "prefix-blank",
        T + 'prefix = [" "]\naction = "accept"',
        f"policy[0].term[0].prefix[0]: {PREFIX}, got ' '",
    ),
    (
        "prefix-ge-alone",
        T + 'prefix = ["10.0.0.0/8 ge"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: ge must be followed by a prefix length",
    ),
    (
        "prefix-le-not-number",
        T + 'prefix = ["10.0.0.0/8 le x"]\naction = "accept"',
        "policy[0].term[0].prefix[0]: le must be followed by a prefix length, got 'x'",
    ),
    (
        "prefix-duplicate",
        T + 'prefix = ["10.0.0.0/8 le 9", "10.0.0.0/8  le  9"]\naction = "accept"',
        "policy[0].term[0].prefix[1]: duplicate of policy[0].term[0].prefix[0]",
    ),
    (
        "prefix-int",
        T + 'prefix = [10]\naction = "accept"',
        "policy[0].term[0].prefix[0]: expected a string, got an integer",
    ),
    (
        "as-path-regex",
        T + 'as-path = "(_64512"\naction = "accept"',
        "policy[0].term[0].as-path: not a valid regular expression: missing ), unterminated"
        " subpattern at position 0",
    ),
    (
        "as-path-array",
        T + 'as-path = ["_1_"]\naction = "accept"',
        "policy[0].term[0].as-path: expected a string, got an array",
    ),
    (
        "community-bad",
        T + 'community = ["65000:70000"]\naction = "accept"',
        "policy[0].term[0].community[0]: each part of 'A:B' must be between 0 and 65535,"
        " got '65000:70000'",
    ),
    (
        "community-name",
        T + 'community = ["no-exprot"]\naction = "accept"',
        "policy[0].term[0].community[0]: unknown community 'no-exprot'; did you mean 'no-export'?",
    ),
    (
        "community-empty",
        T + 'community = []\naction = "accept"',
        "policy[0].term[0].community: must not be empty",
    ),
    (
        "large-community-bad",
        T + 'large-community = ["1:2"]\naction = "accept"',
        "policy[0].term[0].large-community[0]: expected 'A:B:C', got '1:2'",
    ),
    (
        "set-on-reject",
        T + 'action = "reject"\nset-med = 5',
        "policy[0].term[0].set-med: has no effect with action = 'reject'",
    ),
    (
        "add-on-reject",
        T + 'action = "reject"\nadd-large-communities = []',
        "policy[0].term[0].add-large-communities: has no effect with action = 'reject'",
    ),
    (
        "local-pref-range",
        T + 'action = "accept"\nset-local-pref = -1',
        "policy[0].term[0].set-local-pref: must be between 0 and 4294967295, got -1",
    ),
    (
        "med-type",
        T + 'action = "accept"\nset-med = "10"',
        "policy[0].term[0].set-med: expected an integer, got a string",
    ),
    (
        "add-and-remove",
        T + 'action = "accept"\nadd-communities = ["1:1", "no-export"]\n'
        'remove-communities = ["no-export"]',
        "policy[0].term[0].add-communities[1]: 'no-export' is also in remove-communities",
    ),
    (
        "add-and-remove-large",
        T + 'action = "accept"\nadd-large-communities = ["1:2:3"]\n'
        'remove-large-communities = ["1:2:3"]',
        "policy[0].term[0].add-large-communities[0]: '1:2:3' is also in remove-large-communities",
    ),
    (
        "add-duplicate",
        T + 'action = "accept"\nadd-communities = ["65535:65281", "no-export"]',
        "policy[0].term[0].add-communities[1]: duplicate of policy[0].term[0].add-communities[0]",
    ),
    # -- import / export
    (
        "import-unknown",
        S + '[[policy]]\nname = "a"\n[[policy]]\nname = "b"\n'
        '[[peer]]\naddress = "198.18.0.2"\nasn = 1\nimport = ["a", "x"]',
        "peer[0].import[1]: no policy named 'x'; defined: a, b",
    ),
    (
        "export-unknown-none-defined",
        S + '[[peer]]\naddress = "198.18.0.2"\nasn = 1\n'
        '[[peer]]\naddress = "198.18.0.3"\nasn = 1\nexport = ["x"]',
        "peer[1].export[0]: no policy named 'x'; defined: none",
    ),
    (
        "range-export-unknown",
        S + '[[policy]]\nname = "a"\n'
        '[[peer-range]]\nprefix = "198.18.4.0/24"\nasn = 1\nimport = ["a"]\nexport = ["A"]',
        "peer-range[0].export[0]: no policy named 'A'; defined: a",
    ),
    (
        "import-duplicate",
        S + '[[policy]]\nname = "a"\n'
        '[[peer]]\naddress = "198.18.0.2"\nasn = 1\nimport = ["a", "a"]',
        "peer[0].import[1]: duplicate of peer[0].import[0]",
    ),
    (
        "import-string",
        S + '[[policy]]\nname = "a"\n[[peer]]\naddress = "198.18.0.2"\nasn = 1\nimport = "a"',
        "peer[0].import: expected an array, got a string",
    ),
    (
        "export-empty-name",
        S + '[[peer]]\naddress = "198.18.0.2"\nasn = 1\nexport = [""]',
        "peer[0].export[0]: must not be empty",
    ),
    (
        "import-misspelt",
        S + '[[peer]]\naddress = "198.18.0.2"\nasn = 1\nimports = []',
        "peer[0].imports: unknown key; did you mean 'import'?",
    ),
]


@pytest.mark.parametrize(("toml", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config(toml)
    assert str(caught.value) == expected


def test_check_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.toml"
    path.write_text(T + 'prefix = ["10.244.0.0/16 ge 26 le 24"]\naction = "accept"\n')
    status = main(["speak", "-c", str(path), "--check"])
    expected = "policy[0].term[0].prefix[0]: le must be at least ge (26), got 24"
    assert (status, capsys.readouterr().err) == (2, f"pybgp speak: {path}: {expected}\n")


def test_the_policy_example_in_the_docs_is_valid() -> None:
    section = DOCS.read_text().split("\n## Policy\n", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    config = loads_config(S + example.group(1), "docs")
    assert list(config.policies) == ["clients-in"]
    assert len(config.policies["clients-in"].terms) == 3
    assert config.peers[0].import_policy == ("clients-in",)
