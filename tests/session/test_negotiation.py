"""OPEN checks and capability negotiation (RFC 4271 4.2, 6.2; RFC 5492; RFC 6286; RFC
6793; RFC 7911; RFC 8654; RFC 2918 / RFC 7313; RFC 9234; RFC 4724), through `Session`
where the NOTIFICATION on the wire is the point and through `negotiate` elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pybgp.session import (
    LocalProtocolError,
    Negotiated,
    SessionDown,
    SessionEstablished,
    State,
    UpdateReceived,
)
from pybgp.session.negotiate import check_open, local_open, negotiate
from pybgp.session.timers import Timer
from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AddPath,
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    Multiprotocol,
    Open,
    Role,
    RouteRefreshCapability,
    Update,
    prefix_key,
)
from pybgp.wire.capabilities import ADDPATH_BOTH, ADDPATH_RECEIVE, ADDPATH_SEND
from pybgp.wire.constants import AS_TRANS
from pybgp.wire.context import CodecContext

from .scripted import (
    CONFIG,
    KEEPALIVE,
    LOCAL_ID,
    PEER_AS,
    Script,
    announce,
    into,
    kinds,
    peer_open,
    route_refresh,
)

IPV4_MULTICAST = (1, 2)


def answer(peer: Open, **changes: object) -> tuple[Script, list[object]]:
    """Our session in OpenSent receives `peer`; what does it send back?"""
    script = into("OpenSent", **changes)
    script.feed(peer.encode())
    events, data = script.drain()
    script.events = events
    return script, kinds(data)


def rejected(peer: Open, code: int, subcode: int, **changes: object) -> None:
    script, sent = answer(peer, **changes)
    assert sent == [(code, subcode)]
    assert script.session.state is State.IDLE
    down = [e for e in script.events if isinstance(e, SessionDown)]
    assert len(down) == 1 and not down[0].was_established
    assert down[0].notification is not None
    assert (down[0].notification.code, down[0].notification.subcode) == (code, subcode)


def accepted(peer: Open, **changes: object) -> Script:
    script, sent = answer(peer, **changes)
    assert sent == ["KEEPALIVE"], sent
    assert script.session.state is State.OPEN_CONFIRM
    return script


def agreed(ours: dict[str, object], peer: Open) -> Negotiated:
    config = replace(CONFIG, **ours)  # type: ignore[arg-type]
    check_open(config, peer)
    return negotiate(config, local_open(config), peer)


# --- hold time and keepalive ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("ours", "theirs", "hold", "keepalive"),
    [(90, 30, 30, 10), (9, 90, 9, 3), (90, 9, 9, 3), (0, 90, 0, 0), (90, 0, 0, 0), (3, 3, 3, 1)],
)
def test_hold_time_is_the_smaller(ours: int, theirs: int, hold: int, keepalive: int) -> None:
    """RFC 4271 4.2: "the calculated value ... MUST be the smaller of its configured Hold
    Time and the Hold Time received in the OPEN message"; RFC 4271 10: KeepaliveTime is a
    third of it; a Hold Time of zero means no KEEPALIVEs at all."""
    negotiated = agreed({"hold_time": ours}, peer_open(hold_time=theirs))
    assert (negotiated.hold_time, negotiated.keepalive_time) == (hold, keepalive)


@pytest.mark.parametrize(
    ("configured", "hold", "keepalive"),
    [(None, 90, 30), (10, 90, 10), (60, 90, 30), (1, 90, 1), (None, 4, 1), (5, 9, 3)],
)
def test_keepalive_is_at_most_a_third(configured: int | None, hold: int, keepalive: int) -> None:
    """RFC 4271 10: the KeepaliveTime is the configured one but never more than one third
    of the negotiated HoldTime (and at least a second while the HoldTime is not zero)."""
    negotiated = agreed({"hold_time": hold, "keepalive_time": configured}, peer_open(hold_time=90))
    assert negotiated.keepalive_time == keepalive


def test_hold_time_zero_runs_no_timers() -> None:
    """RFC 4271 4.2 / 8.2.2: with a negotiated Hold Time of zero neither the HoldTimer nor
    the KeepaliveTimer runs, and no KEEPALIVE is ever sent periodically."""
    script = into("OpenSent")
    script.feed(peer_open(hold_time=0).encode(), KEEPALIVE)
    _, data = script.drain()
    assert script.session.state is State.ESTABLISHED
    assert kinds(data) == ["KEEPALIVE"]  # the one that answers the OPEN (8.2.2 Event 19)
    assert script.running() == set() and script.session.get_timer() is None
    script.session.handle_timer(10_000.0)
    _, data = script.drain()
    assert data == b"" and script.session.state is State.ESTABLISHED


@pytest.mark.parametrize("hold", [1, 2])
def test_hold_time_one_or_two_is_unacceptable(hold: int) -> None:
    """RFC 4271 6.2: "An implementation MUST reject Hold Time values of one or two
    seconds" with Unacceptable Hold Time (2/6)."""
    rejected(peer_open(hold_time=hold), 2, 6)


