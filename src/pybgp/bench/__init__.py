"""Benchmark harnesses that need to be importable (run inside namespaces with ``-m``).

``pybgp bench reflect`` (:mod:`pybgp.bench.reflect`) measures route reflection: pybgp,
BIRD 2, FRR bgpd and GoBGP as the reflector between fast raw-socket peers
(:mod:`pybgp.bench.injector`, :mod:`pybgp.bench.sink`).  The peers build their messages
with :mod:`pybgp.bench.bgp`, a few dozen lines of their own rather than ``pybgp.wire``,
so that the codec under test is not also the one doing the measuring.
"""
