"""TCP MD5 (RFC 2385) against each daemon: a wrong password never gets a session up."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from pybgp.lab import Lab
from pybgp.lab.interop import PEERS, PYBGP_V4, build, v4

from .conftest import skip_reason


@pytest.mark.parametrize("name", list(PEERS))
def test_wrong_md5_password_is_refused(name: str) -> None:
    reason = skip_reason([name])
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="pybgp-md5-") as tmp, Lab("md5", Path(tmp)) as lab:
        interop = build(lab, [name], hold_time=9, password="right", pybgp_password="wrong")
        theirs = v4(PEERS[name][1])
        daemon = interop.daemons[name]
        deadline = time.monotonic() + 6  # several connect retries on both sides
        while time.monotonic() < deadline:
            assert interop.pybgp.peer_status(theirs)["state"] != "Established"
            assert not daemon.established(PYBGP_V4)
            time.sleep(0.5)
        # The IPv6 session has no password on either side: it comes up, so the lab works.
        interop.pybgp.wait_established(f"2001:db8::{PEERS[name][1]}", 30)
        assert interop.pybgp.peer_status(theirs)["received"] == 0