def test_hold_time_three_is_acceptable() -> None:
    """RFC 4271 4.2: the Hold Time "MUST be either zero or at least three seconds"."""
    accepted(peer_open(hold_time=3))


# --- the OPEN's fixed fields ---------------------------------------------------------------
def test_wrong_peer_as() -> None:
    """RFC 4271 6.2: an unacceptable Autonomous System field is Bad Peer AS (2/2)."""
    rejected(peer_open(asn=PEER_AS + 1), 2, 2)


def test_unsupported_version() -> None:
    """RFC 4271 6.2: an unsupported version number is 2/1, its data the largest version
    we support (4) as a 2-octet integer."""
    message = bytearray(peer_open().encode())
    message[19] = 5
    script = into("OpenSent")
    script.feed(bytes(message))
    _, data = script.drain()
    assert kinds(data) == [(2, 1)]
    assert data.endswith(b"\x00\x04")


@pytest.mark.parametrize(
    ("local_asn", "bgp_id", "ok"),
    [
        (PEER_AS, "0.0.0.0", False),  # RFC 6286 2.2: zero is never valid
        (64512, "0.0.0.0", False),
        (PEER_AS, LOCAL_ID, False),  # iBGP: may not be ours
        (64512, LOCAL_ID, True),  # eBGP: may be ours (RFC 6286 2.2)
        (PEER_AS, "198.18.0.9", True),
    ],
)
def test_bgp_identifier(local_asn: int, bgp_id: str, ok: bool) -> None:
    """RFC 6286 2.2 (updating RFC 4271 6.2): the BGP Identifier is Bad (2/3) when it is
    zero, or when it equals the local one on an internal session; two external peers
    may share an identifier."""
    peer = peer_open(bgp_id=bgp_id)
    if ok:
        accepted(peer, local_asn=local_asn)
    else:
        rejected(peer, 2, 3, local_asn=local_asn)


def test_unsupported_optional_parameter() -> None:
    """RFC 4271 6.2: an optional parameter that is not recognised is Unsupported Optional
    Parameter (2/4); only Capabilities (type 2, RFC 5492 4) is known."""
    peer = peer_open()
    peer.other_parameters.append((1, b"\x00\x01"))  # the deprecated Authentication param
    rejected(peer, 2, 4)


# --- capabilities -------------------------------------------------------------------------
def test_no_common_family() -> None:
    """RFC 5492 5 / RFC 4760 8: with no address family in common the session cannot carry
    anything: Unsupported Capability (2/7)."""
    rejected(peer_open(capabilities=[Multiprotocol(*IPV6_UNICAST)]), 2, 7)


@pytest.mark.parametrize(("ours", "ok"), [((IPV4_UNICAST,), True), ((IPV6_UNICAST,), False)])
def test_peer_without_multiprotocol_carries_ipv4_unicast(
    ours: tuple[tuple[int, int], ...], ok: bool
) -> None:
    """RFC 4760 8: a speaker that announces no Multiprotocol capability carries IPv4
    unicast only."""
    peer = peer_open(capabilities=[RouteRefreshCapability()])
    if ok:
        negotiated = agreed({"families": ours}, peer)
        assert negotiated.families == (IPV4_UNICAST,)
    else:
        rejected(peer, 2, 7, families=ours)


