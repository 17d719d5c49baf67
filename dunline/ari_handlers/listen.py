"""One call's ears: caller frames -> endpointer -> (in the call's lane) ASR -> intent -> engine event.

`on_frame` runs for every 20 ms frame from the RTP receiver: it only feeds the endpointer (a few
microseconds of webrtcvad) and posts the endpointer's events into the call's dispatcher lane, so
voice events are ordered with the call's other events. `recognise` runs in the lane: Whisper in the
recogniser's worker pool (off the loop), then the pure intent classifier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dunline.ivr import engine
from dunline.ivr.speech.asr import Recogniser
from dunline.ivr.speech.endpoint import Endpointer, SpeculativePause, UtteranceEnded
from dunline.ivr.speech.intents import Opinion
from dunline.ivr.speech.types import Lang

log = logging.getLogger("dunline.speech")

SPEECH_EVENT = "DunlineSpeech"
# An answer is doubtful (a legal flag from it is asked about before it is set) when the recogniser was
# unsure, when a phrase matched only fuzzily ("~") or the labelled examples decided ("like("), or below
# DOUBT_CONFIDENCE. Unsure, by language: clean English answers through the line score -0.02..-0.3;
# clean short Mandarin ones -0.1..-0.96 (Kokoro voices through 8 kHz mu-law, measured while building
# this), and decodes below -1.0 are rejected (Mandarin short answers: -1.7).
DOUBT_LOGPROB = {"en": -0.6, "zh": -1.0}
DOUBT_CONFIDENCE = 0.9
# Speech starting this soon after an answer was taken at its first pause (an early commit) was
# probably the same answer going on: counted as a possible cut-off (Listener.early_resumed).
EARLY_RESUME_S = 1.0


def doubtful(lang: Lang, avg_logprob: float, confidence: float, matched: str) -> bool:
    unsure = avg_logprob < DOUBT_LOGPROB[lang] or confidence < DOUBT_CONFIDENCE
    return unsure or "~" in matched or ":like(" in matched


class Listener:
    def __init__(
        self,
        channel_id: str,
        feed: Callable[[dict[str, Any]], None],
        endpointer: Endpointer,
        recogniser: Recogniser,
        lang: Lang,
        tz: ZoneInfo,
        time_limit_s: float = 5.0,
        opinion: Opinion | None = None,
        *,
        early_commit: bool = False,
        hold_silence_ms: int = 0,
    ) -> None:
        self.channel_id = channel_id
        self.feed = feed
        self.endpointer = endpointer
        self.recogniser = recogniser
        self.lang = lang
        self.tz = tz
        self.time_limit_s = time_limit_s
        self.opinion = opinion  # the intents' second opinion, or None
        self.early_commit = early_commit  # a finished answer decoded at its first pause is taken at once
        self.hold_silence_ms = hold_silence_ms  # the pause that ends an answer trailing off ("and, um")
        self.early_commits = 0  # answers taken at their first pause (turn_end.why_wait said finished)
        self.early_resumed = 0  # ... after which the debtor spoke again within EARLY_RESUME_S: a cut-off?
        self.turns: list[dict[str, Any]] = []  # timings per recognised answer, for benchmarks
        self.speculative_hits = 0  # answers taken from a decode started at the first short pause
        self.turn_ms: list[float] = []  # speech end -> reply playback started, per answered turn

    def on_frame(self, frame: bytes) -> None:
        for ev in self.endpointer.feed(frame):
            event: dict[str, Any] = {
                "type": SPEECH_EVENT,
                "channel": {"id": self.channel_id},
                "speech": ev,
                "utt": self.endpointer.utterance,
            }
            # wall-clock end of the speech itself: now, less the trailing silence that ended it
            if isinstance(ev, UtteranceEnded):
                event["speech_end"] = time.perf_counter() - (ev.at_ms - ev.start_ms - ev.speech_ms) / 1000
            elif isinstance(ev, SpeculativePause):
                event["speech_end"] = time.perf_counter() - (ev.at_ms - ev.speech_end_ms) / 1000
            self.feed(event)

    async def recognise(self, audio: bytes) -> engine.Speech:
        started = time.perf_counter()
        samples = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
        result = await self.recogniser.transcribe(
            samples, self.lang, time_limit_s=self.time_limit_s, call_id=self.channel_id
        )
        if not result.text:
            log.info("call %s: answer not recognised (%s)", self.channel_id, result.rejected)
            self.turns.append({"asr_ms": result.asr_ms, "intent": None})
            return engine.Speech("unknown", 0.0, (), f"asr:{result.rejected}")
        from dunline.ivr.speech.intents import classify  # the lexicons load on first use

        now = datetime.now(UTC)
        if self.opinion is None:
            found = classify(result.text, self.lang, now, self.tz)
        else:  # an embedding takes a few milliseconds: off the event loop
            found = await asyncio.to_thread(classify, result.text, self.lang, now, self.tz, self.opinion)
        raw_slots = found.as_json()["slots"]
        assert isinstance(raw_slots, dict)
        slots = tuple((k, str(v)) for k, v in raw_slots.items() if v is not None)
        self.turns.append(
            {
                "asr_ms": result.asr_ms,
                "intent": found.intent,
                "total_ms": (time.perf_counter() - started) * 1000,
            }
        )
        log.info("call %s: intent %s (%.2f)", self.channel_id, found.intent, found.confidence)
        unsure = doubtful(self.lang, result.avg_logprob, found.confidence, found.matched)
        return engine.Speech(found.intent, found.confidence, slots, found.matched, result.text, unsure)
