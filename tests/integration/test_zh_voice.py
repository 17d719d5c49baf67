"""The Mandarin voice heard through a telephone line: Kokoro-82M (the prompts' voice and two debtor
voices) -> 8 kHz G.711 mu-law -> Whisper base, the model Dunline listens with. Prompts are compared
with what was meant in toneless pinyin (homophones Whisper base confuses, such as 案/按, count as
right: they measure what the voice said, not Whisper's language model); debtors' answers must give
the intent meant."""

from __future__ import annotations

import subprocess
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pypinyin import lazy_pinyin
from rapidfuzz.distance import Levenshtein

from dunline.ivr.kokoro import available
from dunline.ivr.prompts import call_values, fill, global_values, load_catalog
from dunline.ivr.speech.intents import classify
from dunline.ivr.tts import Renderer
from dunline.ivr.zh_numbers import speakable

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="the Mandarin voice is not installed (make setup)"),
]
PROMPTS = ("recording_notice", "rpc_question_speech", "mini_miranda", "balance", "ask_when",
           "promise_readback", "ack_promise", "wrong_party")  # fmt: skip
ANSWERS = {"是我": "affirm", "我下周五还两千": "promise_to_pay", "你们打错了": "wrong_number",
           "别再打了": "cease", "不对": "deny"}  # fmt: skip


def _line(src: Path, tmp: Path) -> np.ndarray:
    """The file as the IVR hears it: 8 kHz mu-law, back to 16 kHz float."""
    mu, out = tmp / "mu.wav", tmp / "back.wav"
    subprocess.run(["sox", str(src), "-e", "u-law", str(mu)], check=True)
    subprocess.run(["sox", str(mu), "-e", "signed-integer", "-b", "16", "-r", "16000", str(out)], check=True)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def _syllables(text: str) -> list[str]:
    kept = "".join(c for c in speakable(text) if "\u4e00" <= c <= "\u9fff")
    return lazy_pinyin(kept)


@pytest.fixture(scope="module")
def recogniser() -> object:
    import asyncio

    from dunline.controller.models import model_dir
    from dunline.ivr.speech.asr import Recogniser

    return asyncio.run(Recogniser.open(model_dir(), warm=False))


async def test_prompts_and_answers_survive_the_line(stack: Stack, tmp_path: Path, recogniser: object) -> None:
    rec: object = recogniser
    renderer = Renderer(tmp_path / "tts")
    catalog = load_catalog("zh")
    said = call_values({"amount": "2000.00", "date": "2026-12-18"}, "CNY", "zh")
    account = {"name": "李明", "amount": "三千五百元", "days": "四十五", "ref_last4": "1234"}
    values = {**global_values(stack.settings, "zh"), **account, **said}
    errors = total = 0
    per_prompt = {}
    for pid in PROMPTS:
        text = fill(catalog[pid], values)
        assert not any(c.isascii() and c.isalpha() for c in text), f"{pid}: Latin letters in {text!r}"
        audio = _line(renderer.render(text, "zh"), tmp_path)
        heard = await rec.transcribe(audio, "zh", time_limit_s=30)  # type: ignore[attr-defined]
        want, got = _syllables(text), _syllables(heard.text)
        miss = Levenshtein.distance(want, got)
        per_prompt[pid] = (round(miss / len(want), 3), heard.text)
        errors, total = errors + miss, total + len(want)
    assert errors / total <= 0.10, per_prompt  # syllable error rate over the prompts

    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    tz = ZoneInfo("Asia/Shanghai")
    wrong = {}
    for voice in ("zf_xiaobei", "zm_yunjian"):
        for said, intent in ANSWERS.items():
            heard = await rec.transcribe(  # type: ignore[attr-defined]
                _line(renderer.render(said, "zh", speaker=voice), tmp_path), "zh", time_limit_s=30
            )
            found = classify(heard.text, "zh", now, tz)
            if found.intent != intent:
                wrong[(voice, said)] = (heard.text, found.intent)
            if intent == "promise_to_pay" and found.intent == intent:
                assert found.slots.amount == 2000 and found.slots.date is not None
                assert found.slots.date.isoformat() == "2026-12-18"
    assert not wrong, wrong