def test_families_are_the_intersection() -> None:
    """RFC 4760 8: a family is carried only when both speakers announced it."""
    peer = peer_open(capabilities=[Multiprotocol(*IPV6_UNICAST), Multiprotocol(*IPV4_MULTICAST)])
    negotiated = agreed({"families": (IPV4_UNICAST, IPV6_UNICAST)}, peer)
    assert negotiated.families == (IPV6_UNICAST,)


@pytest.mark.parametrize(
    ("ours", "theirs", "ok"),
    [
        (0, 3, True),  # provider - customer
        (3, 0, True),
        (1, 2, True),  # route server - rs-client
        (2, 1, True),
        (4, 4, True),  # peer - peer
        (0, 0, False),
        (3, 3, False),
        (4, 0, False),
        (1, 1, False),
        (0, None, True),  # no role from the peer: not strict mode
        (None, 0, True),  # no role of ours: nothing to check
    ],
)
def test_roles(ours: int | None, theirs: int | None, ok: bool) -> None:
    """RFC 9234 4.2: only provider/customer, customer/provider, RS/RS-client,
    RS-client/RS and peer/peer are allowed; any other pair is Role Mismatch (2/11)."""
    caps = [Multiprotocol(*IPV4_UNICAST)] + ([] if theirs is None else [Role(theirs)])
    if ok:
        accepted(peer_open(capabilities=caps), role=ours)
    else:
        rejected(peer_open(capabilities=caps), 2, 11, role=ours)


def test_four_octet_as_with_as_trans() -> None:
    """RFC 6793 4.1: a speaker with a 4-octet AS puts AS_TRANS (23456) in My Autonomous
    System and its real AS in the Four-Octet AS capability; the peer AS is checked
    against the capability's."""
    ours = local_open(replace(CONFIG, local_asn=4_200_000_000))
    assert ours.my_as == AS_TRANS
    assert [c.asn for c in ours.capability(FourOctetAs)] == [4_200_000_000]  # type: ignore[attr-defined]
    script = accepted(peer_open(asn=4_200_000_001), peer_asn=4_200_000_001)
    negotiated = script.session.negotiated
    assert negotiated is not None and negotiated.peer_asn == 4_200_000_001
    assert negotiated.receive_context.four_octet_as and negotiated.send_context.four_octet_as


def test_as_trans_without_capability_is_a_bad_peer_as() -> None:
    """RFC 6793 4.1 / RFC 4271 6.2: AS_TRANS with no Four-Octet AS capability says AS
    23456, which is not the configured 4-octet AS: Bad Peer AS (2/2)."""
    peer = Open(AS_TRANS, 9, "198.18.0.2", [Multiprotocol(*IPV4_UNICAST)])
    rejected(peer, 2, 2, peer_asn=4_200_000_001)


def test_two_octet_peer() -> None:
    """RFC 6793 4: without the capability on both sides, AS numbers go as 2 octets."""
    negotiated = agreed({}, Open(PEER_AS, 9, "198.18.0.2", [Multiprotocol(*IPV4_UNICAST)]))
    assert not negotiated.receive_context.four_octet_as
    assert not negotiated.send_context.four_octet_as


@pytest.mark.parametrize(
    ("ours", "theirs", "send", "receive"),
    [
        (ADDPATH_SEND, ADDPATH_RECEIVE, True, False),
        (ADDPATH_RECEIVE, ADDPATH_SEND, False, True),
        (ADDPATH_BOTH, ADDPATH_BOTH, True, True),
        (ADDPATH_SEND, ADDPATH_SEND, False, False),
        (ADDPATH_BOTH, None, False, False),
    ],
)
def test_addpath_per_direction(ours: int, theirs: int | None, send: bool, receive: bool) -> None:
    """RFC 7911 4: path identifiers flow from a speaker that may Send to one that will
    Receive, for each direction on its own."""
    caps = [Multiprotocol(*IPV4_UNICAST)] + ([] if theirs is None else [AddPath(((1, 1, theirs),))])
    negotiated = agreed({"addpath": ((1, 1, ours),)}, peer_open(capabilities=caps))
    assert (IPV4_UNICAST in negotiated.send_context.addpath) == send
    assert (IPV4_UNICAST in negotiated.receive_context.addpath) == receive


