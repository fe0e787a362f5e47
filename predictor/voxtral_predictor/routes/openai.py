"""OpenAI-compatible HTTP routes, served under both /v1 and /openai/v1. Thin: parse the
HTTP request, call the serving logic, shape the HTTP response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from .. import chat, gate, jsonbody, speech
from .. import fields as request_fields
from .. import transcript_events as events
from ..decoding import decode_audio
from ..errors import ApiError
from ..runtime import Runtime

PREFIXES = ("/v1", "/openai/v1")
_READ = 1 << 20


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"upload of {size / (1 << 20):.3g} MiB is over this server's limit of "
        f"{limit / (1 << 20):.3g} MiB: send a compressed format (flac, mp3, opus) or a "
        "shorter recording",
        code="file_too_large",
        param="file",
    )


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload.size, limit)
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_READ):
        total += len(chunk)
        if total > limit:
            raise _too_large(total, limit)
        parts.append(chunk)
    return b"".join(parts)


async def _speech(request: Request, model: Runtime, task: speech.Task) -> Response:
    limit = model.options.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(
            400,
            "send the audio as multipart/form-data with the file in the 'file' field",
            code="invalid_content_type",
        )
    try:
        form = await request.form(max_files=1, max_fields=64)
    except (HTTPException, MultiPartException) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise ApiError(
            400,
            f"the multipart body could not be read ({detail}): send the audio as "
            "multipart/form-data with one file in the 'file' field",
            code="invalid_multipart",
        ) from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            400,
            "missing the 'file' field: attach the audio as a file in the 'file' field",
            code="missing_file",
            param="file",
        )
    fields = request_fields.speech(_form_values(form), form=True)
    speech.check_model(model, fields.get("model"))
    speech.check_fields(fields, model.serving.languages)
    clip = await decode_audio(await read_upload(upload, limit), speech.audio_limit(model, fields))
    result = await speech.run(model, task, clip, fields, request)
    if isinstance(result, AsyncIterator):
        lines = events.until_stopped(result, gate.stopping(), transcript_shape=True)
        return StreamingResponse(lines, media_type="text/event-stream")
    if fields.get("response_format") in speech.PLAIN_FORMATS:
        return PlainTextResponse(result["text"])
    return JSONResponse(result)


def _form_values(form: Any) -> dict[str, Any]:
    """The form's fields but the file: one value each, or a list for a list field (sent
    repeated, with or without the [] of `timestamp_granularities[]`)."""
    values: dict[str, Any] = {}
    for key in form:
        if key == "file":
            continue
        name = key.removesuffix("[]")
        items = form.getlist(key)
        if any(not isinstance(item, str) for item in items):
            raise ApiError(400, f"{name}: must be a text field, not a file", "invalid_field", name)
        field = request_fields.SPEECH.get(name)
        if field is not None and field.kind == "list":
            values[name] = [*values.get(name, []), *items]
        elif len(items) > 1 or name in values:
            raise ApiError(400, f"{name}: given more than once", "invalid_field", name)
        else:
            values[name] = items[0]
    return values


def router(model: Runtime) -> APIRouter:
    api = APIRouter()

    @api.post("/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        return await _speech(request, model, "transcribe")

    @api.post("/audio/translations")
    async def translations(request: Request) -> Response:
        return await _speech(request, model, "translate")

    @api.post("/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await jsonbody.parse_object(await request.body())
        result = await chat.run(model, body, request)
        if isinstance(result, AsyncIterator):
            lines = events.until_stopped(result, gate.stopping(), transcript_shape=False)
            return StreamingResponse(lines, media_type="text/event-stream")
        return JSONResponse(result)

    @api.get("/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": model.name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "voxtral-operator",
            "max_model_len": model.options.max_model_len,
            "ready": model.ready,
        }
        # One body for both kinds of client: OpenAI's list and KServe v1's names.
        return {"object": "list", "data": [card], "models": [model.name]}

    return api


def install(app: FastAPI, model: Runtime) -> None:
    api = router(model)
    for prefix in PREFIXES:
        app.include_router(api, prefix=prefix)
