"""Routes: Adj-RIB-In, the decision process, the Loc-RIB, policy, the export rules and
update groups (Adj-RIB-Out as state).

Standard library only, no I/O: the runtime feeds it decoded UPDATEs and asks it for
UPDATEs to send.
"""

from .adj_in import AdjRibIn, ReceivedRoute
from .originate import LocalRoute, local_path

__all__ = ["AdjRibIn", "LocalRoute", "ReceivedRoute", "local_path"]
