"""Speech recognition of short debtor answers with faster-whisper (CTranslate2), off the event loop.

One `WhisperModel` is loaded per `Recogniser` with `num_workers=workers`: CTranslate2 then runs up to
`workers` encode/generate calls in parallel (one model replica per worker, sharing nothing mutable), and
`WhisperModel.transcribe` is documented safe to call from that many Python threads at once. The calls
come from a `ThreadPoolExecutor` of the same size, so the event loop never runs model code; CTranslate2
releases the GIL while it computes. Keep `workers * cpu_threads` <= the cores given to ASR.

Decode guards, for 1-10 s answers that the VAD has already cut out (Whisper invents text on silence):
- the language is fixed (no detection pass), greedy search (`beam_size=1`), one temperature (no
  fallback re-decodes, which would multiply the time of a bad utterance), no conditioning on earlier
  text, no timestamps, faster-whisper's own VAD off (we gate ourselves), `max_new_tokens` capped;
- an `initial_prompt` of domain words per language (amounts, dates, lawyer, dispute, ...) biases the
  spelling of what is said without adding words to what is not;
- rejection (text "", `rejected` set), checked in this order:
  `silence`: no 20 ms frame above -60 dBFS; not decoded at all (Whisper base turns 2 s of digital
  silence into "I'm not going to pay." / "我已经还了。" with no_speech_prob ~0.5, below the 0.6 rule);
  `empty`: nothing decoded;
  `no_speech`: no_speech_prob > 0.6 and avg_logprob < -1.0 (Whisper's own rule), or no_speech_prob > 0.4
  and the text is a piece of the prompt (measured: the zh prompt echoed back from silence at logprob -0.7);
  `low_confidence`: avg_logprob < -1.0: OpenAI's decoder treats that as a failed decode and retries at
  a higher temperature; we do not retry, so we reject (measured: piper phrases through a G.711 channel
  score -0.02..-0.2, hallucinations on noise -1.3..-2.8);
  `repetitive`: gzip compression ratio > 2.4 (a looping hallucination);
  `timeout`: the answer did not come within `time_limit_s`.
- the time bound: a CTranslate2 call cannot be interrupted, so `transcribe` awaits the worker's future
  with `asyncio.wait_for`. At the limit the caller gets `rejected="timeout"` at once; a decode still
  queued is cancelled and never runs; one already running finishes in its thread (at most one encoder
  pass + `max_tokens` decoder steps, since audio is cut to 30 s) and its result is dropped.

Personal data: transcripts are logged at DEBUG only; INFO records carry sizes, timings and verdicts.

Errors: `AsrError` (the model could not be loaded, or the recogniser is closed). A decode that fails
inside faster-whisper propagates its exception unchanged to the awaiting caller.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dunline.ivr.speech.types import Lang

log = logging.getLogger("dunline.asr")

RATE = 16000
MAX_AUDIO_S = 30.0  # one Whisper window; longer input is cut (answers are short)
FULL_WINDOW = 3000  # mel frames in Whisper's 30 s window
PAD_FRAMES = 600  # silence after the answer (6 s): less makes Whisper base repeat itself or mishear
NO_SPEECH_PROB = 0.6
ECHO_NO_SPEECH_PROB = 0.4
LOW_LOGPROB = -1.0
MAX_COMPRESSION = 2.4
SILENCE_RMS = 10 ** (-60 / 20)  # -60 dBFS
_FRAME = RATE // 50  # 20 ms

DEFAULT_PROMPTS: dict[str, str] = {
    "en": (
        "Collections call. I can pay $200 on Friday, or 150 dollars on March 3rd. I already paid. "
        "I dispute this debt. Talk to my lawyer. Stop calling me. Wrong number."
    ),
    "zh": (
        "催收电话。我下周五还两百元，或者三月三号还一千五百块。"
        "我已经还了。这笔钱有争议。找我的律师。别再打了。打错了。"
    ),
}


class AsrError(RuntimeError):
    """The recogniser cannot serve: model not loadable, or already closed."""


@dataclass(frozen=True)
class AsrResult:
    text: str  # "" when rejected
    lang: Lang
    asr_ms: float  # submit -> result, as the caller waited (queueing in the pool included)
    audio_ms: float
    no_speech_prob: float  # NaN when nothing was decoded or the decode timed out
    avg_logprob: float
    compression_ratio: float
    rejected: str | None = None  # silence|empty|no_speech|low_confidence|repetitive|timeout, None: accepted
    decode_ms: float = math.nan  # time inside the worker (NaN on timeout)

    @property
    def ok(self) -> bool:
        return self.rejected is None


@dataclass(frozen=True)
class _Decoded:
    text: str
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    decode_ms: float


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def is_silence(audio: npt.NDArray[np.float32]) -> bool:
    """True when no 20 ms frame is louder than -60 dBFS (pure)."""
    frames = audio[: audio.size // _FRAME * _FRAME].reshape(-1, _FRAME).astype(np.float64)
    return frames.size == 0 or float(np.sqrt((frames**2).mean(axis=1)).max()) < SILENCE_RMS


# One- and two-syllable Mandarin answers Whisper base decodes with a low log-probability although it
# heard them right (是的 at -1.2 through a mu-law line): accepted down to SHORT_ZH_LOGPROB when the
# model is sure there was speech. Whisper's silence hallucinations are longer (字幕, 谢谢观看 ...).
SHORT_ZH = frozenset(
    {"是", "是的", "是我", "对", "对的", "不是", "不对", "好", "好的", "行", "嗯", "可以", "没错", "不行"}
)
SHORT_ZH_LOGPROB = -1.7
SHORT_ZH_NO_SPEECH = 0.3


def verdict(
    no_speech_prob: float,
    avg_logprob: float,
    compression_ratio: float,
    text: str,
    prompt: str | None = None,
    lang: str = "en",
) -> str | None:
    """The rejection reason for a decode, or None to accept it (pure; see the module docstring)."""
    if not _norm(text):
        return "empty"
    if (
        lang == "zh"
        and _norm(text) in SHORT_ZH
        and no_speech_prob < SHORT_ZH_NO_SPEECH
        and avg_logprob >= SHORT_ZH_LOGPROB
    ):
        return None
    if no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB:
        return "no_speech"
    if prompt and no_speech_prob > ECHO_NO_SPEECH_PROB and _norm(text) in _norm(prompt):
        return "no_speech"
    if avg_logprob < LOW_LOGPROB:
        return "low_confidence"
    if compression_ratio > MAX_COMPRESSION:
        return "repetitive"
    return None


class Recogniser:
    """Whisper over a worker pool. Construct it off the loop (loading takes ~1 s), or use `open`."""

    def __init__(
        self,
        model_dir: Path,
        *,
        workers: int = 1,
        cpu_threads: int = 2,
        compute_type: str = "int8",
        prompts: dict[str, str] | None = None,
        window_s: float = 10.0,
    ) -> None:
        if workers < 1 or cpu_threads < 0:
            raise ValueError("workers must be >= 1 and cpu_threads >= 0")
        if not 1.0 <= window_s <= MAX_AUDIO_S:
            raise ValueError(f"window_s must be between 1 and {MAX_AUDIO_S:.0f} seconds")
        self.window_frames = int(window_s * 100)
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise AsrError(f"faster-whisper is not installed: {exc}") from None
        started = time.perf_counter()
        try:
            self._model: Any = WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=workers,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise AsrError(f"cannot load the Whisper model from {model_dir}: {exc}") from exc
        self.load_ms = (time.perf_counter() - started) * 1000
        self.workers = workers
        self.prompts = dict(DEFAULT_PROMPTS if prompts is None else prompts)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dunline-asr")
        self._closed = False
        self.timeouts = 0  # decodes whose caller gave up (a running one finishes, its result is dropped)
        log.info("whisper loaded from %s in %.0f ms (workers=%d)", model_dir, self.load_ms, workers)

    @classmethod
    async def open(cls, model_dir: Path, *, warm: bool = True, **kwargs: Any) -> Recogniser:
        """Load (and warm up) in a thread, so the event loop keeps serving meanwhile."""

        def build() -> Recogniser:
            rec = cls(model_dir, **kwargs)
            if warm:
                rec.warm_up()
            return rec

        return await asyncio.to_thread(build)

    # ---- decoding ---------------------------------------------------------------------------------
    def _decode(
        self, audio: npt.NDArray[np.float32], lang: Lang, prompt: str | None, max_tokens: int
    ) -> _Decoded:
        """One encoder pass over the answer padded to `window_frames`, one greedy decode.

        faster-whisper's `transcribe` pads every input to Whisper's 30 s window (3000 mel frames), so
        a 1 s "yes" costs a full 30 s encoder pass; CTranslate2's encoder accepts fewer frames, so we
        call it directly with the answer plus silence up to `window_frames` (see `encoder_window_s`).
        The decode mirrors `transcribe`'s options (prompt, suppressed tokens, scores).
        """
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        started = time.perf_counter()
        model = self._model
        features = model.feature_extractor(audio)  # (n_mels, frames), 100 frames a second
        frames = features.shape[-1]
        window = min(FULL_WINDOW, max(self.window_frames, frames + PAD_FRAMES))
        window += window % 2  # the encoder halves the frame count
        padded = np.zeros((features.shape[0], window), dtype=np.float32)
        padded[:, : min(frames, window)] = features[:, :window]
        encoded = model.encode(padded)
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=lang
        )
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        sequence = model.get_prompt(tokenizer, previous, without_timestamps=True)
        result = model.model.generate(
            encoded,
            [sequence],
            beam_size=1,
            max_length=len(sequence) + max_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
        )[0]
        tokens = result.sequences_ids[0]
        text = tokenizer.decode(tokens).strip()
        decode_ms = (time.perf_counter() - started) * 1000
        if not tokens:
            return _Decoded("", result.no_speech_prob, math.nan, math.nan, decode_ms)
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        return _Decoded(text, result.no_speech_prob, avg_logprob, get_compression_ratio(text), decode_ms)

    async def transcribe(
        self,
        audio16k: npt.NDArray[np.float32],
        lang: Lang,
        *,
        prompt: str | None = None,
        max_tokens: int = 48,
        time_limit_s: float = 3.0,
        call_id: str = "-",
    ) -> AsrResult:
        """Transcribe float32 16 kHz mono speech. `prompt=None` uses the language's default prompt,
        `prompt=""` none."""
        if self._closed:
            raise AsrError("the recogniser is closed")
        audio = np.ascontiguousarray(np.asarray(audio16k, dtype=np.float32).reshape(-1))
        audio_ms = audio.size * 1000 / RATE
        if audio.size > MAX_AUDIO_S * RATE:
            log.warning("call %s: %.1f s of audio cut to %.0f s", call_id, audio_ms / 1000, MAX_AUDIO_S)
            audio = audio[: int(MAX_AUDIO_S * RATE)]
        nan = math.nan
        if audio.size < RATE // 10:  # under 100 ms: nothing to decode
            return AsrResult("", lang, 0.0, audio_ms, nan, nan, nan, rejected="empty")
        if is_silence(audio):
            log.info("call %s: asr skipped: %.0f ms of silence", call_id, audio_ms)
            return AsrResult("", lang, 0.0, audio_ms, nan, nan, nan, rejected="silence")
        text_prompt = self.prompts.get(lang) if prompt is None else prompt
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        future = loop.run_in_executor(self._pool, self._decode, audio, lang, text_prompt, max_tokens)
        try:
            decoded = await asyncio.wait_for(future, time_limit_s)
        except TimeoutError:
            self.timeouts += 1
            asr_ms = (time.perf_counter() - started) * 1000
            log.warning("call %s: asr timed out after %.0f ms (audio %.0f ms)", call_id, asr_ms, audio_ms)
            return AsrResult("", lang, asr_ms, audio_ms, nan, nan, nan, rejected="timeout")
        asr_ms = (time.perf_counter() - started) * 1000
        reason = verdict(
            decoded.no_speech_prob,
            decoded.avg_logprob,
            decoded.compression_ratio,
            decoded.text,
            text_prompt,
            lang,
        )
        log.info(
            "call %s: asr lang=%s audio=%.0fms asr=%.0fms decode=%.0fms no_speech=%.2f logprob=%.2f "
            "cr=%.2f chars=%d rejected=%s",
            call_id,
            lang,
            audio_ms,
            asr_ms,
            decoded.decode_ms,
            decoded.no_speech_prob,
            decoded.avg_logprob,
            decoded.compression_ratio,
            len(decoded.text),
            reason,
        )
        log.debug("call %s: asr text %r", call_id, decoded.text)
        return AsrResult(
            text="" if reason else decoded.text,
            lang=lang,
            asr_ms=asr_ms,
            audio_ms=audio_ms,
            no_speech_prob=decoded.no_speech_prob,
            avg_logprob=decoded.avg_logprob,
            compression_ratio=decoded.compression_ratio,
            rejected=reason,
            decode_ms=decoded.decode_ms,
        )

    # ---- lifecycle --------------------------------------------------------------------------------
    def warm_up(self, lang: Lang = "en") -> float:
        """Decode 1 s of silence on every worker (blocking), so the first real answer is not slow.
        Returns the milliseconds it took. Call it from a thread, or before the loop starts."""
        if self._closed:
            raise AsrError("the recogniser is closed")
        started = time.perf_counter()
        silence = np.zeros(RATE, dtype=np.float32)
        futures = [
            self._pool.submit(self._decode, silence, lang, self.prompts.get(lang), 8)
            for _ in range(self.workers)
        ]
        for f in futures:
            f.result()
        took = (time.perf_counter() - started) * 1000
        log.info("whisper warmed up in %.0f ms", took)
        return took

    def close(self, *, wait: bool = True) -> None:
        """Stop the pool: queued decodes are cancelled; with `wait`, a running one is awaited."""
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=wait, cancel_futures=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
