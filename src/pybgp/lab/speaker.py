"""`PybgpSpeaker`: a `pybgp speak` process in a lab namespace, driven like the others.

It writes the TOML configuration (docs/configuration.md) from lab `Neighbor`s and
`Route`s, starts `pybgp speak` with the interpreter running this code, and talks to
the daemon through its control socket, as `pybgp status` does.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pybgp.lab.daemon import Neighbor, Route
from pybgp.lab.netns import Lab, Namespace, Process, wait_until
from pybgp.runtime.control import ControlError, request


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _announce_entry(route: Route) -> dict[str, Any]:
    entry: dict[str, Any] = {"prefix": route.prefix, "origin": route.origin}
    if route.next_hop:
        entry["next-hop"] = route.next_hop
    if route.med is not None:
        entry["med"] = route.med
    if route.local_pref is not None:
        entry["local-pref"] = route.local_pref
    if route.communities:
        entry["communities"] = list(route.communities)
    if route.large_communities:
        entry["large-communities"] = list(route.large_communities)
    if route.as_path:
        entry["as-path"] = list(route.as_path)
    return entry


class PybgpSpeaker:
    """`pybgp speak` in `ns`; `neighbors[i].local_address` is the address it binds."""

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        asn: int,
        router_id: str,
        neighbors: Sequence[Neighbor],
        announce: Sequence[Route] = (),
        listen: Sequence[str] = (),
        peer_types: dict[str, str] | None = None,
        connect_retry: int = 1,
        name: str = "pybgp",
    ) -> None:
        self.lab = lab
        self.ns = ns
        self.asn = asn
        self.router_id = router_id
        self.neighbors = list(neighbors)
        self.announce = list(announce)
        self.listen = list(listen)
        self.peer_types = peer_types or {}
        self.connect_retry = connect_retry
        self.name = name
        self.socket = str(lab.workdir / f"{name}.sock")
        self.config_path: Path = lab.workdir / f"{name}.toml"
        self.process: Process | None = None

    def config_text(self) -> str:
        lines = [
            "[speaker]",
            f"asn = {self.asn}",
            f"router-id = {_toml(self.router_id)}",
            f"listen = {_toml(self.listen)}",
            f"control-socket = {_toml(self.socket)}",
            f"connect-retry = {self.connect_retry}",
            f"announce = {_toml([_announce_entry(r) for r in self.announce])}",
        ]
        for neighbor in self.neighbors:
            lines += [
                "",
                "[[peer]]",
                f"address = {_toml(neighbor.address)}",
                f"asn = {neighbor.asn}",
                f"type = {_toml(self.peer_types.get(neighbor.address, 'global'))}",
                f"local-address = {_toml(neighbor.local_address)}",
                f"port = {neighbor.port}",
                f"passive = {_toml(neighbor.passive)}",
                f"hold-time = {neighbor.hold_time}",
                f"families = {_toml(list(neighbor.families))}",
            ]
            if neighbor.password:
                lines.append(f"password = {_toml(neighbor.password)}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.config_path.write_text(self.config_text())
        argv = [sys.executable, "-m", "pybgp.cli", "speak", "-c", str(self.config_path)]
        self.process = self.lab.spawn(self.ns, argv, self.name)
        wait_until(self._answers, 15, f"{self.name} control socket")

    def stop(self, grace: float = 5.0) -> None:
        if self.process is not None:
            self.process.stop(grace)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def _answers(self) -> bool:
        if self.process is not None and not self.process.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.log_text()}")
        try:
            request(self.socket, "status", timeout=2)
        except ControlError:
            return False
        return True

    # --- the control socket ----------------------------------------------------------------
    def control(self, command: str, **args: Any) -> Any:
        return request(self.socket, command, timeout=10, **args)

    def status(self) -> dict[str, Any]:
        return self.control("status")  # type: ignore[no-any-return]

    def peer_status(self, address: str) -> dict[str, Any]:
        for peer in self.status()["peers"]:
            if peer["address"] == address:
                return peer  # type: ignore[no-any-return]
        raise KeyError(f"{self.name} has no peer {address}")

    def established(self, address: str) -> bool:
        return self.peer_status(address)["state"] == "Established"

    def wait_established(self, address: str, timeout: float = 30) -> None:
        wait_until(lambda: self.established(address), timeout, f"{self.name} -> {address}")

    def received(self, address: str) -> list[dict[str, Any]]:
        return self.control("adj-rib-in", peer=address)  # type: ignore[no-any-return]

    def log_text(self) -> str:
        return self.process.log_text() if self.process is not None else ""
