"""`pybgp bench`: benchmarks that need the lab (root, network namespaces, the daemons).

``pybgp bench reflect`` runs :mod:`pybgp.bench.reflect`, the route-reflector benchmark
(also ``benchmarks/reflect.py``).  The harness is imported only when it runs: it pulls
in the lab machinery, which the other commands do not need.
"""

from __future__ import annotations

import argparse
from typing import Any

from pybgp.bench.options import add_arguments


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="run a benchmark in network namespaces (needs root)",
        description="Benchmarks that start real daemons in network namespaces.",
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    reflect = benchmarks.add_parser(
        "reflect",
        help="route reflection: pybgp, BIRD 2, FRR and GoBGP side by side",
        description=(
            "Start each target as an iBGP route reflector between fast injector and sink "
            "peers, in network namespaces; report seconds, prefixes/s, the target's CPU "
            "seconds, peak RSS and bytes per route, and the ratios pybgp / X."
        ),
    )
    add_arguments(reflect)
    reflect.set_defaults(run=_reflect)


def _reflect(args: argparse.Namespace) -> int:
    from pybgp.bench import reflect

    return reflect.run(args)
