"""Transcription and translation, independent of the protocol that carried the request
(OpenAI multipart, KServe v1/v2 REST, v2 gRPC)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request

from . import gate, longform, metrics, subtitles
from . import vllm_adapter as vllm
from .audio import Clip, too_long
from .errors import ApiError
from .subtitles import Segment

if TYPE_CHECKING:
    from .model import VoxtralModel

PLAIN_FORMATS = ("text", "srt", "vtt")  # answered as text/plain
# our fields, not vLLM request fields (segments are ours: Voxtral has no timestamps)
OURS = frozenset({"task", "chunking", "timestamp_granularities"})
Task = vllm.Task


def check_model(model: VoxtralModel, requested: object) -> None:
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


def audio_limit(model: VoxtralModel, fields: Mapping[str, Any]) -> float:
    """Longest audio this request may carry: native single pass, or chunked."""
    if fields.get("chunking") == "never":
        return model.options.max_audio_seconds
    return max(model.options.max_audio_seconds, model.options.max_long_audio_seconds)


async def run(
    model: VoxtralModel,
    task: Task,
    clip: Clip,
    fields: Mapping[str, Any],
    raw_request: Request | None = None,
) -> dict[str, Any] | AsyncIterator[str]:
    """Transcribe or translate ``clip``. Returns vLLM's response as a dict (``text``,
    usage...) or, with ``stream``, an async iterator of server-sent-event lines."""
    serving = model.serving
    gate.set_task(task)
    values = {k: v for k, v in fields.items() if v is not None and v != "" and k not in OURS}
    values.setdefault("model", model.name)
    values.setdefault("temperature", 0.0)  # the model card's advice for transcription
    fmt = str(values.get("response_format", "json"))
    policy = model.options.chunk_policy
    started = time.perf_counter()
    if longform.should_chunk(str(fields.get("chunking") or "auto"), fmt, clip.duration, policy):
        result = await _chunked(model, serving, task, clip, values, policy)
    else:
        if clip.duration > model.options.max_audio_seconds:
            raise ApiError.from_audio(
                too_long(
                    clip.duration,
                    model.options.max_audio_seconds,
                    " (or send chunking=auto to transcribe it in parts)",
                )
            )
        if fmt in subtitles.TIMESTAMPED:  # chunking=never: one segment
            values["response_format"] = "json"
        request = _speech_request(task, values)
        result = await call_engine(
            vllm.speech_to_text(serving, task, clip.wav, request, raw_request)
        )
        if fmt in subtitles.TIMESTAMPED and isinstance(result, dict):
            segment = Segment(0, 0.0, clip.duration, str(result["text"]).strip())
            result = subtitles.render(fmt, task, values.get("language"), clip.duration, [segment])
    if isinstance(result, dict):
        metrics.observe_audio(task, clip.duration, time.perf_counter() - started)
        return result
    return _observed_stream(result, task, clip.duration, started)


async def _chunked(
    model: VoxtralModel,
    serving: vllm.Serving,
    task: Task,
    clip: Clip,
    values: dict[str, Any],
    policy: longform.Policy,
) -> dict[str, Any] | AsyncIterator[str]:
    """A long recording in chunks; every chunk is one ordinary engine request. The fields
    are checked once, before any work: a bad one is a 400, never a failed stream."""
    whole = _speech_request(task, values)
    stream = bool(getattr(whole, "stream", False))
    # stream and the output format apply to the whole; each chunk is a plain json answer
    per_chunk = whole.model_copy(update={"stream": False, "response_format": "json"})
    request_id = f"trsc-{uuid.uuid4().hex}"

    async def engine(wav: bytes) -> str:
        result = await call_engine(
            vllm.speech_to_text(serving, task, wav, per_chunk.model_copy(), None)
        )
        assert isinstance(result, dict)
        return str(result["text"])

    chunks = await asyncio.to_thread(longform.split, clip.pcm, policy)
    concurrency = model.options.chunk_concurrency
    if stream:
        return longform.stream(clip.pcm, chunks, engine, concurrency, model.name, request_id)
    segments = await longform.transcribe(clip.pcm, chunks, engine, concurrency)
    fmt = str(values.get("response_format", "json"))
    return subtitles.render(fmt, task, values.get("language"), clip.duration, segments)


async def _observed_stream(
    stream: AsyncIterator[str], task: str, audio_seconds: float, started: float
) -> AsyncIterator[str]:
    async for line in stream:
        yield line
    metrics.observe_audio(task, audio_seconds, time.perf_counter() - started)


async def call_engine(call: Awaitable[Any]) -> dict[str, Any] | AsyncIterator[str]:
    """Await a vLLM serving call; its rejections become ApiErrors with vLLM's message."""
    try:
        result = await call
    except (ValueError, TypeError) as exc:
        status, body = vllm.error_from_exception(exc)
        raise ApiError(status, body["error"]["message"], code="engine_rejected") from exc
    failed = vllm.error_of(result)
    if failed is not None:
        status, body = failed
        raise ApiError(status, body["error"]["message"], code="engine_rejected")
    if vllm.is_stream(result):
        return result  # type: ignore[no-any-return]
    return vllm.dump(result)


def _speech_request(task: Task, values: Mapping[str, Any]) -> Any:
    try:
        return vllm.speech_request(task, values)
    except vllm.RequestInvalid as exc:
        raise ApiError(400, str(exc), code="invalid_field", param=exc.param) from exc
