"""What two OPENs agree on, as the codec contexts of the two directions."""

from __future__ import annotations

from .capabilities import ADDPATH_RECEIVE, ADDPATH_SEND, AddPath, ExtendedMessage, FourOctetAs
from .constants import Family
from .context import CodecContext
from .open import Open


def _addpath_modes(message: Open) -> dict[Family, int]:
    modes: dict[Family, int] = {}
    for cap in message.capability(AddPath):
        assert isinstance(cap, AddPath)
        for afi, safi, mode in cap.entries:
            modes[(afi, safi)] = mode
    return modes


def _has(message: Open, kind: type) -> bool:
    return any(True for _ in message.capability(kind))


def context_for(sender: Open, receiver: Open, external: bool | None = None) -> CodecContext:
    """The context of messages `sender` sends to `receiver` once both OPENs are known.

    RFC 6793 4.1: four-octet ASNs when both announce the capability.  RFC 8654 3: the
    extended size when both announce it.  RFC 7911 4: path identifiers for a family
    when the sender may send them and the receiver will receive them.  `external`
    defaults to "the two ASes differ".
    """
    sending = _addpath_modes(sender)
    receiving = _addpath_modes(receiver)
    addpath = frozenset(
        family
        for family, mode in sending.items()
        if mode & ADDPATH_SEND and receiving.get(family, 0) & ADDPATH_RECEIVE
    )
    return CodecContext(
        four_octet_as=_has(sender, FourOctetAs) and _has(receiver, FourOctetAs),
        addpath=addpath,
        extended_message=_has(sender, ExtendedMessage) and _has(receiver, ExtendedMessage),
        external=(sender.asn != receiver.asn) if external is None else external,
    )
