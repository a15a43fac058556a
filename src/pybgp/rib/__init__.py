"""Routes: Adj-RIB-In, locally originated routes, and (later) the decision process.

Standard library only, no I/O: the runtime feeds it decoded UPDATEs and asks it for
UPDATEs to send.
"""

from .adj_in import AdjRibIn, ReceivedRoute
from .originate import LocalRoute, export_local

__all__ = ["AdjRibIn", "LocalRoute", "ReceivedRoute", "export_local"]
