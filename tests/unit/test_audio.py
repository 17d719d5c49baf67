"""Audio helpers: WAV reading of every common layout, G.711 mu-law, RTP slin16, resampling."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from dunline.ivr.speech import audio
from dunline.ivr.speech.audio import AudioError


def tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def write_pcm(path: Path, x: np.ndarray, rate: int, width: int, channels: int = 1) -> Path:
    """Write float [-1, 1] samples with the stdlib (8-bit unsigned, 16/24/32-bit signed)."""
    scale = float(2 ** (8 * width - 1) - 1)
    ints = np.round(x * scale).astype(np.int64)
    frames = np.repeat(ints[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = (frames + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in frames)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def riff(fmt_tag: int, channels: int, rate: int, bits: int, body: bytes, extensible: bool = False) -> bytes:
    align = channels * bits // 8
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, 0)
        fmt += struct.pack("<H", fmt_tag) + guid_tail
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * align, align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk before data (padded)
    chunks += b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_pcm_rates_and_widths(tmp_path: Path, rate: int, width: int) -> None:
    x = tone(440, rate)
    samples, got_rate = audio.read_wav(write_pcm(tmp_path / "a.wav", x, rate, width))
    assert got_rate == rate and samples.dtype == np.int16 and samples.size == x.size
    tolerance = 300 if width == 1 else 2  # 8-bit keeps 8 bits
    assert np.abs(samples.astype(np.int64) - np.round(x * 32767)).max() <= tolerance


def test_read_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = tone(440, 16000, amp=0.4), tone(440, 16000, amp=0.2)
    frames = np.stack([left, right], axis=1).reshape(-1)
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.round(frames * 32767).astype("<i2").tobytes())
    samples, rate = audio.read_wav(tmp_path / "s.wav")
    assert rate == 16000 and samples.size == left.size
    assert (
        np.abs(samples - np.round(0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000) * 32767)).max() <= 2
    )


def test_read_float_extensible_and_mulaw() -> None:
    x = tone(300, 8000, amp=0.25)
    float32 = riff(3, 1, 8000, 32, x.astype("<f4").tobytes())
    ext = riff(1, 2, 8000, 16, np.repeat(np.round(x * 32767), 2).astype("<i2").tobytes(), extensible=True)
    mulaw = riff(7, 1, 8000, 8, audio.mulaw_encode(np.round(x * 32767).astype(np.int16)).tobytes())
    for data, bound in ((float32, 1), (ext, 1), (mulaw, 300)):
        samples, rate = audio.parse_wav(data)
        assert rate == 8000 and samples.size == x.size
        assert np.abs(samples - np.round(x * 32767)).max() <= bound


def test_non_wav_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello, not audio")
    (tmp_path / "mp3.wav").write_bytes(b"ID3\x03\x00" + bytes(100))
    with pytest.raises(AudioError, match="empty file"):
        audio.read_wav(tmp_path / "empty.wav")
    for name in ("text.wav", "mp3.wav"):
        with pytest.raises(AudioError, match="not a WAV file"):
            audio.read_wav(tmp_path / name)
    with pytest.raises(AudioError, match="no audio samples"):
        audio.parse_wav(riff(1, 1, 8000, 16, b""))
    with pytest.raises(AudioError, match="no 'data' chunk"):
        audio.parse_wav(riff(1, 1, 8000, 16, b"")[:-8])
    with pytest.raises(AudioError, match="unsupported WAV encoding"):
        audio.parse_wav(riff(2, 1, 8000, 4, b"\x00" * 10))  # MS ADPCM
    with pytest.raises(AudioError, match="cannot read"):
        audio.read_wav(tmp_path / "missing.wav")


def test_write_wav_roundtrip(tmp_path: Path) -> None:
    x = tone(1000, 16000).astype(np.float32)
    samples, rate = audio.read_wav(audio.write_wav(tmp_path / "w.wav", x, 16000))
    assert rate == 16000 and np.abs(samples - np.round(x * 32768)).max() <= 1


def test_mulaw_roundtrip_error_bound() -> None:
    x = np.arange(-32768, 32768, dtype=np.int64)
    y = audio.mulaw_decode(audio.mulaw_encode(x.astype(np.int16))).astype(np.int64)
    err = np.abs(y - x)
    # G.711: the step doubles with each of 8 segments; the error is at most half a step (~3 % of the
    # value), plus the clipping of the top of the 16-bit range at 32124
    assert np.all(err[np.abs(x) <= 32124] <= 8 + np.abs(x[np.abs(x) <= 32124]) * 0.035)
    assert err.max() <= 650
    assert audio.mulaw_encode(np.array([0], dtype=np.int16))[0] == 0xFF  # the standard code for zero
    codes = np.arange(256, dtype=np.uint8)  # decode -> encode is the identity except for -0
    again = audio.mulaw_encode(audio.mulaw_decode(codes))
    assert np.count_nonzero(again != codes) == 1 and again[0x7F] == 0xFF


def test_slin16_big_endian() -> None:
    payload = struct.pack(">4h", 0, 1, -2, 32767)
    assert audio.slin16_be_to_int16(payload).tolist() == [0, 1, -2, 32767]
    assert audio.slin16_be_to_int16(b"\x01\x00").tolist() == [256]  # not little-endian 1
    with pytest.raises(AudioError, match="odd length"):
        audio.slin16_be_to_int16(b"\x00\x01\x02")


@pytest.mark.parametrize(("rate", "freq"), [(8000, 1000.0), (22050, 440.0), (44100, 3000.0), (48000, 250.0)])
def test_resampler_preserves_frequency_and_level(rate: int, freq: float) -> None:
    x = tone(freq, rate, seconds=1.0)
    y = audio.to_16k_float(np.round(x * 32767).astype(np.int16), rate)
    assert y.dtype == np.float32 and abs(y.size - 16000) <= 1
    assert abs(dominant_hz(y, 16000) - freq) <= 1.0
    core = y[500:-500]
    assert np.sqrt(np.mean(core**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resampler_rejects_aliases() -> None:
    y = audio.to_16k_float(tone(11000, 44100, seconds=1.0), 44100)  # above the 8 kHz Nyquist
    assert np.sqrt(np.mean(y[500:-500] ** 2)) < 1e-3  # a linear interpolator would leave ~0.2


def test_telephone_channel_band_limits_and_keeps_speech_band() -> None:
    speech_band = tone(1000, 16000, seconds=1.0).astype(np.float32)
    out = audio.telephone_channel(speech_band)
    assert out.size == speech_band.size and out.dtype == np.float32
    assert abs(dominant_hz(out, 16000) - 1000) <= 1.0
    snr = 10 * np.log10(np.sum(speech_band[500:-500] ** 2) / np.sum((out - speech_band)[500:-500] ** 2))
    assert snr > 30  # mu-law SNR is ~38 dB
    high = audio.telephone_channel(tone(5000, 16000, seconds=1.0).astype(np.float32))
    assert np.sqrt(np.mean(high[500:-500] ** 2)) < 0.01  # nothing above 4 kHz survives
