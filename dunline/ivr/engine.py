"""The IVR engine: a pure state machine `step(flow, state, event) -> (state, commands)`.

The ARI session adapter turns Asterisk events into `Event`s and carries out the `Command`s (play,
stop a playback, start a timer, record an outcome, hang up). No I/O here; timers are ids the adapter
schedules. A digit answers only the question whose prompt is playing (barge-in: the prompt stops) or
has been played; digits pressed during other prompts are ignored, not kept for the next question, so
nobody is "verified" as the debtor, and no promise or dispute is recorded, before they heard the
question.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from dunline.ivr.flow import BACK, Edge, Flow, Node

# ---- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class PlaybackDone:
    playback_id: str


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class Timeout:
    timer_id: str


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class SpeechStart:
    """The caller started talking (voice-activity onset): barge-in, and the silence timer stops."""


@dataclass(frozen=True)
class Speech:
    """A recognised answer: the intent, its confidence, its slots as text ({"date": "2026-12-04"})."""

    intent: str
    confidence: float
    slots: tuple[tuple[str, str], ...] = ()
    matched: str = ""
    text: str = ""  # what the recogniser heard (kept with the call, never logged)
    doubtful: bool = False  # heard or read uncertainly: a legal flag from it is asked about first


@dataclass(frozen=True)
class NoSpeech:
    """The talk that started was not speech after all (a cough, a click): wait again."""


Event = Start | PlaybackDone | Digit | Timeout | Hangup | SpeechStart | Speech | NoSpeech

# ---- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    playback_id: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True)
class StartTimer:
    timer_id: str
    seconds: float


@dataclass(frozen=True)
class Record:
    """An outcome reached: store it (and its flag) before anything else happens."""

    outcome: str
    node: str
    verified: bool
    flag: str | None = None
    slots: tuple[tuple[str, str], ...] = ()
    by: str = "dtmf"  # "dtmf" or "speech:<matched>": how the answer was given


@dataclass(frozen=True)
class Verified:
    node: str


@dataclass(frozen=True)
class HangupCall:
    pass


Command = Play | StopPlayback | StartTimer | Record | Verified | HangupCall

Phase = Literal["new", "playing", "waiting", "done"]


@dataclass(frozen=True)
class State:
    node: str = ""
    phase: Phase = "new"
    verified: bool = False
    retries: int = 0
    seq: int = 0
    playback: str | None = None
    timer: str | None = None
    outcome: str | None = None
    speech_failures: int = 0  # in this node: 1 -> reprompt, 2 -> keypad only
    dtmf_only: bool = False
    pending: Record | None = None  # an outcome held for confirmation (read back to the caller)
    resume: str | None = None  # the question a doubt check returns to (`$back`)
    doubt: Speech | None = None  # the doubtful answer a check node asks about


@dataclass(frozen=True)
class Options:
    digit_timeout_s: float = 6.0
    max_retries: int = 2
    min_confidence: float = 0.6


def _play(state: State, node: Node, prompts: tuple[str, ...]) -> tuple[State, list[Command]]:
    seq = state.seq + 1
    pid = f"pb{seq}"
    return replace(state, node=node.id, phase="playing", seq=seq, playback=pid, timer=None), [
        Play(pid, prompts)
    ]


def _enter(flow: Flow, state: State, node_id: str, opts: Options) -> tuple[State, list[Command]]:
    node = flow.node(node_id)
    state = replace(state, retries=0, speech_failures=0, dtmf_only=False)
    return _play(state, node, node.prompts)


def _follow(
    flow: Flow,
    state: State,
    node: Node,
    edge: Edge,
    opts: Options,
    speech: Speech | None = None,
) -> tuple[State, list[Command]]:
    cmds: list[Command] = []
    if state.doubt is not None and flow.doubt_checks and node.id in flow.doubt_checks.values():
        # an edge out of a check node: the flag it sets was asked about; its words are the first answer's
        if edge.outcome and (speech is None or speech.intent == "affirm"):
            speech = replace(state.doubt, matched=f"{state.doubt.matched} (confirmed)")
        state = replace(state, doubt=None)
    if edge.next == BACK:
        back = state.resume or flow.start
        state = replace(state, resume=None)
        state, more = _enter(flow, state, back, opts)
        return state, cmds + more
    if edge.verify and not state.verified:
        state = replace(state, verified=True)
        cmds.append(Verified(node.id))
    by = f"speech:{speech.matched}" if speech else "dtmf"
    slots = speech.slots if speech else ()
    if edge.confirm and edge.outcome:
        held = Record(edge.outcome, node.id, state.verified, edge.flag, slots, by)
        state = replace(state, pending=held)
    elif edge.commit and state.pending is not None:
        held = replace(state.pending, verified=state.verified)
        state = replace(state, outcome=held.outcome, pending=None)
        cmds.append(held)
    elif edge.outcome:
        state = replace(state, outcome=edge.outcome, pending=None)
        cmds.append(Record(edge.outcome, node.id, state.verified, edge.flag, slots, by))
    state, more = _enter(flow, state, edge.next, opts)
    return state, cmds + more


def _answer(flow: Flow, state: State, node: Node, digit: str, opts: Options) -> tuple[State, list[Command]]:
    assert node.digits is not None
    edge = node.digits.get(digit)
    if edge is not None:
        return _follow(flow, state, node, edge, opts)
    return _retry(flow, state, node, opts)


def _retry(flow: Flow, state: State, node: Node, opts: Options) -> tuple[State, list[Command]]:
    if state.retries >= opts.max_retries:
        assert node.no_input is not None
        return _follow(flow, state, node, node.no_input, opts)
    retries = state.retries + 1
    new, cmds = _play(state, node, node.reprompt or node.prompts)
    return replace(new, retries=retries), cmds


def _done(state: State) -> tuple[State, list[Command]]:
    cmds: list[Command] = []
    if state.playback:
        cmds.append(StopPlayback(state.playback))
    return replace(state, phase="done", playback=None, timer=None), cmds


def step(flow: Flow, state: State, event: Event, opts: Options | None = None) -> tuple[State, list[Command]]:
    """Advance the session by one event. Events that do not apply (a stale playback or timer id, a
    second Start, anything after the end) change nothing."""
    opts = opts or Options()
    if state.phase == "done":
        return state, []
    if isinstance(event, Hangup):
        return _done(state)
    if isinstance(event, Start):
        if state.phase != "new":
            return state, []
        return _enter(flow, state, flow.start, opts)
    if state.phase == "new":
        return state, []  # a digit, playback or timer before Start: no node to apply it to
    node = flow.node(state.node)
    if isinstance(event, PlaybackDone):
        if event.playback_id != state.playback or state.phase != "playing":
            return state, []
        state = replace(state, playback=None)
        if node.ask:
            seq = state.seq + 1
            tid = f"t{seq}"
            return replace(state, phase="waiting", seq=seq, timer=tid), [
                StartTimer(tid, opts.digit_timeout_s)
            ]
        if node.hangup:
            return replace(state, phase="done"), [HangupCall()]
        assert node.next is not None
        return _enter(flow, state, node.next, opts)
    if isinstance(event, Timeout):
        if event.timer_id != state.timer or state.phase != "waiting":
            return state, []
        return _retry(flow, replace(state, timer=None), node, opts)
    if isinstance(event, SpeechStart):
        if not node.ask or state.dtmf_only:
            return state, []
        cmds0: list[Command] = (
            [StopPlayback(state.playback)] if state.phase == "playing" and state.playback else []
        )
        return replace(state, playback=None, timer=None, phase="waiting"), cmds0
    if isinstance(event, Speech):
        return _speech(flow, state, node, event, opts)
    if isinstance(event, NoSpeech):
        if not node.ask or state.phase != "waiting" or state.timer is not None:
            return state, []
        seq = state.seq + 1
        return replace(state, seq=seq, timer=f"t{seq}"), [StartTimer(f"t{seq}", opts.digit_timeout_s)]
    # a digit
    if not node.ask:
        return state, []  # not a question: the key is ignored
    cmds: list[Command] = []
    if state.phase == "playing" and state.playback:
        cmds.append(StopPlayback(state.playback))  # barge-in
    state = replace(state, playback=None, timer=None)
    state, more = _answer(flow, state, node, event.digit, opts)
    return state, cmds + more


def _speech(flow: Flow, state: State, node: Node, ev: Speech, opts: Options) -> tuple[State, list[Command]]:
    """A spoken answer to the current question: a global intent (cease, attorney, ...) wins, then the
    node's own intents; a miss or low confidence reprompts once, then the node goes keypad-only."""
    if not node.ask or state.dtmf_only:
        return state, []
    cmds: list[Command] = (
        [StopPlayback(state.playback)] if state.phase == "playing" and state.playback else []
    )
    state = replace(state, playback=None, timer=None)
    if ev.confidence >= opts.min_confidence:
        edge = (flow.global_intents or {}).get(ev.intent) or (node.intents or {}).get(ev.intent)
        check = (flow.doubt_checks or {}).get(ev.intent)
        if edge is not None and ev.doubtful and check and node.id not in (flow.doubt_checks or {}).values():
            # a legal flag from a doubtful transcript is never set without asking
            state = replace(state, resume=node.id, doubt=ev)
            state, more = _enter(flow, state, check, opts)
            return state, cmds + more
        if edge is not None:
            state, more = _follow(flow, state, node, edge, opts, ev)
            return state, cmds + more
    failures = state.speech_failures + 1
    if failures >= 2 and node.dtmf_fallback:
        new, more = _play(state, node, node.dtmf_fallback)
        return replace(new, speech_failures=failures, dtmf_only=True), cmds + more
    if failures >= 2:
        new, more = _retry(flow, state, node, opts)
        return replace(new, speech_failures=failures), cmds + more
    new, more = _play(state, node, node.reprompt or node.prompts)
    return replace(new, speech_failures=failures), cmds + more
