"""The agent board (dunline/dialer/agents.py): states, the ready queue, samples, illegal moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dunline.dialer.agents import SAMPLES_KEPT, AgentBoard, AgentStateError, AgentView

T0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_call_cycle_and_its_samples() -> None:
    b = AgentBoard()
    b.login("a1", at(0))
    assert b.snapshot(at(5)) == [AgentView("a1", "ready", 5.0, 0)]
    assert b.take_ready(at(10)) == "a1"
    assert b.state("a1") == "on_call"
    b.call_ended("a1", at(70))
    assert b.snapshot(at(72)) == [AgentView("a1", "wrap_up", 2.0, 1)]
    b.wrap_done("a1", at(78))
    assert b.state("a1") == "ready"
    assert b.talk_samples == (60.0,)
    assert b.wrap_samples == (8.0,)
    assert b.take_ready(at(80)) == "a1"
    assert b.snapshot(at(80))[0].calls == 2


def test_take_ready_hands_out_the_agent_ready_longest() -> None:
    b = AgentBoard()
    b.login("b", at(0))
    b.login("a", at(1))
    b.login("c", at(0))  # same time as b: ties go by id
    assert [b.take_ready(at(2)) for _ in range(4)] == ["b", "c", "a", None]
    b.call_ended("c", at(3))
    b.wrap_done("c", at(4))
    b.call_ended("a", at(3))
    b.wrap_done("a", at(5))
    assert b.take_ready(at(6)) == "c"  # ready since 4, a only since 5


def test_nobody_ready() -> None:
    b = AgentBoard()
    assert b.take_ready(at(0)) is None
    b.login("a", at(0))
    b.pause("a", at(1))
    assert b.take_ready(at(2)) is None
    assert b.count("paused") == 1 and b.count("ready") == 0


def test_release_puts_the_agent_back_in_its_place_without_samples() -> None:
    b = AgentBoard()
    b.login("a", at(0))
    b.login("b", at(1))
    assert b.take_ready(at(5)) == "a"
    b.release("a", at(6))  # the debtor hung up while being connected
    assert b.state("a") == "ready"
    assert b.snapshot(at(6))[0] == AgentView("a", "ready", 6.0, 0)  # ready since 0 again
    assert b.talk_samples == () and b.wrap_samples == ()
    assert b.take_ready(at(7)) == "a"  # still ahead of b


def test_a_pause_during_a_call_waits_for_the_wrap_up() -> None:
    b = AgentBoard()
    b.login("a", at(0))
    b.take_ready(at(1))
    b.pause("a", at(2))
    assert b.state("a") == "on_call"
    assert b.snapshot(at(2))[0].pause_pending
    b.call_ended("a", at(30))
    assert b.state("a") == "wrap_up"
    b.wrap_done("a", at(40))
    assert b.state("a") == "paused"
    assert b.take_ready(at(41)) is None
    b.resume("a", at(50))
    assert b.snapshot(at(55))[0] == AgentView("a", "ready", 5.0, 1)


def test_resume_during_wrap_up_cancels_the_pending_pause() -> None:
    b = AgentBoard()
    b.login("a", at(0))
    b.take_ready(at(1))
    b.call_ended("a", at(2))
    b.pause("a", at(3))
    b.resume("a", at(4))
    b.wrap_done("a", at(5))
    assert b.state("a") == "ready"


def test_release_with_a_pending_pause_pauses() -> None:
    b = AgentBoard()
    b.login("a", at(0))
    b.take_ready(at(1))
    b.pause("a", at(1))
    b.release("a", at(2))
    assert b.state("a") == "paused"


def test_logout_from_any_state_and_login_again() -> None:
    for setup in ([], ["take"], ["take", "end"], ["pause"]):
        b = AgentBoard()
        b.login("a", at(0))
        if "take" in setup:
            b.take_ready(at(1))
        if "end" in setup:
            b.call_ended("a", at(2))
        if "pause" in setup:
            b.pause("a", at(1))
        b.logout("a", at(3))
        assert b.state("a") == "offline"
        assert b.snapshot(at(4))[0].state == "offline"
        b.login("a", at(5))
        assert b.state("a") == "ready"
    assert b.wrap_samples == ()  # a wrap-up cut by logout is no sample


@pytest.mark.parametrize(
    ("setup", "move", "state", "allowed"),
    [
        ([], "pause", "offline", "ready, on_call, wrap_up"),
        ([], "resume", "offline", "paused, on_call, wrap_up"),
        ([], "logout", "offline", "ready, on_call, wrap_up, paused"),
        ([], "call_ended", "offline", "on_call"),
        (["login"], "login", "ready", "offline"),
        (["login"], "call_ended", "ready", "on_call"),
        (["login"], "wrap_done", "ready", "wrap_up"),
        (["login"], "release", "ready", "on_call"),
        (["login"], "resume", "ready", "paused, on_call, wrap_up"),
        (["login", "pause"], "pause", "paused", "ready, on_call, wrap_up"),
        (["login", "take"], "wrap_done", "on_call", "wrap_up"),
        (["login", "take"], "resume", "on_call with no pause pending", "paused"),
        (["login", "take", "pause"], "pause", "on_call with a pause pending", "ready"),
        (["login", "take", "end"], "call_ended", "wrap_up", "on_call"),
    ],
)
def test_illegal_moves_name_agent_and_states(setup: list[str], move: str, state: str, allowed: str) -> None:
    b = AgentBoard()
    steps = {
        "login": lambda: b.login("ag-7", at(0)),
        "take": lambda: b.take_ready(at(1)),
        "end": lambda: b.call_ended("ag-7", at(2)),
        "pause": lambda: b.pause("ag-7", at(1)),
    }
    for s in setup:
        steps[s]()
    with pytest.raises(AgentStateError) as info:
        getattr(b, move)("ag-7", at(9))
    err = info.value
    assert err.agent == "ag-7" and err.state == state
    assert str(err).startswith("agent ag-7: cannot ")
    assert f"while {state} (allowed from {allowed})" in str(err)


def test_empty_id_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        AgentBoard().login("", at(0))


def test_clock_going_backwards_never_gives_negative_durations() -> None:
    b = AgentBoard()
    b.login("a", at(10))
    assert b.snapshot(at(5))[0].seconds_in_state == 0.0
    b.take_ready(at(10))
    b.call_ended("a", at(9))
    b.wrap_done("a", at(8))
    assert b.talk_samples == (0.0,) and b.wrap_samples == (0.0,)


def test_samples_are_bounded() -> None:
    b = AgentBoard()
    b.login("a", at(0))
    for i in range(SAMPLES_KEPT + 5):
        b.take_ready(at(i))
        b.call_ended("a", at(i + 0.5))
        b.wrap_done("a", at(i + 0.75))
    assert len(b.talk_samples) == SAMPLES_KEPT == len(b.wrap_samples)


# ---- a model of the board, driven by random moves ------------------------------------------------------

AGENTS = ("a1", "a2", "a3")


class BoardMachine(RuleBasedStateMachine):
    """Random legal and illegal moves against a plain model: the board always agrees with it."""

    def __init__(self) -> None:
        super().__init__()
        self.board = AgentBoard()
        self.t = 0.0
        self.state: dict[str, str] = dict.fromkeys(AGENTS, "offline")
        self.since: dict[str, float] = dict.fromkeys(AGENTS, 0.0)
        self.pending: dict[str, bool] = dict.fromkeys(AGENTS, False)
        self.calls: dict[str, int] = dict.fromkeys(AGENTS, 0)
        self.ready_before: dict[str, float] = {}  # when the agent on a call had become ready
        self.talk = 0
        self.wrap = 0

    def _tick(self, dt: float) -> datetime:
        self.t += dt
        return at(self.t)

    def _set(self, agent: str, state: str) -> None:
        self.state[agent], self.since[agent] = state, self.t

    def _attempt(self, agent: str, move: str, legal: bool) -> bool:
        """Run the board's move; an illegal one must raise and change nothing."""
        before = self.board.snapshot(at(self.t))
        if legal:
            getattr(self.board, move)(agent, at(self.t))
            return True
        with pytest.raises(AgentStateError) as info:
            getattr(self.board, move)(agent, at(self.t))
        assert info.value.agent == agent
        assert self.board.snapshot(at(self.t)) == before
        return False

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 30))
    def login(self, agent: str, dt: float) -> None:
        self._tick(dt)
        if self._attempt(agent, "login", self.state[agent] == "offline"):
            self._set(agent, "ready")

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 30))
    def logout(self, agent: str, dt: float) -> None:
        self._tick(dt)
        if self._attempt(agent, "logout", self.state[agent] != "offline"):
            self._set(agent, "offline")
            self.pending[agent] = False

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 30))
    def pause(self, agent: str, dt: float) -> None:
        self._tick(dt)
        s = self.state[agent]
        legal = s == "ready" or (s in ("on_call", "wrap_up") and not self.pending[agent])
        if self._attempt(agent, "pause", legal):
            if s == "ready":
                self._set(agent, "paused")
            else:
                self.pending[agent] = True

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 30))
    def resume(self, agent: str, dt: float) -> None:
        self._tick(dt)
        s = self.state[agent]
        legal = s == "paused" or (s in ("on_call", "wrap_up") and self.pending[agent])
        if self._attempt(agent, "resume", legal):
            if s == "paused":
                self._set(agent, "ready")
            else:
                self.pending[agent] = False

    @rule(dt=st.floats(0, 30))
    def take(self, dt: float) -> None:
        now = self._tick(dt)
        ready = sorted((self.since[a], a) for a in AGENTS if self.state[a] == "ready")
        got = self.board.take_ready(now)
        if not ready:
            assert got is None
            return
        assert got == ready[0][1]  # the one ready longest
        self.ready_before[got] = self.since[got]
        self.calls[got] += 1
        self._set(got, "on_call")

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 30))
    def release(self, agent: str, dt: float) -> None:
        self._tick(dt)
        if self._attempt(agent, "release", self.state[agent] == "on_call"):
            self.calls[agent] -= 1
            if self.pending[agent]:
                self.pending[agent] = False
                self._set(agent, "paused")
            else:
                self._set(agent, "ready")
                self.since[agent] = self.ready_before[agent]

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 600))
    def call_ended(self, agent: str, dt: float) -> None:
        self._tick(dt)
        if self._attempt(agent, "call_ended", self.state[agent] == "on_call"):
            assert self.board.talk_samples[-1] == pytest.approx(self.t - self.since[agent], abs=1e-5)
            self.talk += 1
            self._set(agent, "wrap_up")

    @rule(agent=st.sampled_from(AGENTS), dt=st.floats(0, 60))
    def wrap_done(self, agent: str, dt: float) -> None:
        self._tick(dt)
        if self._attempt(agent, "wrap_done", self.state[agent] == "wrap_up"):
            assert self.board.wrap_samples[-1] == pytest.approx(self.t - self.since[agent], abs=1e-5)
            self.wrap += 1
            self._set(agent, "paused" if self.pending[agent] else "ready")
            self.pending[agent] = False

    @precondition(lambda self: self.t > 0)
    @invariant()
    def agrees_with_the_model(self) -> None:
        views = {v.id: v for v in self.board.snapshot(at(self.t))}
        for a in AGENTS:
            assert self.board.state(a) == self.state[a]
            if a in views:
                v = views[a]
                assert (v.state, v.calls, v.pause_pending) == (self.state[a], self.calls[a], self.pending[a])
                assert v.seconds_in_state == pytest.approx(self.t - self.since[a], abs=1e-5)
                assert v.seconds_in_state >= 0
        assert len(self.board.talk_samples) == self.talk
        assert len(self.board.wrap_samples) == self.wrap
        assert all(s >= 0 for s in (*self.board.talk_samples, *self.board.wrap_samples))
        # one state per agent; pending pauses only on agents that are on a call or in wrap-up
        assert all(not self.pending[a] or self.state[a] in ("on_call", "wrap_up") for a in AGENTS)


BoardMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBoardMachine = BoardMachine.TestCase


def test_take_ready_only_one_agent() -> None:
    """A call an agent dialled (preview, own callback) goes to that agent, not the one ready longest."""
    b = AgentBoard()
    b.login("a", at(0))
    b.login("b", at(5))
    assert b.take_ready(at(6), only="b") == "b"
    assert b.state("a") == "ready"
    assert b.take_ready(at(7), only="b") is None  # b is on a call: nobody else is taken instead
    assert b.take_ready(at(7), only="nobody") is None
    assert b.state("a") == "ready"
