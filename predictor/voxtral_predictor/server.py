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
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer
from timing_asgi import TimingMiddleware

from . import errors, metrics
from .admission import Admission
from .budgets import Budget
from .gate import BodyLimits, Gate
from .grpc_gate import GrpcGate
from .model import VoxtralModel
from .options import Options
from .routes import kserve_v2, openai

log = logging.getLogger(__name__)
WATCHDOG_SECONDS = 1.0
STREAM_GOODBYE_SECONDS = 0.5  # for streams to send their last event before the stop
FORM_OVERHEAD_BYTES = 1 << 20  # multipart framing and the small fields around the file
GRPC_SPARE_RPCS = 64  # beyond admitted and queued inference: health, metadata


class VoxtralDataPlane(DataPlane):  # type: ignore[misc]
    """KServe's data plane with health that tells the truth: ready only once the engine
    has started and warmed up and while not draining; live while the engine core is."""

    def __init__(self, model: VoxtralModel, registry: ModelRepository, admission: Admission):
        super().__init__(model_registry=registry)
        self._model = model
        self._admission = admission

    async def ready(self) -> bool:
        return not self._admission.draining and await self._model.healthy()

    async def live(self) -> dict[str, str]:
        return {"status": "alive" if self._model.engine_alive() else "dead"}


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the Predictor owns SIGTERM/SIGINT


def body_limits(options: Options) -> BodyLimits:
    """One upload limit on every route: --max-upload-mb of audio, as a multipart file or
    as base64 in JSON, and a little room for the rest of the request."""
    upload, json_body = options.max_upload_bytes + FORM_OVERHEAD_BYTES, options.max_json_body_bytes
    form = "--max-upload-mb, and 1 MiB for the form"
    as_json = "--max-upload-mb of audio as base64, and 1 MiB for the JSON"
    return BodyLimits(
        sizes={
            "openai_transcriptions": upload,
            "openai_translations": upload,
            "openai_chat": json_body,
            "v1_predict": json_body,
            "v2_infer": json_body,
        },
        what={
            "openai_transcriptions": form,
            "openai_translations": form,
            "openai_chat": as_json,
            "v1_predict": as_json,
            "v2_infer": as_json,
        },
        idle_timeout=options.body_timeout,
    )


def build_app(
    model: VoxtralModel,
    dataplane: DataPlane,
    admission: Admission,
    options: Options,
    budgets: tuple[Budget, Budget],
) -> FastAPI:
    """KServe's FastAPI app with our routes first (they win on shared paths), behind the
    gate that admits, counts and cancels inference requests."""
    import kserve.model_server

    app: FastAPI = kserve.model_server.app
    errors.install(app)
    openai.install(app, model)
    kserve_v2.install(app, model)
    rest = RESTServer(
        "kserve.model_server:app",
        dataplane,
        ModelRepositoryExtension(model_registry=dataplane.model_registry),
        options.http_port,
    )
    rest.create_application()  # KServe's v1/v2 routes, /metrics, its error handlers
    app.router.routes = [r for r in app.router.routes if not _unserved(r)]
    errors.install_quiet_health(app)
    errors.install_shapes(app)
    # KServe's timing middleware only logs latencies (2 % of the API process's CPU under
    # load); our own metrics measure requests instead.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not TimingMiddleware]
    body_budget, audio_budget = budgets
    app.add_middleware(
        Gate,
        admission=admission,
        limits=body_limits(options),
        body_budget=body_budget,
        audio_budget=audio_budget,
    )
    return app


def _unserved(route: object) -> bool:
    """KServe routes this server does not serve: the model-repository API (loading and
    unloading are the pod's lifecycle, not a client's: an unauthenticated unload would
    leave a live, never-ready replica), :explain (no explainer; it would read any body
    without a limit before answering 501), and model versions (there is one)."""
    path = str(getattr(route, "path", ""))
    methods = getattr(route, "methods", None) or set()
    versioned_get = "/versions/" in path and "GET" in methods
    return "/repository/" in path or path.endswith(":explain") or versioned_get


class Predictor:
    """One process: HTTP (OpenAI, KServe v1/v2, health, metrics), gRPC v2, the engine."""

    def __init__(self, model: VoxtralModel, options: Options):
        self.model = model
        self.options = options
        registry = ModelRepository()
        registry.update(model)
        self.admission = Admission(options.max_concurrency, options.max_queue)
        self.body_budget = Budget(options.max_buffered_mb * (1 << 20), metrics.BODY_BYTES)
        self.audio_budget = Budget(options.max_decoded_audio_seconds, metrics.AUDIO_HELD)
        self.dataplane = VoxtralDataPlane(model, registry, self.admission)
        self.app = build_app(
            model, self.dataplane, self.admission, options, (self.body_budget, self.audio_budget)
        )
        self.http = _HttpServer(
            uvicorn.Config(
                self.app,
                host=options.host,
                port=options.http_port,
                log_config=None,
                access_log=options.access_log,
                timeout_graceful_shutdown=5,  # requests were drained before
                timeout_keep_alive=65,
            )
        )
        self.grpc: Any = None
        self.exit_code = 0
        self._drain: asyncio.Future[None] | None = None
        self._watchdog: asyncio.Future[None] | None = None

    def _grpc_server(self) -> Any:
        options = self.options
        server = aio.server(
            futures.ThreadPoolExecutor(max_workers=4),
            interceptors=(GrpcGate(self.admission, self.body_budget, self.audio_budget),),
            # messages received at once: the admitted, the queued, and room for the rest
            maximum_concurrent_rpcs=options.max_concurrency + options.max_queue + GRPC_SPARE_RPCS,
            options=[
                # the upload limit of every route; gRPC answers RESOURCE_EXHAUSTED beyond it
                ("grpc.max_receive_message_length", options.max_upload_bytes + (1 << 20)),
                ("grpc.max_send_message_length", 64 << 20),
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
        """Stop taking work: readiness turns false and new requests get 503 at once;
        admitted requests finish (up to --drain-timeout), then the servers stop."""
        if self.admission.draining:
            return
        log.info(
            "stopping: %s; draining %d running and %d queued requests",
            reason,
            self.admission.running,
            self.admission.queued,
        )
        self.exit_code = exit_code
        self._drain = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        idle = await self.admission.drain(self.options.drain_timeout)
        if not idle:
            log.warning(
                "drain timeout (%.0f s): %d requests still running",
                self.options.drain_timeout,
                self.admission.running,
            )
            self.admission.stopping.set()  # running streams end with an error event
            await asyncio.sleep(STREAM_GOODBYE_SECONDS)
        self.http.should_exit = True

    def _engine_started(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.stop(f"the engine failed to start: {self.model.failure}", exit_code=1)
        elif not task.cancelled():
            self._watchdog = asyncio.ensure_future(self._watch_engine())

    async def _watch_engine(self) -> None:
        """Liveness already fails once the engine core dies (a worker killed, a GPU
        fault); exiting at once lets Kubernetes restart the pod without waiting for
        the probe's failure threshold."""
        while self.model.engine_alive():
            await asyncio.sleep(WATCHDOG_SECONDS)
        log.error("the engine core died: exiting so that the pod restarts")
        self.stop("engine died", exit_code=1)

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
    code: int = uvloop.run(Predictor(model, options).run())
    return code
