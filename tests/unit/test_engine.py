"""The pure IVR engine (dunline/ivr/engine.py) walked over the shipped DTMF flow."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunline.ivr.engine import (
    Command,
    Digit,
    Event,
    Hangup,
    HangupCall,
    Options,
    Play,
    PlaybackDone,
    Record,
    Start,
    StartTimer,
    State,
    StopPlayback,
    Timeout,
    Verified,
    step,
)
from dunline.ivr.flow import Flow, parse_flow
from dunline.ivr.prompts import load_catalog


def load_shipped() -> Flow:
    text = resources.files("dunline.config").joinpath("defaults/flows/collect_dtmf.yaml").read_text("utf-8")
    return parse_flow(yaml.safe_load(text), load_catalog("en").keys())


FLOW = load_shipped()
OPTS = Options(digit_timeout_s=6.0, max_retries=2)
DEBT_PROMPTS = frozenset(
    p for node in FLOW.nodes.values() if node.discloses_debt for p in node.prompts + node.reprompt
)


class Session:
    """Feeds events one at a time and keeps every command; helpers answer the current ids."""

    def __init__(self, opts: Options = OPTS) -> None:
        self.state = State()
        self.opts = opts
        self.log: list[Command] = []

    def feed(self, event: Event) -> list[Command]:
        self.state, cmds = step(FLOW, self.state, event, self.opts)
        self.log.extend(cmds)
        return cmds

    def phase(self) -> str:
        return self.state.phase  # a call, so that type checkers do not narrow it between steps

    def done_playing(self) -> list[Command]:
        assert self.state.playback is not None, self.state
        return self.feed(PlaybackDone(self.state.playback))

    def time_out(self) -> list[Command]:
        assert self.state.timer is not None, self.state
        return self.feed(Timeout(self.state.timer))

    def to_rpc_wait(self) -> None:
        """Start, notice played, rpc question played: now waiting for a digit."""
        self.feed(Start())
        self.done_playing()
        self.done_playing()
        assert self.state.phase == "waiting" and self.state.node == "rpc"

    def to_menu_wait(self) -> None:
        self.to_rpc_wait()
        self.feed(Digit("1"))
        self.done_playing()
        self.done_playing()
        assert self.state.phase == "waiting" and self.state.node == "menu"


def plays(cmds: list[Command]) -> list[tuple[str, ...]]:
    return [c.prompts for c in cmds if isinstance(c, Play)]


# ---- the happy path, command by command ------------------------------------------------------------------


def test_walk_to_disclosure_and_menu() -> None:
    s = Session()
    assert s.feed(Start()) == [Play("pb1", ("recording_notice",))]
    assert s.state.phase == "playing" and s.state.node == "notice"
    assert s.feed(PlaybackDone("pb1")) == [Play("pb2", ("rpc_question",))]
    assert s.feed(PlaybackDone("pb2")) == [StartTimer("t3", 6.0)]
    assert s.phase() == "waiting"
    assert s.feed(Digit("1")) == [Verified("rpc"), Play("pb4", ("mini_miranda", "balance"))]
    assert s.state.verified
    assert s.feed(PlaybackDone("pb4")) == [Play("pb5", ("menu",))]
    assert s.feed(PlaybackDone("pb5")) == [StartTimer("t6", 6.0)]
    assert s.state.node == "menu" and s.phase() == "waiting"


def test_timer_uses_the_configured_timeout() -> None:
    s = Session(Options(digit_timeout_s=2.5, max_retries=1))
    s.feed(Start())
    s.done_playing()
    cmds = s.done_playing()
    assert len(cmds) == 1 and isinstance(cmds[0], StartTimer) and cmds[0].seconds == 2.5


@pytest.mark.parametrize(
    ("digit", "outcome", "flag", "ack"),
    [
        ("1", "promise_to_pay", None, "ack_pay_today"),
        ("2", "payment_plan", None, "ack_plan"),
        ("3", "dispute", "dispute", "ack_dispute"),
        ("4", "cease", "cease", "ack_cease"),
    ],
)
def test_menu_digit_records_outcome_before_goodbye_then_hangs_up(
    digit: str, outcome: str, flag: str | None, ack: str
) -> None:
    s = Session()
    s.to_menu_wait()
    cmds = s.feed(Digit(digit))
    assert len(cmds) == 2
    assert cmds[0] == Record(outcome, "menu", True, flag)
    assert isinstance(cmds[1], Play) and cmds[1].prompts == (ack,)
    assert s.state.outcome == outcome and s.state.phase == "playing"
    assert s.done_playing() == [HangupCall()]
    assert s.phase() == "done"
    # the channel's hangup that follows changes nothing
    assert s.feed(Hangup()) == []


def test_wrong_party_never_hears_the_debt() -> None:
    s = Session()
    s.to_rpc_wait()
    cmds = s.feed(Digit("2"))
    assert cmds[0] == Record("wrong_party", "rpc", False, None)
    assert plays(cmds) == [("wrong_party",)]
    assert s.done_playing() == [HangupCall()]
    assert not any(isinstance(c, Verified) for c in s.log)
    assert not {p for prompts in plays(s.log) for p in prompts} & DEBT_PROMPTS
    assert not s.state.verified


# ---- barge-in, type-ahead, retries ----------------------------------------------------------------


def test_barge_in_stops_the_question_first() -> None:
    s = Session()
    s.feed(Start())
    s.done_playing()  # notice done: rpc question playing
    assert s.state.node == "rpc" and s.state.playback == "pb2"
    cmds = s.feed(Digit("1"))
    assert cmds[0] == StopPlayback("pb2")
    assert cmds[1:] == [Verified("rpc"), Play("pb3", ("mini_miranda", "balance"))]
    # the stopped playback's late PlaybackFinished is stale now
    assert s.feed(PlaybackDone("pb2")) == []


def test_barge_in_on_the_menu_with_a_wrong_key_reprompts() -> None:
    s = Session()
    s.to_rpc_wait()
    s.feed(Digit("1"))
    s.done_playing()  # disclosure done: menu playing
    pid = s.state.playback
    cmds = s.feed(Digit("9"))
    assert cmds == [StopPlayback(str(pid)), Play(f"pb{s.state.seq}", ("menu_reprompt", "menu"))]
    assert s.state.retries == 1


def test_no_stop_playback_when_waiting() -> None:
    s = Session()
    s.to_rpc_wait()
    cmds = s.feed(Digit("2"))
    assert not any(isinstance(c, StopPlayback) for c in cmds)


def test_digits_during_the_notice_are_ignored_not_kept_for_the_question() -> None:
    s = Session()
    s.feed(Start())
    assert s.feed(Digit("1")) == []  # the notice is not a question
    cmds = s.done_playing()
    assert cmds == [Play("pb2", ("rpc_question",))]  # the question is asked; nobody is verified yet
    assert s.state.verified is False


def test_digits_during_the_disclosure_do_not_answer_the_menu() -> None:
    s = Session()
    s.to_rpc_wait()
    s.feed(Digit("1"))
    assert s.feed(Digit("3")) == []  # disclosure playing: not a question
    cmds = s.done_playing()
    assert cmds == [Play(f"pb{s.state.seq}", ("menu",))]
    assert s.state.outcome is None


@pytest.mark.parametrize("max_retries", [0, 1, 2, 3])
def test_timeouts_reprompt_max_retries_times_then_no_input(max_retries: int) -> None:
    s = Session(Options(max_retries=max_retries))
    s.to_rpc_wait()
    for i in range(max_retries):
        cmds = s.time_out()
        assert cmds == [Play(f"pb{s.state.seq}", ("rpc_reprompt",))], i
        assert s.state.retries == i + 1
        assert s.done_playing() == [StartTimer(f"t{s.state.seq}", OPTS.digit_timeout_s)]
    cmds = s.time_out()
    assert cmds[0] == Record("no_input", "rpc", False, None)
    assert plays(cmds) == [("no_input",)]
    assert s.done_playing() == [HangupCall()]
    assert s.state.outcome == "no_input" and s.state.phase == "done"


def test_menu_no_input_after_verification() -> None:
    s = Session()
    s.to_menu_wait()
    s.time_out()
    s.done_playing()
    s.time_out()
    s.done_playing()
    cmds = s.time_out()
    assert cmds[0] == Record("no_input", "menu", True, None)


def test_retries_reset_on_a_new_node() -> None:
    s = Session()
    s.to_rpc_wait()
    s.time_out()
    s.done_playing()
    s.time_out()
    s.done_playing()
    assert s.state.retries == 2
    s.feed(Digit("1"))
    assert s.state.retries == 0
    s.done_playing()
    s.done_playing()
    assert plays(s.time_out()) == [("menu_reprompt", "menu")]  # a reprompt, not no_input


# ---- stale ids, events out of place ---------------------------------------------------------------


def test_stale_playback_and_timer_ids_are_ignored() -> None:
    s = Session()
    s.to_rpc_wait()  # t3 is the live timer
    before = s.state
    assert s.feed(PlaybackDone("pb2")) == []
    assert s.feed(PlaybackDone("pb999")) == []
    assert s.feed(Timeout("t999")) == []
    assert s.state == before
    s.time_out()  # reprompt pb4
    assert s.feed(Timeout("t3")) == []  # the old timer fires late
    assert s.feed(PlaybackDone("pb2")) == []
    assert s.state.playback == "pb4"


def test_timer_of_an_answered_question_is_stale() -> None:
    s = Session()
    s.to_rpc_wait()
    timer = s.state.timer
    assert timer is not None
    s.feed(Digit("1"))
    before = s.state
    assert s.feed(Timeout(timer)) == []
    assert s.state == before


def test_timeout_while_playing_is_ignored() -> None:
    s = Session()
    s.feed(Start())
    s.done_playing()
    before = s.state
    assert s.feed(Timeout("t2")) == []
    assert s.feed(Timeout("pb2")) == []
    assert s.state == before


def test_second_start_changes_nothing() -> None:
    s = Session()
    s.feed(Start())
    before = s.state
    assert s.feed(Start()) == []
    assert s.state == before


@pytest.mark.parametrize("event", [Digit("1"), PlaybackDone("pb1"), Timeout("t1")])
def test_events_before_start_change_nothing(event: Event) -> None:
    state, cmds = step(FLOW, State(), event, OPTS)
    assert cmds == [] and state == State()


def test_hangup_while_playing_stops_the_playback_and_ends() -> None:
    s = Session()
    s.feed(Start())
    assert s.feed(Hangup()) == [StopPlayback("pb1")]
    assert s.state.phase == "done" and s.state.playback is None


def test_nothing_happens_after_hangup() -> None:
    s = Session()
    s.to_rpc_wait()
    timer = s.state.timer
    assert s.feed(Hangup()) == []
    done = s.state
    assert done.phase == "done"
    for ev in (Digit("1"), Timeout(str(timer)), PlaybackDone("pb2"), Start(), Hangup()):
        assert s.feed(ev) == []
        assert s.state == done


def test_hangup_before_start_ends_the_session() -> None:
    s = Session()
    assert s.feed(Hangup()) == []
    assert s.state.phase == "done"
    assert s.feed(Start()) == []


def test_options_default_when_omitted() -> None:
    state, _ = step(FLOW, State(), Start())
    state, _ = step(FLOW, state, PlaybackDone("pb1"))
    _, cmds = step(FLOW, state, PlaybackDone("pb2"))
    assert cmds == [StartTimer("t3", Options().digit_timeout_s)]


# ---- property: random sessions ------------------------------------------------------------------------

# weighted so that many sessions get past verification and reach an outcome: "1" (the verify key)
# and current ids are common, hangups and repeated Starts rare
_KINDS = ["digit"] * 8 + ["play_done"] * 10 + ["timeout"] * 4 + ["hangup", "start"]
ACTIONS = st.tuples(
    st.sampled_from(_KINDS),
    st.sampled_from(["1", "1", "1", "2", "3", "4", "0", "5", "9", "*", "#"]),
    st.sampled_from(["current", "current", "current", "stale"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([True, True, True, False]),
    st.lists(ACTIONS, max_size=30),
    st.integers(min_value=0, max_value=3),
)
def test_random_sessions_keep_the_invariants(
    start_first: bool, actions: list[tuple[str, str, str]], max_retries: int
) -> None:
    opts = Options(max_retries=max_retries)
    state = State()
    commands: list[Command] = []
    issued_playbacks: list[str] = []
    issued_timers: list[str] = []
    events: list[Event] = []
    if start_first:
        actions = [("start", "1", "current"), *actions]
    for kind, digit, which in actions:
        ev: Event
        if kind == "digit":
            ev = Digit(digit)
        elif kind == "play_done":
            old = [p for p in issued_playbacks if p != state.playback] or ["pb0"]
            ev = PlaybackDone(state.playback if which == "current" and state.playback else old[-1])
        elif kind == "timeout":
            old = [t for t in issued_timers if t != state.timer] or ["t0"]
            ev = Timeout(state.timer if which == "current" and state.timer else old[-1])
        elif kind == "hangup":
            ev = Hangup()
        else:
            ev = Start()
        events.append(ev)

        was_done = state.phase == "done"
        new, cmds = step(FLOW, state, ev, opts)
        if was_done:
            assert cmds == [] and new == state, "the engine acted after the session ended"
        stale = (isinstance(ev, PlaybackDone) and ev.playback_id != state.playback) or (
            isinstance(ev, Timeout) and ev.timer_id != state.timer
        )
        if stale:
            assert cmds == [] and new == state, f"a stale id changed the session: {ev}"
        if isinstance(ev, Digit) and state.phase == "playing" and FLOW.node(state.node).ask:
            assert cmds[0] == StopPlayback(str(state.playback)), "barge-in stops the prompt first"
        for c in cmds:
            if isinstance(c, Play):
                assert c.playback_id not in issued_playbacks, "playback ids are unique"
                issued_playbacks.append(c.playback_id)
                if set(c.prompts) & DEBT_PROMPTS:
                    assert any(isinstance(x, Verified) for x in commands), (
                        f"debt disclosed before verification: {events}"
                    )
            elif isinstance(c, StartTimer):
                issued_timers.append(c.timer_id)
            elif isinstance(c, StopPlayback):
                assert c.playback_id == state.playback, "only the live playback is stopped"
            elif isinstance(c, Record):
                assert not any(isinstance(x, Record) for x in commands), "one outcome per session"
                # the outcome comes before the goodbye prompt in the same step
                assert any(isinstance(x, Play) for x in cmds[cmds.index(c) :])
            elif isinstance(c, HangupCall):
                assert any(isinstance(x, Record) for x in commands), "hang up only after an outcome"
                assert new.phase == "done"
            commands.append(c)
        # the state agrees with what was issued
        if new.phase == "playing":
            assert new.playback == issued_playbacks[-1] and new.timer is None
        if new.phase == "waiting":
            assert new.timer == issued_timers[-1] and new.playback is None
            assert FLOW.node(new.node).ask
        if new.verified:
            assert sum(isinstance(x, Verified) for x in commands) == 1
        assert new.retries <= max_retries
        state = new
    assert sum(isinstance(c, HangupCall) for c in commands) <= 1
    if any(isinstance(c, HangupCall) for c in commands):
        assert isinstance(commands[-1], HangupCall), "HangupCall is the last command"
