"""[node] and [fib]: a node's blocks, encapsulation and interface, and how routes reach
the kernel; every key's default, every key's error naming the key path."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pybgp.cli.main import main
from pybgp.config import ConfigError, loads_config
from pybgp.config.model import ENCAPSULATIONS, FibConfig, NodeConfig
from pybgp.config.node import ROUTE_PROTOCOLS

S = '[speaker]\nasn = 64512\nrouter-id = "198.18.0.11"\n'
N = S + "[node]\n"  # append keys of [node]
F = S + "[fib]\n"  # append keys of [fib]
NF = N + "[fib]\n"  # a node with keys of [fib] appended

FULL = (
    S
    + """
[node]
blocks = ["10.244.58.192/26", "2001:db8:58::/122"]
encapsulation = "ipip"
interface = "ens3"
[fib]
enabled = true
protocol = "bird"
table = 254
persist = false
"""
)


def test_a_full_node_section() -> None:
    config = loads_config(FULL)
    assert config.node == NodeConfig(
        blocks=(
            ipaddress.ip_network("10.244.58.192/26"),
            ipaddress.ip_network("2001:db8:58::/122"),
        ),
        encapsulation="ipip",
        interface="ens3",
    )
    assert config.fib == FibConfig(enabled=True, protocol=12, table=254, persist=False)


def test_without_node_the_speaker_is_not_a_node_and_writes_no_routes() -> None:
    config = loads_config(S)
    assert config.node is None
    assert config.fib == FibConfig()
    assert config.fib.enabled is False


def test_an_empty_node_section_takes_the_defaults_and_enables_the_fib() -> None:
    config = loads_config(N)
    assert config.node == NodeConfig(blocks=(), encapsulation="none", interface="eth0")
    assert config.fib == FibConfig(enabled=True, protocol=12, table=254, persist=False)


def test_fib_can_be_switched_off_on_a_node_and_on_without_one() -> None:
    assert loads_config(NF + "enabled = false").fib.enabled is False
    assert loads_config(F + "enabled = true").fib.enabled is True
    assert loads_config(F + "table = 100").fib == FibConfig(enabled=False, table=100)


def test_dataclass_defaults_keep_existing_callers_working() -> None:
    # Config built without the new fields (as tests and the library do) is not a node.
    config = loads_config(S)
    assert (config.node, config.fib) == (None, FibConfig())
    assert FibConfig().protocol == ROUTE_PROTOCOLS["bird"] == 12


@pytest.mark.parametrize("word", ENCAPSULATIONS)
def test_every_encapsulation(word: str) -> None:
    node = loads_config(N + f'encapsulation = "{word}"').node
    assert node is not None and node.encapsulation == word


def test_encapsulations_are_the_plans_words() -> None:
    plan = pytest.importorskip("pybgp.fib.plan")
    assert set(ENCAPSULATIONS) == set(plan.ENCAPSULATIONS)


@pytest.mark.parametrize(
    ("written", "number"),
    [
        ('"bird"', 12),
        ('"static"', 4),
        ('"kernel"', 2),
        ('"boot"', 3),
        ('"zebra"', 11),
        ('"bgp"', 186),
        ("1", 1),
        ("12", 12),
        ("255", 255),
    ],
)
def test_protocol_by_name_or_number(written: str, number: int) -> None:
    assert loads_config(F + f"protocol = {written}").fib.protocol == number


@pytest.mark.parametrize("name", ["eth0", "tunl0", "ens3.100", "br-6f1e2d3c4b5a", "a", "x" * 15])
def test_interface_names_linux_accepts(name: str) -> None:
    node = loads_config(N + f'interface = "{name}"').node
    assert node is not None and node.interface == name


def test_blocks_of_both_families_keep_their_order() -> None:
    node = loads_config(N + 'blocks = ["2001:db8:1::/122", "10.244.1.0/26"]').node
    assert node is not None
    assert [str(b) for b in node.blocks] == ["2001:db8:1::/122", "10.244.1.0/26"]


LONG = "x" * 16
CASES: list[tuple[str, str, str]] = [
    # id, TOML, str(ConfigError)
    ("node-type", "node = 1\n" + S, "node: expected a table, got an integer"),
    ("fib-type", 'fib = "on"\n' + S, "fib: expected a table, got a string"),
    ("node-array", S + "[[node]]\n", "node: expected a table, got an array"),
    ("node-unknown", N + "block = []", "node.block: unknown key; did you mean 'blocks'?"),
    (
        "node-unknown-far",
        N + "mtu = 1440",
        "node.mtu: unknown key; expected one of: blocks, encapsulation, interface",
    ),
    ("fib-unknown", F + "proto = 12", "fib.proto: unknown key; did you mean 'protocol'?"),
    # -- node.blocks
    ("blocks-str", N + 'blocks = "10.244.1.0/26"', "node.blocks: expected an array, got a string"),
    ("blocks-item", N + "blocks = [1]", "node.blocks[0]: expected a string, got an integer"),
    (
        "blocks-host-bits",
        N + 'blocks = ["10.244.1.0/26", "10.244.1.65/26"]',
        "node.blocks[1]: host bits set in '10.244.1.65/26'; did you mean '10.244.1.64/26'?",
    ),
    (
        "blocks-no-length",
        N + 'blocks = ["10.244.1.0"]',
        "node.blocks[0]: expected a prefix like '10.244.1.0/26', got '10.244.1.0'",
    ),
    (
        "blocks-garbage",
        N + 'blocks = ["10.244.1.0/33"]',
        "node.blocks[0]: '10.244.1.0/33' is not an IPv4 or IPv6 prefix",
    ),
    (
        "blocks-dup",
        N + 'blocks = ["10.244.1.0/26", "2001:db8::/122", "10.244.1.0/26"]',
        "node.blocks[2]: duplicate of node.blocks[0]",
    ),
    (
        "blocks-dup-v6-spelling",
        N + 'blocks = ["2001:db8::/122", "2001:DB8:0::/122"]',
        "node.blocks[1]: duplicate of node.blocks[0]",
    ),
    (
        "blocks-announced",
        S + 'announce = ["10.244.9.0/26", "10.244.1.0/26"]\n[node]\nblocks = ["10.244.1.0/26"]',
        "node.blocks[0]: 10.244.1.0/26 is also in speaker.announce[1]; a block is announced"
        " already, keep it in one place",
    ),
    # -- node.encapsulation
    (
        "encap-typo",
        N + 'encapsulation = "ipipp"',
        "node.encapsulation: unknown encapsulation 'ipipp'; did you mean 'ipip'?",
    ),
    (
        "encap-case",
        N + 'encapsulation = "IPIP"',
        "node.encapsulation: unknown encapsulation 'IPIP'; did you mean 'ipip'?",
    ),
    (
        "encap-calico-word",
        N + 'encapsulation = "vxlan"',
        "node.encapsulation: unknown encapsulation 'vxlan'; expected one of: ipip, none,"
        " cross-subnet",
    ),
    (
        "encap-crosssubnet",
        N + 'encapsulation = "crosssubnet"',
        "node.encapsulation: unknown encapsulation 'crosssubnet'; did you mean 'cross-subnet'?",
    ),
    (
        "encap-bool",
        N + "encapsulation = false",
        "node.encapsulation: expected a string, got a boolean",
    ),
    # -- node.interface
    ("if-empty", N + 'interface = ""', "node.interface: must not be empty"),
    ("if-int", N + "interface = 0", "node.interface: expected a string, got an integer"),
    (
        "if-long",
        N + f'interface = "{LONG}"',
        "node.interface: must be at most 15 octets (Linux IFNAMSIZ), got 16",
    ),
    (
        "if-long-utf8",
        N + 'interface = "ethé01234567890"',  # 15 characters, 16 octets
        "node.interface: must be at most 15 octets (Linux IFNAMSIZ), got 16",
    ),
    (
        "if-slash",
        N + 'interface = "eth0/1"',
        "node.interface: 'eth0/1' is not a Linux interface name (no '/', ':', spaces, '.' or '..')",
    ),
    (
        "if-space",
        N + 'interface = "eth 0"',
        "node.interface: 'eth 0' is not a Linux interface name (no '/', ':', spaces, '.' or '..')",
    ),
    (
        "if-colon",
        N + 'interface = "eth0:1"',
        "node.interface: 'eth0:1' is not a Linux interface name (no '/', ':', spaces, '.' or '..')",
    ),
    (
        "if-dot",
        N + 'interface = ".."',
        "node.interface: '..' is not a Linux interface name (no '/', ':', spaces, '.' or '..')",
    ),
    # -- fib.enabled / persist
    ("enabled-str", F + 'enabled = "yes"', "fib.enabled: expected a boolean, got a string"),
    ("persist-int", F + "persist = 1", "fib.persist: expected a boolean, got an integer"),
    # -- fib.protocol
    (
        "proto-typo",
        F + 'protocol = "brid"',
        "fib.protocol: unknown protocol 'brid'; did you mean 'bird'?",
    ),
    (
        "proto-unknown",
        F + 'protocol = "quagga"',
        "fib.protocol: unknown protocol 'quagga'; expected one of: redirect, kernel, boot,"
        " static, zebra, bird, bgp",
    ),
    ("proto-zero", F + "protocol = 0", "fib.protocol: must be between 1 and 255, got 0"),
    ("proto-big", F + "protocol = 256", "fib.protocol: must be between 1 and 255, got 256"),
    (
        "proto-bool",
        F + "protocol = true",
        "fib.protocol: expected a protocol name or a number 1..255, got a boolean",
    ),
    (
        "proto-float",
        F + "protocol = 12.0",
        "fib.protocol: expected a protocol name or a number 1..255, got a float",
    ),
    # -- fib.table
    (
        "table-zero",
        F + "table = 0",
        "fib.table: must be between 1 and 4294967295 (RTA_TABLE; 0 is RT_TABLE_UNSPEC), got 0",
    ),
    (
        "table-big",
        F + "table = 4294967296",
        "fib.table: must be between 1 and 4294967295 (RTA_TABLE; 0 is RT_TABLE_UNSPEC),"
        " got 4294967296",
    ),
    (
        "table-local",
        F + "table = 255",
        "fib.table: 255 is the kernel's local table, not for learned routes",
    ),
    ("table-str", F + 'table = "main"', "fib.table: expected an integer, got a string"),
]


@pytest.mark.parametrize(("toml", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config(toml)
    assert str(caught.value) == expected
    key, _, message = expected.partition(": ")
    assert (caught.value.key, caught.value.message) == (key, message)


def test_speak_check_refuses_a_bad_node_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(N + 'encapsulation = "vxlan"\n')
    status = main(["speak", "-c", str(path), "--check"])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.startswith(f"pybgp speak: {path}: node.encapsulation: unknown encapsulation")


def test_speak_check_accepts_a_full_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(FULL)
    assert main(["speak", "-c", str(path), "--check"]) == 0
    assert capsys.readouterr().out == f"{path}: configuration OK\n"
