"""Transcription and translation, independent of the protocol that carried the request
(OpenAI multipart, KServe v1/v2 REST, v2 gRPC)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request

from . import gate, metrics
from . import vllm_adapter as vllm
from .audio import AudioError, Clip, decode
from .errors import ApiError

if TYPE_CHECKING:
    from .model import VoxtralModel

RESPONSE_FORMATS = ("json", "text")
OURS = frozenset({"task"})  # our fields that are not vLLM request fields
TIMESTAMP_FORMATS = ("verbose_json", "srt", "vtt")
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
    """Reject what vLLM would reject less clearly (or crash on), naming allowed values."""
    fmt = fields.get("response_format", "json")
    if fmt in TIMESTAMP_FORMATS:
        raise ApiError(
            400,
            f"response_format {fmt!r} needs segment timestamps, which this server does "
            f"not produce yet: use one of {', '.join(RESPONSE_FORMATS)}",
            code="unsupported_response_format",
            param="response_format",
        )
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(
            400,
            f"unknown response_format {fmt!r}: use one of {', '.join(RESPONSE_FORMATS)}",
            code="invalid_response_format",
            param="response_format",
        )
    language = fields.get("language")
    if language not in (None, "") and language not in languages:
        raise ApiError(
            400,
            f"unsupported language {language!r}: Voxtral understands "
            f"{', '.join(sorted(languages))}; omit it to let the model detect the language",
            code="unsupported_language",
            param="language",
        )


async def decode_audio(data: bytes, max_seconds: float, param: str = "file") -> Clip:
    """Decode in a worker thread: decoding is CPU work the event loop must not wait on."""
    try:
        clip = await asyncio.to_thread(decode, data, max_seconds)
    except AudioError as exc:
        raise ApiError.from_audio(exc, param) from exc
    metrics.observe_decode(clip.decode_seconds, clip.duration)
    return clip


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
    request = _speech_request(task, values)
    started = time.perf_counter()
    result = await call_engine(vllm.speech_to_text(serving, task, clip.wav, request, raw_request))
    if isinstance(result, dict):
        metrics.observe_audio(task, clip.duration, time.perf_counter() - started)
        return result
    return _observed_stream(result, task, clip.duration, started)


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
