"""Transcription and translation, independent of the protocol that carried the request
(OpenAI multipart, KServe v1/v2 REST, v2 gRPC)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import Request

from . import gate, longform, metrics, subtitles
from . import transcript_events as events
from . import vllm_adapter as vllm
from .audio import Clip, too_long
from .errors import ApiError
from .runtime import Runtime
from .speech_engine import Delta, Engine, Said
from .subtitles import Segment

PLAIN_FORMATS = ("text", "srt", "vtt")  # answered as text/plain
# our fields, not vLLM request fields (segments are ours: Voxtral has no timestamps)
OURS = frozenset({"task", "chunking", "timestamp_granularities"})
Task = vllm.Task


def check_model(model: Runtime, requested: object) -> None:
    if requested in (None, "", model.name):
        return
    raise ApiError(
        404,
        f"model {requested!r} does not exist: this server serves {model.name!r}",
        code="model_not_found",
        param="model",
    )


def check_fields(fields: Mapping[str, Any], languages: Mapping[str, str]) -> None:
    """After ``fields.speech``: the language, which only the engine's model knows."""
    language = fields.get("language")
    if language not in (None, "") and language not in languages:
        raise ApiError(
            400,
            f"unsupported language {language!r}: Voxtral understands "
            f"{', '.join(sorted(languages))}; omit it to let the model detect the language",
            code="unsupported_language",
            param="language",
        )


def audio_limit(model: Runtime, fields: Mapping[str, Any]) -> float:
    """Longest audio this request may carry: native single pass, or chunked."""
    if fields.get("chunking") == "never":
        return model.options.max_audio_seconds
    return max(model.options.max_audio_seconds, model.options.max_long_audio_seconds)


async def run(
    model: Runtime,
    task: Task,
    clip: Clip,
    fields: Mapping[str, Any],
    raw_request: Request | None = None,
) -> dict[str, Any] | AsyncIterator[str]:
    """Transcribe or translate ``clip`` (fields already checked by ``fields.speech``).
    Returns the response body as a dict or, with ``stream``, server-sent-event lines."""
    serving = model.serving
    gate.set_task(task)
    values = {k: v for k, v in fields.items() if v is not None and v != "" and k not in OURS}
    values.setdefault("model", model.name)
    values.setdefault("temperature", 0.0)  # the model card's advice for transcription
    fmt = str(values.pop("response_format", "json"))
    stream = bool(values.pop("stream", False))
    usage = bool(values.pop("stream_include_usage", False))
    values.pop("stream_continuous_usage_stats", None)
    engine = Engine(model, task, values, raw_request)
    engine.check()
    language = _language_name(values.get("language"), serving.languages)
    policy = model.options.chunk_policy
    started = time.perf_counter()
    if longform.should_chunk(str(fields.get("chunking") or "auto"), fmt, clip.duration, policy):
        chunks = await asyncio.to_thread(longform.split, clip.pcm, policy)
        concurrency = model.options.chunk_concurrency
        if stream:
            deltas = _segment_deltas(clip, chunks, engine, concurrency, usage)
            return _observed(events.transcript(deltas, usage), task, clip.duration, started)

        async def text(wav: bytes) -> str:
            return (await engine.text(wav)).text

        said = await longform.run_all(clip.pcm, chunks, text, concurrency)
        segments = longform.stitch(chunks, [s or "" for s in said])
    else:
        if clip.duration > model.options.max_audio_seconds:
            raise ApiError.from_audio(
                too_long(
                    clip.duration,
                    model.options.max_audio_seconds,
                    " (or send chunking=auto to transcribe it in parts)",
                )
            )
        if stream:
            lines = events.transcript(engine.deltas(clip.wav), usage)
            return _observed(lines, task, clip.duration, started)
        whole = await engine.text(clip.wav)
        segments = [Segment(0, 0.0, clip.duration, whole.text)]
    temperature = float(values.get("temperature", 0.0))
    result = subtitles.render(fmt, task, language, clip.duration, segments, temperature)
    metrics.observe_audio(task, clip.duration, time.perf_counter() - started)
    return result


def _language_name(code: object, languages: Mapping[str, str]) -> str:
    """OpenAI's verbose_json names the language (english); Voxtral does not say which it
    detected, so without a `language` field it is "unknown"."""
    if not isinstance(code, str) or not code:
        return "unknown"
    return str(languages.get(code, code)).lower()


async def _segment_deltas(
    clip: Clip,
    chunks: Sequence[longform.Chunk],
    engine: Engine,
    concurrency: int,
    usage: bool,
) -> AsyncIterator[Delta]:
    """A long recording's segments in order, as text deltas (with the segment's times)."""
    stitcher = longform.Stitcher()
    spoken = False

    async def said(wav: bytes) -> Said:
        return await engine.text(wav, tokens=usage)

    async for chunk, answer in longform.in_order(clip.pcm, chunks, said, concurrency):
        segment = stitcher.segment(chunk, answer.text if answer else "")
        text = (" " if spoken and segment.text else "") + segment.text
        spoken = spoken or bool(segment.text)
        yield Delta(text, usage=answer, segment=segment.as_dict())


async def _observed(
    stream: AsyncIterator[str], task: str, audio_seconds: float, started: float
) -> AsyncIterator[str]:
    async for line in stream:
        yield line
    metrics.observe_audio(task, audio_seconds, time.perf_counter() - started)
