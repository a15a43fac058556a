"""Fixtures of the interop tests: real BIRD 2, GoBGP, FRR and ExaBGP in namespaces.

The whole lab (pybgp and all four daemons) is built once per module; tests that take
a session down bring it back before they end.  Without root, or without a daemon's
binary, the tests skip and say why; CI runs as root with everything installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybgp.lab import DAEMONS, Lab, available, cleanup_stale
from pybgp.lab.interop import PEERS, InteropLab, build

INTEROP_PASSWORD = "pybgp-interop-md5"
HOLD_TIME = 6  # short, so that a frozen peer is noticed quickly


def skip_reason(names: list[str]) -> str | None:
    reasons = [r for name in names if (r := available(DAEMONS[name])) is not None]
    return "; ".join(reasons) or None


@pytest.fixture(scope="module")
def interop() -> Iterator[InteropLab]:
    reason = skip_reason(list(PEERS))
    if reason:
        pytest.skip(reason)
    cleanup_stale()
    with (
        tempfile.TemporaryDirectory(prefix="pybgp-interop-") as tmp,
        Lab("interop", Path(tmp)) as lab,
    ):
        the_lab = build(lab, hold_time=HOLD_TIME, password=INTEROP_PASSWORD)
        try:
            the_lab.wait_all_established(timeout=60)
        except Exception:
            for name, daemon in the_lab.daemons.items():
                print(f"--- {name} log ---\n{daemon.log_text()[-3000:]}")
            print(f"--- pybgp log ---\n{the_lab.pybgp.log_text()[-3000:]}")
            raise
        yield the_lab
