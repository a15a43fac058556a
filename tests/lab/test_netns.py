"""pybgp.lab.netns: namespaces, links, processes and cleaning up after them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pybgp.lab import Lab, Namespace, cleanup_stale, have_root, missing_tools, wait_until

needs_root = pytest.mark.skipif(
    not have_root() or bool(missing_tools("ip", "ss")),
    reason="needs root and iproute2 (ip, ss) to create network namespaces",
)


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- no root needed ---------------------------------------------------------------------
def test_wait_until_returns_once_true() -> None:
    calls: list[int] = []

    def third_time() -> bool:
        calls.append(1)
        return len(calls) >= 3

    wait_until(third_time, timeout=5, what="three calls", interval=0)
    assert len(calls) == 3


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match=r"timed out after 0.05s waiting for the moon"):
        wait_until(lambda: False, timeout=0.05, what="the moon", interval=0.01)


def test_missing_tools_reports_only_the_missing() -> None:
    assert missing_tools("sh", sys.executable, "pybgp-no-such-tool", "/no/such/bin") == [
        "pybgp-no-such-tool",
        "/no/such/bin",
    ]


def test_lab_rejects_names_that_would_break_the_namespace_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Lab("a b", tmp_path)


# -- root ---------------------------------------------------------------------------------
@needs_root
def test_close_removes_namespaces_and_processes_when_the_body_raised(tmp_path: Path) -> None:
    before = namespaces()
    with (
        pytest.raises(RuntimeError, match="boom") as raised,
        Lab("selftest-close", tmp_path) as lab,
    ):
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.link(a, b, ["198.18.200.1/24"], ["198.18.200.2/24"])
        sleeper = lab.spawn(a, ["sleep", "60"], "sleeper")
        created = {a.name, b.name}
        assert created <= namespaces()
        raise RuntimeError("boom")
    assert namespaces() == before
    assert not sleeper.alive()
    assert sleeper.popen.returncode is not None
    # The exception carries the logs of the lab's processes, for the test report.
    assert any("log of sleeper" in note for note in raised.value.__notes__)
    assert not created & namespaces()


@needs_root
def test_namespace_names_carry_tag_role_and_pid(tmp_path: Path) -> None:
    with Lab("selftest-name", tmp_path) as lab:
        ns = lab.namespace("r1")
        assert ns.name == f"pybgp-selftest-name-r1-{os.getpid()}"
        # IPv6 is on and addresses are usable at once (no duplicate address detection).
        ns.add_address("lo", "2001:db8:ff::1/128")
        out = ns.run("ip", "-6", "addr", "show", "dev", "lo").stdout
        assert "2001:db8:ff::1/128" in out
        assert "tentative" not in out


@needs_root
def test_cleanup_stale_removes_only_namespaces_of_dead_runs(tmp_path: Path) -> None:
    prefix = "pybgp-selftest-stale-"
    stale = f"{prefix}x-{dead_pid()}"
    alive = f"{prefix}y-{os.getpid()}"
    foreign = f"{prefix}no-pid"
    for name in (stale, alive, foreign):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        sleeper = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"])
        wait_until(lambda: bool(_pids(stale)), 5, "the sleeper to enter the namespace")
        removed = cleanup_stale(prefix)
        assert removed == [stale]
        assert stale not in namespaces()
        assert {alive, foreign} <= namespaces()
        assert sleeper.wait(timeout=5) != 0  # killed with the namespace
    finally:
        for name in (stale, alive, foreign):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _pids(ns: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return out.split()


LISTENER = (
    "import socket, sys; s = socket.socket(socket.AF_INET6); "
    "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(('::', 7000)); s.listen()\n"
    "while True: s.accept()[0].close()"
)


def connects(ns: Namespace, address: str) -> bool:
    """True if a TCP connection from ``ns`` to ``address`` port 7000 succeeds."""
    code = f"import socket; socket.create_connection(({address!r}, 7000), timeout=2).close()"
    return ns.run(sys.executable, "-c", code, check=False).returncode == 0


@needs_root
def test_bridge_joins_spokes_and_link_joins_pairs(tmp_path: Path) -> None:
    with Lab("selftest-net", tmp_path) as lab:
        hub, a, b = lab.namespace("hub"), lab.namespace("a"), lab.namespace("b")
        lab.bridge(hub, addrs=["198.18.201.254/24", "2001:db8:201::fe/64"])
        lab.attach(hub, a, ["198.18.201.1/24", "2001:db8:201::1/64"])
        lab.attach(hub, b, ["198.18.201.2/24", "2001:db8:201::2/64"])
        c = lab.namespace("c")
        lab.link(a, c, ["198.18.202.1/24"], ["198.18.202.2/24"], dev="eth1")
        for ns in (hub, a, b):
            lab.spawn(ns, [sys.executable, "-c", LISTENER], f"listener-{ns.role}")
            ns.wait_listening(7000)
        assert connects(a, "198.18.201.2")  # spoke to spoke across the bridge
        assert connects(b, "2001:db8:201::1")
        assert connects(a, "2001:db8:201::fe")  # spoke to the bridge's own address
        assert connects(c, "198.18.202.1")  # the point-to-point link
        # c is joined to a only: the bridge is out of its reach.
        assert not connects(c, "198.18.201.2")


@needs_root
def test_process_stop_escalates_and_wait_listening(tmp_path: Path) -> None:
    with Lab("selftest-proc", tmp_path) as lab:
        ns = lab.namespace("a")
        # A listener that ignores SIGTERM: stop() must fall back to SIGKILL.
        code = (
            "import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            "s = socket.socket(); s.bind(('127.0.0.1', 1790)); s.listen(); print('up', flush=True);"
            "time.sleep(60)"
        )
        proc = lab.spawn(ns, [sys.executable, "-c", code], "stubborn")
        ns.wait_listening(1790, timeout=10)
        assert not ns.listening(179)
        started = time.monotonic()
        assert proc.stop(grace=0.5) == -9
        assert time.monotonic() - started < 5
        assert "up" in proc.log_text()
