"""`Outbound`: update groups on the loop, paced by their slowest member.

Every established peer belongs to one update group (`rib.adj_out.UpdateGroup`) of peers
whose export is the same (`ExportView.signature`).  The group is the Adj-RIB-Out as
state; this module decides *when* it turns state into UPDATEs:

- after the Loc-RIB changed (once per loop iteration, so that everything one read
  brought in is coalesced first), and
- when a member's socket has drained (`Link` calls `pull`).

A group produces only while every member has less than `LOW_WATER` octets of UPDATEs
queued: a slow member holds its group back instead of piling messages up, and what
changes meanwhile coalesces in the group's dirty set.  Keepalives never wait behind it
(the session sends control messages first, and the link keeps the socket's buffer short).

A peer that comes up, or asks for a ROUTE-REFRESH, needs the whole table while the
others only need changes: it starts in a group of its own, and joins the group of its
equals once both are idle, when both have sent exactly the export of the same Loc-RIB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from ..rib.adj_out import UpdateGroup
from ..rib.export import ExportView
from ..rib.rib import Rib
from ..session import State
from ..wire.constants import Family
from ..wire.context import CodecContext
from ..wire.route_refresh import BEGIN_OF_ROUTE_REFRESH, END_OF_ROUTE_REFRESH
from ..wire.update import end_of_rib

if TYPE_CHECKING:
    from .peer import PeerDriver


class Marker(Enum):
    END_OF_RIB = "end-of-rib"  # after the initial table
    EORR = "eorr"  # after an enhanced route refresh
    NONE = "none"  # after a plain route refresh: nothing


LOW_WATER = 64 * 1024  # a member with more UPDATE octets queued holds its group back
CHUNK = 128 * 1024  # octets of UPDATEs produced per round


@dataclass(eq=False)
class Group:
    signature: Hashable
    view: ExportView
    families: tuple[Family, ...]
    updates: UpdateGroup
    members: list[PeerDriver] = field(default_factory=list)
    # Members owed a marker once the group's table of that family has gone out:
    # End-of-RIB after the initial table (RFC 4724 2), EoRR after a refresh (RFC 7313 4).
    owed: dict[Family, list[tuple[PeerDriver, Marker]]] = field(default_factory=dict)
    busy: bool = False  # producing: a member's drain must not start a second round

    @property
    def idle(self) -> bool:
        return not self.updates.pending and not self.owed


class Outbound:
    def __init__(self, rib: Rib, loop: asyncio.AbstractEventLoop) -> None:
        self.rib = rib
        self.loop = loop
        self.groups: list[Group] = []
        self._of: dict[PeerDriver, Group] = {}
        self._scheduled = False

    # --- membership --------------------------------------------------------------------------
    def join(
        self,
        driver: PeerDriver,
        view: ExportView,
        families: tuple[Family, ...],
        context: CodecContext,
        marker: Marker = Marker.END_OF_RIB,
        marked: tuple[Family, ...] | None = None,
    ) -> None:
        """`driver`'s session is established (or asked for a refresh): send it the table,
        then `marker` for each of the `marked` families (default: all of them)."""
        self.leave(driver)
        signature = (view.signature, families, context)
        group = Group(
            signature,
            view,
            families,
            UpdateGroup(view, context, view.policy.prefix_dependent, families),
            [driver],
        )
        self._of[driver] = group
        self.groups.append(group)
        self.rib.listeners.append(group.updates)
        for family in families:
            group.updates.resend(family, self.rib.table(family))
            if marker is Marker.NONE or (marked is not None and family not in marked):
                continue
            if marker is Marker.EORR:
                # RFC 7313 4: the re-sent routes between BoRR and EoRR.
                driver.session.send_route_refresh(family, BEGIN_OF_ROUTE_REFRESH, in_order=True)
            group.owed.setdefault(family, []).append((driver, marker))
        self.schedule()

    def refresh(self, driver: PeerDriver, family: Family, enhanced: bool) -> None:
        """ROUTE-REFRESH (RFC 2918): re-send our Adj-RIB-Out to `driver` (every family:
        it moves to a group of its own, whose state starts empty)."""
        group = self._of.get(driver)
        if group is None or family not in group.families:
            return
        marker = Marker.EORR if enhanced else Marker.NONE
        self.join(driver, group.view, group.families, group.updates.context, marker, (family,))

    def rejoin(self, driver: PeerDriver, view: ExportView) -> None:
        """`driver`'s export changed (a policy reload): it moves to a group of its own
        that starts from what it was sent and sends only the differences."""
        old = self._of.get(driver)
        if old is None:
            return
        context = old.updates.context
        group = Group(
            (view.signature, old.families, context),
            view,
            old.families,
            UpdateGroup(view, context, view.policy.prefix_dependent, old.families),
            [],
        )
        group.updates.adopt(old.updates)
        for family in old.families:
            group.updates.resend(family, self.rib.table(family), forget=False)
        self.leave(driver)
        group.members.append(driver)
        self._of[driver] = group
        self.groups.append(group)
        self.rib.listeners.append(group.updates)
        self.schedule()

    def leave(self, driver: PeerDriver) -> None:
        group = self._of.pop(driver, None)
        if group is None:
            return
        group.members.remove(driver)
        for owed in group.owed.values():
            owed[:] = [entry for entry in owed if entry[0] is not driver]
        if not group.members:
            self._drop(group)

    def group_of(self, driver: PeerDriver) -> Group | None:
        return self._of.get(driver)

    def _drop(self, group: Group) -> None:
        self.groups.remove(group)
        self.rib.listeners.remove(group.updates)

    # --- producing -----------------------------------------------------------------------------
    def schedule(self) -> None:
        """Pump every group soon: after what the current read brought in is applied."""
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._pump_all)

    def _pump_all(self) -> None:
        self._scheduled = False
        for group in list(self.groups):
            self._pump(group)

    def pull(self, driver: PeerDriver) -> None:
        """`driver`'s socket has room again."""
        group = self._of.get(driver)
        if group is not None:
            self._pump(group)

    def _pump(self, group: Group) -> None:
        if group.busy:
            return
        group.busy = True
        try:
            self._produce(group)
        finally:
            group.busy = False
        if group.owed and group.members:
            self._pay_markers(group)
        if group.idle and group.members:
            self._merge(group)

    def _produce(self, group: Group) -> None:
        updates = group.updates
        while updates.pending and group.members:
            if any(m.session.pending_update_octets > LOW_WATER for m in group.members):
                return  # the slowest member pulls again when it drains
            produced = updates.produce(CHUNK)
            # A member whose session just ended (its SessionDown not yet handled) skips.
            members = [m for m in group.members if m.session.state is State.ESTABLISHED]
            for member in members:
                address = member.peer.address
                send = member.session.send_update
                for outgoing in produced:
                    for message in outgoing.for_member(address):
                        send(message)
            for member in members:
                member.primary.service()

    def _pay_markers(self, group: Group) -> None:
        # Taken out first: servicing a member below may pump this group again.
        due = [
            (family, group.owed.pop(family))
            for family in list(group.owed)
            if not group.updates.pending_in(family)
        ]
        for family, owed in due:
            for driver, marker in owed:
                session = driver.session
                if marker is Marker.EORR:
                    session.send_route_refresh(family, END_OF_ROUTE_REFRESH, in_order=True)
                else:
                    session.send_update(end_of_rib(family))
                driver.primary.service()

    def _merge(self, group: Group) -> None:
        """Fold an idle group into an idle group of equals: both have sent the export of
        the same Loc-RIB, so one Adj-RIB-Out serves all their members from now on."""
        for other in self.groups:
            if other is group or other.signature != group.signature or not other.idle:
                continue
            for member in group.members:
                other.members.append(member)
                self._of[member] = other
            group.members.clear()
            self._drop(group)
            return
