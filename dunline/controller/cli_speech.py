"""`dunline intent`: classify one debtor answer (intent, slots, the phrase that decided).

    dunline intent --lang en|zh "TEXT" [--json] [--now ISO8601] [--tz ZONE] [--lexicon-only]

--json prints {"intent", "confidence", "slots": {"date", "amount", "time"}, "matched"}.  Exit 2 on a bad
--now, an unknown --tz or an empty text.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXIT_OK, EXIT_INPUT = 0, 2


def cmd_intent(args: argparse.Namespace) -> int:
    from dunline.ivr.speech import semantic
    from dunline.ivr.speech.intents import classify

    text = " ".join(args.text).strip()
    if not text:
        print("error: empty text", file=sys.stderr)
        return EXIT_INPUT
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: unknown time zone {args.tz!r}", file=sys.stderr)
        return EXIT_INPUT
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    except ValueError:
        print(f"error: --now {args.now!r} is not an ISO 8601 date-time", file=sys.stderr)
        return EXIT_INPUT
    if now.tzinfo is None:
        now = now.replace(tzinfo=tz)  # a naive --now is wall time in --tz
    opinion = None if args.lexicon_only else semantic.Lazy(args.lang)
    result = classify(text, args.lang, now, tz, opinion)
    doc = result.as_json()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        slots = doc["slots"]
        assert isinstance(slots, dict)
        shown = ", ".join(f"{k}={v}" for k, v in slots.items() if v is not None) or "no slots"
        print(f"{result.intent} ({result.confidence:.2f}) {shown}; matched {result.matched}")
    return EXIT_OK


def add_intent_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p: argparse.ArgumentParser = sub.add_parser(
        "intent", help="classify one debtor answer (intent and slots)"
    )
    p.add_argument("text", nargs="+", help="the answer, as heard")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--now", help="reference time, ISO 8601 (default: now, UTC)")
    p.add_argument("--tz", default="UTC", help="the debtor's time zone (default UTC)")
    p.add_argument("--lexicon-only", action="store_true", help="no second opinion from labelled examples")
    p.set_defaults(fn=cmd_intent)
