"""Decode, validate and resample audio to 16 kHz mono 16-bit PCM, with errors that say
what was wrong and what to do.

Decoding streams block by block into one int16 buffer: a 4-hour recording costs its
16 kHz mono PCM (460 MB) and little more, whatever its source rate and channels."""

from __future__ import annotations

import io
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
FORMATS = "wav, flac, mp3, ogg/opus, webm, m4a/aac"
BLOCK_FRAMES = 1 << 16

Samples = npt.NDArray[np.float32]
Pcm = npt.NDArray[np.int16]


class AudioError(ValueError):
    """A client's audio that cannot be served; ``code`` is the OpenAI-style error code."""

    def __init__(self, message: str, code: str = "invalid_audio", status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Clip:
    """Decoded audio: 16 kHz mono 16-bit PCM; ``source`` is the upload itself when it
    already was a 16 kHz mono 16-bit WAV (then it is handed to the engine as is)."""

    pcm: Pcm
    decode_seconds: float
    source: bytes | None = None

    @property
    def duration(self) -> float:
        return len(self.pcm) / SAMPLE_RATE

    @property
    def wav(self) -> bytes:
        return self.source if self.source is not None else pcm_wav(self.pcm)


def too_long(duration: float, limit: float, hint: str = "") -> AudioError:
    return AudioError(
        f"audio is {duration:.1f} s long, over this server's limit of {limit:.0f} s: "
        f"split it into shorter files{hint}",
        code="audio_too_long",
    )


class _PcmBuffer:
    """int16 samples appended block by block into one array (grown by doubling only when
    the expected length was unknown or wrong)."""

    def __init__(self, expected: int):
        self._data = np.empty(max(expected, SAMPLE_RATE), dtype=np.int16)
        self.size = 0

    def append(self, block: Pcm) -> None:
        end = self.size + len(block)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), dtype=np.int16)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = block
        self.size = end

    def array(self) -> Pcm:
        return self._data[: self.size]


def to_pcm(samples: Samples) -> Pcm:
    return np.clip(samples * 32767.0, -32768, 32767).astype(np.int16)


class Cancelled(Exception):
    """The request went away while its audio was being decoded."""


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Cancelled()


# Told how many seconds a decode has produced so far (from the decoding thread): where a
# request's budget of decoded audio is drawn from; it may block, or raise Cancelled.
Account = Callable[[float], None]


def decode(
    data: bytes,
    max_seconds: float,
    stop: threading.Event | None = None,
    account: Account | None = None,
) -> Clip:
    """Decode any supported container to 16 kHz mono int16.

    Raises AudioError for empty input, bytes that are not audio, and audio longer than
    ``max_seconds`` (checked from the header first, so a long file is not decoded), and
    Cancelled as soon as ``stop`` is set (checked between blocks)."""
    started = time.perf_counter()
    if not data:
        raise AudioError("the audio file is empty (0 bytes)", code="empty_audio")
    source: bytes | None = None
    try:
        pcm, engine_ready = _decode_soundfile(data, max_seconds, stop, account)
        source = data if engine_ready else None
    except (AudioError, Cancelled):
        raise
    except Exception:  # libsndfile cannot read it: webm, m4a/aac, opus in some builds
        pcm = _decode_pyav(data, max_seconds, stop, account)
    if pcm.size == 0:
        raise AudioError("the audio file holds no samples (zero length)", code="empty_audio")
    return Clip(pcm=pcm, decode_seconds=time.perf_counter() - started, source=source)


def _decode_soundfile(
    data: bytes, max_seconds: float, stop: threading.Event | None, account: Account | None
) -> tuple[Pcm, bool]:
    """PCM, and whether ``data`` already is what the engine wants (16 kHz mono 16-bit
    WAV), so it need not be encoded again."""
    import soundfile
    import soxr

    with soundfile.SoundFile(io.BytesIO(data)) as f:
        rate = f.samplerate
        if f.frames > 0 and f.frames / rate > max_seconds:
            raise too_long(f.frames / rate, max_seconds)
        if (rate, f.channels, f.format, f.subtype) == (SAMPLE_RATE, 1, "WAV", "PCM_16"):
            if account is not None:
                account(f.frames / rate)
            return np.asarray(f.read(dtype="int16"), dtype=np.int16), True
        out = _PcmBuffer(int(f.frames * SAMPLE_RATE / rate) + 1)
        stream = (
            soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
            if rate != SAMPLE_RATE
            else None
        )
        limit = int(max_seconds * SAMPLE_RATE)
        for block in f.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
            _check(stop)
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            out.append(to_pcm(stream.resample_chunk(mono) if stream else mono))
            if account is not None:
                account(out.size / SAMPLE_RATE)
            if out.size > limit:
                raise too_long(out.size / SAMPLE_RATE, max_seconds)
        if stream is not None:
            out.append(to_pcm(stream.resample_chunk(np.zeros(0, np.float32), last=True)))
    return out.array(), False


def _decode_pyav(
    data: bytes, max_seconds: float, stop: threading.Event | None, account: Account | None
) -> Pcm:
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
        declared = (
            float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else 0.0
        )
        if declared > max_seconds:
            raise too_long(declared, max_seconds)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        out = _PcmBuffer(int(declared * SAMPLE_RATE) + SAMPLE_RATE)
        limit = int(max_seconds * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                _check(stop)
                for resampled in resampler.resample(frame):
                    out.append(resampled.to_ndarray().reshape(-1))
                if account is not None:
                    account(out.size / SAMPLE_RATE)
                if out.size > limit:
                    raise too_long(out.size / SAMPLE_RATE, max_seconds)
            for resampled in resampler.resample(None):
                out.append(resampled.to_ndarray().reshape(-1))
        except (AudioError, Cancelled):
            raise
        except Exception as exc:
            raise AudioError(
                f"the audio stream is corrupt ({type(exc).__name__}: {exc}): "
                f"send a complete file in one of {FORMATS}"
            ) from exc
    return out.array()


def pcm_wav(pcm: Pcm, rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV file of ``pcm``: the header and the samples, nothing else."""
    data = pcm.astype("<i2", copy=False).tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,
        b"data", len(data),
    )  # fmt: skip
    return header + data


def wav_bytes(samples: Samples, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV of float samples in [-1, 1]."""
    return pcm_wav(to_pcm(samples), rate)


def tone(seconds: float, frequency: float = 440.0, rate: int = SAMPLE_RATE) -> Samples:
    """A synthetic sine tone: the warm-up clip, and test audio."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
