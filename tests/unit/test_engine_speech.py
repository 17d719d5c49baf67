"""The speech-first flow on the pure engine: spoken answers, global intents, confirmation, fallback."""

from __future__ import annotations

from dunline.controller.app import load_flow
from dunline.ivr.engine import (
    Command,
    Digit,
    HangupCall,
    NoSpeech,
    Options,
    Play,
    PlaybackDone,
    Record,
    Speech,
    SpeechStart,
    Start,
    StartTimer,
    State,
    StopPlayback,
    Timeout,
    Verified,
    step,
)

FLOW = load_flow("collect_speech")
OPTS = Options(min_confidence=0.6)
DISCLOSING = {"mini_miranda", "balance", "ask_when", "ask_when_reprompt", "promise_readback", "menu"}


class Call:
    def __init__(self) -> None:
        self.state = State()
        self.log: list[Command] = []

    def feed(self, event: object) -> list[Command]:
        self.state, cmds = step(FLOW, self.state, event, OPTS)  # type: ignore[arg-type]
        self.log.extend(cmds)
        return cmds

    def finish_playback(self) -> list[Command]:
        assert self.state.playback is not None
        return self.feed(PlaybackDone(self.state.playback))

    def played(self) -> list[str]:
        return [p for c in self.log if isinstance(c, Play) for p in c.prompts]


def at_question(call: Call, node: str) -> None:
    call.feed(Start())
    call.finish_playback()  # notice -> rpc question playing
    if node == "rpc":
        return
    call.finish_playback()
    call.feed(Speech("affirm", 0.95))  # verified -> disclosure
    call.finish_playback()  # -> when


def test_yes_by_voice_verifies_and_discloses() -> None:
    call = Call()
    at_question(call, "rpc")
    cmds = call.feed(Speech("affirm", 0.9, matched="en:affirm:'yes'"))
    assert isinstance(cmds[0], StopPlayback)  # the question was still playing: barge-in
    assert Verified("rpc") in cmds
    assert any(isinstance(c, Play) and c.prompts == ("mini_miranda", "balance") for c in cmds)


def test_promise_is_held_read_back_and_recorded_only_when_confirmed() -> None:
    call = Call()
    at_question(call, "when")
    slots = (("amount", "200.00"), ("date", "2026-12-04"))
    cmds = call.feed(Speech("promise_to_pay", 0.9, slots, "en:promise_to_pay:'i can pay'"))
    assert not any(isinstance(c, Record) for c in cmds)
    assert any(isinstance(c, Play) and c.prompts == ("promise_readback",) for c in cmds)
    assert call.state.pending is not None and call.state.pending.slots == slots
    call.finish_playback()
    cmds = call.feed(Speech("affirm", 0.9))
    (rec,) = [c for c in cmds if isinstance(c, Record)]
    assert (rec.outcome, rec.slots, rec.verified) == ("promise_to_pay", slots, True)
    assert rec.by.startswith("speech:en:promise_to_pay")
    call.finish_playback()
    assert call.log[-1] == HangupCall()


def test_a_denied_read_back_asks_again_and_records_nothing() -> None:
    call = Call()
    at_question(call, "when")
    call.feed(Speech("promise_to_pay", 0.9, (("amount", "50.00"),)))
    call.finish_playback()
    cmds = call.feed(Digit("2"))
    assert not any(isinstance(c, Record) for c in cmds)
    assert any(isinstance(c, Play) and c.prompts == ("ask_when",) for c in cmds)


def test_stop_calling_at_the_identity_question_sets_the_flag_without_disclosure() -> None:
    call = Call()
    at_question(call, "rpc")
    cmds = call.feed(Speech("cease", 0.97))
    assert Record("cease", "rpc", False, "cease", (), "speech:") in cmds
    call.finish_playback()
    assert call.log[-1] == HangupCall()
    assert not DISCLOSING & set(call.played())


