"""Kernel FIB adapter: the node's best routes as kernel routes (``proto bird``).

- :mod:`pybgp.fib.base`: the :class:`Fib` interface and its data types.
- :mod:`pybgp.fib.memory`: :class:`MemoryFib`, the same semantics in memory.
- :mod:`pybgp.fib.netlink`: :class:`NetlinkFib`, rtnetlink; the only module that imports
  pyroute2, so it is imported lazily here (``from pybgp.fib import NetlinkFib`` works,
  ``import pybgp.fib`` alone does not load pyroute2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybgp.fib.base import (
    RT_TABLE_MAIN,
    RTPROT_BIRD,
    Fib,
    FibSettings,
    KernelRoute,
    NextHop,
    Prefix,
    ReconcileReport,
)
from pybgp.fib.memory import MemoryFib

if TYPE_CHECKING:
    from pybgp.fib.netlink import NetlinkFib

__all__ = [
    "RTPROT_BIRD",
    "RT_TABLE_MAIN",
    "Fib",
    "FibSettings",
    "KernelRoute",
    "MemoryFib",
    "NetlinkFib",
    "NextHop",
    "Prefix",
    "ReconcileReport",
]


def __getattr__(name: str) -> Any:
    if name == "NetlinkFib":
        from pybgp.fib.netlink import NetlinkFib

        return NetlinkFib
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
