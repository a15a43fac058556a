"""Two BGP speakers in one program: one announces a prefix, the other watches it arrive.

Run it as `python examples/embed.py`; it needs no root (loopback, unprivileged ports).
"""

import asyncio

from pybgp import PeerChange, RouteChange, Speaker, loads_config

ANNOUNCER = """
[speaker]
asn = 64512
router-id = "198.18.0.1"
listen = ["127.0.0.1:17901"]
control-socket = "/tmp/pybgp-example-announcer.sock"

[[peer]]
address = "127.0.0.2"
asn = 64512
port = 17902
passive = true          # the watcher connects to us
"""

WATCHER = """
[speaker]
asn = 64512
router-id = "198.18.0.2"
listen = ["127.0.0.2:17902"]
control-socket = "/tmp/pybgp-example-watcher.sock"

[[peer]]
address = "127.0.0.1"
asn = 64512
port = 17901
local-address = "127.0.0.2"
"""


async def main() -> None:
    announcer = Speaker(loads_config(ANNOUNCER))
    watcher = Speaker(loads_config(WATCHER))
    async with announcer, watcher:
        changes = watcher.watch()  # an async iterator of RouteChange and PeerChange
        announcer.announce("10.244.1.0/26", med=10, communities=["64512:100"])
        async for change in changes:
            if isinstance(change, PeerChange):
                print(f"peer {change.peer} is {change.state}")
            elif isinstance(change, RouteChange) and not change.withdrawn:
                print(f"learned {change.prefix} via {change.next_hop} ({change.reason})")
                announcer.withdraw(change.prefix)
            elif isinstance(change, RouteChange):
                print(f"{change.prefix} withdrawn")
                break


if __name__ == "__main__":
    asyncio.run(main())
