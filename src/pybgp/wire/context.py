"""The negotiated facts that change how bytes are read and written.

One session has two contexts: one for what it receives and one for what it sends,
because ADD-PATH is negotiated per direction (RFC 7911 4).  Every encode and decode
takes one.  It is immutable and hashable, so caches can key on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Family


@dataclass(frozen=True, slots=True)
class CodecContext:
    # RFC 6793: both sides announced the Four-Octet AS capability.
    four_octet_as: bool = True
    # RFC 7911: families whose NLRI carry a 4-octet path identifier in this direction.
    addpath: frozenset[Family] = frozenset()
    # RFC 8654: both sides announced Extended Message.
    extended_message: bool = False
    # The peer is external.  RFC 7606 7.5: LOCAL_PREF from an eBGP peer is discarded.
    external: bool = False

    @property
    def max_message_len(self) -> int:
        return MAX_EXTENDED_MESSAGE_LEN if self.extended_message else MAX_MESSAGE_LEN


# What a speaker assumes before (or without) negotiation: modern defaults.
DEFAULT_CONTEXT = CodecContext()
# An RFC 4271 speaker with none of the extensions.
LEGACY_CONTEXT = CodecContext(four_octet_as=False)
