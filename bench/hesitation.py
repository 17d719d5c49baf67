"""When is an answer over? Turn latency against premature cut-offs on answers with pauses.

tests/fixtures/speech/hesitation_{en,zh}.tsv (90 answers each, written by a new author from the
labelling conventions only: fluent answers, answers paused mid-sentence, and answers that sound finished
before more follows) are spoken segment by segment (piper for English; Kokoro zm_yunjian and zf_xiaobei
for Mandarin), joined with the written pauses over a -55 dBFS noise floor, passed through 8 kHz G.711
mu-law, and fed frame by frame to the real endpointer (webrtcvad) in virtual time. Decodes are real
(Whisper base, one worker) and take, on that clock, the milliseconds they took here; the policy of
ari_handlers/session.py is replayed on each result:

- `wait`: the answer ends after `end_silence_ms` (500) of silence (the decode started at the first
  200 ms pause is used when speech did not resume): Dunline before early commit;
- `early`: a finished answer decoded at the first pause is taken then (turn_end.why_wait);
- `hold`: `early`, and an answer whose transcript trails off ends only after `hold_silence_ms` (1200);
- `hold@120`: `hold` with the first decode at 120 ms of silence.

Per language and mode: answers, premature cut-offs (taken while the debtor was still speaking:
before the end of the answer's last word), the intent of what was taken against the whole answer's
label, the turn (the end of the speech the endpointer kept -> the answer taken: the silence waited
plus the decode) p50/p95, and early commits with their turns.
Prints JSON; writes bench/results/hesitation.json.

    .venv/bin/python bench/hesitation.py [--lang en --lang zh] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from dunline.ari_handlers.listen import doubtful
from dunline.config.packaged import read_default
from dunline.controller.models import model_dir
from dunline.ivr.kokoro import trim
from dunline.ivr.speech import semantic
from dunline.ivr.speech.asr import Recogniser
from dunline.ivr.speech.audio import read_wav, telephone_channel, to_16k_float
from dunline.ivr.speech.endpoint import (
    FRAME_BYTES,
    Discarded,
    EndpointConfig,
    Endpointer,
    SpeculativePause,
    SpeechResumed,
    SpeechStarted,
    UtteranceEnded,
    webrtc_gate,
)
from dunline.ivr.speech.intents import classify
from dunline.ivr.speech.turn_end import HOLD_REASONS, why_wait
from dunline.ivr.speech.types import Lang
from dunline.ivr.tts import Renderer

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, pct, report

ROOT = Path(__file__).parents[1]
RATE = 16000
VOICES: dict[str, tuple[str | None, ...]] = {"en": (None,), "zh": ("zm_yunjian", "zf_xiaobei")}
MODES = {
    "wait": (200, False, 0),
    "early": (200, True, 0),
    "hold": (200, True, 1200),
    "hold@120": (120, True, 1200),
    "hold1500": (200, True, 1500),
}
LEAD_S, TAIL_S, NOISE_DBFS = 0.3, 3.0, -55.0
_PAUSE = re.compile(r"\s*\[(\d+)\]\s*")


@dataclass(frozen=True)
class Heard:
    text: str
    intent: str
    confidence: float
    slots: dict[str, str]
    doubtful: bool
    asr_ms: float


@dataclass(frozen=True)
class Taken:
    heard: Heard | None
    at_ms: float  # virtual time the answer was taken
    speech_end_ms: int
    early: bool


def load(lang: str) -> tuple[datetime, ZoneInfo, list[list[str]]]:
    path = ROOT / "tests" / "fixtures" / "speech" / f"hesitation_{lang}.tsv"
    lines = path.read_text("utf-8").splitlines()
    head = dict(kv.split("=", 1) for kv in lines[0].lstrip("# ").split())
    rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]
    return datetime.fromisoformat(head["now"]), ZoneInfo(head["tz"]), rows


def expected_answers() -> dict[str, set[str]]:
    flow = yaml.safe_load(read_default("flows/collect_speech.yaml"))
    return {k: set(v.get("intents") or {}) for k, v in flow["nodes"].items() if "ask" in v}


def spoken(
    text: str, lang: Lang, renderer: Renderer, voice: str | None, seed: int
) -> tuple[np.ndarray[Any, Any], float]:
    """The answer as the IVR hears it, and where its speech ends (ms)."""
    parts = _PAUSE.split(text.strip())
    segs, pauses = parts[0::2], [int(p) for p in parts[1::2]]
    out: list[np.ndarray[Any, Any]] = [np.zeros(int(LEAD_S * RATE), np.float32)]
    for i, seg in enumerate(segs):
        samples, rate = read_wav(renderer.render(seg, lang, None, voice))
        out.append(trim(to_16k_float(samples, rate), margin_s=0.03))
        if i < len(pauses):
            out.append(np.zeros(int(pauses[i] * RATE / 1000), np.float32))
    speech_end = sum(a.size for a in out) * 1000 / RATE
    out.append(np.zeros(int(TAIL_S * RATE), np.float32))
    audio = np.concatenate(out)
    noise = np.random.default_rng(seed).normal(0, 10 ** (NOISE_DBFS / 20), audio.size).astype(np.float32)
    return telephone_channel(audio + noise), speech_end


class Decoder:
    def __init__(self, rec: Recogniser, lang: Lang, now: datetime, tz: ZoneInfo) -> None:
        self.rec, self.lang, self.now, self.tz = rec, lang, now, tz
        self.opinion = semantic.load(lang)
        self.cache: dict[str, Heard] = {}

    async def __call__(self, pcm: bytes) -> Heard:
        key = hashlib.sha1(pcm).hexdigest()
        if key not in self.cache:
            samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
            asr = await self.rec.transcribe(samples, self.lang, time_limit_s=30.0)
            found = classify(asr.text, self.lang, self.now, self.tz, self.opinion)
            raw = found.as_json()["slots"]
            assert isinstance(raw, dict)
            slots = {k: str(v) for k, v in raw.items() if v is not None}
            unsure = not asr.text or doubtful(self.lang, asr.avg_logprob, found.confidence, found.matched)
            self.cache[key] = Heard(asr.text, found.intent, found.confidence, slots, unsure, asr.asr_ms)
        return self.cache[key]


async def take(audio: np.ndarray[Any, Any], mode: str, decode: Decoder, expected: set[str]) -> Taken | None:
    """Replay the session's policy on the endpointer's events, in virtual time."""
    spec_ms, early, hold_ms = MODES[mode]
    ep = Endpointer(EndpointConfig(speculative_silence_ms=spec_ms), webrtc_gate(2))
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    guess: tuple[float, Heard, int, int] | None = None  # ready at, result, utterance, speech end
    checked = False
    for off in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        for ev in ep.feed(pcm[off : off + FRAME_BYTES]):
            if isinstance(ev, SpeculativePause):
                heard = await decode(ev.audio)
                guess, checked = (ev.at_ms + heard.asr_ms, heard, ep.utterance, ev.speech_end_ms), False
                if early:
                    ep.hold(hold_ms, ep.utterance)  # judged first (session.py)
            elif isinstance(ev, SpeechStarted | SpeechResumed | Discarded):
                guess = None
            elif isinstance(ev, UtteranceEnded):
                end = ev.start_ms + ev.speech_ms
                if guess is not None:
                    return Taken(guess[1], max(ev.at_ms, guess[0]), end, False)
                heard = await decode(ev.audio)
                return Taken(heard, ev.at_ms + heard.asr_ms, end, False)
        if early and guess is not None and not checked and ep.now_ms >= guess[0]:
            checked = True
            h = guess[1]
            wait = why_wait(h.text, decode.lang, h.intent, h.confidence, h.slots, h.doubtful, expected)
            if wait is None:
                return Taken(h, guess[0], guess[3], True)
            if wait not in HOLD_REASONS:
                ep.hold(0, guess[2])
    return None


async def run_lang(lang: Lang, rec: Recogniser, tmp: Path, limit: int | None) -> dict[str, Any]:
    now, tz, rows = load(lang)
    rows = rows[:limit] if limit else rows
    expected = expected_answers()
    decode = Decoder(rec, lang, now, tz)
    renderer = Renderer(tmp / "tts")
    per_mode: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for voice in VOICES[lang]:
        for i, (question, text, intent, *_slots) in enumerate(rows):
            audio, speech_end = await asyncio.to_thread(spoken, text, lang, renderer, voice, i)
            for mode in MODES:
                got = await take(audio, mode, decode, expected[question])
                per_mode[mode].append(
                    {
                        "voice": voice or "piper-joe",
                        "question": question,
                        "said": text,
                        "want": intent,
                        "paused": "[" in text,
                        "heard": got.heard.text if got and got.heard else None,
                        "got": got.heard.intent if got and got.heard else None,
                        "turn_ms": round(got.at_ms - got.speech_end_ms) if got else None,
                        "cut_off": bool(got and got.at_ms < speech_end),
                        "early": bool(got and got.early),
                    }
                )
    return {mode: summary(rows) for mode, rows in per_mode.items()}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    paused = [r for r in rows if r["paused"]]
    turns = [float(r["turn_ms"]) for r in rows if r["turn_ms"] is not None and not r["cut_off"]]
    fluent = [float(r["turn_ms"]) for r in rows if r["turn_ms"] is not None and not r["paused"]]
    return {
        "answers": n,
        "paused_answers": len(paused),
        "cut_offs": sum(r["cut_off"] for r in rows),
        "cut_off_share": round(sum(r["cut_off"] for r in rows) / n, 3),
        "cut_off_share_of_paused": round(sum(r["cut_off"] for r in paused) / max(1, len(paused)), 3),
        "intent_accuracy": round(sum(r["got"] == r["want"] for r in rows) / n, 3),
        "early_commits": sum(r["early"] for r in rows),
        "turn_ms": spread(turns),
        "early_turn_ms": spread([float(r["turn_ms"]) for r in rows if r["early"] and not r["cut_off"]]),
        "fluent_turn_ms": spread(fluent),
        "not_taken": sum(r["turn_ms"] is None for r in rows),
        "cut": [r for r in rows if r["cut_off"]],
        "wrong": [r for r in rows if r["got"] != r["want"] and not r["cut_off"]],
    }


def spread(values: list[float]) -> dict[str, int] | None:
    return {"p50": round(pct(values, 0.5)), "p95": round(pct(values, 0.95))} if values else None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rec = await Recogniser.open(model_dir(), warm=True, workers=1, cpu_threads=2)
    out: dict[str, Any] = {"benchmark": "hesitation", "modes": {k: list(v) for k, v in MODES.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.lang or ["en", "zh"]:
            out[lang] = await run_lang(lang, rec, Path(tmp), args.limit)
    rec.close()
    out["machine"] = machine()
    return out


def run() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", action="append", choices=["en", "zh"])
    ap.add_argument("--limit", type=int, default=None, help="the first N answers of each set (a quick look)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "hesitation.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
