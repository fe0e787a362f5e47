"""Decode, validate and resample audio to 16 kHz mono float32, with errors that say
what was wrong and what to do."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
FORMATS = "wav, flac, mp3, ogg/opus, webm, m4a/aac"

Samples = npt.NDArray[np.float32]


class AudioError(ValueError):
    """A client's audio that cannot be served; ``code`` is the OpenAI-style error code."""

    def __init__(self, message: str, code: str = "invalid_audio", status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Clip:
    """Decoded audio: 16 kHz mono float32 samples, and the 16 kHz mono 16-bit WAV the
    engine is handed (the original bytes when the upload already was one)."""

    samples: Samples
    wav: bytes
    decode_seconds: float

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def too_long(duration: float, limit: float) -> AudioError:
    return AudioError(
        f"audio is {duration:.1f} s long, over this server's limit of {limit:.0f} s: "
        "split it into shorter files (or raise --max-audio-seconds)",
        code="audio_too_long",
    )


def decode(data: bytes, max_seconds: float) -> Clip:
    """Decode any supported container to 16 kHz mono float32.

    Raises AudioError for empty input, bytes that are not audio, and audio longer than
    ``max_seconds`` (checked from the header first, so a long file is not decoded)."""
    started = time.perf_counter()
    if not data:
        raise AudioError("the audio file is empty (0 bytes)", code="empty_audio")
    wav: bytes | None = None
    try:
        samples, engine_ready = _decode_soundfile(data, max_seconds)
        wav = data if engine_ready else None
    except AudioError:
        raise
    except Exception:  # libsndfile cannot read it: webm, m4a/aac, opus in some builds
        samples = _decode_pyav(data, max_seconds)
    if samples.size == 0:
        raise AudioError("the audio file holds no samples (zero length)", code="empty_audio")
    return Clip(
        samples=samples,
        wav=wav if wav is not None else wav_bytes(samples),
        decode_seconds=time.perf_counter() - started,
    )


def _decode_soundfile(data: bytes, max_seconds: float) -> tuple[Samples, bool]:
    """Samples, and whether ``data`` already is what the engine wants (16 kHz mono
    16-bit WAV), so it need not be encoded again."""
    import soundfile

    with soundfile.SoundFile(io.BytesIO(data)) as f:
        native_rate = f.samplerate
        if f.frames > 0 and f.frames / native_rate > max_seconds:
            raise too_long(f.frames / native_rate, max_seconds)
        engine_ready = (native_rate, f.channels, f.format, f.subtype) == (
            SAMPLE_RATE,
            1,
            "WAV",
            "PCM_16",
        )
        y = f.read(dtype="float32", always_2d=True)
    mono = y.mean(axis=1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]
    return resample(np.ascontiguousarray(mono), native_rate), engine_ready


def _decode_pyav(data: bytes, max_seconds: float) -> Samples:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:
        raise AudioError(
            f"the file could not be decoded as audio ({type(exc).__name__}): send one of {FORMATS}"
        ) from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"the file has no audio stream: send one of {FORMATS}")
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            declared = float(stream.duration * stream.time_base)
            if declared > max_seconds:
                raise too_long(declared, max_seconds)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        parts: list[Samples] = []
        total = 0
        limit = int(max_seconds * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    part = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    parts.append(part)
                    total += part.size
                if total > limit:
                    raise too_long(total / SAMPLE_RATE, max_seconds)
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(
                f"the audio stream is corrupt ({type(exc).__name__}: {exc}): "
                f"send a complete file in one of {FORMATS}"
            ) from exc
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def resample(samples: Samples, rate: int) -> Samples:
    if rate == SAMPLE_RATE:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, rate, SAMPLE_RATE), dtype=np.float32)


def wav_bytes(samples: Samples, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV of float samples in [-1, 1]: what the engine is handed."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tone(seconds: float, frequency: float = 440.0, rate: int = SAMPLE_RATE) -> Samples:
    """A synthetic sine tone: the warm-up clip, and test audio."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
