"""Client-facing errors in OpenAI's JSON shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .audio import AudioError

_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",  # as OpenAI types an unknown model or URL
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
        headers = {"Retry-After": "1"} if exc.status == 429 else None
        return cls(exc.status, exc.message, exc.code, param, headers)


def error_body(status: int, message: str, code: str, param: str | None) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def kserve_route(path: str) -> bool:
    """KServe's v1 (/v1/models/NAME:predict...) and v2 (/v2/...) routes, whose errors are
    {"error": "<message>"}; every other route here is OpenAI's."""
    return path.startswith("/v2/") or (path.startswith("/v1/models/") and ":" in path)


def shaped(path: str, error: ApiError) -> JSONResponse:
    body = {"error": error.message} if kserve_route(path) else error.body()
    return JSONResponse(body, status_code=error.status, headers=error.headers)


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return shaped(request.url.path, exc)


async def _audio_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AudioError)
    return shaped(request.url.path, ApiError.from_audio(exc))


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's and Starlette's own errors (405, a malformed multipart body...) in the
    route's shape, not as {"detail": ...}."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "invalid_request")
    headers = dict(exc.headers or {})  # 405's Allow
    return shaped(request.url.path, ApiError(status, str(exc.detail), code, headers=headers))


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid request')}".strip(": ")
    return shaped(request.url.path, ApiError(400, message, "invalid_request", where or None))


async def _not_ready_handler(_: Request, exc: Exception) -> JSONResponse:
    """503 for health probes while loading or draining, without KServe's stack trace in
    the log for every probe (a model loads for minutes)."""
    return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    """A failure of ours (a bug): answered 500 in the route's shape, without the
    exception's text (which may hold request data); Starlette then raises it again, and
    the server logs it with its traceback."""
    message = (
        f"internal error ({type(exc).__name__}): the server failed on this request; it was "
        "logged. Retry; if it persists, report it"
    )
    return shaped(request.url.path, ApiError(500, message, "internal_error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(AudioError, _audio_error_handler)


def install_shapes(app: FastAPI) -> None:
    """After KServe registered its handlers: HTTP and validation errors in each route's
    shape (KServe's for v1/v2 keep theirs)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(HTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)


def install_quiet_health(app: FastAPI) -> None:
    """After KServe registered its handlers: not-ready answers stay out of the logs."""
    from kserve.errors import ModelNotReady, ServerNotLive, ServerNotReady

    for kind in (ServerNotReady, ModelNotReady, ServerNotLive):
        app.add_exception_handler(kind, _not_ready_handler)
