"""The FSM's timers as deadlines on the caller's clock (RFC 4271 8 and 10).

No clock is read here: every call takes `now`, so tests drive time by hand and the
runtime passes `loop.time()`.  Jitter (RFC 4271 10) comes from a `random.Random` the
session owns, which tests seed.
"""

from __future__ import annotations

import random
from enum import Enum


class Timer(Enum):
    CONNECT_RETRY = "ConnectRetryTimer"
    HOLD = "HoldTimer"
    KEEPALIVE = "KeepaliveTimer"
    DELAY_OPEN = "DelayOpenTimer"
    IDLE_HOLD = "IdleHoldTimer"


# RFC 4271 10: "jitter ... by multiplying the base value ... by a random factor, which
# is uniformly distributed in the range from 0.75 to 1.0".  It applies to the
# ConnectRetryTimer and the KeepaliveTimer among ours.
JITTERED = frozenset({Timer.CONNECT_RETRY, Timer.KEEPALIVE})


class Timers:
    """Running timers, each a deadline."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._deadlines: dict[Timer, float] = {}

    def start(self, timer: Timer, seconds: float, now: float) -> None:
        """(Re)start `timer`; a zero or negative duration means the timer stays off."""
        if seconds <= 0:
            self._deadlines.pop(timer, None)
            return
        if timer in JITTERED:
            seconds *= self._rng.uniform(0.75, 1.0)
            if timer is Timer.KEEPALIVE:
                # RFC 4271 4.4: KEEPALIVEs "MUST NOT be sent more frequently than one
                # per second", whatever the jitter.
                seconds = max(seconds, 1.0)
        self._deadlines[timer] = now + seconds

    def stop(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)

    def stop_all(self) -> None:
        self._deadlines.clear()

    def running(self, timer: Timer) -> bool:
        return timer in self._deadlines

    def deadline(self, timer: Timer) -> float | None:
        return self._deadlines.get(timer)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def pop_expired(self, now: float) -> list[Timer]:
        """The timers due at `now`, earliest first; they stop running."""
        due = sorted((d, t.value, t) for t, d in self._deadlines.items() if d <= now)
        for _, _, timer in due:
            del self._deadlines[timer]
        return [timer for _, _, timer in due]


class OscillationDamper:
    """RFC 4271 8.1.1 DampPeerOscillations: the IdleHoldTime grows while a peer flaps.

    Each automatic return to Idle doubles the wait before the next automatic start, up
    to `maximum`; a session that stayed Established for `stable` seconds resets it.  With
    damping off the wait is always `initial`.  The runtime hands the same damper to the
    session that replaces a collided one, so a collision does not reset the history.
    """

    def __init__(
        self,
        enabled: bool = True,
        initial: float = 1.0,
        maximum: float = 60.0,
        stable: float = 60.0,
    ) -> None:
        self.enabled = enabled
        self.initial = initial
        self.maximum = maximum
        self.stable = stable
        self.current = initial
        self.flaps = 0

    def session_ended(self, established_at: float | None, now: float) -> float:
        """Record an automatic stop; return the IdleHoldTime to wait."""
        if not self.enabled:
            return self.initial
        if established_at is not None and now - established_at >= self.stable:
            self.flaps = 0
        self.flaps += 1
        self.current = min(self.initial * 2 ** (self.flaps - 1), self.maximum)
        return self.current