def test_low_confidence_reprompts_once_then_falls_back_to_the_keypad() -> None:
    call = Call()
    at_question(call, "rpc")
    call.finish_playback()
    cmds = call.feed(Speech("affirm", 0.3))
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [("rpc_reprompt_speech",)]
    call.finish_playback()
    cmds = call.feed(Speech("unknown", 0.1))
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [("rpc_reprompt",)]
    assert call.state.dtmf_only
    assert call.feed(Speech("affirm", 0.99)) == []  # keypad only now
    cmds = call.feed(Digit("1"))
    assert Verified("rpc") in cmds


def test_speech_start_barges_in_and_stops_the_timer_no_speech_restarts_it() -> None:
    call = Call()
    at_question(call, "rpc")
    playing = call.state.playback
    cmds = call.feed(SpeechStart())
    assert cmds == [StopPlayback(playing)] and call.state.timer is None
    cmds = call.feed(NoSpeech())
    assert len(cmds) == 1 and isinstance(cmds[0], StartTimer) and call.state.timer == cmds[0].timer_id


def test_speech_during_the_notice_is_ignored() -> None:
    call = Call()
    call.feed(Start())
    assert call.feed(SpeechStart()) == []
    assert call.feed(Speech("affirm", 0.99)) == []
    assert not call.state.verified


def test_hardship_by_voice_records_its_flag() -> None:
    call = Call()
    at_question(call, "when")
    cmds = call.feed(Speech("hardship", 0.8))
    (rec,) = [c for c in cmds if isinstance(c, Record)]
    assert (rec.outcome, rec.flag) == ("hardship", "hardship")


# --- a legal flag heard doubtfully is asked about before it is set ---------------------------------


def test_a_doubtful_stop_calling_is_asked_about_and_set_only_on_yes() -> None:
    call = Call()
    at_question(call, "rpc")
    heard = Speech("cease", 0.72, (), "en:cease:like(0.72) 'quit ringing me'", "don't ever ring again", True)
    cmds = call.feed(heard)
    assert not any(isinstance(c, Record) for c in cmds)
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [("check_cease",)]
    call.finish_playback()
    cmds = call.feed(Speech("affirm", 0.95, matched="en:affirm:'yes'"))
    (rec,) = [c for c in cmds if isinstance(c, Record)]
    assert (rec.outcome, rec.flag, rec.node) == ("cease", "cease", "check_cease")
    assert rec.by == "speech:en:cease:like(0.72) 'quit ringing me' (confirmed)"
    assert not DISCLOSING & set(call.played())  # asked before verification: no word of the debt


def test_no_to_the_check_goes_back_to_the_question_and_sets_nothing() -> None:
    call = Call()
    at_question(call, "when")
    call.feed(Speech("dispute", 0.95, (), "en:dispute:~'dispute'='the speed'(84)", "about the speed", True))
    assert call.played()[-1] == "check_dispute"
    call.finish_playback()
    cmds = call.feed(Digit("2"))
    assert not any(isinstance(c, Record) for c in cmds)
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [("ask_when",)]
    assert call.state.resume is None and call.state.doubt is None
    call.finish_playback()
    cmds = call.feed(Speech("promise_to_pay", 0.9, (("amount", "80.00"),)))
    assert any(isinstance(c, Play) and c.prompts == ("promise_readback",) for c in cmds)


def test_silence_at_the_check_sets_nothing_and_a_clear_flag_needs_no_check() -> None:
    call = Call()
    at_question(call, "when")
    call.feed(
        Speech("attorney", 0.8, (), "en:attorney:like(0.80) 'my lawyer'", "let me talk to an agent", True)
    )
    assert call.played()[-1] == "check_attorney"
    for _ in range(5):  # no answer: the check is asked again, then the question it interrupted
        call.finish_playback()
        timer = call.log[-1]
        assert isinstance(timer, StartTimer)
        call.feed(Timeout(timer.timer_id))
        if call.played()[-1] == "ask_when":
            break
    assert call.played()[-1] == "ask_when" and call.played().count("check_attorney") == 3
    assert not any(isinstance(c, Record) for c in call.log)
    # a plain "stop calling me", heard exactly, is set at once
    plain = Call()
    at_question(plain, "when")
    cmds = plain.feed(Speech("cease", 0.97, (), "en:cease:'stop calling'", "stop calling me", False))
    assert any(isinstance(c, Record) and c.flag == "cease" for c in cmds)
