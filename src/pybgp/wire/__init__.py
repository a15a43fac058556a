"""The wire layer: bytes <-> BGP messages.  Standard library only, no I/O.

Everything a caller needs is importable from here::

    from pybgp.wire import decode_message, CodecContext, Update, PathAttributes
"""

from .attribute_table import DEFAULT_CACHE, AttributeCache
from .attributes import PathAttributes
from .capabilities import (
    AddPath,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    LongLivedGracefulRestart,
    Multiprotocol,
    Role,
    UnknownCapability,
)
from .capabilities import (
    RouteRefresh as RouteRefreshCapability,
)
from .constants import IPV4_UNICAST, IPV6_UNICAST, Afi, AttrCode, Family, MessageType, Safi
from .context import DEFAULT_CONTEXT, LEGACY_CONTEXT, CodecContext
from .errors import Action, AttributeIssue, EncodeError, FamilyError, MessageError, WireError
from .messages import Keepalive, Message, MessageReader, decode_body, decode_message
from .nlri import NlriError, decode_prefixes, prefix_key, prefix_str, split_path_id
from .notification import Notification
from .open import Open
from .route_refresh import RouteRefresh
from .update import (
    MpReach,
    MpUnreach,
    Update,
    decode_update,
    end_of_rib,
    pack_announcements,
    pack_withdrawals,
)

__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_CONTEXT",
    "IPV4_UNICAST",
    "IPV6_UNICAST",
    "LEGACY_CONTEXT",
    "Action",
    "AddPath",
    "Afi",
    "AttrCode",
    "AttributeCache",
    "AttributeIssue",
    "Capability",
    "CodecContext",
    "EncodeError",
    "EnhancedRouteRefresh",
    "ExtendedMessage",
    "ExtendedNextHop",
    "Family",
    "FamilyError",
    "FourOctetAs",
    "Fqdn",
    "GracefulRestart",
    "Keepalive",
    "LongLivedGracefulRestart",
    "Message",
    "MessageError",
    "MessageReader",
    "MessageType",
    "MpReach",
    "MpUnreach",
    "Multiprotocol",
    "NlriError",
    "Notification",
    "Open",
    "PathAttributes",
    "Role",
    "RouteRefresh",
    "RouteRefreshCapability",
    "Safi",
    "UnknownCapability",
    "Update",
    "WireError",
    "decode_body",
    "decode_message",
    "decode_prefixes",
    "decode_update",
    "end_of_rib",
    "pack_announcements",
    "pack_withdrawals",
    "prefix_key",
    "prefix_str",
    "split_path_id",
]
