"""The node's own addresses, read from the kernel (for `fib.plan.NodeView`).

A node needs them to tell on-link next hops from the others (cross-subnet mode, the
unreachable-next-hop explanation) and to recognise its own next hop.  pyroute2 is
imported only when this is called, as in `fib.netlink`.
"""

from __future__ import annotations

import ipaddress

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# rtnetlink(7): global addresses; host (127/8, ::1) and link scopes are left out.
RT_SCOPE_UNIVERSE = 0


def node_addresses() -> list[IPInterface]:
    """Every global address of this network namespace, with its prefix length."""
    from pyroute2 import IPRoute

    found: list[IPInterface] = []
    with IPRoute() as ipr:
        for message in ipr.get_addr():
            if message["scope"] != RT_SCOPE_UNIVERSE:
                continue
            # IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on a
            # point-to-point link); IPv6 has IFA_ADDRESS only.
            address = message.get_attr("IFA_LOCAL") or message.get_attr("IFA_ADDRESS")
            if address:
                found.append(ipaddress.ip_interface(f"{address}/{message['prefixlen']}"))
    return found
