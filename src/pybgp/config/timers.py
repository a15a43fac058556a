"""The timer keys shared by [speaker], [[peer]] and [[peer-range]], and their resolution.

A [[peer]] or [[peer-range]] inherits each timer the [speaker] section *wrote*; what
nobody wrote takes the default, and an unwritten keepalive-time follows the effective
hold-time (one third of it).  So a peer that only lowers hold-time gets a matching
keepalive-time, unless the speaker fixed keepalive-time explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .model import DEFAULT_CONNECT_RETRY, DEFAULT_DELAY_OPEN, DEFAULT_HOLD_TIME, Timers
from .schema import UNSET, Key, child
from .values import as_int, integer


def hold_time(value: Any, key: str) -> int:
    seconds = as_int(value, key)
    # RFC 4271 4.2: "the Hold Time MUST be either zero or at least three seconds".
    if seconds != 0 and not 3 <= seconds <= 65535:
        raise ConfigError(key, f"must be 0 or between 3 and 65535 (RFC 4271 4.2), got {seconds}")
    return seconds


HOLD_TIME = Key("hold-time", hold_time, UNSET)
KEEPALIVE_TIME = Key("keepalive-time", integer(0, 65535), UNSET)
CONNECT_RETRY = Key("connect-retry", integer(1, 65535), UNSET)
# RFC 4271 8.1.1: DelayOpenTime; 0 here means DelayOpen is off.
DELAY_OPEN = Key("delay-open", integer(0, 65535), UNSET)

TIMER_KEYS = (HOLD_TIME, KEEPALIVE_TIME, CONNECT_RETRY, DELAY_OPEN)
TIMER_ATTRS = tuple(key.attr for key in TIMER_KEYS)


def pop_timers(values: dict[str, Any]) -> dict[str, int]:
    """Move the timer values a table wrote out of `values` (from `read_table`)."""
    return {attr: values.pop(attr) for attr in TIMER_ATTRS if attr in values}


def resolve_timers(
    written: Mapping[str, int], path: str, inherited: Mapping[str, int] | None = None
) -> Timers:
    """The Timers of the table at `path`, which wrote `written` and inherits `inherited`
    (the timers [speaker] wrote).  The error names a key the table at `path` wrote."""
    merged = {**(inherited or {}), **written}
    hold = merged.get("hold_time", DEFAULT_HOLD_TIME)
    # RFC 4271 10: a reasonable KeepaliveTime is one third of the HoldTime.
    keepalive = merged.get("keepalive_time", hold // 3)
    if hold == 0:
        # RFC 4271 4.4: with a zero Hold Time, periodic KEEPALIVEs MUST NOT be sent.
        keepalive = 0
    elif keepalive == 0 or keepalive >= hold:
        _reject(keepalive, hold, written, path)
    return Timers(
        hold_time=hold,
        keepalive_time=keepalive,
        connect_retry=merged.get("connect_retry", DEFAULT_CONNECT_RETRY),
        delay_open=merged.get("delay_open", DEFAULT_DELAY_OPEN),
    )


def _reject(keepalive: int, hold: int, written: Mapping[str, int], path: str) -> None:
    if "keepalive_time" in written:
        if keepalive == 0:
            message = "must not be 0 unless hold-time is 0 (RFC 4271 4.4)"
        else:
            message = f"must be less than hold-time ({hold}), got {keepalive}"
        raise ConfigError(child(path, "keepalive-time"), message)
    # keepalive-time came from [speaker]; this table lowered hold-time under it.
    raise ConfigError(
        child(path, "hold-time"),
        f"must be greater than keepalive-time ({keepalive}, set in [speaker]), got {hold};"
        " set keepalive-time here too",
    )
