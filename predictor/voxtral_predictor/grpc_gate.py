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
from .auth import RPC_MESSAGE, Keys, rpc_guarded
from .budgets import Budget
from .errors import ApiError

MiB = 1 << 20
REPOSITORY = ("/RepositoryModelLoad", "/RepositoryModelUnload")
STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class GrpcGate(ExceptionToStatusInterceptor):  # type: ignore[misc]
    """A ModelInfer message is held from the body budget (``--max-buffered-mb``) like an
    HTTP body, then takes a slot; a model version other than none is NOT_FOUND (there is
    one model, without versions)."""

    def __init__(
        self,
        admission: Admission,
        body_budget: Budget,
        audio_budget: Budget,
        frontend: str = "0",
        keys: Keys | None = None,
    ):
        super().__init__()
        self.keys = keys or Keys(())
        self.frontend = frontend
        self.admission = admission
        self.body_budget = body_budget
        self.audio_budget = audio_budget

    def _too_much(self, needed: int) -> str:
        budget = self.body_budget
        limit = f"--max-buffered-mb {budget.total / MiB:.3g}"
        if needed > budget.total:
            return (
                f"the message ({needed / MiB:.3g} MiB) is more than this server holds of all "
                f"request bodies at once ({limit}): send shorter or compressed audio"
            )
        return (
            f"server busy: request bodies being read hold {budget.used / MiB:.3g} MiB, its "
            f"limit ({limit}): retry after a moment"
        )

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: Any, method_name: str
    ) -> Any:
        if self.keys and rpc_guarded(method_name):
            metadata = dict(context.invocation_metadata() or ())
            if not self.keys.accepts(metadata.get("authorization")):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, RPC_MESSAGE)
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
        size, needed = 0, request.ByteSize()
        try:
            if request.model_version:
                code = grpc.StatusCode.NOT_FOUND
                await context.abort(
                    code,
                    f"model {request.model_name!r} has no version {request.model_version!r}: "
                    "this server serves one model without versions (leave model_version empty)",
                )
            if not self.body_budget.try_reserve(needed):
                code = grpc.StatusCode.RESOURCE_EXHAUSTED
                await context.abort(code, self._too_much(needed))
            size = needed
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
            self.body_budget.release(size)
            info.release_audio()
            gate.CURRENT.reset(token)
            metrics.REQUESTS.labels(endpoint="grpc_infer", code=code.name).inc()
            metrics.FRONTEND_REQUESTS.labels(frontend=self.frontend, endpoint="grpc_infer").inc()
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
