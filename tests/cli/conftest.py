"""Fixtures shared with tests/runtime: a short directory for control sockets."""

from tests.runtime.helpers import sockdir

__all__ = ["sockdir"]
