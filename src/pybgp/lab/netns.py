"""Network namespaces, veth links, bridges and tracked processes, driven by the ``ip`` command.

A :class:`Lab` owns everything it creates: namespaces, the links between them and the
processes started inside them.  ``Lab.close()`` (or leaving the ``with`` block) stops every
process by its PID and deletes every namespace, also when the body raised.

Namespace names are ``<prefix><tag>-<role>-<pid>`` (prefix ``pybgp-`` by default), where
``pid`` is the creating process.  :func:`cleanup_stale` uses that pid to find and remove the
leftovers of runs that died before they could clean up.

Network hygiene: traffic only ever flows inside these namespaces; callers give the
addresses (use 198.18.0.0/15 and 2001:db8::/32).  Nothing here touches the host's own
namespace except ``ip netns add/del``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "NS_PREFIX",
    "CommandError",
    "Lab",
    "Namespace",
    "Process",
    "cleanup_stale",
    "have_root",
    "missing_tools",
    "wait_until",
]

log = logging.getLogger(__name__)

NS_PREFIX = "pybgp-"
_LOG_TAIL = 3000  # characters of each process log attached to an exception raised in a Lab


class CommandError(subprocess.CalledProcessError):
    """A command run inside a namespace failed; ``str()`` includes what it printed."""

    def __str__(self) -> str:
        output = ((self.stdout or "") + (self.stderr or "")).strip()
        return f"{super().__str__()}: {output}" if output else super().__str__()


def have_root() -> bool:
    """True when this process may create namespaces (effective uid 0)."""
    return os.geteuid() == 0


def missing_tools(*names: str) -> list[str]:
    """Return those of ``names`` that are neither on ``PATH`` nor an executable path."""
    missing: list[str] = []
    for name in names:
        if os.sep in name:
            if not os.access(name, os.X_OK):
                missing.append(name)
        elif shutil.which(name) is None:
            missing.append(name)
    return missing


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``predicate`` every ``interval`` s until it is true.

    Raises ``TimeoutError("timed out after {timeout}s waiting for {what}")`` when it is
    still false after ``timeout`` seconds (it is always tried at least once).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid`` (read from ``/proc``)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


class Process:
    """A process started in a namespace, in its own session (so its PID is its group id).

    Stopped by PID only: SIGTERM, then SIGKILL after a grace period; helpers it started in
    the same process group (ExaBGP's API process) are signalled with it.
    """

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (not its group); a no-op once it has exited."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def stop(self, grace: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig`` to the process group, SIGKILL after ``grace`` s; return the exit code.

        Only the first call acts; later ones (``Lab.close`` after ``PeerDaemon.stop``)
        return the exit code, so that a PID reused since is never signalled.
        """
        if self._stopped:
            return self.popen.returncode
        self._stopped = True
        if self.alive():
            # A frozen process cannot act on SIGTERM until it is continued.
            self._signal_group(signal.SIGCONT)
            self._signal_group(sig)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=grace)
        # Helpers of the group that outlived the leader.  The group id cannot be reused
        # while any member exists, so everything found here is ours.
        for pid in _group_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return self.popen.returncode

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def log_text(self) -> str:
        """What the process has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Namespace:
    """One network namespace; commands run in it through ``ip netns exec``."""

    def __init__(self, name: str, role: str, workdir: Path) -> None:
        self.name = name
        self.role = role
        self.workdir = workdir

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def run(
        self, *argv: str, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace; raise :class:`CommandError` if ``check`` and it fails."""
        full = ["ip", "netns", "exec", self.name, *argv]
        done = subprocess.run(
            full, capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
        if check and done.returncode != 0:
            raise CommandError(done.returncode, full, done.stdout, done.stderr)
        return done

    def popen(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        unshare_uts: bool = False,
        hostname: str | None = None,
        append: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the namespace in a new session; stdout and stderr go to ``log``.

        ``unshare_uts`` runs it in a private UTS namespace whose host name is ``hostname``
        (default: the role), for daemons that announce the host name (GoBGP's FQDN
        capability).  Both ``ip netns exec`` and the ``unshare`` shell ``exec`` the
        command, so the returned PID is the daemon's own.  ``append`` keeps what ``log``
        already holds (a restarted daemon).
        """
        command = list(argv)
        if unshare_uts:
            name = hostname or self.role
            command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, *argv]
        with log.open("ab" if append else "wb") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.name, *command],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=None if env is None else dict(env),
                cwd=self.workdir,
            )

    def add_address(self, dev: str, cidr: str) -> None:
        """Add ``cidr`` to ``dev``; IPv6 ones ``nodad`` so they are usable at once."""
        extra = ["nodad"] if ":" in cidr else []
        self.run("ip", "addr", "add", cidr, "dev", dev, *extra)

    def addresses(self) -> dict[str, list[str]]:
        """Device name -> its addresses as CIDR strings (``ip -j addr show``)."""
        found: dict[str, list[str]] = {}
        for dev in json.loads(self.run("ip", "-j", "addr", "show").stdout or "[]"):
            cidrs = [f"{a['local']}/{a['prefixlen']}" for a in dev.get("addr_info", [])]
            found[dev["ifname"]] = cidrs
        return found

    def listening(self, port: int = 179) -> bool:
        """True when some socket listens on TCP ``port`` in the namespace."""
        out = self.run("ss", "-Hltn", f"sport = :{port}", check=False).stdout
        return bool(out.strip())

    def wait_listening(self, port: int = 179, timeout: float = 10) -> None:
        """Block until something listens on TCP ``port`` in the namespace."""
        wait_until(lambda: self.listening(port), timeout, f"a listener on port {port} in {self}")


class Lab:
    """Namespaces, links and processes of one experiment; :meth:`close` removes them all.

    ``workdir`` receives configuration files and process logs (``<name>.log``); it is
    created if needed and left in place for the caller to inspect or delete.
    """

    def __init__(self, tag: str, workdir: Path, prefix: str = NS_PREFIX) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
            raise ValueError(f"lab tag {tag!r}: use letters, digits, '_', '.', '-'")
        self.tag = tag
        self.prefix = prefix
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespaces: list[Namespace] = []
        self.processes: list[Process] = []
        self._cleanups: list[Callable[[], None]] = []
        self._veth_ids = itertools.count(1)
        self._names: set[str] = set()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            for proc in self.processes:
                exc.add_note(f"--- log of {proc.name} ---\n{proc.log_text()[-_LOG_TAIL:]}")
        self.close()

    # -- namespaces and links ---------------------------------------------------------
    def namespace(self, role: str) -> Namespace:
        """Create namespace ``<prefix><tag>-<role>-<pid>`` with ``lo`` up and IPv6 ready.

        IPv6 is enabled without duplicate address detection and router solicitations, so
        addresses (link-local ones included, which some daemons put into next hops) are
        valid the moment they are added.
        """
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", role):
            raise ValueError(f"namespace role {role!r}: use letters, digits, '_', '.', '-'")
        name = f"{self.prefix}{self.tag}-{role}-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        ns = Namespace(name, role, self.workdir)
        self.namespaces.append(ns)
        for scope in ("all", "default"):
            for knob, value in (
                ("disable_ipv6", 0),
                ("accept_dad", 0),
                ("router_solicitations", 0),
            ):
                ns.run("sysctl", "-q", "-w", f"net.ipv6.conf.{scope}.{knob}={value}")
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    def link(
        self,
        a: Namespace,
        b: Namespace,
        a_addrs: Sequence[str],
        b_addrs: Sequence[str],
        dev: str = "eth0",
        macs: tuple[str, str] | None = None,
    ) -> None:
        """Join ``a`` and ``b`` with a veth pair named ``dev`` at both ends and address it.

        The pair is made inside ``a`` and its peer moved straight into ``b``, so it never
        shows up in the host's namespace.  ``macs`` fixes the two MAC addresses (and so
        the IPv6 link-local addresses) for reproducible captures.
        """
        mac_a = ["address", macs[0]] if macs else []
        mac_b = ["address", macs[1]] if macs else []
        peer = ["peer", "name", dev, *mac_b, "netns", b.name]
        a.run("ip", "link", "add", dev, *mac_a, "type", "veth", *peer)
        for ns, addrs in ((a, a_addrs), (b, b_addrs)):
            for cidr in addrs:
                ns.add_address(dev, cidr)
            ns.run("ip", "link", "set", dev, "up")

    def bridge(self, hub: Namespace, name: str = "br0", addrs: Sequence[str] = ()) -> None:
        """Create bridge ``name`` in ``hub``, up, with ``addrs`` on it."""
        hub.run("ip", "link", "add", name, "type", "bridge")
        for cidr in addrs:
            hub.add_address(name, cidr)
        hub.run("ip", "link", "set", name, "up")

    def attach(
        self,
        hub: Namespace,
        spoke: Namespace,
        spoke_addrs: Sequence[str],
        dev: str = "eth0",
        bridge: str = "br0",
    ) -> None:
        """Connect ``spoke`` to ``bridge`` in ``hub``: a veth ``dev`` in the spoke whose
        other end (``vethN``) is a port of the bridge."""
        port = f"veth{next(self._veth_ids)}"
        peer = ["peer", "name", port, "netns", hub.name]
        spoke.run("ip", "link", "add", dev, "type", "veth", *peer)
        hub.run("ip", "link", "set", port, "master", bridge, "up")
        for cidr in spoke_addrs:
            spoke.add_address(dev, cidr)
        spoke.run("ip", "link", "set", dev, "up")

    # -- processes ----------------------------------------------------------------------
    def spawn(
        self,
        ns: Namespace,
        argv: Sequence[str],
        name: str,
        env: Mapping[str, str] | None = None,
        unshare_uts: bool = False,
        hostname: str | None = None,
    ) -> Process:
        """Start ``argv`` in ``ns``, logging to ``<workdir>/<name>.log``; stopped on close."""
        log_path = self.workdir / f"{name}.log"
        # A restarted daemon appends to the log of its earlier runs in this lab.
        append = any(proc.log_path == log_path for proc in self.processes)
        popen = ns.popen(
            argv, log=log_path, env=env, unshare_uts=unshare_uts, hostname=hostname, append=append
        )
        proc = Process(name, popen, log_path)
        self.processes.append(proc)
        return proc

    def unique_name(self, stem: str) -> str:
        """``stem``, or ``stem-2``, ``stem-3``... if this lab already handed it out (for
        the files and logs of several daemons of one kind in one namespace)."""
        name, number = stem, 1
        while name in self._names:
            number += 1
            name = f"{stem}-{number}"
        self._names.add(name)
        return name

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` on :meth:`close`, after the processes stopped (newest first)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Stop every process (newest first), run cleanups, delete every namespace.

        Carries on past individual failures so that nothing is left behind, then raises
        ``RuntimeError`` if a namespace could not be deleted.
        """
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except Exception:  # keep cleaning up whatever happens
                log.exception("could not stop %s (pid %d)", proc.name, proc.pid)
        self.processes.clear()
        for cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception:
                log.exception("lab cleanup %r failed", cleanup)
        self._cleanups.clear()
        failed: list[str] = []
        for ns in reversed(self.namespaces):
            if not _delete_namespace(ns.name):
                failed.append(ns.name)
        self.namespaces.clear()
        if failed:
            raise RuntimeError(f"could not delete namespaces: {', '.join(failed)}")


def _delete_namespace(name: str) -> bool:
    """Delete namespace ``name``; a namespace that is already gone counts as deleted."""
    done = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True, check=False)
    return done.returncode == 0 or name not in _namespace_names()


def _namespace_names() -> list[str]:
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def cleanup_stale(prefix: str = NS_PREFIX) -> list[str]:
    """Delete the ``<prefix>...-<pid>`` namespaces whose creating process is gone.

    Processes still running inside such a namespace (daemons of the dead run) are killed
    by their PIDs first.  Returns the names of the namespaces removed; names that do not
    end in ``-<pid>`` are left alone.
    """
    removed: list[str] = []
    for name in _namespace_names():
        if not name.startswith(prefix):
            continue
        owner = name.rsplit("-", 1)[-1]
        if not owner.isdigit() or _pid_alive(int(owner)):
            continue
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        if _delete_namespace(name):
            log.info("removed stale namespace %s", name)
            removed.append(name)
    return removed
