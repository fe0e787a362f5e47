"""Generated test audio in every container the predictor accepts (no audio is fetched)."""

from __future__ import annotations

import io

import av
import numpy as np
import soundfile

from voxtral_predictor.audio import tone

# container -> (PyAV format, codec); wav/flac/mp3/ogg also go through soundfile
CONTAINERS = {
    "mp3": ("mp3", "libmp3lame"),
    "ogg": ("ogg", "libopus"),
    "webm": ("webm", "libopus"),
    "m4a": ("ipod", "aac"),
}


def encode(samples: np.ndarray, fmt: str, rate: int = 16_000, channels: int = 1) -> bytes:
    """Encode float samples as ``fmt`` (wav, flac, mp3, ogg, webm, m4a)."""
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    if fmt in ("wav", "flac"):
        buf = io.BytesIO()
        soundfile.write(buf, data, rate, format=fmt.upper())
        return buf.getvalue()
    container_format, codec = CONTAINERS[fmt]
    out_rate = 48_000 if codec == "libopus" else rate
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=out_rate)
        stream.layout = "stereo" if channels > 1 else "mono"
        pcm = (np.clip(data, -1, 1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            pcm.reshape(1, -1), format="s16", layout=stream.layout.name
        )
        frame.sample_rate = rate
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout=stream.layout.name, rate=out_rate
        )
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def wav(seconds: float = 2.0, frequency: float = 440.0, rate: int = 16_000) -> bytes:
    return encode(tone(seconds, frequency, rate), "wav", rate)
