"""Audio helpers for speech recognition (pure numpy, no I/O except `read_wav`/`write_wav`).

- `read_wav`: any RIFF/WAVE file (PCM 8/16/24/32-bit, IEEE float 32/64, G.711 mu-law/A-law,
  WAVE_FORMAT_EXTENSIBLE, any rate, any number of channels) -> int16 mono + its rate. The stdlib `wave`
  module of Python 3.11 reads neither float nor EXTENSIBLE files, so the RIFF chunks are parsed here.
- `to_16k_float`: int16 (or float) samples at any rate -> float32 in [-1, 1] at 16 kHz, Whisper's input.
- `telephone_channel`: 16 kHz -> 8 kHz -> G.711 mu-law -> 16 kHz, the path a caller's voice takes
  through the PSTN; used by tests and benchmarks to make synthetic speech sound like a phone call.
- `slin16_be_to_int16`: Asterisk externalMedia RTP `slin16` payloads are big-endian (network order).

Resampling is a windowed-sinc (Kaiser, beta 8) polyphase interpolator evaluated with numpy: for each
output sample the filter phase is `(n * down) mod up` with `up/down` the reduced rate ratio, so a table
of `up` rows of coefficients is computed once and gathered. The cut-off is 0.94 of the lower of the two
Nyquist frequencies, so downsampling does not alias (linear interpolation would fold 8-22 kHz energy into
the speech band when reading 44.1 kHz recordings) and upsampling 8 -> 16 kHz adds no images above 3.8 kHz.
16 zero-crossings each side give > 70 dB stop-band rejection: far more than speech recognition needs,
at ~5 ms per second of audio.

Errors: `AudioError` (a ValueError) for anything that is not usable audio; its message says why.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

Int16 = npt.NDArray[np.int16]
Float32 = npt.NDArray[np.float32]

ASR_RATE = 16000
PHONE_RATE = 8000

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


class AudioError(ValueError):
    """The input is not usable audio (not a WAV file, empty, unsupported encoding, odd payload)."""


# ---- G.711 mu-law ---------------------------------------------------------------------------------
_BIAS, _CLIP = 0x84, 32635


def _mulaw_tables() -> tuple[npt.NDArray[np.uint8], Int16]:
    x = np.arange(-32768, 32768, dtype=np.int64)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag >> 7)).astype(np.int64)  # mag >> 7 is in 1..255
    mantissa = (mag >> (exponent + 3)) & 0x0F
    encode = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    exp_d, man_d = (u >> 4) & 0x07, u & 0x0F
    value = (((man_d << 3) + _BIAS) << exp_d) - _BIAS
    decode = np.where(u & 0x80, -value, value).astype(np.int16)
    return encode, decode


_MULAW_ENCODE, _MULAW_DECODE = _mulaw_tables()


def _alaw_decode_table() -> Int16:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    value = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(a & 0x80, value, -value).astype(np.int16)


_ALAW_DECODE = _alaw_decode_table()


def mulaw_encode(samples: Int16) -> npt.NDArray[np.uint8]:
    """int16 -> G.711 mu-law bytes (table lookup)."""
    return _MULAW_ENCODE[samples.astype(np.int32) + 32768]


def mulaw_decode(codes: npt.NDArray[np.uint8]) -> Int16:
    """G.711 mu-law bytes -> int16."""
    return _MULAW_DECODE[codes]


# ---- WAV ------------------------------------------------------------------------------------------
def read_wav(path: Path | str) -> tuple[Int16, int]:
    """Read a WAV file into (int16 mono samples, sample rate). Channels are averaged."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_wav(data, str(path))


def parse_wav(data: bytes, name: str = "<bytes>") -> tuple[Int16, int]:
    if not data:
        raise AudioError(f"{name}: empty file")
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    if data[:4] == b"RIFX":
        raise AudioError(f"{name}: big-endian RIFX WAV files are not supported")
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]  # a streaming writer may leave size 0xFFFFFFFF: clamp
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(body, name)
        elif chunk_id == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: WAV file has no 'fmt ' chunk")
    if payload is None:
        raise AudioError(f"{name}: WAV file has no 'data' chunk")
    tag, channels, rate, bits = fmt
    samples = _decode(payload, tag, bits, name)
    frames = len(samples) // channels
    if frames == 0:
        raise AudioError(f"{name}: WAV file holds no audio samples")
    if channels > 1:
        mixed = samples[: frames * channels].reshape(frames, channels).astype(np.int32).mean(axis=1)
        samples = np.round(mixed).astype(np.int16)
    return samples, rate


def _parse_fmt(body: bytes, name: str) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{name}: truncated 'fmt ' chunk")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 26:
            raise AudioError(f"{name}: truncated WAVE_FORMAT_EXTENSIBLE header")
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if channels < 1 or rate < 1:
        raise AudioError(f"{name}: invalid header ({channels} channels, {rate} Hz)")
    return tag, channels, rate, bits


