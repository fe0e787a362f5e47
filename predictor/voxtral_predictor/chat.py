"""Chat with audio (understanding, Q&A, tool calls from voice), independent of HTTP."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import Request

from . import fields as request_fields
from . import speech
from . import vllm_adapter as vllm
from .decoding import decode_audio
from .errors import ApiError
from .runtime import Runtime
from .speech_engine import call_engine

# The model card's advice for chat; transcription uses temperature 0.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.95
MAX_AUDIOS = 5  # vLLM's limit for Voxtral (get_supported_mm_limits)


def _reject_system(messages: list[Any]) -> None:
    for i, message in enumerate(messages):
        if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
            raise ApiError(
                400,
                "Voxtral does not support system prompts: remove the "
                f"{message.get('role')!r} message and put its instructions in the first "
                "user message",
                code="system_prompt_unsupported",
                param=f"messages[{i}]",
            )


PART_TYPES = ("text", "input_audio")


def _audio_parts(messages: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(param path, input_audio dict) of every audio part, in order. Only text and
    input_audio parts are taken: an audio_url (or image_url, file...) part would make the
    engine fetch an address from inside the cluster, outside the audio limits."""
    found: list[tuple[str, dict[str, Any]]] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in PART_TYPES:
                raise ApiError(
                    400,
                    f"messages[{i}].content[{j}] is a {kind!r} part: this server takes "
                    "'text' and 'input_audio' parts only (send the audio itself, base64 "
                    "in input_audio.data, not a URL)",
                    code="unsupported_content_part",
                    param=f"messages[{i}].content[{j}]",
                )
            if kind == "input_audio":
                audio = part.get("input_audio")
                param = f"messages[{i}].content[{j}].input_audio"
                if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
                    raise ApiError(
                        400,
                        f"{param} needs a 'data' field with the base64-encoded audio file",
                        code="invalid_audio",
                        param=param,
                    )
                found.append((param, audio))
    return found


async def _normalize_audio(parts: list[tuple[str, dict[str, Any]]], max_seconds: float) -> None:
    """Decode each audio once, check the total length, and hand the engine 16 kHz WAV
    (so it neither decodes a compressed format again nor resamples)."""
    if len(parts) > MAX_AUDIOS:
        raise ApiError(
            400,
            f"{len(parts)} audio clips in one request: Voxtral accepts at most {MAX_AUDIOS}; "
            "join them into fewer files or split the conversation",
            code="too_many_audios",
            param="messages",
        )
    total = 0.0
    for param, audio in parts:
        try:
            data = base64.b64decode(audio["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400, f"{param}.data is not valid base64: {exc}", "invalid_audio", param
            ) from exc
        clip = await decode_audio(data, max_seconds, param)
        total += clip.duration
        if total > max_seconds:
            raise ApiError(
                400,
                f"the request holds {total:.1f} s of audio, over this server's limit of "
                f"{max_seconds:.0f} s for audio understanding: send less audio",
                code="audio_too_long",
                param=param,
            )
        audio["data"] = base64.b64encode(clip.wav).decode()
        audio["format"] = "wav"


def with_defaults(body: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    """The body with the model card's sampling defaults where the client gave none."""
    out = dict(body)
    out.setdefault("model", model_name)
    if out.get("temperature") is None:
        out["temperature"] = DEFAULT_TEMPERATURE
    if out.get("top_p") is None:
        out["top_p"] = DEFAULT_TOP_P
    return out


async def run(
    model: Runtime, body: dict[str, Any], raw_request: Request | None = None
) -> dict[str, Any] | AsyncIterator[str]:
    """A chat completion. Returns vLLM's response as a dict, or SSE lines with stream."""
    serving = model.serving
    speech.check_model(model, body.get("model"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", "invalid_field", "messages")
    _reject_system(messages)
    request_fields.chat(body)
    await _normalize_audio(_audio_parts(messages), model.options.max_chat_audio_seconds)
    try:
        request = vllm.chat_request(with_defaults(body, model.name))
    except vllm.RequestInvalid as exc:
        raise ApiError(400, str(exc), code="invalid_field", param=exc.param) from exc
    return await call_engine(vllm.chat(serving, request, raw_request))
