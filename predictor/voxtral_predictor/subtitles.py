"""Pure: segments -> OpenAI's json and verbose_json, SubRip (srt) and WebVTT (vtt).

Subtitles are cut to a readable size: a segment longer than MAX_CUE_CHARS characters or
MAX_CUE_SECONDS seconds becomes several cues, split at word boundaries, their times shared
out by the characters they hold, each in lines of at most LINE_CHARS."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

TIMESTAMPED: Final = ("verbose_json", "srt", "vtt")
"""The response formats that carry segments with times."""
MAX_CUE_CHARS: Final = 84  # two lines of 42, the usual subtitle size
LINE_CHARS: Final = 42
MAX_CUE_SECONDS: Final = 7.0


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
        }


def _clock(seconds: float, decimal: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _groups(words: list[str], most: int) -> list[str]:
    """Words into texts of at most ``most`` characters each (a longer word alone)."""
    out: list[str] = []
    for word in words:
        if out and len(out[-1]) + 1 + len(word) <= most:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


def _lines(text: str) -> str:
    return "\n".join(_groups(text.split(), LINE_CHARS))


def cues(segments: Sequence[Segment]) -> list[tuple[float, float, str]]:
    """(start, end, text) of each subtitle cue, spoken segments only. A segment's time is
    shared out by characters, so a cue of at most ``most`` characters lasts at most
    MAX_CUE_SECONDS (a single word may last longer: its time is not known finer)."""
    out: list[tuple[float, float, str]] = []
    for segment in segments:
        words = segment.text.split()
        if not words:
            continue
        span = max(segment.end - segment.start, 0.0)
        units = len(" ".join(words)) + 1  # each word with its following space
        most = MAX_CUE_CHARS
        if span > 0:
            most = min(most, int(units * MAX_CUE_SECONDS / span) - 1)
        texts = _groups(words, max(most, 1))
        at, start = 0, segment.start
        for n, text in enumerate(texts, start=1):
            at += len(text) + 1
            end = segment.end if n == len(texts) else segment.start + span * at / units
            out.append((start, end, text))
            start = end
    return out


def srt(segments: Sequence[Segment]) -> str:
    return "\n".join(
        f"{n}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{_lines(text)}\n"
        for n, (a, b, text) in enumerate(cues(segments), start=1)
    )


def vtt(segments: Sequence[Segment]) -> str:
    body = "\n".join(
        f"{_clock(a, '.')} --> {_clock(b, '.')}\n{_lines(text)}\n" for a, b, text in cues(segments)
    )
    return "WEBVTT\n\n" + body


def joined(segments: Sequence[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def _usage(duration: float) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(duration)}


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return round(len(data) / len(zlib.compress(data)), 3) if data else 0.0


def verbose_json(
    task: str, language: str, duration: float, segments: Sequence[Segment], temperature: float
) -> dict[str, Any]:
    """OpenAI's verbose_json. Voxtral gives no token log-probabilities nor no-speech
    probabilities: those fields are 0, and `tokens` is empty."""
    return {
        "task": "transcribe" if task == "transcribe" else "translate",
        "language": language,
        "duration": round(duration, 3),
        "text": joined(segments),
        "segments": [
            {
                **s.as_dict(),
                "seek": round(s.start * 100),  # Whisper's unit: 10 ms frames
                "tokens": [],
                "temperature": temperature,
                "avg_logprob": 0.0,
                "compression_ratio": _compression_ratio(s.text),
                "no_speech_prob": 0.0,
            }
            for s in segments
        ],
        "usage": _usage(duration),
    }


def render(
    fmt: str,
    task: str,
    language: str,
    duration: float,
    segments: Sequence[Segment],
    temperature: float = 0.0,
) -> dict[str, Any]:
    """The response body for ``fmt``: verbose_json as is; the others as {"text": ...}
    (json with usage). ``language`` is a language's name (english), or "unknown"."""
    if fmt == "verbose_json":
        return verbose_json(task, language, duration, segments, temperature)
    if fmt == "srt":
        return {"text": srt(segments)}
    if fmt == "vtt":
        return {"text": vtt(segments)}
    return {"text": joined(segments), "usage": _usage(duration)}
