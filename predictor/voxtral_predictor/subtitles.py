"""Pure: segments -> OpenAI's verbose_json, SubRip (srt) and WebVTT (vtt)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

TIMESTAMPED: Final = ("verbose_json", "srt", "vtt")
"""The response formats that carry segments with times."""


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


def _spoken(segments: Sequence[Segment]) -> list[Segment]:
    return [s for s in segments if s.text.strip()]


def srt(segments: Sequence[Segment]) -> str:
    cues = [
        f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
        for n, s in enumerate(_spoken(segments), start=1)
    ]
    return "\n".join(cues)


def vtt(segments: Sequence[Segment]) -> str:
    cues = [
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n"
        for s in _spoken(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def joined(segments: Sequence[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def verbose_json(
    task: str, language: str | None, duration: float, segments: Sequence[Segment]
) -> dict[str, Any]:
    return {
        "task": "transcribe" if task == "transcribe" else "translate",
        "language": language,
        "duration": round(duration, 3),
        "text": joined(segments),
        "segments": [s.as_dict() for s in segments],
    }


def render(
    fmt: str, task: str, language: str | None, duration: float, segments: Sequence[Segment]
) -> dict[str, Any]:
    """The response body for ``fmt``: verbose_json as is; the others as {"text": ...}."""
    if fmt == "verbose_json":
        return verbose_json(task, language, duration, segments)
    if fmt == "srt":
        return {"text": srt(segments)}
    if fmt == "vtt":
        return {"text": vtt(segments)}
    return {
        "text": joined(segments),
        "usage": {"type": "duration", "seconds": int(-(-duration // 1))},
    }
