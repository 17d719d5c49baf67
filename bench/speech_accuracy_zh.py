"""Mandarin intent accuracy, as text and through a telephone line.

    python bench/speech_accuracy_zh.py [--set heldout1_zh] [--set heldout2_zh] [--no-audio]
        [--out bench/results/speech_accuracy_zh.json]

Each set (tests/fixtures/speech/<name>.tsv: text, intent, date, amount, time; `now` and `tz` in its
header) is classified twice: as written (the text level), and spoken by a Kokoro debtor voice
(zf_xiaobei, zm_yunjian, zf_xiaoxiao in turn), passed through 8 kHz G.711 mu-law and back, recognised
by Whisper base (int8, language zh) and classified (the telephone band). Reported per set: intent
accuracy, date and amount accuracy where the set gives them, the confusions, and every miss with its
transcript, with the second opinion (semantic.load("zh"): character n-grams over examples.zh.tsv) and,
for comparison, the lexicon alone (`lexicon_only_accuracy`). Prints JSON and records it with
the machine (`make bench`: the three sets into speech_accuracy_zh.json; each fresh set's one
measurement is kept apart, speech_accuracy_zh_fresh1-2.json and _fresh3.json). About 3 minutes per
150 answers on 2 cores with audio.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, report

from dunline.ivr.speech import semantic
from dunline.ivr.speech.intents import classify
from dunline.ivr.tts import Renderer

ROOT = Path(__file__).resolve().parents[1]
VOICES = ("zf_xiaobei", "zm_yunjian", "zf_xiaoxiao")


def load(path: Path) -> tuple[datetime, ZoneInfo, list[list[str]]]:
    now, tz, rows = datetime(2026, 12, 8, 10), ZoneInfo("Asia/Shanghai"), []
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("# now="):
            kv = dict(p.split("=", 1) for p in line[2:].split())
            tz = ZoneInfo(kv["tz"])
            now = datetime.fromisoformat(kv["now"]).replace(tzinfo=tz)
        elif line.strip() and not line.startswith("#"):
            cols = (line.split("\t") + [""] * 5)[:5]
            rows.append(cols)
    return now, tz, rows


def score(rows: list[list[str]], texts: list[str], now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    hits = lexical = dates = dates_ok = amounts = amounts_ok = 0
    confusions: Counter[str] = Counter()
    misses = []
    opinion = semantic.load("zh")
    for (said, want, date, amount, _time), heard in zip(rows, texts, strict=True):
        got = classify(heard, "zh", now, tz, opinion)
        lexical += classify(heard, "zh", now, tz).intent == want
        if got.intent == want:
            hits += 1
        else:
            confusions[f"{want} -> {got.intent}"] += 1
            misses.append({"text": said, "heard": heard, "want": want, "got": got.intent, "by": got.matched})
        if date:
            dates += 1
            dates_ok += str(got.slots.date or "") == date
        if amount:
            amounts += 1
            amounts_ok += got.slots.amount is not None and f"{got.slots.amount:.2f}" == amount
    n = len(rows)
    return {
        "answers": n,
        "intent_accuracy": round(hits / n, 3),
        "lexicon_only_accuracy": round(lexical / n, 3),
        "date_accuracy": round(dates_ok / dates, 3) if dates else None,
        "dates": dates,
        "amount_accuracy": round(amounts_ok / amounts, 3) if amounts else None,
        "amounts": amounts,
        "confusions": dict(confusions.most_common()),
        "misses": misses,
    }


def line(src: Path, tmp: Path) -> np.ndarray[Any, Any]:
    """The file as the IVR hears it: 8 kHz mu-law, back to 16 kHz float."""
    mu, back = tmp / "mu.wav", tmp / "back.wav"
    subprocess.run(["sox", str(src), "-e", "u-law", str(mu)], check=True)
    subprocess.run(["sox", str(mu), "-e", "signed-integer", "-b", "16", "-r", "16000", str(back)], check=True)
    with wave.open(str(back)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


async def heard_on_the_line(rows: list[list[str]], tmp: Path) -> tuple[list[str], list[float]]:
    from dunline.controller.models import model_dir
    from dunline.ivr.speech.asr import Recogniser

    rec = await Recogniser.open(model_dir(), warm=True)
    renderer = Renderer(tmp / "tts")
    texts, asr_ms = [], []
    for i, row in enumerate(rows):
        src = await asyncio.to_thread(renderer.render, row[0], "zh", None, VOICES[i % len(VOICES)])
        audio = await asyncio.to_thread(line, src, tmp)
        result = await rec.transcribe(audio, "zh", time_limit_s=30)
        texts.append(result.text)
        asr_ms.append(result.asr_ms)
    rec.close()
    return texts, asr_ms


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"benchmark": "speech_accuracy_zh", "sets": {}}
    for name in args.set:
        now, tz, rows = load(ROOT / "tests" / "fixtures" / "speech" / f"{name}.tsv")
        doc: dict[str, Any] = {"text": score(rows, [r[0] for r in rows], now, tz)}
        if not args.no_audio:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                heard, asr_ms = await heard_on_the_line(rows, Path(tmp))
            doc["telephone_band"] = score(rows, heard, now, tz)
            doc["telephone_band"]["asr_ms_median"] = round(float(np.median(asr_ms)), 1)
            doc["telephone_band"]["seconds"] = round(time.perf_counter() - t0, 1)
        out["sets"][name] = doc
    out["machine"] = machine()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", action="append", default=None)
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "speech_accuracy_zh.json"))
    args = p.parse_args()
    args.set = args.set or ["heldout1_zh", "heldout2_zh"]
    return report(asyncio.run(run(args)), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
