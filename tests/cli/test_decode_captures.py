"""`pybgp decode --pcap` on the golden captures of real BIRD, FRR, GoBGP and ExaBGP
sessions (tests/vectors/README.md says what each shows).

Every message must decode (no ERROR line), and where tshark is installed its BGP
dissector must see the same messages: the same types from the same senders, and the
same announced and withdrawn prefixes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from pybgp.cli.main import main

CAPTURES = Path(
    os.environ.get("PYBGP_CAPTURES", Path(__file__).parent.parent / "vectors" / "captures")
)
FILES = sorted(p for p in CAPTURES.glob("*") if p.suffix in (".pcap", ".pcapng"))
TYPE_NUMBERS = {"OPEN": 1, "UPDATE": 2, "NOTIFICATION": 3, "KEEPALIVE": 4, "ROUTE-REFRESH": 5}
PREFIX_FIELDS = {
    "announced": [
        "bgp.nlri_prefix",
        "bgp.mp_reach_nlri_ipv4_prefix",
        "bgp.mp_reach_nlri_ipv6_prefix",
    ],
    "withdrawn": [
        "bgp.withdrawn_prefix",
        "bgp.mp_unreach_nlri_ipv4_prefix",
        "bgp.mp_unreach_nlri_ipv6_prefix",
    ],
}

pytestmark = pytest.mark.skipif(not FILES, reason=f"no captures in {CAPTURES}")


def decode_capture(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    status = main(["decode", "--pcap", str(path)])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _sender(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


def _ours(records: list[dict]) -> tuple[Counter, dict[str, set[str]]]:
    types: Counter = Counter()
    prefixes: dict[str, set[str]] = {"announced": set(), "withdrawn": set()}
    for record in records:
        types[(_sender(record["src"]), TYPE_NUMBERS[record["type"]])] += 1
        if record["type"] != "UPDATE":
            continue
        attrs = record["attributes"]
        announced = record["nlri"] + attrs.get("mp_reach", {}).get("nlri", [])
        withdrawn = record["withdrawn"] + attrs.get("mp_unreach", {}).get("withdrawn", [])
        for kind, items in (("announced", announced), ("withdrawn", withdrawn)):
            for item in items:
                text = item["prefix"] if isinstance(item, dict) else item
                prefixes[kind].add(text.split("/")[0])
    return types, prefixes


def _tshark(path: Path) -> tuple[Counter, dict[str, set[str]]]:
    fields = [
        "ip.src",
        "ipv6.src",
        "bgp.type",
        *PREFIX_FIELDS["announced"],
        *PREFIX_FIELDS["withdrawn"],
    ]
    command = ["tshark", "-r", str(path), "-Y", "bgp", "-T", "fields", "-E", "occurrence=a"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    types: Counter = Counter()
    prefixes: dict[str, set[str]] = {"announced": set(), "withdrawn": set()}
    for line in out.splitlines():
        columns = line.split("\t")
        values = dict(zip(fields, columns, strict=False))
        sender = values["ip.src"] or values["ipv6.src"]
        for kind in filter(None, values["bgp.type"].split(",")):
            types[(sender, int(kind))] += 1
        for group, names in PREFIX_FIELDS.items():
            for name in names:
                prefixes[group].update(filter(None, values.get(name, "").split(",")))
    return types, prefixes


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_capture_decodes_without_errors(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, records = decode_capture(path, capsys)
    errors = [r for r in records if r["type"] == "ERROR"]
    assert errors == []
    assert status == 0
    kinds = {r["type"] for r in records}
    # Every capture is a whole session: OPENs, keepalives and routes at least.
    assert {"OPEN", "KEEPALIVE", "UPDATE"} <= kinds
    assert all(r["src"] and r["dst"] and r["ts"] > 0 for r in records)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_capture_agrees_with_tshark(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, records = decode_capture(path, capsys)
    our_types, our_prefixes = _ours(records)
    their_types, their_prefixes = _tshark(path)
    assert our_types == their_types
    if "addpath" not in path.name:  # tshark guesses at path identifiers; compare the rest
        assert our_prefixes == their_prefixes
