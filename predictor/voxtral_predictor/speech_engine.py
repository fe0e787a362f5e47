"""One recording, or one chunk of it, through the engine, as text and token usage or as a
stream of text deltas. Transcription goes through vLLM's transcription mode for Voxtral;
translation through Voxtral's instruct mode, the model card's way: the audio and an
instruction to translate it into English (vLLM's translation endpoint builds the very same
prompt for Voxtral as its transcription, so it would answer in the source language)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request

from . import vllm_adapter as vllm
from .errors import ApiError
from .runtime import Runtime

# What a translation asks of the model (Voxtral's instruct mode; no system prompt).
INSTRUCTION: Final = (
    "Translate this audio into English. Answer with the English translation only, without comments."
)
# Sampling fields a transcription request and a chat request share.
SAMPLING: Final = (
    "temperature", "top_p", "top_k", "min_p", "seed", "frequency_penalty",
    "presence_penalty", "repetition_penalty", "max_completion_tokens",
)  # fmt: skip


@dataclass(frozen=True)
class Said:
    """What the engine answered: text, and the tokens it took when they are known."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer; the last one carries the usage, when asked for; a
    long recording's pieces are its segments."""

    text: str
    usage: Said | None = None
    segment: Mapping[str, Any] | None = None


def translation_body(
    model_name: str, wav: bytes, values: Mapping[str, Any], languages: Mapping[str, str]
) -> dict[str, Any]:
    """The chat request of a translation: the audio, then the instruction (with the
    source language and the prompt as context, when given)."""
    instruction = INSTRUCTION
    language = values.get("language")
    if language:
        name = str(languages.get(language, language))
        instruction = f"Translate this {name} audio into English. " + INSTRUCTION.split(". ", 1)[1]
    if values.get("prompt"):
        instruction += f" Context, for names and terms: {values['prompt']}"
    audio = {"data": base64.b64encode(wav).decode(), "format": "wav"}
    body: dict[str, Any] = {
        "model": model_name,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": audio},
                    {"type": "text", "text": instruction},
                ],
            }
        ],
    }
    body.update({k: values[k] for k in SAMPLING if k in values})
    return body


async def call_engine(call: Awaitable[Any]) -> dict[str, Any] | AsyncIterator[str]:
    """Await a vLLM serving call: its answer as a dict, or its stream of SSE lines; its
    rejections become ApiErrors with vLLM's message."""
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


async def _answer(call: Awaitable[Any]) -> dict[str, Any]:
    result = await call_engine(call)
    assert isinstance(result, dict)
    return result


async def _stream(call: Awaitable[Any]) -> AsyncIterator[str]:
    result = await call_engine(call)
    assert not isinstance(result, dict)
    return result


def _usage(usage: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    if not usage or "prompt_tokens" not in usage:
        return None, None
    return int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0)


async def _deltas(lines: AsyncIterator[str]) -> AsyncIterator[Delta]:
    """vLLM's server-sent events (transcription or chat chunks) as text deltas."""
    async for line in lines:
        for raw in line.split("\n"):
            if not raw.startswith("data: ") or raw == "data: [DONE]":
                continue
            event = json.loads(raw[len("data: ") :])
            if "error" in event:
                error = event["error"]
                raise ApiError(
                    int(error.get("code") or 500), str(error.get("message")), "engine_failed"
                )
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    yield Delta(content)
            if event.get("usage"):
                tokens_in, tokens_out = _usage(event["usage"])
                yield Delta("", Said("", tokens_in, tokens_out))


class Engine:
    """The engine calls of one request (its task and fields)."""

    def __init__(
        self,
        model: Runtime,
        task: vllm.Task,
        values: Mapping[str, Any],
        raw_request: Request | None,
    ):
        self.model = model
        self.task = task
        self.values = dict(values)
        self.raw_request = raw_request

    def _transcription(self, stream: bool, usage: bool) -> Any:
        fields = {**self.values, "stream": stream, "response_format": "json"}
        fields["stream_include_usage"] = usage
        try:
            return vllm.speech_request("transcribe", fields)
        except vllm.RequestInvalid as exc:
            raise ApiError(400, str(exc), code="invalid_field", param=exc.param) from exc

    def _chat(self, wav: bytes, stream: bool) -> Any:
        body = translation_body(self.model.name, wav, self.values, self.model.serving.languages)
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        try:
            return vllm.chat_request(body)
        except vllm.RequestInvalid as exc:
            raise ApiError(400, str(exc), code="invalid_field", param=exc.param) from exc

    def check(self) -> None:
        """Build the engine request once before any work: a field the engine's request
        model refuses is a 400 up front, never a failed stream."""
        if self.task == "transcribe":
            self._transcription(stream=False, usage=False)
        else:
            self._chat(b"", stream=False)

    async def text(self, wav: bytes, tokens: bool = False) -> Said:
        """The whole answer; ``tokens``: with its token counts (a transcription then runs
        streamed inside, the only way vLLM counts its tokens)."""
        serving = self.model.serving
        if self.task == "translate":
            result = await _answer(vllm.chat(serving, self._chat(wav, False), None))
            text = str((result["choices"][0].get("message") or {}).get("content") or "")
            return Said(text.strip(), *_usage(result.get("usage")))
        if tokens:
            parts, usage = [], Said("")
            async for delta in self.deltas(wav):
                parts.append(delta.text)
                usage = delta.usage or usage
            return Said("".join(parts), usage.input_tokens, usage.output_tokens)
        request = self._transcription(stream=False, usage=False)
        result = await _answer(vllm.speech_to_text(serving, "transcribe", wav, request, None))
        return Said(str(result["text"]))

    async def deltas(self, wav: bytes) -> AsyncIterator[Delta]:
        serving = self.model.serving
        if self.task == "translate":
            lines = await _stream(vllm.chat(serving, self._chat(wav, True), self.raw_request))
        else:
            request = self._transcription(stream=True, usage=True)
            lines = await _stream(
                vllm.speech_to_text(serving, "transcribe", wav, request, self.raw_request)
            )
        async for delta in _deltas(lines):
            yield delta
