"""Real BGP daemons (BIRD 2, GoBGP, FRR bgpd, ExaBGP, and pybgp itself) in network namespaces.

Used by the interop tests, ``pybgp bench``, the demo lab and ``tests/vectors/make_captures.py``;
never by the pybgp daemon itself.  Standard library only; it drives ``ip``, ``ss`` and each
daemon's own CLI.  Needs root.

Example::

    with Lab("demo", workdir) as lab:
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.link(a, b, ["198.18.0.1/24"], ["198.18.0.2/24"])
        bird = Bird(lab, a, asn=65001, router_id="198.18.0.1",
                    neighbors=[Neighbor("198.18.0.2", 65002, "198.18.0.1")],
                    announce=[Route("10.244.1.0/24", med=10)])
        bird.start()
        ...
        bird.wait_established("198.18.0.2")
        routes = bird.received_routes("ipv4")

Everything the lab started is stopped by PID and every namespace deleted when the ``with``
block ends, also on errors.  :func:`cleanup_stale` removes what crashed runs left behind.
"""

from pybgp.lab.bird import Bird
from pybgp.lab.daemon import (
    DAEMONS,
    FAMILIES,
    Neighbor,
    PeerDaemon,
    Route,
    available,
    family_of,
    shutdown_text,
)
from pybgp.lab.exabgp import ExaBGP
from pybgp.lab.frr import Frr
from pybgp.lab.gobgp import GoBGP
from pybgp.lab.netns import (
    CommandError,
    Lab,
    Namespace,
    Process,
    cleanup_stale,
    have_root,
    missing_tools,
    wait_until,
)
from pybgp.lab.speaker import Pybgp

__all__ = [
    "DAEMONS",
    "FAMILIES",
    "Bird",
    "CommandError",
    "ExaBGP",
    "Frr",
    "GoBGP",
    "Lab",
    "Namespace",
    "Neighbor",
    "PeerDaemon",
    "Process",
    "Pybgp",
    "Route",
    "available",
    "cleanup_stale",
    "family_of",
    "have_root",
    "missing_tools",
    "shutdown_text",
    "wait_until",
]
