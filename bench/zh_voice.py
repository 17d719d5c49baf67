"""Mandarin synthesis: Kokoro's real-time factor per prompt, and the prompt cache during a campaign.

    python bench/zh_voice.py [--accounts 20] [--out bench/results/zh_voice.json]

A fresh cache folder. First every static Mandarin prompt of the catalog is rendered (what `asterisk
up` does once): seconds of audio, seconds of wall time and the real-time factor per prompt (one ONNX
thread, zm_yunxi). Then a campaign's worth of account prompts (`--accounts` debtors with their own
name, balance, days and reference) is rendered twice, as two calls to each debtor would: the first
pass renders, the second must be all cache hits. Reported: RTF median and p95, the cache hit rate of
each pass, and the time to the first audio of a new account. Prints JSON and records it with the
machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, pct, report

from dunline.config.schema import Settings
from dunline.ivr.prompts import fill, global_values, load_catalog, speak_amount
from dunline.ivr.tts import Renderer

NAMES = ("李明", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴敏")


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / float(w.getframerate())


def run(args: argparse.Namespace) -> dict[str, Any]:
    from decimal import Decimal

    catalog = load_catalog("zh")
    values = global_values(Settings(), "zh")
    with tempfile.TemporaryDirectory() as tmp:
        renderer = Renderer(Path(tmp))
        renderer.render("您好。", "zh")  # load the model and the G2P once
        rtf, audio_s, wall_s = [], 0.0, 0.0
        for p in catalog.values():
            if p.per_account or p.per_call:
                continue
            t0 = time.perf_counter()
            out = renderer.render(fill(p, values), "zh")
            took = time.perf_counter() - t0
            length = seconds(out)
            rtf.append(took / length)
            audio_s, wall_s = audio_s + length, wall_s + took
        account = [p for p in catalog.values() if p.per_account]
        passes = []
        first_audio = []
        for _ in range(2):
            hits = total = 0
            for i in range(args.accounts):
                acc = {"name": NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else str(i)),
                       "amount": speak_amount(Decimal(1000 + 37 * i), "CNY", "zh"), "days": str(30 + i),
                       "ref_last4": f"{1000 + i}"}  # fmt: skip
                t0 = time.perf_counter()
                for n, p in enumerate(account):
                    text = fill(p, {**values, **acc})
                    cached = renderer.path_for(text, "zh").exists()
                    renderer.render(text, "zh")
                    hits, total = hits + cached, total + 1
                    if n == 0 and not cached:
                        first_audio.append(time.perf_counter() - t0)
            passes.append(round(hits / total, 3))
    return {
        "benchmark": "zh_voice",
        "voice": "zm_yunxi (Kokoro-82M v1.0 int8, one ONNX thread)",
        "static_prompts": len(rtf),
        "static_audio_s": round(audio_s, 1),
        "static_wall_s": round(wall_s, 1),
        "rtf": {"median": round(statistics.median(rtf), 3), "p95": round(pct(rtf, 0.95), 3)},
        "accounts": args.accounts,
        "account_prompts_each": len(account),
        "cache_hit_rate": {"first_call": passes[0], "second_call": passes[1]},
        "first_account_prompt_s": {"median": round(statistics.median(first_audio), 2)}
        if first_audio
        else None,
        "machine": machine(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=20)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "zh_voice.json"))
    args = p.parse_args()
    return report(run(args), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
