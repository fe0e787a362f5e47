"""The gRPC side of the gate: admission and metrics around ModelInfer, and status codes
that say what happened (KServe's mapping, plus ours: 400 -> INVALID_ARGUMENT, 404 ->
NOT_FOUND, 429 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor

from . import gate, metrics
from .admission import Admission, Draining, Overloaded
from .budgets import Budget
from .errors import ApiError

REPOSITORY = ("/RepositoryModelLoad", "/RepositoryModelUnload")
STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class GrpcGate(ExceptionToStatusInterceptor):  # type: ignore[misc]
    def __init__(self, admission: Admission, audio_budget: Budget):
        super().__init__()
        self.admission = admission
        self.audio_budget = audio_budget

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: Any, method_name: str
    ) -> Any:
        if method_name.endswith(REPOSITORY):
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                "this server has no model-repository API: the model is loaded with the "
                "process and unloaded with it (restart the replica instead)",
            )
        if not method_name.endswith("/ModelInfer"):
            return await super().intercept(method, request, context, method_name)
        started = time.perf_counter()
        info = gate.RequestInfo(audio=self.audio_budget)
        token = gate.CURRENT.set(info)
        code = grpc.StatusCode.OK
        try:
            async with self.admission.slot():
                response = await super().intercept(method, request, context, method_name)
            code = context.code() or grpc.StatusCode.OK
            return response
        except Overloaded as exc:
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            await context.abort(code, str(exc))
        except Draining as exc:
            code = grpc.StatusCode.UNAVAILABLE
            await context.abort(code, str(exc))
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            info.release_audio()
            gate.CURRENT.reset(token)
            metrics.REQUESTS.labels(endpoint="grpc_infer", code=code.name).inc()
            if code == grpc.StatusCode.OK:
                metrics.REQUEST_DURATION.labels(
                    endpoint="grpc_infer", task=info.task or "unknown"
                ).observe(time.perf_counter() - started)

    async def handle_exception(
        self, ex: Exception, request: Any, context: Any, method_name: str
    ) -> None:
        if isinstance(ex, ApiError):
            await context.abort(STATUS.get(ex.status, grpc.StatusCode.INTERNAL), ex.message)
        await super().handle_exception(ex, request, context, method_name)
