"""A hypothesis state machine over one `Session` and a scripted peer.

Rules cover every public input: start, stop (with and without restart), the
connection arriving or failing, collision_dump, the clock moving (handle_timer),
valid messages of each type, fragments of them, and random bytes; plus the calls
that are only allowed when Established.  After every step the session's output is
taken as a driver would and the invariants of `invariants.py` are checked:

* nothing raises but `LocalProtocolError`, and that only for a call the state forbids;
* the state is a `State`, its timers and connection agree with it (RFC 4271 8);
* `data_to_send()` is whole BGP messages, a NOTIFICATION last and followed by a
  CloseConnection (RFC 4271 4.5);
* SessionDown comes exactly with a transition to Idle.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pybgp.session import LocalProtocolError, Session, SessionConfig, State
from pybgp.wire import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    AddPath,
    ExtendedMessage,
    Multiprotocol,
    Notification,
    RouteRefreshCapability,
    end_of_rib,
)

from .invariants import check_output, check_state
from .scripted import (
    BAD_LENGTH,
    BAD_MARKER,
    BAD_UPDATE,
    CONFIG,
    KEEPALIVE,
    peer_open,
    route_refresh,
    update_bytes,
)

CONFIGS = st.builds(
    lambda delay, passive, hold, damp: SessionConfig(
        local_asn=CONFIG.local_asn,
        peer_asn=CONFIG.peer_asn,
        router_id=CONFIG.router_id,
        hold_time=hold,
        delay_open=delay,
        passive=passive,
        damp_peer_oscillations=damp,
        connect_retry=30,
        families=(IPV4_UNICAST, IPV6_UNICAST),
        addpath=((1, 1, 3),),
    ),
    st.sampled_from([0, 0, 4]),
    st.booleans(),
    st.sampled_from([0, 3, 9, 90]),
    st.booleans(),
)
CAPABILITIES = st.lists(
    st.sampled_from(
        [
            Multiprotocol(*IPV4_UNICAST),
            Multiprotocol(*IPV6_UNICAST),
            RouteRefreshCapability(),
            ExtendedMessage(),
            AddPath(((1, 1, 3),)),
        ]
    ),
    unique=True,
)
OPENS = st.builds(
    lambda hold, asn, caps: peer_open(asn=asn, hold_time=hold, capabilities=caps).encode(),
    st.sampled_from([0, 1, 3, 9, 90, 240]),
    st.sampled_from([CONFIG.peer_asn, CONFIG.peer_asn, 65000]),
    CAPABILITIES,
)
MESSAGES = st.one_of(
    OPENS,
    st.just(KEEPALIVE),
    st.just(update_bytes("198.18.30.0/24")),
    st.just(end_of_rib().encode()),
    st.just(BAD_UPDATE),
    st.builds(lambda c, s: Notification(c, s).encode(), st.integers(1, 7), st.integers(0, 11)),
    st.builds(
        route_refresh, st.sampled_from([IPV4_UNICAST, IPV6_UNICAST, (1, 2)]), st.integers(0, 3)
    ),
    st.sampled_from([BAD_MARKER, BAD_LENGTH]),
)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.now = 0.0

    @property
    def s(self) -> Session:
        assert self.session is not None
        return self.session

    def _step(self, call: Callable[[], None], forbidden: bool = False) -> None:
        """Run one input like a driver: call, then take events and bytes, then check.

        `forbidden`: the state does not allow this call, so it must raise
        LocalProtocolError and change nothing; otherwise it must not raise at all.
        """
        before = self.s.state
        if forbidden:
            with pytest.raises(LocalProtocolError):
                call()
            assert self.s.state is before and self.s.next_event() is None
            return
        call()
        events = []
        while (event := self.s.next_event()) is not None:
            events.append(event)
        data = self.s.data_to_send()
        check_output(before, self.s.state, events, data)

    @initialize(config=CONFIGS, seed=st.integers(0, 2**16))
    def create(self, config: SessionConfig, seed: int) -> None:
        self.session = Session(config, rng=random.Random(seed))

    @rule(passive=st.none() | st.booleans())
    def start(self, passive: bool | None) -> None:
        self._step(lambda: self.s.start(self.now, passive))

    @rule(message=st.text(max_size=300), restart=st.booleans())
    def stop(self, message: str, restart: bool) -> None:
        self._step(lambda: self.s.stop(self.now, message, restart))

    @rule(outgoing=st.booleans())
    def connection_made(self, outgoing: bool) -> None:
        # One Session, one connection: a second is collision material (RFC 4271 6.8).
        forbidden = self.s.connected
        self._step(lambda: self.s.connection_made(self.now, outgoing), forbidden)

    @rule()
    def connection_failed(self) -> None:
        self._step(lambda: self.s.connection_failed(self.now, "reset"))

    @rule()
    def collision_dump(self) -> None:
        self._step(lambda: self.s.collision_dump(self.now))

    @rule(message=MESSAGES)
    def receive(self, message: bytes) -> None:
        self._step(lambda: self.s.receive_data(message, self.now))

    @rule(message=MESSAGES, cut=st.integers(0, 200))
    def receive_in_pieces(self, message: bytes, cut: int) -> None:
        cut = min(cut, len(message))
        self._step(lambda: self.s.receive_data(message[:cut], self.now))
        self._step(lambda: self.s.receive_data(message[cut:], self.now))

    @rule(steps=st.integers(1, 4), hold=st.sampled_from([0, 3, 9, 90]))
    def handshake(self, steps: int, hold: int) -> None:
        """Up to `steps` moves of a peer that wants the session up: the way into
        OpenConfirm and Established that random inputs seldom find."""
        for _ in range(steps):
            state, connected = self.s.state, self.s.connected
            if state is State.IDLE:
                self._step(lambda: self.s.start(self.now))
            elif state in (State.CONNECT, State.ACTIVE) and not connected:
                outgoing = state is State.CONNECT
                self._step(lambda: self.s.connection_made(self.now, outgoing))  # noqa: B023
            elif state in (State.CONNECT, State.ACTIVE, State.OPEN_SENT):
                opened = peer_open(hold_time=hold).encode()
                self._step(lambda: self.s.receive_data(opened, self.now))  # noqa: B023
            elif state is State.OPEN_CONFIRM:
                self._step(lambda: self.s.receive_data(KEEPALIVE, self.now))
            else:
                return

    @rule(data=st.binary(max_size=64))
    def receive_garbage(self, data: bytes) -> None:
        self._step(lambda: self.s.receive_data(data, self.now))

    def _timers(self) -> None:
        self._step(lambda: self.s.handle_timer(self.now))
        # Every timer due has fired: the next one is in the future (or none runs).
        later = self.s.get_timer()
        assert later is None or later > self.now

    @rule(seconds=st.floats(0, 300, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._timers()

    @rule()
    @precondition(lambda self: self.s.get_timer() is not None)
    def next_timer(self) -> None:
        due = self.s.get_timer()
        assert due is not None
        self.now = max(self.now, due)
        self._timers()

    @rule(family=st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]))
    def send_update(self, family: tuple[int, int]) -> None:
        forbidden = self.s.state is not State.ESTABLISHED
        self._step(lambda: self.s.send_update(end_of_rib(family)), forbidden)

    @rule(subtype=st.integers(0, 2))
    def send_route_refresh(self, subtype: int) -> None:
        # RFC 2918 4: only to a peer that announced the capability.
        negotiated = self.s.negotiated
        allowed = self.s.state is State.ESTABLISHED and negotiated is not None
        allowed = allowed and negotiated.route_refresh  # type: ignore[union-attr]
        self._step(lambda: self.s.send_route_refresh(IPV4_UNICAST, subtype), not allowed)

    @invariant()
    def consistent(self) -> None:
        if self.session is not None:
            check_state(self.session)
            event(f"reached {self.session.state}")  # --hypothesis-show-statistics


SessionMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionMachine = SessionMachine.TestCase
