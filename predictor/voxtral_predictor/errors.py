"""Client-facing errors in OpenAI's JSON shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .audio import AudioError

_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    """An error a client caused (4xx) or must wait out (503), with what to do next."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)

    @classmethod
    def from_audio(cls, exc: AudioError, param: str = "file") -> ApiError:
        return cls(exc.status, exc.message, exc.code, param)


def error_body(status: int, message: str, code: str, param: str | None) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def _api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _audio_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AudioError)
    return JSONResponse(ApiError.from_audio(exc).body(), status_code=exc.status)


async def _not_ready_handler(_: Request, exc: Exception) -> JSONResponse:
    """503 for health probes while loading or draining, without KServe's stack trace in
    the log for every probe (a model loads for minutes)."""
    return JSONResponse({"error": str(exc)}, status_code=503)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(AudioError, _audio_error_handler)


def install_quiet_health(app: FastAPI) -> None:
    """After KServe registered its handlers: not-ready answers stay out of the logs."""
    from kserve.errors import ModelNotReady, ServerNotLive, ServerNotReady

    for kind in (ServerNotReady, ModelNotReady, ServerNotLive):
        app.add_exception_handler(kind, _not_ready_handler)
