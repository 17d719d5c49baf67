"""The intents' second opinion (semantic.py): what it costs per answer, to load, and in memory.

Over the answers of the newest fresh sets (tests/fixtures/speech/heldout28-30_en.tsv, as text): the
milliseconds of `Semantic.nearest` (embedding plus classifier plus vote) for every answer, and of
`classify` with and without the opinion; how many answers ask it at all (most are decided by the
lexicon); the time to load the model and the cached examples, and the process's resident memory
before and after. Prints one JSON document and writes it to bench/results/opinion.json.

    .venv/bin/python bench/opinion.py
"""

from __future__ import annotations

import resource
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import machine, pct, report

from dunline.ivr.speech import intents, semantic

SPEECH = Path(__file__).parents[1] / "tests" / "fixtures" / "speech"
SETS = ("heldout28_en", "heldout29_en", "heldout30_en")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p95": round(pct(values, 0.95), 1), "n": len(values)}


class Counting:
    """The opinion, counting how often classify asks it."""

    def __init__(self, inner: semantic.Semantic) -> None:
        self.inner = inner
        self.asked = 0

    def nearest(self, text: str) -> Any:
        self.asked += 1
        return self.inner.nearest(text)


def main() -> dict[str, Any]:
    texts: list[str] = []
    for name in SETS:
        lines = (SPEECH / f"{name}.tsv").read_text("utf-8").splitlines()
        texts += [ln.split("\t")[0] for ln in lines if ln and not ln.startswith("#")]
    rss_before = _rss_mb()
    started = time.perf_counter()
    opinion = semantic.load("en")
    if opinion is None:
        raise SystemExit("the second opinion's model is not installed (make setup)")
    load_s = time.perf_counter() - started
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    tz = ZoneInfo("America/New_York")
    opinion.nearest("warm up")
    nearest, lexicon, shipped = [], [], []
    counting = Counting(opinion)
    for text in texts:
        t0 = time.perf_counter()
        opinion.nearest(text)
        t1 = time.perf_counter()
        intents.classify(text, "en", now, tz)
        t2 = time.perf_counter()
        intents.classify(text, "en", now, tz, counting)
        t3 = time.perf_counter()
        nearest.append((t1 - t0) * 1000)
        lexicon.append((t2 - t1) * 1000)
        shipped.append((t3 - t2) * 1000)
    doc = {
        "benchmark": "opinion",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": semantic.PACKAGE,
        "examples": len(opinion.texts),
        "answers": len(texts),
        "asked": counting.asked,
        "nearest_ms": _ms(nearest),
        "classify_lexicon_only_ms": _ms(lexicon),
        "classify_with_opinion_ms": _ms(shipped),
        "load_s": round(load_s, 2),
        "peak_rss_mb": {"before_load": round(rss_before), "after": round(_rss_mb())},
    }
    return doc


if __name__ == "__main__":
    raise SystemExit(report(main(), Path(__file__).parent / "results" / "opinion.json"))
