"""An answer taken at its first pause (early commit), held when mid-sentence, or left to the silence:
the IVR session's side, with a fake ARI and a scripted recogniser (the real path: test_speech_pbx)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from dunline.ari_handlers.listen import SPEECH_EVENT, Listener
from dunline.ari_handlers.session import CallContext, Ears, IvrSession
from dunline.controller.app import load_flow
from dunline.ivr import engine
from dunline.ivr.prompts import load_catalog
from dunline.ivr.speech.endpoint import (
    FRAME_BYTES,
    EndpointConfig,
    Endpointer,
    SpeculativePause,
    SpeechResumed,
    UtteranceEnded,
)

FLOW = load_flow("collect_speech")


class FakeAri:
    def __init__(self) -> None:
        self.played: list[list[str]] = []

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> None:
        self.played.append(media)

    async def stop_playback(self, playback_id: str) -> None:
        pass

    async def request(self, method: str, path: str, **kw: Any) -> None:
        pass

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        pass


class Scripted(Listener):
    """Answers every decode with the next scripted Speech, when the test releases it."""

    def __init__(self, endpointer: Endpointer, answers: list[engine.Speech]) -> None:
        super().__init__("ch", lambda e: None, endpointer, None, "en", None, early_commit=True,  # type: ignore[arg-type]
                         hold_silence_ms=1200)  # fmt: skip
        self.answers = answers
        self.release = asyncio.Event()
        self.decodes = 0

    async def recognise(self, audio: bytes) -> engine.Speech:
        self.decodes += 1
        await self.release.wait()
        return self.answers.pop(0)


def gate(frame: bytes) -> bool:
    return frame[4:5] == b"S"


def frames(pattern: str) -> list[bytes]:
    return [(struct.pack("<I", i) + k.encode()).ljust(FRAME_BYTES, b"\0") for i, k in enumerate(pattern)]


class Rig:
    def __init__(self, answers: list[engine.Speech]) -> None:
        self.endpointer = Endpointer(EndpointConfig(), gate)
        self.listener = Scripted(self.endpointer, answers)
        self.queue: list[dict[str, Any]] = []
        self.ari = FakeAri()
        self.records: list[engine.Record] = []
        media = {p: f"sound:{p}" for p in load_catalog("en")}
        ctx = CallContext(attempt_id="a1", account_ref="ACC-1", media=media)

        async def record(_ctx: CallContext, rec: engine.Record) -> None:
            self.records.append(rec)

        ears = Ears(self.listener, None, None)  # type: ignore[arg-type]
        ari: Any = self.ari
        self.session = IvrSession("ch", ctx, FLOW, ari, self.queue.append, record, engine.Options(), ears)

    async def pump(self) -> None:
        while self.queue:
            await self.session.handle(self.queue.pop(0))

    async def at_rpc(self) -> None:
        await self.session.handle({"type": "StasisStart"})
        pid = f"ch.{self.session.state.playback}"
        await self.session.handle({"type": "PlaybackFinished", "playback": {"id": pid}})
        assert self.session.state.node == "rpc"

    async def pause(self) -> SpeculativePause:
        """The debtor said something and paused 200 ms: the endpointer's speculative pause."""
        spec = None
        for f in frames("S" * 20 + "_" * 10):
            for ev in self.endpointer.feed(f):
                if isinstance(ev, SpeculativePause):
                    spec = ev
        assert spec is not None and self.endpointer.state == "pausing"
        await self.session.handle({"type": SPEECH_EVENT, "speech": spec, "utt": 1, "speech_end": 1.0})
        return spec

    async def decoded(self) -> None:
        self.listener.release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        await self.pump()


def yes(text: str = "Yes, that's me.", intent: str = "affirm", conf: float = 0.97) -> engine.Speech:
    return engine.Speech(intent, conf, (), f"phrase:{text}", text)


@pytest.mark.asyncio
async def test_a_finished_yes_is_taken_at_the_first_pause() -> None:
    rig = Rig([yes()])
    await rig.at_rpc()
    spec = await rig.pause()
    await rig.decoded()
    assert rig.session.state.verified and rig.session.state.node == "disclosure"
    assert rig.endpointer.state == "listening"  # the utterance was ended there
    assert rig.session.heard == [
        {"node": "rpc", "text": "Yes, that's me.", "intent": "affirm", "confidence": 0.97,
         "doubtful": False, "early": True}
    ]  # fmt: skip
    assert rig.listener.early_commits == 1 and rig.session._speech_end == 1.0
    # the silence's own end of that utterance, queued before the commit, is not a second answer
    ended = UtteranceEnded(at_ms=900, audio=spec.audio, speech_ms=400, reason="silence",
                           audio_start_ms=0, start_ms=0)  # fmt: skip
    await rig.session.handle({"type": SPEECH_EVENT, "speech": ended, "utt": 1})
    await rig.session.handle({"type": SPEECH_EVENT, "speech": SpeechResumed(at_ms=700), "utt": 1})
    assert len(rig.session.heard) == 1 and rig.session.state.node == "disclosure"


@pytest.mark.asyncio
async def test_mid_sentence_holds_the_pause_and_the_whole_answer_is_taken() -> None:
    rig = Rig([yes("Yes, but", "affirm"), yes("Yes, but I'm driving right now.", "inconvenient_time")])
    await rig.at_rpc()
    await rig.pause()
    await rig.decoded()
    assert rig.session.state.node == "rpc" and not rig.session.heard
    events = [ev for f in frames("_" * 40) for ev in rig.endpointer.feed(f)]
    assert events == []  # 1 s of silence did not end it: held for 1.2 s
    assert rig.endpointer.state == "pausing" and rig.listener.early_commits == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "answer",
    [
        yes("Stop calling me.", "cease"),  # a legal flag waits for the silence (and maybe a check)
        yes("Yes, that's me.", conf=0.7),  # unsure
    ],
)
async def test_other_answers_are_left_to_the_usual_silence(answer: engine.Speech) -> None:
    rig = Rig([answer])
    await rig.at_rpc()
    spec = await rig.pause()
    held = [ev for f in frames("_" * 20) for ev in rig.endpointer.feed(f)]
    assert held == []  # 600 ms of silence: held while the decode is judged
    await rig.decoded()
    assert not rig.session.heard and rig.listener.early_commits == 0
    ended = [ev for f in frames("_") for ev in rig.endpointer.feed(f)]  # released: it ends now
    assert [type(e).__name__ for e in ended] == ["UtteranceEnded"]
    await rig.session.handle({"type": SPEECH_EVENT, "speech": ended[0], "utt": 1})
    assert rig.session.heard[0]["early"] is False and rig.session.heard[0]["intent"] == answer.intent
    assert rig.listener.decodes == 1 and spec.audio  # the speculative decode was the answer


@pytest.mark.asyncio
async def test_a_guess_dropped_by_more_speech_is_not_taken() -> None:
    rig = Rig([yes()])
    await rig.at_rpc()
    await rig.pause()
    await rig.session.handle({"type": SPEECH_EVENT, "speech": SpeechResumed(at_ms=700), "utt": 1})
    await rig.decoded()
    assert not rig.session.heard and rig.session.state.node == "rpc"
