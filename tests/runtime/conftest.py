"""The fixtures of tests/runtime live with the helpers they use (helpers.py)."""

from .helpers import sockdir, speakers

__all__ = ["sockdir", "speakers"]
