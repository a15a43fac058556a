"""pybgp: a pure-Python BGP-4 speaker library, node daemon and route reflector."""

__version__ = "0.1.0"