def _decode(payload: bytes, tag: int, bits: int, name: str) -> Int16:
    if tag == _PCM and bits == 8:
        return ((np.frombuffer(payload, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if tag == _PCM and bits == 16:
        return np.frombuffer(payload[: len(payload) // 2 * 2], "<i2").astype(np.int16)
    if tag == _PCM and bits == 24:
        raw = np.frombuffer(payload[: len(payload) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        value = np.where(value & 0x800000, value - (1 << 24), value)
        return (value >> 8).astype(np.int16)
    if tag == _PCM and bits == 32:
        return (np.frombuffer(payload[: len(payload) // 4 * 4], "<i4") >> 16).astype(np.int16)
    if tag == _FLOAT and bits in (32, 64):
        width = bits // 8
        values = np.frombuffer(payload[: len(payload) // width * width], f"<f{width}")
        return _float_to_int16(values)
    if tag == _MULAW and bits == 8:
        return mulaw_decode(np.frombuffer(payload, np.uint8))
    if tag == _ALAW and bits == 8:
        return _ALAW_DECODE[np.frombuffer(payload, np.uint8)]
    raise AudioError(f"{name}: unsupported WAV encoding (format tag {tag}, {bits} bits)")


def _float_to_int16(values: npt.NDArray[np.floating]) -> Int16:
    clean = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.round(np.clip(clean, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def write_wav(path: Path | str, samples: npt.NDArray[np.int16] | Float32, rate: int) -> Path:
    """Write mono 16-bit PCM (float input is taken as [-1, 1]). For tests, benchmarks and fixtures."""
    if samples.dtype == np.int16:
        body = samples.astype("<i2").tobytes()
    else:
        body = _float_to_int16(samples.astype(np.float64)).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(body), b"WAVE", b"fmt ", 16, _PCM, 1, rate, rate * 2, 2, 16,
        b"data", len(body),
    )  # fmt: skip
    out = Path(path)
    out.write_bytes(header + body)
    return out


def slin16_be_to_int16(payload: bytes) -> Int16:
    """An RTP `slin16` payload (16-bit signed, big-endian) -> native int16 samples."""
    if len(payload) % 2:
        raise AudioError(f"slin16 payload has an odd length ({len(payload)} bytes)")
    return np.frombuffer(payload, ">i2").astype(np.int16)


# ---- resampling -----------------------------------------------------------------------------------
_ZERO_CROSSINGS = 16
_KAISER_BETA = 8.0
_ROLLOFF = 0.94
_BLOCK = 8192


def _kernel(
    frac: npt.NDArray[np.float64], taps: npt.NDArray[np.int64], cutoff: float, half: int
) -> npt.NDArray[np.float64]:
    """Rows of filter coefficients for output positions `frac` (0..1) past an input sample."""
    d = frac[:, None] - taps[None, :].astype(np.float64)  # distance from each input tap, in samples
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, 1.0))) / np.i0(_KAISER_BETA)
    h: npt.NDArray[np.float64] = np.sinc(cutoff * d) * window
    rows: npt.NDArray[np.float64] = h / h.sum(axis=1, keepdims=True)  # unit DC gain in every phase
    return rows


def resample(x: npt.NDArray[np.floating], rate_in: int, rate_out: int) -> npt.NDArray[np.float64]:
    """Band-limited resampling of a 1-D float signal (see the module docstring)."""
    if rate_in <= 0 or rate_out <= 0:
        raise AudioError(f"invalid sample rates {rate_in} -> {rate_out}")
    signal = np.asarray(x, dtype=np.float64)
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    if up == down or signal.size == 0:
        return signal.copy()
    cutoff = _ROLLOFF * min(1.0, up / down)  # relative to the input Nyquist frequency
    half = math.ceil(_ZERO_CROSSINGS / cutoff)
    taps = np.arange(-half + 1, half + 1, dtype=np.int64)
    n_out = (signal.size * up + down - 1) // down
    padded = np.concatenate([np.zeros(half), signal, np.zeros(half + 1)])
    table = _kernel(np.arange(up) / up, taps, cutoff, half) if up <= 2048 else None
    out = np.empty(n_out, dtype=np.float64)
    for start in range(0, n_out, _BLOCK):
        n = np.arange(start, min(start + _BLOCK, n_out), dtype=np.int64)
        base, phase = (n * down) // up, (n * down) % up
        coeffs = table[phase] if table is not None else _kernel(phase / up, taps, cutoff, half)
        out[start : start + n.size] = np.sum(padded[base[:, None] + taps[None, :] + half] * coeffs, axis=1)
    return out


def to_16k_float(samples: npt.NDArray[np.int16] | npt.NDArray[np.floating], rate: int) -> Float32:
    """int16 (or float in [-1, 1]) mono samples at `rate` -> float32 at 16 kHz in [-1, 1]."""
    x = samples.astype(np.float64) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float64)
    return np.clip(resample(x, rate, ASR_RATE), -1.0, 1.0).astype(np.float32)


def telephone_channel(samples_16k: Float32) -> Float32:
    """16 kHz float speech -> what comes back from a G.711 mu-law phone call, at 16 kHz."""
    narrow = resample(np.asarray(samples_16k, dtype=np.float64), ASR_RATE, PHONE_RATE)
    pcm = _float_to_int16(narrow)
    decoded = mulaw_decode(mulaw_encode(pcm))
    return to_16k_float(decoded, PHONE_RATE)
