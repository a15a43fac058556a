"""The BIRD 2 node of a mixed lab cluster (`python -m pybgp.lab.cluster --with-bird`).

A Calico node runs BIRD with a generated `bird.cfg`; this module writes the same shape of
configuration for one lab node, so that pybgp nodes can be shown to interoperate with
what a real Calico cluster runs next to them:

- `protocol static static1` holds the node's block as a blackhole, which the kernel
  protocol writes out (`blackhole BLOCK proto bird`), as Calico's BIRD does;
- `protocol kernel` learns the pods' routes (`learn`), writes BGP and static routes to the
  kernel (`merge paths on` for ECMP) and scans every 2 s, as Calico's does;
- `protocol direct` sees every interface but the pods' `cali*` ones;
- one `protocol bgp` per peer (mesh node or reflector) exports the block and nothing
  more specific inside it (Calico's `calico_aggr`: pods' /32 routes stay local), and
  any other route of the pod CIDR; `direct;` because iBGP is multihop by default in
  BIRD and the next hops would stay unresolved without an IGP (LAB-NOTES).

Stock BIRD 2 cannot write `via NH dev tunl0 onlink` (Calico builds its BIRD with a
`krt_tunnel` patch for that), so the BIRD node is a BGP-mode node only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["bird_config", "protocol_name"]


def protocol_name(prefix: str, address: str) -> str:
    """`Mesh_198_18_0_12`: a BIRD identifier for the session with `address` (BIRD names
    cannot hold dots, and words such as `rr` or `client` are keywords)."""
    return prefix + "_" + re.sub(r"[^0-9A-Za-z]", "_", address)


def _tunnel_lines(encapsulation: str, subnet: str) -> list[str]:
    """Filter lines that send a learned route through tunl0 (IPIP), as Calico's patched
    BIRD does with `krt_tunnel`: in stock BIRD 2 the interface, the gateway and the
    onlink flag are set one by one (setting `ifname` clears the gateway)."""
    tunnel = [
        '    ifname = "tunl0";',
        "    onlink = true;",
        "    gw = bgp_next_hop;",
    ]
    if encapsulation == "ipip":
        return [line[2:] for line in tunnel]
    if encapsulation == "cross-subnet":
        return [f"  if bgp_next_hop !~ {subnet} then {{", *tunnel, "  }"]
    return []


def bird_config(
    *,
    router_id: str,
    asn: int,
    block: str,
    pod_cidr: str,
    peers: Sequence[tuple[str, str, bool]],
    encapsulation: str = "none",
    subnet: str = "",
) -> str:
    """The text of `bird.conf` for one node.

    `peers` are (protocol name prefix, address, on our subnet) triples: ("Mesh", node
    address, ...) for the full mesh, ("Node", reflector address, ...) with reflectors, as
    Calico names them.  A peer on our subnet is `direct`; one behind the router is
    `multihop` and its next hops resolve recursively (through the default route), which
    is what the tunnel filter then overrides in the IPIP modes.
    """
    lines = [
        f"router id {router_id};",
        "",
        "# Calico's calico_aggr: the node's own block is announced, nothing inside it.",
        "filter calico_export_to_bgp_peers {",
        f"  if net = {block} then accept;",
        f"  if net ~ {block} then reject;",
        f"  if net ~ {pod_cidr} then accept;",
        "  reject;",
        "}",
        "",
        "# Learned BGP routes and the block's blackhole go to the kernel as proto bird.",
        "filter calico_kernel_programming {",
        "  if source = RTS_STATIC then accept;",
        "  if source != RTS_BGP then reject;",
        *_tunnel_lines(encapsulation, subnet),
        "  accept;",
        "}",
        "",
        "protocol kernel {",
        "  learn;             # learn the pods' routes (alien routes) from the kernel",
        "  persist;           # leave routes in the kernel when BIRD stops (as Calico)",
        "  scan time 2;",
        "  ipv4 { import all; export filter calico_kernel_programming; };",
        "  merge paths on;    # ECMP",
        "}",
        "",
        "protocol device { scan time 2; }",
        "",
        "protocol direct {",
        "  ipv4;",
        '  interface -"cali*", "*";   # every interface but the pods\' veths',
        "}",
        "",
        "protocol static static1 {",
        "  ipv4;",
        f"  route {block} blackhole;",
        "}",
    ]
    for kind, address, on_link in peers:
        lines += [
            "",
            f"protocol bgp {protocol_name(kind, address)} {{",
            f"  local as {asn};",
            f"  neighbor {address} as {asn};",
            (
                "  direct;            # a connected iBGP neighbour: next hops on the link"
                if on_link
                else "  multihop;          # behind the router: next hops resolved recursively"
            ),
            "  connect retry time 1;",
            "  error wait time 1, 5;",
            "  ipv4 {",
            "    import all;",
            "    export filter calico_export_to_bgp_peers;",
            "    next hop self;",
            "  };",
            "}",
        ]
    return "\n".join(lines) + "\n"
