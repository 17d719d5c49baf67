"""Endpointing: every rule on both sides of its boundary, with a fake gate driven by a pattern string
("S" = speech frame, "_" = silence frame), plus properties and one real-audio check with webrtcvad."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.ivr.speech.endpoint import (
    FRAME_BYTES,
    Discarded,
    EndpointConfig,
    Endpointer,
    Event,
    NoInput,
    SpeculativePause,
    SpeechResumed,
    SpeechStarted,
    UtteranceEnded,
    webrtc_gate,
)

S, Q = "S", "_"


def frame(index: int, kind: str) -> bytes:
    """A frame that carries its own index (for audio-content checks) and its kind (for the fake gate)."""
    return (struct.pack("<I", index) + kind.encode()).ljust(FRAME_BYTES, b"\0")


def fake_gate(f: bytes) -> bool:
    return f[4:5] == b"S"


def frame_index(f: bytes) -> int:
    return int(struct.unpack("<I", f[:4])[0])


def run(pattern: str, config: EndpointConfig | None = None) -> list[Event]:
    ep = Endpointer(config or EndpointConfig(), fake_gate)
    events: list[Event] = []
    for i, kind in enumerate(pattern):
        events.extend(ep.feed(frame(i, kind)))
    return events


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def ended(events: list[Event]) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def test_onset_needs_three_speech_frames_in_a_ring_of_five() -> None:
    assert kinds(run(S * 2 + Q * 3 + S * 2 + Q * 3)) == []
    events = run(Q * 2 + S + S + Q + S)
    assert events == [SpeechStarted(at_ms=120, start_ms=40)]
    assert run(S + Q + S + Q + S) == [SpeechStarted(at_ms=100, start_ms=0)]
    assert run(S * 3) == [SpeechStarted(at_ms=60, start_ms=0)]


def test_onset_frames_is_configurable() -> None:
    assert run(S, EndpointConfig(onset_frames=1)) == [SpeechStarted(at_ms=20, start_ms=0)]
    assert run(S * 4, EndpointConfig(onset_frames=5)) == []


def test_end_silence_boundary() -> None:
    assert ended(run(S * 20 + Q * 24)) == []
    (utt,) = ended(run(S * 20 + Q * 25))
    assert (utt.at_ms, utt.speech_ms, utt.reason, utt.start_ms) == (900, 400, "silence", 0)
    # 499 ms rounds up to 25 frames, 480 ms is 24
    assert ended(run(S * 20 + Q * 24, EndpointConfig(end_silence_ms=499))) == []
    assert len(ended(run(S * 20 + Q * 25, EndpointConfig(end_silence_ms=499)))) == 1
    assert ended(run(S * 20 + Q * 24, EndpointConfig(end_silence_ms=480)))[0].at_ms == 880


def test_min_speech_boundary_and_discard() -> None:
    (utt,) = ended(run(S * 10 + Q * 25))
    assert utt.speech_ms == 200
    events = run(S * 9 + Q * 25)
    assert events == [SpeechStarted(at_ms=60, start_ms=0), Discarded(at_ms=680, speech_ms=180)]


def test_listens_again_after_an_utterance_and_after_a_discard() -> None:
    events = run(S * 5 + Q * 25 + S * 20 + Q * 25, EndpointConfig(speculative_silence_ms=0))
    assert kinds(events) == ["SpeechStarted", "Discarded", "SpeechStarted", "UtteranceEnded"]
    assert ended(events)[0].start_ms == 600


def test_pre_roll_content() -> None:
    (utt,) = ended(run(Q * 30 + S * 20 + Q * 25))
    assert utt.start_ms == 600 and utt.audio_start_ms == 400
    got = [frame_index(utt.audio[i : i + FRAME_BYTES]) for i in range(0, len(utt.audio), FRAME_BYTES)]
    assert got == list(range(20, 75))
    # less audio than the pre-roll available: it starts at the beginning
    assert ended(run(Q * 3 + S * 20 + Q * 25))[0].audio_start_ms == 0
    # no pre-roll
    utt = ended(run(Q * 30 + S * 20 + Q * 25, EndpointConfig(pre_roll_ms=0)))[0]
    assert utt.audio_start_ms == 600 and frame_index(utt.audio) == 30


def test_pre_roll_never_reaches_into_the_previous_utterance() -> None:
    events = run(S * 20 + Q * 25 + Q * 2 + S * 20 + Q * 25)
    second = ended(events)[1]
    assert second.start_ms == 47 * 20 and second.audio_start_ms == 45 * 20


def test_max_length_boundary() -> None:
    cfg = EndpointConfig(max_utterance_ms=1000)  # 50 frames from the speech start
    assert ended(run(S * 25 + Q * 25, cfg))[0].reason == "silence"
    (utt,) = ended(run(S * 26 + Q * 25, cfg))
    assert (utt.reason, utt.at_ms, utt.speech_ms) == ("max_length", 1000, 520)
    assert len(utt.audio) == 50 * FRAME_BYTES


def test_max_length_cut_then_new_utterance_while_speech_goes_on() -> None:
    events = run(S * 410)
    assert kinds(events) == ["SpeechStarted", "UtteranceEnded", "SpeechStarted"]
    utt = ended(events)[0]
    assert (utt.reason, utt.at_ms, utt.speech_ms) == ("max_length", 8000, 8000)
    assert events[2] == SpeechStarted(at_ms=8060, start_ms=8000)


def test_speculative_pause_and_resume_sequence() -> None:
    assert kinds(run(S * 20 + Q * 9)) == ["SpeechStarted"]
    events = run(S * 20 + Q * 10 + S * 3 + Q * 25)
    assert kinds(events) == [
        "SpeechStarted",
        "SpeculativePause",
        "SpeechResumed",
        "SpeculativePause",
        "UtteranceEnded",
    ]
    spec = events[1]
    assert isinstance(spec, SpeculativePause)
    assert spec.at_ms == 600 and len(spec.audio) == 30 * FRAME_BYTES
    assert events[2] == SpeechResumed(at_ms=660)
    utt = ended(events)[0]
    assert (utt.at_ms, utt.speech_ms) == (1160, 660)
    last_spec = events[3]
    assert isinstance(last_spec, SpeculativePause) and utt.audio.startswith(last_spec.audio)


def test_speculative_pause_says_where_the_speech_ended() -> None:
    events = run(S * 20 + Q * 10)
    spec = events[1]
    assert isinstance(spec, SpeculativePause) and (spec.at_ms, spec.speech_end_ms) == (600, 400)


def test_end_utterance_ends_it_without_an_event_and_counts_onsets() -> None:
    ep = Endpointer(EndpointConfig(), fake_gate)
    seen: list[tuple[str, int]] = []
    pattern = S * 20 + Q * 10
    for i, kind in enumerate(pattern):
        seen += [(type(e).__name__, ep.utterance) for e in ep.feed(frame(i, kind))]
    assert seen == [("SpeechStarted", 1), ("SpeculativePause", 1)]
    ep.end_utterance(2)  # not the utterance in progress: nothing happens
    assert ep.state == "pausing"
    ep.end_utterance(1)  # the speculative result was taken as the answer
    after: list[Event] = []
    for i, kind in enumerate(Q * 30 + S * 20 + Q * 25, start=len(pattern)):
        after.extend(ep.feed(frame(i, kind)))
    # the pause that would have ended utterance 1 gives nothing; speech after it is utterance 2
    assert kinds(after) == ["SpeechStarted", "SpeculativePause", "UtteranceEnded"]
    assert ep.utterance == 2
    utt = ended(after)[0]
    assert frame_index(utt.audio[:FRAME_BYTES]) >= len(pattern)  # none of utterance 1's audio
    ep.end_utterance(2)  # listening already: nothing to end
    ep.reset()
    assert ep.utterance == 2  # a new turn keeps counting


def test_hold_lengthens_the_silence_that_ends_this_utterance_only() -> None:
    ep = Endpointer(EndpointConfig(), fake_gate)
    events: list[Event] = []
    for i, kind in enumerate(S * 20 + Q * 10):
        events.extend(ep.feed(frame(i, kind)))
    ep.hold(300, 1)  # shorter than end_silence_ms: no change
    ep.hold(1200, 2)  # another utterance: no change
    ep.hold(1000, 1)
    later = [e for i, kind in enumerate(Q * 35 + S * 20 + Q * 25, start=30) for e in ep.feed(frame(i, kind))]
    # the 900 ms pause did not end it; the speech after it belongs to the same answer, and the pause
    # after that ends it after the usual 500 ms
    assert kinds(later) == ["SpeechResumed", "SpeculativePause", "UtteranceEnded"]
    utt = ended(later)[0]
    assert utt.start_ms == 0 and utt.at_ms == 85 * 20 + 500


def test_no_speculative_pause_for_a_burst_too_short_to_keep() -> None:
    assert kinds(run(S * 5 + Q * 25)) == ["SpeechStarted", "Discarded"]
    assert kinds(run(S * 20 + Q * 25, EndpointConfig(speculative_silence_ms=0))) == [
        "SpeechStarted",
        "UtteranceEnded",
    ]


def test_isolated_click_in_a_pause_is_silence() -> None:
    events = run(S * 20 + Q * 10 + S + Q * 14)
    assert kinds(events) == ["SpeechStarted", "SpeculativePause", "UtteranceEnded"]
    assert ended(events)[0].speech_ms == 400


def test_short_gap_inside_speech_is_bridged() -> None:
    (utt,) = ended(run(S * 10 + Q + S * 10 + Q * 25))
    assert utt.speech_ms == 420


def test_no_input_timing() -> None:
    assert run(Q * 249) == []
    assert run(Q * 600) == [NoInput(at_ms=5000)]
    # onset on the frame that ends at 5000 ms is in time
    assert kinds(run(Q * 247 + S * 3)) == ["SpeechStarted"]
    assert kinds(run(Q * 248 + S * 3)) == ["NoInput", "SpeechStarted"]


def test_no_input_after_discarded_bursts_and_never_after_an_utterance() -> None:
    assert run(Q * 50 + S * 5 + Q * 300)[-1] == NoInput(at_ms=5000)
    events = run(Q * 240 + S * 5 + Q * 25)
    assert events[-2:] == [Discarded(at_ms=5400, speech_ms=100), NoInput(at_ms=5400)]
    assert "NoInput" not in kinds(run(S * 20 + Q * 400))


def test_state_and_reset() -> None:
    ep = Endpointer(EndpointConfig(), fake_gate)
    states = []
    for i, kind in enumerate(S * 3 + Q * 10 + Q * 15):
        ep.feed(frame(i, kind))
        states.append(ep.state)
    assert states[0] == "listening" and states[2] == "speaking"
    assert states[12] == "pausing" and states[-1] == "listening"
    assert ep.now_ms == 28 * 20
    ep.reset()
    assert ep.now_ms == 0 and ep.state == "listening"
    events = [e for i in range(250) for e in ep.feed(frame(i, Q))]
    assert events == [NoInput(at_ms=5000)]


@pytest.mark.parametrize("size", [0, 320, 639, 641, 1280])
def test_frame_must_be_640_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="640"):
        Endpointer(EndpointConfig(), fake_gate).feed(b"\0" * size)


@pytest.mark.parametrize(
    "kwargs", [{"onset_frames": 0}, {"onset_frames": 6}, {"end_silence_ms": 0}, {"pre_roll_ms": -1}]
)
def test_invalid_config(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        EndpointConfig(**kwargs)


runs = st.lists(st.tuples(st.sampled_from([S, Q]), st.integers(1, 60)), max_size=40)
configs = st.builds(
    EndpointConfig,
    end_silence_ms=st.sampled_from([100, 300, 500]),
    speculative_silence_ms=st.sampled_from([0, 60, 200]),
    min_speech_ms=st.sampled_from([0, 100, 200]),
    max_utterance_ms=st.sampled_from([400, 1000, 8000]),
    no_input_ms=st.sampled_from([200, 1000, 5000]),
    pre_roll_ms=st.sampled_from([0, 60, 200]),
    onset_frames=st.integers(1, 5),
)


@settings(max_examples=300, deadline=None)
@given(runs=runs, cfg=configs)
def test_event_sequence_is_well_formed(runs: list[tuple[str, int]], cfg: EndpointConfig) -> None:
    pattern = "".join(kind * n for kind, n in runs)
    events = run(pattern, cfg)
    in_utt, spec_open, no_inputs, accepted, last_at = False, False, 0, False, 0
    start_ms = 0
    for e in events:
        assert e.at_ms >= last_at
        last_at = e.at_ms
        if isinstance(e, SpeechStarted):
            assert not in_utt and e.start_ms <= e.at_ms
            in_utt, start_ms = True, e.start_ms
        elif isinstance(e, NoInput):
            assert not in_utt and not accepted and e.at_ms >= cfg.no_input_ms
            no_inputs += 1
        elif isinstance(e, SpeculativePause):
            assert in_utt and not spec_open
            spec_open = True
            assert len(e.audio) == (e.at_ms - e.audio_start_ms) // 20 * FRAME_BYTES
        elif isinstance(e, SpeechResumed):
            assert in_utt and spec_open
            spec_open = False
        elif isinstance(e, UtteranceEnded):
            assert in_utt and e.start_ms == start_ms
            assert e.speech_ms >= cfg.min_speech_ms
            assert e.at_ms - e.start_ms <= cfg.max_utterance_ms
            assert 0 <= e.start_ms - e.audio_start_ms <= cfg.pre_roll_ms
            assert len(e.audio) == (e.at_ms - e.audio_start_ms) // 20 * FRAME_BYTES
            got = [frame_index(e.audio[i : i + FRAME_BYTES]) for i in range(0, len(e.audio), FRAME_BYTES)]
            assert got == list(range(e.audio_start_ms // 20, e.at_ms // 20))
            in_utt, spec_open, accepted = False, False, True
        elif isinstance(e, Discarded):
            assert in_utt and not spec_open and e.speech_ms < cfg.min_speech_ms
            in_utt = False
    assert no_inputs <= 1


# --- real audio through webrtcvad ---------------------------------------------------------------------


@pytest.mark.parametrize("floor_ratio", [3.0, None])
def test_webrtc_gate_on_silence(floor_ratio: float | None) -> None:
    gate = webrtc_gate(2, floor_ratio=floor_ratio)
    assert [gate(b"\0" * FRAME_BYTES) for _ in range(3)] == [False] * 3


def _render_16k(tmp_path: Path, text: str) -> np.ndarray:
    # piper and sox are requirements of the project (make setup installs both): no skip here
    from dunline.ivr.tts import Renderer

    wav_path = Renderer(tmp_path).render(text)
    with wave.open(str(wav_path), "rb") as wav:
        assert wav.getframerate() == 8000 and wav.getsampwidth() == 2
        pcm8 = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    t16 = np.arange(len(pcm8) * 2) / 2.0
    return np.interp(t16, np.arange(len(pcm8)), pcm8)


def test_real_speech_through_webrtcvad(tmp_path: Path) -> None:
    speech = _render_16k(tmp_path, "Stop calling me.")
    rng = np.random.default_rng(7)
    pad = np.zeros(16000)
    signal = np.concatenate([pad, speech, pad])
    signal = signal + rng.normal(0.0, 20.0, len(signal))  # a faint line hiss
    n_frames = len(signal) // 320
    pcm = np.clip(signal[: n_frames * 320], -32768, 32767).astype("<i2")

    rms = np.sqrt((pcm.astype(np.float64).reshape(n_frames, 320) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > rms.max() * 0.01)  # the speech span: frames within 40 dB of the peak
    real_start_ms, real_end_ms = int(loud[0]) * 20, (int(loud[-1]) + 1) * 20
    real_ms = real_end_ms - real_start_ms

    ep = Endpointer(EndpointConfig(), webrtc_gate(2))
    raw = pcm.tobytes()
    events = [e for i in range(n_frames) for e in ep.feed(raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])]
    (utt,) = ended(events)
    assert "NoInput" not in kinds(events)
    assert real_end_ms <= utt.at_ms <= real_end_ms + 600, (utt.at_ms, real_end_ms)
    assert abs(utt.speech_ms - real_ms) <= 300, (utt.speech_ms, real_ms)
    assert abs(utt.start_ms - real_start_ms) <= 200
