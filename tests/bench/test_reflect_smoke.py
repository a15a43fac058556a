"""pybgp bench reflect, smoke test: BIRD as the reflector, 20,000 prefixes, every phase.

Checks the plumbing (namespaces, injector, sink, the phases driven by signals, the
report), not the figures.  Needs root and BIRD; takes about 10 seconds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pybgp.bench import reflect
from pybgp.bench.report import render
from pybgp.lab import have_root, missing_tools

PREFIXES = 20_000

pytestmark = pytest.mark.skipif(
    not have_root() or bool(missing_tools("ip", "ss", "bird")),
    reason="needs root (network namespaces), iproute2 and BIRD 2 (bird)",
)


def namespaces() -> set[str]:
    """This process's benchmark namespaces (other test runs may share the machine)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    return {n for n in names if n.startswith("pybgp-bird-") and n.endswith(f"-{os.getpid()}")}


@pytest.mark.parametrize("scenario", ["1x1M", "flap"])
def test_bird_reflects_every_prefix(scenario: str, tmp_path: Path) -> None:
    rows = reflect.measure("bird", scenario, PREFIXES, timeout=20, work=tmp_path)
    assert [r.error for r in rows] == [""] * len(rows)
    for row in rows:
        assert row.routes == PREFIXES
        assert row.seconds is not None and row.seconds > 0
        assert row.cpu_s is not None
        assert row.version.startswith("BIRD")
    if scenario == "1x1M":
        assert rows[0].bytes_per_route is not None
    else:
        assert [r.scenario for r in rows] == ["flap-down", "flap-up"]
    assert "| BIRD" in render(rows, PREFIXES)
    assert namespaces() == set()  # everything removed


def test_calibration_runs_without_a_reflector(tmp_path: Path) -> None:
    rows = reflect.measure("direct", "withdraw", PREFIXES, timeout=20, work=tmp_path)
    assert rows[0].error == ""
    assert rows[0].cpu_s is None  # no target to measure
