"""IVR sessions on ARI: Asterisk events -> engine events; engine commands -> ARI requests.

One `IvrSession` per call, driven only from that channel's dispatcher lane, so its events are handled
strictly in order. Timers are scheduled on the loop and come back through the same lane as
synthetic `DunlineTimeout` events. Outcomes are written (through `on_record`) before the next command
runs, so a flag such as `cease` is stored before the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dunline.ari_handlers.client import AriClient, AriError
from dunline.ari_handlers.listen import EARLY_RESUME_S, SPEECH_EVENT, Listener
from dunline.ari_handlers.media import AudioTap
from dunline.ivr import engine
from dunline.ivr.flow import Flow
from dunline.ivr.prompts import call_values
from dunline.ivr.speech.endpoint import (
    Discarded,
    SpeculativePause,
    SpeechResumed,
    SpeechStarted,
    UtteranceEnded,
)
from dunline.ivr.speech.turn_end import HOLD_REASONS, why_wait

log = logging.getLogger("dunline.ivr")

TIMEOUT_EVENT = "DunlineTimeout"
GUESS_EVENT = "DunlineGuess"  # a decode started at the first pause is ready (early commit, if finished)


@dataclass(frozen=True)
class CallContext:
    """What a session needs to know about its call (built by the dialer before dialling)."""

    attempt_id: str
    account_ref: str
    media: Mapping[str, str]  # prompt id -> ARI media URI
    lang: str = "en"
    timezone: str = "UTC"
    currency: str = "USD"
    mode: str = "ivr"  # the campaign's: "ivr" (this module talks) or "agent" (connected to an agent)
    template: str | None = None  # the plan step's script template (the agent's screen shows it)
    agent: str | None = None  # agent mode: the one agent this call is for (a preview, an own callback)


RecordHook = Callable[[CallContext, engine.Record], Awaitable[None]]
CallPromptRenderer = Callable[[str, Mapping[str, str]], Awaitable[str]]


@dataclass
class Ears:
    """The speech side of a session (absent for keypad-only calls)."""

    listener: Listener
    tap: AudioTap
    render_call_prompt: CallPromptRenderer


class IvrSession:
    def __init__(
        self,
        channel_id: str,
        ctx: CallContext,
        flow: Flow,
        ari: AriClient,
        feed: Callable[[dict[str, Any]], None],
        on_record: RecordHook,
        opts: engine.Options,
        ears: Ears | None = None,
    ) -> None:
        self.channel_id = channel_id
        self.ctx = ctx
        self.flow = flow
        self.ari = ari
        self.feed = feed
        self.on_record = on_record
        self.opts = opts
        self.ears = ears
        self.heard: list[dict[str, Any]] = []  # each answer taken: the question, the words, the intent
        self._speculation: asyncio.Future[engine.Speech] | None = None
        self._taken_utt = 0  # the last utterance answered at its first pause: its later events are stale
        self._taken_at: float | None = None  # when that was (a cut-off shows as speech soon after)
        self._speech_end: float | None = None  # perf_counter() when the last answer's speech ended
        self._reply: str | None = None  # the playback that answers it: its start closes the turn
        self.state = engine.State()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.played: list[str] = []  # every prompt id started, in order: the call's audit of what was said
        self.done = asyncio.get_running_loop().create_future()

    def translate(self, event: Mapping[str, Any]) -> engine.Event | None:
        kind = event.get("type")
        if kind == "StasisStart":
            return engine.Start()
        if kind == "PlaybackFinished":
            pid = str(event.get("playback", {}).get("id", ""))
            prefix = f"{self.channel_id}."
            return engine.PlaybackDone(pid[len(prefix) :]) if pid.startswith(prefix) else None
        if kind == "ChannelDtmfReceived":
            return engine.Digit(str(event.get("digit", "")))
        if kind == TIMEOUT_EVENT:
            return engine.Timeout(str(event.get("timer_id", "")))
        if kind in ("StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"):
            return engine.Hangup()
        return None

    def _listening(self) -> bool:
        if self.state.phase not in ("playing", "waiting") or self.state.dtmf_only:
            return False
        return self.flow.node(self.state.node).ask

    async def _speech_event(self, event: Mapping[str, Any]) -> engine.Event | None:
        sev, utt = event.get("speech"), int(event.get("utt", 0))
        stale = (SpeculativePause, SpeechResumed, UtteranceEnded, Discarded)
        if utt and utt <= self._taken_utt and isinstance(sev, stale):
            return None  # queued before that utterance was answered at its first pause
        if isinstance(sev, SpeechStarted):
            self._drop_speculation()
            if self._taken_at is not None and self.ears is not None:
                if asyncio.get_running_loop().time() - self._taken_at < EARLY_RESUME_S:
                    self.ears.listener.early_resumed += 1
                self._taken_at = None
            return engine.SpeechStart()
        if isinstance(sev, Discarded):
            self._drop_speculation()
            return engine.NoSpeech()
        if isinstance(sev, SpeechResumed):
            self._drop_speculation()  # the caller went on talking: that guess was early
            return None
        if isinstance(sev, SpeculativePause) and self.ears is not None and self._listening():
            # start decoding at the first short pause; if the pause becomes the end of the
            # utterance (no speech in between), that result is the answer, ~300 ms sooner
            listener = self.ears.listener
            ahead = asyncio.ensure_future(listener.recognise(sev.audio))
            self._speculation = ahead
            if listener.early_commit:
                # the pause may not end the answer before that decode is judged (see _early)
                listener.endpointer.hold(listener.hold_silence_ms, utt)
                ready = {"type": GUESS_EVENT, "channel": {"id": self.channel_id}, "utt": utt, "guess": ahead,
                         "speech_end": event.get("speech_end")}  # fmt: skip
                ahead.add_done_callback(lambda _: self.feed(ready))
            return None
        if isinstance(sev, UtteranceEnded) and self.ears is not None and self._listening():
            guess, self._speculation = self._speculation, None
            try:
                if guess is not None:
                    self.ears.listener.speculative_hits += 1
                    heard = await guess
                else:
                    heard = await self.ears.listener.recognise(sev.audio)
            except Exception:  # a broken recogniser must not leave the caller in silence
                log.exception("attempt %s: speech recognition failed", self.ctx.attempt_id)
                heard = engine.Speech("unknown", 0.0, (), "asr:error")
            self._note(heard, early=False)
            return heard
        return None

    def _early(self, event: Mapping[str, Any]) -> engine.Speech | None:
        """The decode started at the first pause is ready: take it now if the answer is finished, wait
        `hold_silence_ms` if it is mid-sentence, else let the usual silence end it."""
        guess = self._speculation
        if guess is None or id(event.get("guess")) != id(guess) or guess.cancelled() or self.ears is None:
            return None  # dropped meanwhile (the caller went on talking), or the call moved on
        listener, utt = self.ears.listener, int(event.get("utt", 0))
        wait: str | None = "failed"
        if guess.exception() is None and self._listening():
            heard: engine.Speech = guess.result()
            expected = self.flow.node(self.state.node).intents or {}
            wait = why_wait(
                heard.text, listener.lang, heard.intent, heard.confidence, dict(heard.slots),
                heard.doubtful, expected,
            )  # fmt: skip
        if wait is None:
            self._speculation = None
            listener.endpointer.end_utterance(utt)
            listener.early_commits += 1
            self._taken_utt = utt
            self._taken_at = asyncio.get_running_loop().time()
            self._note(heard, early=True)
            return heard
        if wait not in HOLD_REASONS:
            listener.endpointer.hold(0, utt)  # the usual silence ends it (a failure is reported there)
        return None

    def _note(self, heard: engine.Speech, *, early: bool) -> None:
        self.heard.append(
            {"node": self.state.node, "text": heard.text, "intent": heard.intent,
             "confidence": round(heard.confidence, 2), "doubtful": heard.doubtful, "early": early}
        )  # fmt: skip

    def _drop_speculation(self) -> None:
        guess, self._speculation = self._speculation, None
        if guess is not None:
            guess.cancel()  # the decode already running in the pool finishes; its result is dropped

    def _turn_done(self, event: Mapping[str, Any]) -> None:
        """Turn latency: the debtor's speech ended -> our reply starts playing (PlaybackStarted)."""
        pid = str(event.get("playback", {}).get("id", ""))
        if self.ears is None or self._speech_end is None or pid != f"{self.channel_id}.{self._reply}":
            return
        rx = event.get("_rx")
        if isinstance(rx, float):
            self.ears.listener.turn_ms.append((rx - self._speech_end) * 1000)
        self._speech_end = self._reply = None

    async def handle(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == SPEECH_EVENT:
            ev = await self._speech_event(event)
        elif event.get("type") == GUESS_EVENT:
            ev = self._early(event)
        elif event.get("type") == "PlaybackStarted":
            self._turn_done(event)
            return
        else:
            ev = self.translate(event)
        if isinstance(ev, engine.Speech) and isinstance(event.get("speech_end"), float):
            self._speech_end = event["speech_end"]  # the answer's speech ended then: its turn starts
        if ev is None:
            return
        self.state, commands = engine.step(self.flow, self.state, ev, self.opts)
        if isinstance(ev, engine.Speech):
            self._reply = next((c.playback_id for c in commands if isinstance(c, engine.Play)), None)
        for cmd in commands:
            await self._run(cmd)
        if self.state.phase == "done":
            self._finish()
            if self.ears is not None:
                await self.ears.tap.close()

    async def _run(self, cmd: engine.Command) -> None:
        try:
            if isinstance(cmd, engine.Play):
                media = [await self._media(p) for p in cmd.prompts]
                self.played.extend(cmd.prompts)
                await self.ari.play(
                    self.channel_id, media, playback_id=f"{self.channel_id}.{cmd.playback_id}"
                )
            elif isinstance(cmd, engine.StopPlayback):
                await self.ari.stop_playback(f"{self.channel_id}.{cmd.playback_id}")
            elif isinstance(cmd, engine.StartTimer):
                self._start_timer(cmd.timer_id, cmd.seconds)
                # keep RTP flowing while the debtor thinks: carriers drop calls on RTP timeout, and
                # the far end measures silence only from frames it receives (a playback ends it)
                await self.ari.request("POST", f"/channels/{self.channel_id}/silence")
            elif isinstance(cmd, engine.Record):
                await self.on_record(self.ctx, cmd)
            elif isinstance(cmd, engine.Verified):
                log.info("attempt %s: right party verified at %s", self.ctx.attempt_id, cmd.node)
            elif isinstance(cmd, engine.HangupCall):
                await self.ari.hangup(self.channel_id)
        except AriError as exc:
            # the channel may be gone already: the Hangup event that follows ends the session
            log.warning("attempt %s: %s failed: %s", self.ctx.attempt_id, type(cmd).__name__, exc)

    async def _media(self, prompt_id: str) -> str:
        if prompt_id in self.ctx.media:
            return self.ctx.media[prompt_id]
        if self.ears is None:
            raise KeyError(f"prompt {prompt_id!r} has no audio for this call")
        held = self.state.pending
        values = call_values(dict(held.slots) if held else {}, self.ctx.currency, self.ctx.lang)
        return await self.ears.render_call_prompt(prompt_id, values)

    def _start_timer(self, timer_id: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        event = {"type": TIMEOUT_EVENT, "channel": {"id": self.channel_id}, "timer_id": timer_id}
        self.timers[timer_id] = loop.call_later(seconds, self.feed, event)

    def _finish(self) -> None:
        self._drop_speculation()
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        if not self.done.done():
            self.done.set_result(self.state.outcome)
