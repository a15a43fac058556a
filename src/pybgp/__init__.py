"""pybgp: a pure-Python BGP-4 speaker library, node daemon and route reflector.

    from pybgp import Speaker, loads_config

    async with Speaker(loads_config(TOML)) as speaker:
        speaker.announce("10.244.1.0/26")
        async for change in speaker.watch():
            ...

docs/library.md is the guide.  The names below are imported on first use, so that
`import pybgp.wire` (the sans-I/O codec) does not pull in asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Speaker": "pybgp.runtime.speaker",
    "RouteChange": "pybgp.runtime.changes",
    "PeerChange": "pybgp.runtime.changes",
    "Config": "pybgp.config",
    "ConfigError": "pybgp.config",
    "SpeakerConfig": "pybgp.config",
    "PeerConfig": "pybgp.config",
    "PeerRangeConfig": "pybgp.config",
    "load_config": "pybgp.config",
    "loads_config": "pybgp.config",
}

__all__ = [
    "Config",
    "ConfigError",
    "PeerChange",
    "PeerConfig",
    "PeerRangeConfig",
    "RouteChange",
    "Speaker",
    "SpeakerConfig",
    "__version__",
    "load_config",
    "loads_config",
]

if TYPE_CHECKING:
    from .config import (
        Config,
        ConfigError,
        PeerConfig,
        PeerRangeConfig,
        SpeakerConfig,
        load_config,
        loads_config,
    )
    from .runtime.changes import PeerChange, RouteChange
    from .runtime.speaker import Speaker


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pybgp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
