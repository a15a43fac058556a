"""The TOML configuration of `pybgp speak`: a validated, frozen model.

    from pybgp.config import load_config, ConfigError
    config = load_config("/etc/pybgp/pybgp.toml")   # raises ConfigError("peer[1].port", ...)
    peer = config.match(remote_address)              # PeerConfig | None

docs/configuration.md is the user's page; `model.py` holds the dataclasses.
"""

from .errors import ConfigError
from .model import (
    BGP_PORT,
    DEFAULT_CONTROL_SOCKET,
    DEFAULT_LISTEN,
    Announcement,
    Config,
    IPAddress,
    IPNetwork,
    PeerConfig,
    PeerRangeConfig,
    SpeakerConfig,
    Timers,
    family_of,
)
from .parse import load_config, loads_config, parse_config

__all__ = [
    "BGP_PORT",
    "DEFAULT_CONTROL_SOCKET",
    "DEFAULT_LISTEN",
    "Announcement",
    "Config",
    "ConfigError",
    "IPAddress",
    "IPNetwork",
    "PeerConfig",
    "PeerRangeConfig",
    "SpeakerConfig",
    "Timers",
    "family_of",
    "load_config",
    "loads_config",
    "parse_config",
]
