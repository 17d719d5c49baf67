"""Accuracy of the dialplan's answering-machine detection (AMD()) on the carrier simulator's greetings.

Dials every AMD greeting of the carrier simulator (tests/fixtures/carrier: human greetings on
+14155591NNX, answering machines on +14155592NNX; the texts are in audio.yaml and rendered with the
TTS at setup) `--reps` times through the real PBX, trunk and carrier, exactly as a campaign does
(Controller + dial_targets, a private stack on its own ports and var dir), and reads the verdict the
dialplan's UserEvent DunlineAmd stored on each attempt (amd_status / amd_cause).

Reports, per AMD configuration: each greeting's text, truth, audio length, verdicts and causes; the
confusion matrix (truth human/machine x HUMAN/MACHINE/NOTSURE/HANGUP); accuracy strict (NOTSURE is
wrong) and as routed (NOTSURE goes to Stasis like HUMAN: right for a human, wrong for a machine); the
false-machine rate on humans (the harmful error: a live debtor is hung up on); the time from answer
to verdict. The shipped configuration is asterisk-conf/pbx/amd.conf.j2; `--variant NAME:key=v,...`
measures others in the same run (written into the PBX's amd.conf, then `module reload app_amd.so`).
Prints one JSON document and writes it to bench/results/amd.json.

    .venv/bin/python bench/amd.py [--reps 3] [--cps 4] [--variant before:maximum_number_of_words=2]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import wave
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from dunline.controller import asterisk, carrier
from dunline.controller.app import (
    AMD_AFTER_GREETING_S,
    CONNECT_WITHIN_S,
    Controller,
    dial_targets,
    prepare_targets,
)
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.embedded import stop_embedded

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_var, machine, pct, report, settings_for

# Own ports: clear of the test stack (offsets 0, 3000, 6000), bench/originate.py and bench/turns.py.
CONFIG = """
asterisk:
  pbx:     {sip_port: 5560, rtp_start: 34000, rtp_end: 34999, ami_port: 5438, http_port: 8488}
  carrier: {sip_port: 5570, rtp_start: 35000, rtp_end: 35999, ami_port: 5439, http_port: 8489}
trunks:
  - {name: carrier, host: 127.0.0.1, port: 5570, username: dunline, from_user: dunline,
     caller_id: "+14155550100", max_channels: 100, calls_per_second: %(cps)s}
dialer: {max_concurrent_calls: 100, ring_timeout_s: 15}
speech: {enabled: false}
database: {pool_max: 10}
"""
HUMAN = re.compile(r"^_\+14155591(\d\d)X$")
MACHINE = re.compile(r"^_\+14155592(\d\d)X$")
VERDICTS = ("HUMAN", "MACHINE", "NOTSURE", "HANGUP", "MISSING")
SILENCE_THRESHOLD = 256  # AMD's silence_threshold: mean |sample| of a 20 ms frame below it is silence


def greetings() -> list[dict[str, Any]]:
    """The AMD greetings of the carrier simulator: pattern, sound, text, truth."""
    table = carrier.load_table(asterisk.CARRIER_DIR / "scenarios.yaml")
    audio = asterisk.carrier_audio()
    out = []
    for pattern, sc in table.items():
        for truth, rx in (("human", HUMAN), ("machine", MACHINE)):
            if rx.match(pattern) and sc.greeting:
                out.append(
                    {"pattern": pattern, "sound": sc.greeting, "text": audio[sc.greeting][1], "truth": truth}
                )
    return out


def audio_facts(path: Path) -> dict[str, float]:
    """Length of a rendered greeting and what AMD's energy detector sees in it (20 ms frames)."""
    with wave.open(str(path), "rb") as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    samples = memoryview(raw).cast("h")
    step = rate // 50
    voiced = [
        sum(abs(x) for x in samples[i : i + step]) / step >= SILENCE_THRESHOLD
        for i in range(0, len(samples) - step + 1, step)
    ]
    on = [i for i, v in enumerate(voiced) if v]
    return {
        "duration_s": round(len(samples) / rate, 2),
        "voiced_s": round(len(on) * 0.02, 2),  # AMD's voiceDuration if it listened to all of it
    }


