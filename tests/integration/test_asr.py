"""The real Whisper base model on piper speech sent through a G.711 telephone channel."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from dunline.controller.models import install_model, is_complete
from dunline.ivr.speech import audio
from dunline.ivr.speech.asr import Recogniser
from dunline.ivr.speech.intents import classify
from dunline.ivr.tts import Renderer

pytestmark = pytest.mark.integration

PHRASES = {
    "Yeah I can pay two hundred dollars next Friday.": [r"two hundred|200", r"friday"],
    "Stop calling me.": [r"stop calling"],
    "I already paid that last week.": [r"already paid"],
    "You have the wrong number.": [r"wrong number"],
    "My lawyer handles this, call him.": [r"lawyer"],
}


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower()).replace("  ", " ")


CLITICS = {"d", "ll", "m", "re", "s", "ve"}  # what norm leaves of a contraction's ending ("i'd" -> "i d")


def words(text: str) -> list[str]:
    """The words of a transcript, contractions spelt out or not alike ("I'd already" = "I already")."""
    return [w for w in norm(text).split() if w not in CLITICS]


@pytest.fixture(scope="module")
def model() -> Path:
    return install_model("base")


@pytest.fixture(scope="module")
def rec(model: Path) -> Iterator[Recogniser]:
    r = Recogniser(model, workers=2, cpu_threads=1)
    r.warm_up()
    yield r
    r.close()


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Each phrase as it arrives from a phone call: piper -> 8 kHz -> mu-law -> 16 kHz float."""
    renderer = Renderer(tmp_path_factory.mktemp("tts"))
    out = {}
    for text in PHRASES:
        samples, rate = audio.read_wav(renderer.render(text, "en"))
        out[text] = audio.telephone_channel(audio.to_16k_float(samples, rate))
    return out


def test_model_install_is_idempotent(model: Path) -> None:
    assert is_complete(model) and (model / "model.bin").stat().st_size > 140_000_000
    mtime = (model / "model.bin").stat().st_mtime_ns
    assert install_model("base") == model and (model / "model.bin").stat().st_mtime_ns == mtime


async def test_debtor_phrases_are_recognised(rec: Recogniser, calls: dict[str, np.ndarray]) -> None:
    for text, patterns in PHRASES.items():
        result = await rec.transcribe(calls[text], "en")
        assert result.rejected is None, (text, result)
        for pattern in patterns:
            assert re.search(pattern, norm(result.text)), (text, result.text)
        assert result.audio_ms == pytest.approx(calls[text].size / 16, abs=1)
        assert 0 < result.decode_ms <= result.asr_ms < 3000
        assert result.no_speech_prob < 0.3 and result.avg_logprob > -0.5


async def test_the_short_encoder_window_reads_what_the_full_window_reads(
    model: Path, rec: Recogniser, calls: dict[str, np.ndarray]
) -> None:
    """The default 10 s encoder window (answer + silence) against Whisper's own 30 s window.

    Both must lead to the same intent and slots and differ by at most one word besides a
    contraction: how Whisper spells a contraction ("I've already paid" / "I already paid") and a
    pronoun ("I'd already paid that" / "I already paid it") varies with the CPU's float kernels and
    thread counts.
    """
    full = Recogniser(model, workers=1, cpu_threads=2, window_s=30.0)
    now, tz = datetime(2026, 3, 3, 11, 0, tzinfo=ZoneInfo("America/New_York")), ZoneInfo("America/New_York")
    try:
        for text, samples in calls.items():
            short, whole = await rec.transcribe(samples, "en"), await full.transcribe(samples, "en")
            a, b = classify(short.text, "en", now, tz), classify(whole.text, "en", now, tz)
            assert (a.intent, a.slots) == (b.intent, b.slots), (text, short.text, whole.text)
            assert Levenshtein.distance(words(short.text), words(whole.text)) <= 1, (
                text,
                short.text,
                whole.text,
            )
    finally:
        full.close()
    with pytest.raises(ValueError, match="window_s"):
        Recogniser(model, window_s=0.5)


async def test_silence_and_noise_are_rejected(rec: Recogniser) -> None:
    rng = np.random.default_rng(7)
    inputs = {
        "zeros": np.zeros(32000, np.float32),
        "hiss -70 dBFS": (rng.standard_normal(32000) * 3e-4).astype(np.float32),
        "line noise -50 dBFS": audio.telephone_channel(
            (rng.standard_normal(32000) * 3e-3).astype(np.float32)
        ),
        "noise -40 dBFS": (rng.standard_normal(32000) * 1e-2).astype(np.float32),
    }
    for name, signal in inputs.items():
        for lang in ("en", "zh"):
            result = await rec.transcribe(signal, lang)
            assert result.text == "" and result.rejected is not None, (name, lang, result)
    result = await rec.transcribe(np.zeros(32000, np.float32), "en")
    assert result.rejected == "silence" and result.asr_ms == 0.0  # not even decoded


async def test_concurrent_decodes_keep_the_loop_responsive(
    rec: Recogniser, calls: dict[str, np.ndarray]
) -> None:
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stop = asyncio.Event()
    utterances = list(calls.values())[:4]
    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        tick = tg.create_task(ticker(stop))
        results = await asyncio.gather(*(rec.transcribe(u, "en", time_limit_s=10) for u in utterances))
        stop.set()
    took = time.perf_counter() - started
    assert tick.done()
    assert all(r.rejected is None and r.text for r in results)
    assert len(gaps) > 20 and max(gaps) < 0.05, f"loop stalled {max(gaps) * 1000:.0f} ms"
    # two workers: the four decodes overlap rather than queue one after another
    assert took < sum(r.decode_ms for r in results) / 1000


async def test_time_limit_drops_a_late_result(rec: Recogniser, calls: dict[str, np.ndarray]) -> None:
    utterance = next(iter(calls.values()))
    before = rec.timeouts
    result = await rec.transcribe(utterance, "en", time_limit_s=0.05)
    assert result.rejected == "timeout" and result.text == "" and result.asr_ms < 200
    assert rec.timeouts == before + 1
    again = await rec.transcribe(utterance, "en")  # the recogniser still serves
    assert again.rejected is None and again.text


def test_cli_transcribe_json(
    tmp_path: Path, calls: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    from dunline.controller.cli_asr import add_asr_commands

    parser = argparse.ArgumentParser()
    add_asr_commands(parser.add_subparsers(dest="command", required=True))
    wav = audio.write_wav(tmp_path / "a.wav", calls["Stop calling me."], 16000)
    args = parser.parse_args(["transcribe", str(wav), "--json", "--now", "2025-03-10T10:00", "--tz", "UTC"])
    assert args.fn(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["text", "intent", "slots", "asr_ms", "audio_ms"]
    assert "stop calling" in norm(doc["text"]) and doc["intent"] == "cease"
    assert isinstance(doc["slots"], dict) and doc["asr_ms"] > 0 and doc["audio_ms"] > 500

    (tmp_path / "bad.wav").write_text("not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    for name in ("bad.wav", "empty.wav"):
        args = parser.parse_args(["transcribe", str(tmp_path / name), "--json"])
        assert args.fn(args) == 2
        assert "error:" in capsys.readouterr().err
