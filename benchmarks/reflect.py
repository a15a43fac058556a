"""Route-reflector benchmark: pybgp, BIRD 2, FRR bgpd and GoBGP side by side (issue 4).

The harness lives in :mod:`pybgp.bench.reflect` so that ``pybgp bench reflect`` runs it
too; see its docstring and ``benchmarks/README.md``.  Run as root from the repository
root::

    .venv/bin/python benchmarks/reflect.py                       # everything, 1M prefixes
    .venv/bin/python benchmarks/reflect.py --quick               # 100k prefixes
    .venv/bin/python benchmarks/reflect.py --targets bird,frr --scenario 1x1M,flap
"""

from __future__ import annotations

import sys

from pybgp.bench.reflect import main

if __name__ == "__main__":
    sys.exit(main())