def amd_conf(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^\s*([a-z_]+)\s*=\s*(-?\d+)", text, re.M)}


def write_amd_conf(pbx: asterisk.Instance, values: dict[str, int]) -> None:
    body = "[general]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    (pbx.host / "etc" / "amd.conf").write_text(body)
    out = pbx.rx("module reload app_amd.so")
    if "not found" in out.lower() or "error" in out.lower():
        raise RuntimeError(f"reloading app_amd failed: {out.strip()}")


def csv_rows(numbers: list[tuple[str, str]]) -> str:
    head = "external_id,account_ref,full_name,phone,phone_type,phone_consent,"
    head += "balance,principal,due_date,timezone\n"
    rows = [
        f"{ref},{ref},Amd Debtor,{number},mobile,yes,100.00,100.00,2026-10-01,America/Los_Angeles"
        for ref, number in numbers
    ]
    return head + "\n".join(rows) + "\n"


def score(calls: list[dict[str, Any]]) -> dict[str, Any]:
    confusion = {t: dict.fromkeys(VERDICTS, 0) for t in ("human", "machine")}
    for c in calls:
        confusion[c["truth"]][c["status"]] += 1
    h, m = confusion["human"], confusion["machine"]
    nh, nm = sum(h.values()), sum(m.values())
    n = nh + nm
    strict = h["HUMAN"] + m["MACHINE"]
    routed = h["HUMAN"] + h["NOTSURE"] + m["MACHINE"]
    verdict_s: dict[str, Any] = {}
    for truth in ("human", "machine"):
        xs = [c["answer_to_verdict_s"] for c in calls if c["truth"] == truth and c["answer_to_verdict_s"]]
        verdict_s[truth] = {
            "p50": round(pct(xs, 0.5), 2) if xs else None,
            "p95": round(pct(xs, 0.95), 2) if xs else None,
        }
    return {
        "calls": n,
        "confusion": confusion,
        "accuracy_strict": round(strict / n, 3) if n else None,
        "accuracy_as_routed": round(routed / n, 3) if n else None,
        "false_machine_rate_on_humans": round(h["MACHINE"] / nh, 3) if nh else None,
        "humans_routed_to_ivr": round((h["HUMAN"] + h["NOTSURE"]) / nh, 3) if nh else None,
        "machines_detected": round(m["MACHINE"] / nm, 3) if nm else None,
        "machines_reaching_ivr": round((m["HUMAN"] + m["NOTSURE"]) / nm, 3) if nm else None,
        "answer_to_verdict_s": verdict_s,
    }


async def measure(
    rt: Any,
    name: str,
    slot: int,
    reps: int,
    table: list[dict[str, Any]],
    var: Path,
) -> list[dict[str, Any]]:
    """Dial every greeting `reps` times; numbers `slot*reps + r` of each greeting's ten."""
    plan = []  # (ref, number, greeting) in dialling order: greetings interleaved
    for r in range(reps):
        for g in table:
            number = g["pattern"][1:-1] + str(slot * reps + r)
            plan.append((f"AMD-{name}-{g['sound']}-{r}-0100", number, g))  # one prompt rendering
    csv = var / f"amd-{name}.csv"
    csv.write_text(csv_rows([(ref, number) for ref, number, _ in plan]))
    await import_file(rt.pool, csv, upsert=True)
    by_number = {a.phone_e164: a for a in await list_dialable(rt.pool, 100000)}
    accounts = [by_number[number] for _, number, _ in plan]
    targets = await prepare_targets(rt, accounts)
    summaries = await dial_targets(rt, f"amd-{name}", targets)
    calls = []
    for (_ref, number, g), s in zip(plan, summaries, strict=True):
        row = None
        marks: dict[str, datetime] = {}
        if s.attempt_id is not None:
            row = await rt.pool.fetchrow(
                "SELECT amd_status, amd_cause FROM attempts WHERE id = $1::uuid", s.attempt_id
            )
            for t in await rt.pool.fetch(
                "SELECT to_state, at FROM attempt_transitions WHERE attempt_id = $1::uuid ORDER BY seq",
                s.attempt_id,
            ):
                marks.setdefault(t["to_state"], t["at"])
        status = (row["amd_status"] if row else None) or "MISSING"
        verdict_at = marks.get("human") or marks.get("machine")
        took = (
            (verdict_at - marks["answered"]).total_seconds() if verdict_at and "answered" in marks else None
        )
        calls.append(
            {
                "sound": g["sound"],
                "truth": g["truth"],
                "number": number,
                "result": s.result,
                "status": status if status in VERDICTS else "MISSING",
                "cause": row["amd_cause"] if row else None,
                "answer_to_verdict_s": round(took, 2) if took is not None else None,
            }
        )
    return calls


def per_greeting(table: list[dict[str, Any]], calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for g in table:
        mine = [c for c in calls if c["sound"] == g["sound"] and c["truth"] == g["truth"]]
        ok = "HUMAN" if g["truth"] == "human" else "MACHINE"
        out.append(
            {
                "sound": g["sound"],
                "text": g["text"],
                "truth": g["truth"],
                "numbers": g["pattern"],
                "duration_s": g["duration_s"],
                "voiced_s": g["voiced_s"],
                "statuses": [c["status"] for c in mine],
                "causes": [c["cause"] for c in mine],
                "results": [c["result"] for c in mine],
                "correct": sum(c["status"] == ok for c in mine),
            }
        )
    return out


def parse_variant(text: str) -> tuple[str, dict[str, int]]:
    name, _, body = text.partition(":")
    values = {}
    for item in filter(None, body.split(",")):
        k, _, v = item.partition("=")
        values[k.strip()] = int(v)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not values:
        raise SystemExit(f"--variant {text!r}: expected NAME:key=value[,key=value...]")
    return name, values


async def main(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.monotonic()
    var = fresh_var("dunline-amd-")
    settings = settings_for(var, CONFIG % {"cps": args.cps}, "amd")
    table = greetings()
    variants: list[tuple[str, dict[str, int]]] = [("shipped", {})]
    variants += [parse_variant(v) for v in args.variant]
    if len(variants) * args.reps > 10:
        raise SystemExit("each greeting has ten numbers: variants x reps must be <= 10")
    asterisk.down(settings)
    configs = []
    try:
        pbx, car, _took = await asterisk.up(settings)
        for g in table:
            g.update(audio_facts(car.host / "sounds" / f"{g['sound']}.wav"))
        shipped = amd_conf((pbx.host / "etc" / "amd.conf").read_text())
        clock = starting_at(next_weekday_at(1, dtime(11, 0), "America/Los_Angeles"))
        async with Controller(settings, start_asterisk=False, clock=clock) as rt:
            for slot, (name, overlay) in enumerate(variants):
                values = {**shipped, **overlay}
                unknown = set(overlay) - set(shipped)
                if unknown:
                    raise SystemExit(f"--variant {name}: unknown AMD setting(s) {sorted(unknown)}")
                await asyncio.to_thread(write_amd_conf, pbx, values)
                t0 = time.monotonic()
                calls = await measure(rt, name, slot, args.reps, table, var)
                doc = {
                    "name": name,
                    "amd_settings": values,
                    "wall_s": round(time.monotonic() - t0, 1),
                    **score(calls),
                    "per_greeting": per_greeting(table, calls),
                }
                configs.append(doc)
                brief = {k: doc[k] for k in ("name", "accuracy_strict", "accuracy_as_routed", "confusion")}
                print(brief, file=sys.stderr)
    finally:
        asterisk.down(settings)
        stop_embedded(var / "pg")
    return {
        "benchmark": "amd",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "method": (
            "each greeting dialled through PBX -> PJSIP trunk -> carrier simulator (Asterisk); the carrier"
            " answers, waits 0.3 s, plays the TTS greeting (piper, 8 kHz), then humans stay silent 6 s,"
            " machines play a beep and record 4 s; the verdict is the attempt's amd_status from the"
            " dialplan's UserEvent DunlineAmd. NOTSURE goes to Stasis like HUMAN (as-routed accuracy)."
        ),
        "reps_per_greeting": args.reps,
        "offered_cps": args.cps,
        "greetings": {
            "human": sum(g["truth"] == "human" for g in table),
            "machine": sum(g["truth"] == "machine" for g in table),
        },
        # configs[0] is the shipped asterisk-conf/pbx/amd.conf.j2; the others are --variant overlays
        "summary": [
            {
                k: c.get(k)
                for k in (
                    "name",
                    "accuracy_strict",
                    "accuracy_as_routed",
                    "false_machine_rate_on_humans",
                    "machines_detected",
                    "confusion",
                    "amd_settings",
                )
            }
            for c in configs
        ],
        "agent_connect_budget_s": {
            "after_greeting_silence_s": AMD_AFTER_GREETING_S,
            "controller_connect_within_s": CONNECT_WITHIN_S,
        },
        "wall_s": round(time.monotonic() - t_start, 1),
        "configs": configs,
    }


def run() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cps", type=float, default=4.0)
    ap.add_argument(
        "--variant", action="append", default=[], help="NAME:key=value,... over the shipped amd.conf"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "amd.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