def test_addpath_receive_reads_path_identifiers() -> None:
    """RFC 7911 3: once receiving is negotiated, each NLRI carries a 4-octet Path
    Identifier, and the session decodes the peer's UPDATEs that way."""
    caps = [Multiprotocol(*IPV4_UNICAST), AddPath(((1, 1, ADDPATH_SEND),))]
    script = accepted(peer_open(capabilities=caps), addpath=((1, 1, ADDPATH_RECEIVE),))
    script.feed(KEEPALIVE)
    keys = [prefix_key("198.18.7.0/24", 1), prefix_key("198.18.7.0/24", 2)]
    update = Update(attributes=announce("198.18.7.0/24").attributes, nlri=keys)
    script.feed(update.encode(CodecContext(addpath=frozenset({IPV4_UNICAST}))))
    events, _ = script.drain()
    received = [e.update for e in events if isinstance(e, UpdateReceived)]
    assert [u.nlri for u in received] == [keys]


@pytest.mark.parametrize(("peer_has", "size_ok"), [(True, True), (False, False)])
def test_extended_message_raises_the_limit(peer_has: bool, size_ok: bool) -> None:
    """RFC 8654 4: messages past 4096 octets only once both speakers announced Extended
    Message; before that (and without it) a longer one is a Bad Message Length (1/2,
    RFC 4271 6.1)."""
    caps = [Multiprotocol(*IPV4_UNICAST)] + ([ExtendedMessage()] if peer_has else [])
    script = accepted(peer_open(capabilities=caps))
    script.feed(KEEPALIVE)
    script.drain()
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(1500)]  # 6000 octets of NLRI
    big = announce(*prefixes).encode(CodecContext(extended_message=True))
    assert len(big) > 4096
    script.feed(big)
    events, data = script.drain()
    if size_ok:
        assert data == b"" and script.session.state is State.ESTABLISHED
        assert len(events) == 1 and len(events[0].update.nlri) == 1500  # type: ignore[union-attr]
    else:
        assert kinds(data) == [(1, 2)] and script.session.state is State.IDLE


def test_extended_message_not_before_the_open() -> None:
    """RFC 8654 4: until the OPEN exchange has agreed on it, 4096 octets is the limit."""
    script = into("OpenSent")
    script.feed(b"\xff" * 16 + (5000).to_bytes(2, "big") + b"\x02" + bytes(4981))
    _, data = script.drain()
    assert kinds(data) == [(1, 2)]


