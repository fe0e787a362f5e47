"""Run KServe's REST and gRPC servers around the Voxtral model, bound to --host, with
readiness that waits for the engine and its warm-up, and an orderly stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import uvicorn
from fastapi import FastAPI
from grpc import aio
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer
from timing_asgi import TimingMiddleware

from . import errors
from .model import VoxtralModel
from .options import Options
from .routes import openai

log = logging.getLogger(__name__)
GRPC_MAX_MESSAGE_BYTES = 512 << 20  # a 30-minute WAV fits


class VoxtralDataPlane(DataPlane):  # type: ignore[misc]
    """KServe's data plane with health that tells the truth: ready only once the engine
    has started and warmed up; live only while the engine core is alive."""

    def __init__(self, model: VoxtralModel, registry: ModelRepository):
        super().__init__(model_registry=registry)
        self._model = model

    async def ready(self) -> bool:
        return await self._model.healthy()

    async def live(self) -> dict[str, str]:  # type: ignore[override]
        return {"status": "alive" if self._model.engine_alive() else "dead"}


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the Predictor owns SIGTERM/SIGINT


def build_app(model: VoxtralModel, dataplane: DataPlane, options: Options) -> FastAPI:
    """KServe's FastAPI app with our routes first (they win on shared paths)."""
    import kserve.model_server

    app: FastAPI = kserve.model_server.app
    errors.install(app)
    openai.install(app, model)
    rest = RESTServer(
        "kserve.model_server:app",
        dataplane,
        ModelRepositoryExtension(model_registry=dataplane.model_registry),
        options.http_port,
    )
    rest.create_application()  # KServe's v1/v2 routes, /metrics, its error handlers
    # KServe's timing middleware only logs latencies (2 % of the API process's CPU under
    # load); our own metrics measure requests instead.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not TimingMiddleware]
    return app


class Predictor:
    """One process: HTTP (OpenAI, KServe v1/v2, health, metrics), gRPC v2, the engine."""

    def __init__(self, model: VoxtralModel, options: Options):
        self.model = model
        self.options = options
        registry = ModelRepository()
        registry.update(model)
        self.dataplane = VoxtralDataPlane(model, registry)
        self.app = build_app(model, self.dataplane, options)
        self.http = _HttpServer(
            uvicorn.Config(
                self.app,
                host=options.host,
                port=options.http_port,
                log_config=None,
                access_log=options.access_log,
                timeout_graceful_shutdown=30,
                timeout_keep_alive=65,
            )
        )
        self.grpc: Any = None
        self.exit_code = 0

    def _grpc_server(self) -> Any:
        server = aio.server(
            futures.ThreadPoolExecutor(max_workers=4),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[
                ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
            ],
        )
        servicer = InferenceServicer(
            self.dataplane, ModelRepositoryExtension(model_registry=self.dataplane.model_registry)
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        server.add_insecure_port(f"{host}:{self.options.grpc_port}")
        return server

    def stop(self, reason: str, exit_code: int = 0) -> None:
        """Stop taking work: readiness turns false now; in-flight requests finish."""
        if self.http.should_exit:
            return
        log.info("stopping: %s", reason)
        self.exit_code = exit_code
        self.model.ready = False
        self.model.phase = "stopping"
        self.http.should_exit = True

    def _engine_started(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.stop(f"the engine failed to start: {self.model.failure}", exit_code=1)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)
        if self.options.enable_grpc:
            self.grpc = self._grpc_server()
            await self.grpc.start()
        engine = asyncio.create_task(self.model.start_engine())
        engine.add_done_callback(self._engine_started)
        try:
            await self.http.serve()
        finally:
            if self.grpc is not None:
                await self.grpc.stop(grace=5)
            if not engine.done():
                engine.cancel()
            await asyncio.to_thread(self.model.stop_engine)
        return self.exit_code


def run(model: VoxtralModel, options: Options) -> int:
    try:
        import uvloop  # what vLLM's own server runs on; noticeably faster per request
    except ImportError:
        return asyncio.run(Predictor(model, options).run())
    return uvloop.run(Predictor(model, options).run())
