"""Intent accuracy on synthetic telephone-band speech, English.

The held-out lines of tests/fixtures/speech/corpus_en.tsv (every 5th data line), the independent set
tests/fixtures/speech/heldout2_en.tsv (70 answers written by someone who never saw the lexicon),
heldout5_en.tsv (100 answers by a fifth author), heldout6_en.tsv (120 answers by the author of the
seventh tuning round, written before it: not independent), heldout7_en.tsv (150 answers by a seventh
author who saw neither the lexicon nor any earlier set; never tuned on), heldout8_en.tsv,
heldout9_en.tsv (150 answers each by an eighth and a ninth author), heldout10_en.tsv, heldout11_en.tsv,
heldout12_en.tsv (200 answers each by a tenth, an eleventh and a twelfth), heldout13_en.tsv to
heldout30_en.tsv (200 each by eighteen more authors) are spoken by the piper voice, passed through a
telephone channel (8 kHz G.711 mu-law and back to 16 kHz), recognised by Whisper base (int8) and
classified twice: as shipped (the lexicon plus the second opinion, semantic.py) and by the lexicon alone.
Reports intent accuracy per set and overall (target >= 95%), slot accuracy where the corpus gives
slots, ASR milliseconds, and every miss with its transcript. Prints JSON; writes
bench/results/speech_accuracy.json.

heldout28-30 are the sets nothing was ever chosen on: written after the last change, measured once (none
of their lines is among the examples). The second opinion is trained on the corpus and heldout2-27 and
on Whisper's transcripts of them, so on those sets it repeats what it was shown; heldout9 measured its
first version (0.90 text, 0.88 telephone band), heldout10 the classifier's first round (0.945, 0.905),
heldout11 and heldout12 the second (0.96, 0.935), heldout13-15 the third (0.96, 0.855, 0.945),
heldout16-18 the fourth (0.94, 0.84, 0.945; the vote of the nearest examples was then chosen by
cross-validation on them, their misses not studied), heldout19-21 the vote (0.945, 0.925, 0.93; an MPNet
embedding was then chosen by cross-validation on 16-21, their misses not studied), heldout22-27 the
MPNet embedding and then MiniLM (equal: 0.957 and 0.955, 0.973 and 0.978; MiniLM kept, five times
cheaper; results in speech_accuracy_mpnet_sets*.json and speech_accuracy_fresh22-27.json). Each trio:
realistic answers, hard ones, answers to each question.
The tuning rounds studied the misses of the corpus and heldout2-5 (adding general rules, not their
sentences), so those sets measure regressions, not generalisation; heldout6's author also wrote the
seventh round's rules, so it over-states generalisation.

    .venv/bin/python bench/speech_accuracy.py [--window 10]
        [--set NAME]    (a set or a group of sets: every, fresh28-30, both, heldout, ..., thirty, all)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dunline.controller.models import model_dir
from dunline.ivr.speech import semantic
from dunline.ivr.speech.asr import Recogniser
from dunline.ivr.speech.audio import read_wav, telephone_channel, to_16k_float
from dunline.ivr.speech.intents import classify
from dunline.ivr.tts import Renderer

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, pct, report

SPEECH = Path(__file__).parents[1] / "tests" / "fixtures" / "speech"
_STUDIED = "now among its examples"
_FRESH = "written after all tuning, measured once"
# --set NAME: (what the set is, its file in SPEECH, every 5th line only)
SETS: dict[str, tuple[str, str, bool]] = {
    "heldout": ("held-out corpus lines (every 5th; misses studied in round 6)", "corpus_en", True),
    "independent": ("independent held-out set 2 (misses studied in round 6)", "heldout2_en", False),
    "five": ("held-out set 5 (tuned on in round 6)", "heldout5_en", False),
    "six": ("held-out set 6 (the seventh round's author, written before it)", "heldout6_en", False),
    "fresh": (
        "independent set 7 (never tuned on; now among the second opinion's examples)",
        "heldout7_en",
        False,
    ),
    "eight": (f"independent set 8 (measured the first second opinion; {_STUDIED})", "heldout8_en", False),
    "nine": (f"independent set 9 (measured the first second opinion; {_STUDIED})", "heldout9_en", False),
    "ten": (f"independent set 10 (measured the classifier's first round; {_STUDIED})", "heldout10_en", False),
    "eleven": (
        f"independent set 11 (measured the classifier's second round; {_STUDIED})",
        "heldout11_en",
        False,
    ),
    "twelve": (
        f"independent set 12 (measured the classifier's second round; {_STUDIED})",
        "heldout12_en",
        False,
    ),
    "thirteen": (f"independent set 13 (measured the third round; {_STUDIED})", "heldout13_en", False),
    "fourteen": (f"independent set 14 (measured the third round; {_STUDIED})", "heldout14_en", False),
    "fifteen": (f"independent set 15 (measured the third round; {_STUDIED})", "heldout15_en", False),
    "sixteen": (f"independent set 16 (measured the fourth round; {_STUDIED})", "heldout16_en", False),
    "seventeen": (f"independent set 17 (measured the fourth round; {_STUDIED})", "heldout17_en", False),
    "eighteen": (f"independent set 18 (measured the fourth round; {_STUDIED})", "heldout18_en", False),
    "nineteen": (f"independent set 19 (measured the vote; {_STUDIED})", "heldout19_en", False),
    "twenty": (f"independent set 20 (measured the vote; {_STUDIED})", "heldout20_en", False),
    "twenty-one": (f"independent set 21 (measured the vote; {_STUDIED})", "heldout21_en", False),
    "twenty-two": (f"independent set 22 (MPNet against MiniLM; {_STUDIED})", "heldout22_en", False),
    "twenty-three": (f"independent set 23 (MPNet against MiniLM; {_STUDIED})", "heldout23_en", False),
    "twenty-four": (f"independent set 24 (MPNet against MiniLM; {_STUDIED})", "heldout24_en", False),
    "twenty-five": (f"independent set 25 (MPNet against MiniLM; {_STUDIED})", "heldout25_en", False),
    "twenty-six": (f"independent set 26 (MPNet against MiniLM; {_STUDIED})", "heldout26_en", False),
    "twenty-seven": (f"independent set 27 (MPNet against MiniLM; {_STUDIED})", "heldout27_en", False),
    "twenty-eight": (f"fresh independent set 28 ({_FRESH})", "heldout28_en", False),
    "twenty-nine": (f"fresh independent set 29 ({_FRESH})", "heldout29_en", False),
    "thirty": (f"fresh independent set 30 ({_FRESH})", "heldout30_en", False),
}
GROUPS: dict[str, list[str]] = {
    "both": ["heldout", "independent"],
    # each trio: realistic, hard, each question
    "fresh22-27": ["twenty-two", "twenty-three", "twenty-four", "twenty-five", "twenty-six", "twenty-seven"],
    "fresh28-30": ["twenty-eight", "twenty-nine", "thirty"],
    "every": list(SETS),
}
CHOICES = [*GROUPS, *SETS, "all"]


def load(path: Path, every_fifth: bool) -> tuple[datetime, ZoneInfo, list[list[str]]]:
    lines = path.read_text("utf-8").splitlines()
    head = dict(kv.split("=", 1) for kv in lines[0].lstrip("# ").split())
    tz = ZoneInfo(head["tz"])
    now = datetime.fromisoformat(head["now"]).replace(tzinfo=tz)
    rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]
    picked = [r for i, r in enumerate(rows) if i % 5 == 4] if every_fifth else rows
    return now, tz, picked


def sets(choice: str) -> list[tuple[str, Path, bool]]:
    if choice == "all":
        return [("whole corpus", SPEECH / "corpus_en.tsv", False)]
    picked = GROUPS.get(choice, [choice])
    return [(SETS[n][0], SPEECH / f"{SETS[n][1]}.tsv", SETS[n][2]) for n in picked]


def share(rows: list[dict[str, Any]], key: str) -> float:
    return round(sum(bool(r[key]) for r in rows) / max(1, len(rows)), 3)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    renderer = Renderer(Path(tempfile.gettempdir()) / "dunline-accuracy-tts")
    rec = await Recogniser.open(model_dir("base"), window_s=args.window)
    opinion = semantic.load("en")
    if opinion is None:
        raise SystemExit("the second opinion's model is not installed (make setup)")
    per_set: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    try:
        for name, path, every_fifth in sets(args.set):
            now, tz, rows = load(path, every_fifth)
            mine = [{"set": name, **r} for r in await _run(rec, renderer, opinion, rows, now, tz)]
            with_slots = [r for r in mine if r["slots_ok"] is not None]
            per_set[name] = {
                "utterances": len(mine),
                "intent_accuracy": share(mine, "ok"),
                "intent_accuracy_lexicon_only": share(mine, "ok_lexicon"),
                "slot_accuracy": round(sum(r["slots_ok"] for r in with_slots) / max(1, len(with_slots)), 3),
                "slot_rows": len(with_slots),
            }
            results += mine
    finally:
        await rec.aclose()
    asked_again = [r for r in results if r["ok"] and r["got"] != "unknown" and r["confidence"] < 0.6]
    slot_rows = [r for r in results if r["slots_ok"] is not None]
    asr = [r["asr_ms"] for r in results]
    return {
        "benchmark": "speech_accuracy",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "encoder_window_s": args.window,
        "sets": per_set,
        "utterances": len(results),
        "intent_accuracy": share(results, "ok"),
        "intent_accuracy_lexicon_only": share(results, "ok_lexicon"),
        # right, but below the IVR's 0.6: the debtor is asked again
        "right_but_asked_again": len(asked_again),
        "slot_accuracy": round(sum(r["slots_ok"] for r in slot_rows) / max(1, len(slot_rows)), 3),
        "slot_rows": len(slot_rows),
        "asr_ms": {"p50": round(pct(asr, 0.5)), "p95": round(pct(asr, 0.95))},
        "misses": [r for r in results if not r["ok"] or r["slots_ok"] is False],
    }


async def _run(
    rec: Recogniser,
    renderer: Renderer,
    opinion: semantic.Semantic,
    rows: list[list[str]],
    now: datetime,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    results = []
    for row in rows:
        text, intent = row[0], row[1]
        want_slots = {
            "date": row[2] or None,
            "amount": row[3] or None,
            "time": (row[4] if len(row) > 4 else "") or None,
        }
        if want_slots["amount"]:
            want_slots["amount"] = f"{Decimal(want_slots['amount']):.2f}"
        samples, rate = read_wav(renderer.render(text))
        audio = telephone_channel(to_16k_float(samples, rate))
        asr = await rec.transcribe(audio, "en", time_limit_s=30.0)
        got = classify(asr.text, "en", now, tz, opinion)
        lexical = classify(asr.text, "en", now, tz)
        slots = got.as_json()["slots"]
        results.append(
            {
                "text": text,
                "heard": asr.text,
                "want": intent,
                "got": got.intent,
                "confidence": got.confidence,
                "matched": got.matched,
                "ok": got.intent == intent,
                "ok_lexicon": lexical.intent == intent,
                "slots_ok": slots == want_slots if any(want_slots.values()) else None,
                "asr_ms": asr.asr_ms,
            }
        )
    return results


def run() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=CHOICES, default="every")
    ap.add_argument("--window", type=float, default=10.0, help="Whisper encoder window, seconds (30: full)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "speech_accuracy.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
