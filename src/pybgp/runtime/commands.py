"""The control socket's commands: a JSON request in, a call on the `Speaker`, an answer out.

One function per command (docs/sessions.md lists them; the `pybgp` verbs send them).  A
command refuses a bad request by raising ValueError, whose text goes back to the
client as the error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ..wire.nlri import prefix_str
from ..wire.render import attributes_to_dict
from .changes import next_hop_text
from .peer import FAMILY_NAMES, PeerDriver
from .rib_view import loc_rib_entries

if TYPE_CHECKING:
    from .speaker import Speaker

Args = dict[str, Any]
Handler = Callable[[Args], Any]


def handlers(speaker: Speaker) -> dict[str, Handler]:
    """The commands `speaker` answers on its control socket."""
    return {
        "status": lambda args: speaker.status(),
        "adj-rib-in": partial(adj_rib_in, speaker),
        "routes": partial(routes, speaker),
        "reload": partial(reload, speaker),
        "block-release": partial(block_release, speaker),
        "stop": partial(stop, speaker),
        "peer-disable": partial(peer_disable, speaker),
        "peer-enable": partial(peer_enable, speaker),
        "peer-reset": partial(peer_reset, speaker),
    }


def routes(speaker: Speaker, args: Args) -> list[dict[str, Any]]:
    """The Loc-RIB (best path first per prefix), with the kernel's route on a node."""
    fib_sync = speaker.fib_sync
    return loc_rib_entries(
        speaker.rib,
        args.get("prefix"),
        _optional_int(args.get("limit")),
        fib_sync.kernel_route if fib_sync is not None else None,
    )


def adj_rib_in(speaker: Speaker, args: Args) -> list[dict[str, Any]]:
    """What one peer sent us, as received (before import policy)."""
    out = []
    for route in _driver(speaker, args).adj_in.routes():
        entry: dict[str, Any] = {
            "family": FAMILY_NAMES.get(route.family, str(route.family)),
            "prefix": prefix_str(route.key, route.family[0]),
            "next_hop": next_hop_text(route.next_hop),  # here, first among the attributes
        }
        entry.update(attributes_to_dict(route.attributes))
        entry["next_hop"] = next_hop_text(route.next_hop)  # the route's own wins
        out.append(entry)
    return out


def reload(speaker: Speaker, args: Args) -> str:
    from ..config import ConfigError

    try:
        return speaker.reload()
    except ConfigError as exc:
        raise ValueError(f"reload refused, the running configuration stays: {exc}") from None


def block_release(speaker: Speaker, args: Args) -> str:
    """A block with no pods left: no longer announced, its blackhole removed."""
    try:
        block = ipaddress.ip_network(str(args.get("block")))
    except ValueError:
        raise ValueError(f"not a prefix: {args.get('block')!r}") from None
    if speaker.fib_sync is None or not speaker.fib_sync.release(block):
        raise ValueError(f"{block} is not one of this node's blocks")
    speaker.withdraw(str(block))
    return f"block {block} released"


def stop(speaker: Speaker, args: Args) -> str:
    """`pybgp stop [--graceful]`: the daemon serving the speaker stops (see Speaker.close)."""
    graceful = bool(args.get("graceful"))
    restart_time = speaker.speaker.graceful_restart_time
    if graceful and not restart_time:
        raise ValueError(
            "graceful-restart-time is 0: peers would drop our routes at once;"
            " stop without --graceful, or set a restart time"
        )
    speaker.request_stop(graceful)
    if graceful:
        return (
            "stopping for a restart: sessions close without a NOTIFICATION (peers keep"
            f" our routes up to {restart_time} s), kernel routes stay"
        )
    return "stopping: every session gets a Cease"


def peer_disable(speaker: Speaker, args: Args) -> str:
    driver = _driver(speaker, args)
    driver.stop(str(args.get("message", "")))
    return f"{driver.name} disabled"


def peer_enable(speaker: Speaker, args: Args) -> str:
    driver = _driver(speaker, args)
    driver.start()
    return f"{driver.name} enabled"


def peer_reset(speaker: Speaker, args: Args) -> str:
    driver = _driver(speaker, args)
    driver.stop(str(args.get("message", "")), restart=True)
    return f"{driver.name} reset"


def _driver(speaker: Speaker, args: Args) -> PeerDriver:
    try:
        address = ipaddress.ip_address(str(args.get("peer")))
    except ValueError:
        raise ValueError(f"not a peer address: {args.get('peer')!r}") from None
    driver = speaker.peers.get(address)
    if driver is None:
        raise ValueError(f"no peer {address}")
    return driver


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"limit must be a non-negative integer, got {value!r}")
    return value
