"""Pure: how much work a request is, in seconds of audio, read from its body without
decoding it: a WAV header gives the exact length; other containers are counted at a
conservative 16 kB a second (16 kHz 8-bit, or compressed speech at 128 kbit/s); a request
without audio weighs one second."""

from __future__ import annotations

import struct

BYTES_PER_SECOND_GUESS = 16_000
LEAST = 1.0


def audio_seconds(body: bytes) -> float:
    """The seconds of audio a body carries (at least LEAST)."""
    start = body.find(b"RIFF")
    if start >= 0 and body[start + 8 : start + 12] == b"WAVE":
        seconds = _wav_seconds(body, start)
        if seconds is not None:
            return max(LEAST, seconds)
    return max(LEAST, len(body) / BYTES_PER_SECOND_GUESS)


def _wav_seconds(body: bytes, start: int) -> float | None:
    """Walk the RIFF chunks: byte rate from `fmt `, length from `data`."""
    at, rate = start + 12, 0
    while at + 8 <= len(body):
        kind, size = body[at : at + 4], int(struct.unpack_from("<I", body, at + 4)[0])
        if kind == b"fmt " and size >= 16 and at + 20 <= len(body):
            rate = int(struct.unpack_from("<I", body, at + 16)[0])
        elif kind == b"data":
            if not rate:
                return None
            size = min(size, len(body) - at - 8)  # streamed WAVs say 0xFFFFFFFF
            return size / rate
        at += 8 + size + (size & 1)
    return None
