"""End-of-utterance detection on 20 ms frames of 16 kHz 16-bit mono PCM (pure, frame-driven).

The per-frame speech gate is injected (`is_speech(frame) -> bool`); `webrtc_gate()` builds the real one
on webrtcvad. Time is virtual: every frame fed is 20 ms, and `at_ms` on every event is the number of
milliseconds fed since construction or the last `reset()`, counted at the *end* of the frame that caused
the event. Durations given in ms are rounded up to whole frames (500 ms -> 25 frames, 499 ms -> 25).

Rules
- Onset: `onset_frames` speech frames among the last 5 (the ring) while listening. The speech start is
  the earliest speech frame of that ring. `SpeechStarted` is emitted at once (barge-in: stop the prompt).
- Inside an utterance, a speech frame counts as speech only if the ring again holds `onset_frames` speech
  frames; isolated clicks in a pause count as silence. `speech_ms` = start .. end of the last such frame.
- `SpeculativePause` once per pause, when the silence reaches `speculative_silence_ms` and the speech so
  far is at least `min_speech_ms` (so a speculative pause is always followed by `SpeechResumed` or by an
  accepted `UtteranceEnded`). `0`, or a value >= `end_silence_ms`, disables it.
- `SpeechResumed` when speech returns after a `SpeculativePause` (discard the speculative result).
- `end_utterance(n)` ends utterance `n` now, with no event (the caller took a speculative result as the
  answer: an early commit); the endpointer listens again, so speech that follows is a new utterance.
  `hold(ms, n)` lets utterance `n` end only after max(`end_silence_ms`, `ms`) of silence (the caller
  is deciding on its speculative transcript, or it trails off: "I can pay, um"); `hold(0, n)` lets
  the usual silence end it again (at the next frame if that much has passed). A hold lasts the pause
  it was set in. Both do nothing unless utterance `n` is the one in progress.
  `utterance` counts onsets: the events of one utterance share it, so a caller can drop events of an
  utterance it already ended that were queued before it did.
- Silence reaching `end_silence_ms` ends the utterance: `UtteranceEnded(reason="silence")`, or, if
  `speech_ms < min_speech_ms`, a `Discarded` event (a cough or click; the caller may resume a prompt it
  stopped on `SpeechStarted`). `max_utterance_ms` after the speech start it is cut:
  `UtteranceEnded(reason="max_length")` (or `Discarded` under the same rule).
- Utterance audio spans `[audio_start_ms, at_ms)`: up to `pre_roll_ms` before the speech start (only
  audio fed since the last reset/utterance end), the speech, and the trailing silence. It is little-endian
  PCM, `len(audio) == (at_ms - audio_start_ms) // 20 * 640`. `SpeculativePause.audio` is the same up to
  its `at_ms`, so it is a prefix of the final audio.
- After an utterance ends (or is discarded) the endpointer listens again with an empty ring and pre-roll;
  call `reset()` to start a new turn (clock back to 0, `NoInput` armed again).
- `NoInput` once, at the first frame where `at_ms >= no_input_ms` while listening, if no utterance was
  accepted since the reset. A discarded burst is not input: a cough at 1 s still gives `NoInput` at 5 s;
  a burst still running at 5 s gives `NoInput` when it is discarded.

Errors: `ValueError` for a frame that is not exactly 640 bytes and for an invalid `EndpointConfig`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 640
RING = 5

SpeechGate = Callable[[bytes], bool]
State = Literal["listening", "speaking", "pausing"]


@dataclass(frozen=True)
class EndpointConfig:
    end_silence_ms: int = 500  # silence that ends an utterance
    speculative_silence_ms: int = 200  # first short silence: a hint to start decoding early
    min_speech_ms: int = 200  # shorter bursts are noise (coughs, clicks) and are dropped
    max_utterance_ms: int = 8000  # cut off, counted from the speech start
    no_input_ms: int = 5000  # nothing said at all since listening started
    pre_roll_ms: int = 200  # audio kept from before speech onset
    onset_frames: int = 3  # consecutive speech frames (of a ring of 5) to declare onset

    def __post_init__(self) -> None:
        if not 1 <= self.onset_frames <= RING:
            raise ValueError(f"onset_frames must be 1..{RING}, got {self.onset_frames}")
        for name in ("end_silence_ms", "max_utterance_ms", "no_input_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("speculative_silence_ms", "min_speech_ms", "pre_roll_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def frames_for(ms: int) -> int:
    """Whole frames needed to cover `ms` milliseconds (rounded up)."""
    return math.ceil(ms / FRAME_MS)


@dataclass(frozen=True)
class SpeechStarted:
    at_ms: int
    start_ms: int  # where the speech began (earliest speech frame of the onset ring)


@dataclass(frozen=True)
class SpeculativePause:
    at_ms: int
    audio: bytes  # utterance audio so far, from audio_start_ms to at_ms
    audio_start_ms: int
    speech_end_ms: int = 0  # the end of the last speech frame before this pause


@dataclass(frozen=True)
class SpeechResumed:
    at_ms: int


@dataclass(frozen=True)
class UtteranceEnded:
    at_ms: int
    audio: bytes
    speech_ms: int
    reason: Literal["silence", "max_length"]
    audio_start_ms: int
    start_ms: int


@dataclass(frozen=True)
class Discarded:
    at_ms: int
    speech_ms: int  # shorter than min_speech_ms


@dataclass(frozen=True)
class NoInput:
    at_ms: int


Event = SpeechStarted | SpeculativePause | SpeechResumed | UtteranceEnded | Discarded | NoInput


def webrtc_gate(aggressiveness: int = 2, *, floor_ratio: float | None = 3.0) -> SpeechGate:
    """A speech gate on webrtcvad for 640-byte frames at 16 kHz. Stateful: one per call and thread.

    webrtcvad keeps saying "speech" for ~100 ms after a word fades into the line noise (its own
    hangover), which would add to `end_silence_ms`. With `floor_ratio`, a frame also needs an RMS above
    `floor_ratio` times a running noise floor (falls at once to a quieter frame, rises ~9 dB/s), which
    cuts that tail. `None` gives the bare webrtcvad decision.
    """
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    floor = -1.0

    def is_speech(frame: bytes) -> bool:
        nonlocal floor
        voiced = bool(vad.is_speech(frame, SAMPLE_RATE))
        if floor_ratio is None:
            return voiced
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        rms = max(float(np.sqrt(np.mean(samples * samples))), _FLOOR_MIN)
        loud = floor >= 0 and rms > floor * floor_ratio
        floor = rms if (floor < 0 or rms < floor) else floor * _FLOOR_RISE
        return voiced and loud

    return is_speech


_FLOOR_MIN = 10.0  # RMS of the quietest floor (-70 dBFS): digital silence does not make every frame loud
_FLOOR_RISE = 1.002  # per 20 ms frame: ~ +8.7 dB/s


class Endpointer:
    def __init__(self, config: EndpointConfig, is_speech: SpeechGate) -> None:
        self.config = config
        self._gate = is_speech
        self._end = frames_for(config.end_silence_ms)
        spec = frames_for(config.speculative_silence_ms)
        self._spec = spec if 0 < spec < self._end else 0
        self._min = frames_for(config.min_speech_ms)
        self._max = frames_for(config.max_utterance_ms)
        self._no_input = frames_for(config.no_input_ms)
        self._pre = frames_for(config.pre_roll_ms)
        self.utterance = 0  # onsets since construction (reset() keeps it): the events of one share it
        self.reset()

    def reset(self) -> None:
        """Start a new turn: clock at 0, nothing buffered, `NoInput` armed."""
        self._n = 0  # frames fed
        self._accepted = False
        self._no_input_sent = False
        self._listen_reset()

    def _listen_reset(self) -> None:
        self._ring: deque[bool] = deque(maxlen=RING)
        self._recent: deque[bytes] = deque(maxlen=self._pre + RING)  # listening frames (pre-roll)
        self._audio: list[bytes] = []
        self._in_utt = False
        self._start = 0  # frame index of the speech start
        self._audio_start = 0
        self._last_speech = 0  # frame index after the last confirmed speech frame
        self._silence = 0
        self._spec_sent = False
        self._end_now = self._end  # silence frames that end this utterance (hold() lengthens it)

    @property
    def state(self) -> State:
        if not self._in_utt:
            return "listening"
        if self._spec and self._silence >= self._spec:
            return "pausing"
        return "speaking"

    @property
    def now_ms(self) -> int:
        return self._n * FRAME_MS

    def feed(self, frame: bytes) -> list[Event]:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"frame must be {FRAME_BYTES} bytes (20 ms of 16 kHz slin16), got {len(frame)}")
        frame = bytes(frame)
        speech = bool(self._gate(frame))
        self._n += 1
        self._ring.append(speech)
        if self._in_utt:
            return self._feed_utterance(frame, speech)
        return self._feed_listening(frame)

    def _feed_listening(self, frame: bytes) -> list[Event]:
        self._recent.append(frame)
        events: list[Event] = []
        if sum(self._ring) >= self.config.onset_frames:
            ring = list(self._ring)
            first = ring.index(True)
            self._start = self._n - len(ring) + first
            buffered = list(self._recent)
            onset_at = len(buffered) - (self._n - self._start)  # index of the start frame in `buffered`
            keep_from = max(0, onset_at - self._pre)
            self._audio = buffered[keep_from:]
            self._audio_start = self._start - (onset_at - keep_from)
            self._in_utt = True
            self.utterance += 1
            self._last_speech = self._n
            self._silence = 0
            self._spec_sent = False
            events.append(SpeechStarted(at_ms=self.now_ms, start_ms=self._start * FRAME_MS))
        else:
            self._check_no_input(events)
        return events

    def _feed_utterance(self, frame: bytes, speech: bool) -> list[Event]:
        events: list[Event] = []
        self._audio.append(frame)
        if speech and sum(self._ring) >= self.config.onset_frames:
            if self._spec_sent:
                events.append(SpeechResumed(at_ms=self.now_ms))
            self._last_speech = self._n
            self._silence = 0
            self._spec_sent = False
            self._end_now = self._end  # a hold lasts one pause
        else:
            self._silence += 1
        speech_frames = self._last_speech - self._start
        if self._silence >= self._end_now:
            self._finish(events, "silence", speech_frames)
        elif self._n - self._start >= self._max:
            self._finish(events, "max_length", speech_frames)
        elif (
            self._spec and self._silence >= self._spec and not self._spec_sent and speech_frames >= self._min
        ):
            self._spec_sent = True
            events.append(
                SpeculativePause(
                    at_ms=self.now_ms,
                    audio=b"".join(self._audio),
                    audio_start_ms=self._audio_start * FRAME_MS,
                    speech_end_ms=self._last_speech * FRAME_MS,
                )
            )
        return events

    def end_utterance(self, utterance: int) -> None:
        """End utterance `utterance` now, without an event (its speculative result was taken)."""
        if self._in_utt and utterance == self.utterance:
            self._accepted = True
            self._listen_reset()

    def hold(self, silence_ms: int, utterance: int) -> None:
        """Let utterance `utterance` end only after max(end_silence_ms, `silence_ms`) of silence."""
        if self._in_utt and utterance == self.utterance:
            self._end_now = max(self._end, frames_for(silence_ms))

    def _finish(
        self, events: list[Event], reason: Literal["silence", "max_length"], speech_frames: int
    ) -> None:
        speech_ms = speech_frames * FRAME_MS
        if speech_frames >= self._min:
            self._accepted = True
            events.append(
                UtteranceEnded(
                    at_ms=self.now_ms,
                    audio=b"".join(self._audio),
                    speech_ms=speech_ms,
                    reason=reason,
                    audio_start_ms=self._audio_start * FRAME_MS,
                    start_ms=self._start * FRAME_MS,
                )
            )
        else:
            events.append(Discarded(at_ms=self.now_ms, speech_ms=speech_ms))
        self._listen_reset()
        self._check_no_input(events)

    def _check_no_input(self, events: list[Event]) -> None:
        if not self._accepted and not self._no_input_sent and self._n >= self._no_input:
            self._no_input_sent = True
            events.append(NoInput(at_ms=self.now_ms))
