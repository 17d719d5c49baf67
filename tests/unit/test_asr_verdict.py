"""The decode guards (ivr/speech/asr.verdict, pure): what is rejected, and the short Mandarin answers
Whisper base hears right with a low log-probability."""

from __future__ import annotations

from dunline.ivr.speech.asr import verdict


def test_ordinary_guards() -> None:
    assert verdict(0.1, -0.3, 1.2, "yes that's me") is None
    assert verdict(0.1, -0.3, 1.2, " ... ") == "empty"
    assert verdict(0.8, -1.2, 1.2, "Thank you.") == "no_speech"
    assert verdict(0.1, -1.3, 1.2, "the lake") == "low_confidence"
    assert verdict(0.1, -0.2, 3.0, "ha ha ha ha ha ha ha") == "repetitive"


def test_short_mandarin_answers_are_kept_when_speech_was_heard() -> None:
    assert verdict(0.08, -1.23, 0.6, "是的。", lang="zh") is None  # measured through a mu-law line
    assert verdict(0.08, -1.23, 0.6, "是的。", lang="en") == "low_confidence"
    assert verdict(0.5, -1.23, 0.6, "是的。", lang="zh") == "low_confidence"  # maybe no speech at all
    assert verdict(0.05, -1.9, 0.6, "对", lang="zh") == "low_confidence"  # too unsure even so
    assert verdict(0.05, -1.3, 0.6, "谢谢观看", lang="zh") == "low_confidence"  # not a short answer
