"""`pybgp routes [PREFIX] [--json]`: the Loc-RIB of a running `speak` or `reflect`.

Every path of every prefix, the best first and marked `*` with the decision step that
chose it (`only path`, `local-pref`, `as-path-length`, ...), as `birdc show route all`
marks its primary route.  `--json` prints the list of path objects the control socket
returns.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .daemon_socket import DaemonUnreachable, add_socket_arguments, ask

DEFAULT_LIMIT = 10_000  # prefixes: a full table is printed only when asked (--limit 0)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "routes",
        help="print the Loc-RIB (best paths marked, with the reason)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("prefix", nargs="?", help="only this prefix (e.g. 10.244.1.0/26)")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N prefixes (default {DEFAULT_LIMIT:,}; 0: all)",
    )
    add_socket_arguments(parser)
    parser.set_defaults(run=run)


def _describe(entry: dict[str, Any]) -> str:
    parts = [f"via {entry['next_hop']}" if entry["next_hop"] else "no next hop"]
    parts.append(f"from {entry['peer']}")
    if entry["best"]:
        parts.append(f"* ({entry['reason']})")
    parts.append("as_path [" + " ".join(str(a) for a in entry["as_path"]) + "]")
    for name in ("origin", "local_pref", "med", "originator_id"):
        if entry.get(name) is not None:
            parts.append(f"{name} {entry[name]}")
    if entry["cluster_list"]:
        parts.append("cluster_list [" + " ".join(entry["cluster_list"]) + "]")
    if entry["communities"]:
        parts.append("communities [" + " ".join(entry["communities"]) + "]")
    if entry.get("large_communities"):
        parts.append("large_communities [" + " ".join(entry["large_communities"]) + "]")
    if "kernel" in entry:  # a node: what the kernel holds for the best path
        parts.append(f"kernel: {entry['kernel'] or 'none'}")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    arguments: dict[str, Any] = {"prefix": args.prefix} if args.prefix else {}
    if args.limit > 0:
        arguments["limit"] = args.limit + 1  # one more, to know there are more
    try:
        entries = ask(args, "pybgp routes", "routes", **arguments)
    except DaemonUnreachable as exc:
        return exc.status
    prefixes = list(dict.fromkeys(entry["prefix"] for entry in entries))
    if args.limit > 0 and len(prefixes) > args.limit:
        entries = [entry for entry in entries if entry["prefix"] != prefixes[args.limit]]
        print(
            f"pybgp routes: the first {args.limit:,} prefixes; --limit 0 for all",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print(f"no route for {args.prefix}" if args.prefix else "the Loc-RIB is empty")
        return 1 if args.prefix else 0
    width = max(len(entry["prefix"]) for entry in entries)
    previous = None
    for entry in entries:
        shown = entry["prefix"] if entry["prefix"] != previous else ""
        previous = entry["prefix"]
        print(f"{shown:<{width}}  {_describe(entry)}")
    return 0