@pytest.mark.parametrize(
    ("ours", "theirs"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_route_refresh_flags(ours: bool, theirs: bool) -> None:
    """RFC 2918 2 and RFC 7313 3: route refresh (and enhanced route refresh) is in use
    when both speakers announced the capability; asking without it is misuse."""
    caps = [Multiprotocol(*IPV4_UNICAST)]
    if theirs:
        caps += [RouteRefreshCapability(), EnhancedRouteRefresh()]
    script = accepted(peer_open(capabilities=caps), route_refresh=ours, enhanced_route_refresh=ours)
    negotiated = script.session.negotiated
    assert negotiated is not None
    assert negotiated.route_refresh == negotiated.enhanced_route_refresh == (ours and theirs)
    script.feed(KEEPALIVE)
    script.drain()
    if ours and theirs:
        script.session.send_route_refresh(IPV4_UNICAST)
        assert script.session.data_to_send() == route_refresh()
    else:
        with pytest.raises(LocalProtocolError):
            script.session.send_route_refresh(IPV4_UNICAST)


def test_graceful_restart_is_recorded() -> None:
    """RFC 4724 3: the peer's Graceful Restart capability (restart time, per-family
    flags) is kept for the RIB's use; our own is announced when configured."""
    theirs = GracefulRestart(0, 120, ((1, 1, 0x80),))
    negotiated = agreed(
        {"graceful_restart_time": 90},
        peer_open(capabilities=[Multiprotocol(*IPV4_UNICAST), theirs]),
    )
    assert negotiated.graceful_restart == theirs
    ours = list(negotiated.local_open.capability(GracefulRestart))
    assert [c.restart_time for c in ours] == [90]  # type: ignore[attr-defined]
    assert ours == [GracefulRestart(0, 90, ((1, 1, 0),))]  # not restarting: R and F clear


def test_coming_back_with_forwarding_state_sets_the_r_and_f_bits() -> None:
    """RFC 4724 3: after our own restart with the kernel routes kept, the R bit, and the
    F bit for every family (peers keep our stale routes until our End-of-RIB)."""
    config = {"graceful_restart_time": 90, "restarting": True, "forwarding_preserved": True}
    negotiated = agreed(config, peer_open(capabilities=[Multiprotocol(*IPV4_UNICAST)]))
    ours = list(negotiated.local_open.capability(GracefulRestart))
    assert ours == [GracefulRestart(0x8, 90, ((1, 1, 0x80),))]
    assert GracefulRestart.decode(ours[0].encode_value()) == ours[0]


def test_our_open_says_what_we_configured() -> None:
    """RFC 4271 4.2 and RFC 5492: our OPEN carries our AS, Hold Time, identifier and one
    capability per configured feature."""
    config = replace(
        CONFIG,
        families=(IPV4_UNICAST, IPV6_UNICAST),
        hold_time=30,
        addpath=((1, 1, ADDPATH_BOTH),),
        role=4,
    )
    ours = local_open(config)
    assert (ours.my_as, ours.hold_time, ours.bgp_id) == (64512, 30, LOCAL_ID)
    names = {c.name for c in ours.capabilities}
    assert names >= {
        "multiprotocol",
        "route-refresh",
        "enhanced-route-refresh",
        "extended-message",
        "add-path",
        "role",
        "four-octet-as",
    }
    families = {(c.afi, c.safi) for c in ours.capability(Multiprotocol)}  # type: ignore[attr-defined]
    assert families == {IPV4_UNICAST, IPV6_UNICAST}


def test_session_established_reports_the_negotiation() -> None:
    """RFC 4271 8.2.2 OpenConfirm, KeepAliveMsg (Event 26): Established, reported once
    with what the OPENs agreed."""
    script = into("OpenConfirm")
    script.feed(KEEPALIVE)
    events, _ = script.drain()
    up = [e for e in events if isinstance(e, SessionEstablished)]
    assert len(up) == 1
    assert up[0].negotiated.peer_id == "198.18.0.2" and up[0].negotiated.external
    assert script.session.timer_deadline(Timer.HOLD) == script.now + 9


@pytest.mark.parametrize(("theirs", "ok"), [((3, 3), True), ((3, 4), False), ((4, 3), False)])
def test_several_roles_must_agree(theirs: tuple[int, int], ok: bool) -> None:
    """RFC 9234 4.2: several identical Role capabilities count as one; "If multiple BGP
    Role Capabilities are received and not all of them have the same value, then the BGP
    speaker MUST reject the connection using the Role Mismatch Notification" (2/11)."""
    caps = [Multiprotocol(*IPV4_UNICAST), *(Role(r) for r in theirs)]
    if ok:
        accepted(peer_open(capabilities=caps), role=0)
    else:
        rejected(peer_open(capabilities=caps), 2, 11, role=0)


def test_graceful_restart_last_instance_wins() -> None:
    """RFC 4724 3: "If more than one instance of the Graceful Restart Capability is
    carried in the capability advertisement, the receiver of the advertisement MUST
    ignore all but the last instance of the Graceful Restart Capability"."""
    first, last = GracefulRestart(0, 90), GracefulRestart(0, 300, ((1, 1, 0x80),))
    negotiated = agreed({}, peer_open(capabilities=[Multiprotocol(*IPV4_UNICAST), first, last]))
    assert negotiated.graceful_restart == last
