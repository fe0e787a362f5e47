"""Server-sent events. A transcription or translation streams as OpenAI's transcription
stream does: ``transcript.text.delta`` events, then ``transcript.text.done`` with the whole
text (and token usage, with stream_include_usage), then ``[DONE]``; a failure once the
stream has started is an ``error`` event. Any stream still running when the server stops
(``--drain-timeout`` passed) ends with an error event and ``[DONE]``, not a cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from .errors import ApiError, error_body
from .speech_engine import Delta

DONE = "data: [DONE]\n\n"
STOPPING = (
    "the server is shutting down (its --drain-timeout passed) before this stream ended: "
    "send the request again, another replica will answer"
)


def event(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _failure(exc: BaseException) -> dict[str, Any]:
    body = (
        exc.body()
        if isinstance(exc, ApiError)
        else error_body(
            500, f"the engine failed: {type(exc).__name__}: {exc}", "engine_failed", None
        )
    )
    failure: dict[str, Any] = body["error"]
    return failure


async def transcript(deltas: AsyncIterator[Delta], include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's transcription events from text deltas."""
    texts: list[str] = []
    tokens_in = tokens_out = 0
    counted = False
    try:
        async for delta in deltas:
            if delta.text or delta.segment is not None:
                texts.append(delta.text)
                data: dict[str, Any] = {"type": "transcript.text.delta", "delta": delta.text}
                if delta.segment is not None:
                    data["segment"] = dict(delta.segment)
                yield event(data)
            if delta.usage is not None and delta.usage.input_tokens is not None:
                tokens_in += delta.usage.input_tokens
                tokens_out += delta.usage.output_tokens or 0
                counted = True
        done: dict[str, Any] = {"type": "transcript.text.done", "text": "".join(texts)}
        if include_usage and counted:
            done["usage"] = {
                "type": "tokens",
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            }
        yield event(done)
    except Exception as exc:  # the response has started: report in the stream
        yield event({"type": "error", "error": _failure(exc)})
    yield DONE


async def until_stopped(
    lines: AsyncIterator[str], stopping: asyncio.Event | None, transcript_shape: bool
) -> AsyncIterator[str]:
    """``lines`` as they come, unless ``stopping`` is set first: then the stream's work is
    cancelled (its engine requests aborted) and it ends with an error event."""
    if stopping is None:
        async for line in lines:
            yield line
        return
    source = aiter(lines)
    stop = asyncio.ensure_future(stopping.wait())
    following: asyncio.Future[str] | None = None
    try:
        while True:
            following = asyncio.ensure_future(anext(source))
            await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                try:
                    yield following.result()
                except StopAsyncIteration:
                    return
                continue
            error = error_body(503, STOPPING, "shutting_down", None)
            yield event({"type": "error", **error} if transcript_shape else error)
            yield DONE
            return
    finally:
        # the step in progress first (it holds the engine's work), then the source
        stop.cancel()
        if following is not None and not following.done():
            following.cancel()
            with contextlib.suppress(BaseException):
                await following
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()
