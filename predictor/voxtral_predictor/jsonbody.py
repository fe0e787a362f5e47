"""JSON request bodies: parsed with orjson (a depth limit, no recursion error), in a worker
thread when large (a body of hundreds of MiB takes the event loop for a second), and
refused with a 400 that says why."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from .errors import ApiError

IN_THREAD_BYTES = 1 << 20


async def parse(raw: bytes, what: str = "the body") -> Any:
    try:
        if len(raw) > IN_THREAD_BYTES:
            return await asyncio.to_thread(orjson.loads, raw)
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"{what} is not valid JSON: {exc}", code="invalid_json") from exc


async def parse_object(raw: bytes, what: str = "the body") -> dict[str, Any]:
    body = await parse(raw, what)
    if not isinstance(body, dict):
        raise ApiError(400, f"{what} must be a JSON object", code="invalid_json")
    return body
