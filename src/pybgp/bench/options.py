"""The options of ``pybgp bench reflect``, apart from the harness so that the ``pybgp``
command line can offer them without importing the lab machinery on every start."""

from __future__ import annotations

import argparse

SCENARIOS = ("1x1M", "10x100k", "fanout", "withdraw", "flap")
TARGETS = ("pybgp", "bird", "frr", "gobgp")
ALL_TARGETS = ("direct", *TARGETS)  # direct: no reflector, the calibration run
FULL_PREFIXES = 1_000_000
QUICK_PREFIXES = 100_000
TIMEOUT = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the harness's options to ``parser``."""
    parser.add_argument(
        "--targets",
        default=",".join(ALL_TARGETS),
        help=f"comma-separated, from {','.join(ALL_TARGETS)} (default: all, in that order)",
    )
    parser.add_argument(
        "--scenario",
        default="all",
        help=f"comma-separated, from {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--prefixes", type=int, help=f"N, prefixes per run (default {FULL_PREFIXES:,})"
    )
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_PREFIXES:,}, a smoke run")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help=f"seconds each phase may take before it is reported unfinished ({TIMEOUT:.0f})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep configurations and logs")
