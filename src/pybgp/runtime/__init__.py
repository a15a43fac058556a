"""The asyncio side of pybgp: sockets, peers' tasks, the control socket."""
