"""One frontend: KServe's REST and gRPC servers around the Voxtral model, bound to --host
(or on the listening socket its supervisor shares), with readiness that waits for the
engine and its warm-up (every frontend's), and an orderly stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from grpc import aio
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from timing_asgi import TimingMiddleware

from . import errors, metrics
from .admission import MOST_CONCURRENCY, Admission
from .auth import ApiKeyMiddleware, parse_keys
from .budgets import Budget
from .gate import BodyLimits, Gate
from .grpc_gate import GrpcGate
from .model import VoxtralModel
from .options import Options
from .replica import AUDIO_SECONDS, BODY_BYTES, Replica
from .routes import kserve_v2, openai
from .runtime import Runtime

log = logging.getLogger(__name__)
WATCHDOG_SECONDS = 1.0
STREAM_GOODBYE_SECONDS = 0.5  # for streams to send their last event before the stop
FORM_OVERHEAD_BYTES = 1 << 20  # multipart framing and the small fields around the file
GRPC_SPARE_RPCS = 64  # beyond admitted and queued inference: health, metadata


class VoxtralDataPlane(DataPlane):  # type: ignore[misc]
    """KServe's data plane with health that tells the truth: ready only once the engine
    has started and every frontend has warmed up, and while not draining; live while the
    engine core is."""

    def __init__(self, runtime: Runtime, registry: ModelRepository, replica: Replica):
        super().__init__(model_registry=registry)
        self._runtime = runtime
        self._replica = replica

    async def ready(self) -> bool:
        replica = self._replica
        return not replica.draining and self._runtime.healthy() and replica.all_warm()

    async def live(self) -> dict[str, str]:
        return {"status": "alive" if self._runtime.engine_alive() else "dead"}


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


async def metrics_handler(request: Request) -> Response:
    """/metrics of the replica: every frontend's when there are several."""
    return Response(generate_latest(metrics.registry()), media_type=CONTENT_TYPE_LATEST)


def build_app(
    runtime: Runtime,
    dataplane: DataPlane,
    admission: Admission,
    options: Options,
    budgets: tuple[Budget, Budget],
    frontend: int = 0,
) -> FastAPI:
    """KServe's FastAPI app with our routes first (they win on shared paths), behind the
    gate that admits, counts and cancels inference requests."""
    import kserve.model_server

    app: FastAPI = kserve.model_server.app
    errors.install(app)
    app.add_api_route("/metrics", metrics_handler, methods=["GET"], include_in_schema=False)
    openai.install(app, runtime)
    kserve_v2.install(app, runtime)
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
    keys = parse_keys(options.api_key)
    app.add_middleware(
        Gate,
        admission=admission,
        limits=body_limits(options),
        body_budget=body_budget,
        audio_budget=audio_budget,
        frontend=str(frontend),
    )
    if keys:  # the outermost: nothing runs for a request without a key
        app.add_middleware(ApiKeyMiddleware, keys=keys)
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
    """One frontend process: HTTP (OpenAI, KServe v1/v2, health, metrics), gRPC v2, and
    the engine client (with its own engine core when it is the replica's only frontend)."""

    def __init__(self, runtime: Runtime, options: Options, replica: Replica | None = None):
        self.runtime = runtime
        self.options = options
        self.replica = replica = replica or Replica()
        registry = ModelRepository()
        registry.update(VoxtralModel(runtime))
        counts = replica.counts
        self.admission = Admission(options.max_concurrency, options.max_queue, counts)
        self.body_budget = Budget(
            options.max_buffered_mb * (1 << 20), metrics.BODY_BYTES, counts, BODY_BYTES
        )
        self.audio_budget = Budget(
            options.max_decoded_audio_seconds, metrics.AUDIO_HELD, counts, AUDIO_SECONDS
        )
        self.dataplane = VoxtralDataPlane(runtime, registry, replica)
        self.app = build_app(
            runtime,
            self.dataplane,
            self.admission,
            options,
            (self.body_budget, self.audio_budget),
            replica.index,
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
            interceptors=(
                GrpcGate(
                    self.admission,
                    self.body_budget,
                    self.audio_budget,
                    str(self.replica.index),
                    parse_keys(options.api_key),
                ),
            ),
            # messages received at once: the admitted, the queued, and room for the rest
            maximum_concurrent_rpcs=(options.max_concurrency or MOST_CONCURRENCY)
            + options.max_queue
            + GRPC_SPARE_RPCS,
            options=[
                ("grpc.so_reuseport", 1),  # the replica's frontends share the port
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
        self.replica.drain()  # every frontend answers not ready from now
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
            self.stop(f"the engine failed to start: {self.runtime.failure}", exit_code=1)
        elif not task.cancelled():
            if self.options.max_concurrency is None and self.runtime.batch_size:
                self.admission.max_concurrency = self.runtime.batch_size
            log.info(
                "admitting %d requests at once, %d more in the queue",
                self.admission.max_concurrency,
                self.admission.max_queue,
            )
            self.replica.warmed_up()

    async def _watch(self) -> None:
        """Liveness already fails once the engine core dies (a worker killed, a GPU
        fault); exiting at once lets Kubernetes restart the pod without waiting for
        the probe's failure threshold. A frontend whose supervisor is gone stops too,
        while the engine loads as well."""
        while not self.replica.orphaned():
            if self.runtime.ready and not self.runtime.engine_alive():
                log.error("the engine core died: exiting so that the pod restarts")
                self.stop("engine died", exit_code=1)
                return
            await asyncio.sleep(WATCHDOG_SECONDS)
        self.stop("the supervisor is gone", exit_code=1)

    async def run(self, sock: socket.socket | None = None) -> int:
        """Serve until stopped; on ``sock`` (shared by the replica's frontends) if given."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)
        if self.options.enable_grpc:
            self.grpc = self._grpc_server()
            await self.grpc.start()
        engine = asyncio.create_task(self.runtime.start_engine())
        engine.add_done_callback(self._engine_started)
        self._watchdog = asyncio.ensure_future(self._watch())
        try:
            await self.http.serve(sockets=[sock] if sock is not None else None)
        finally:
            if self.grpc is not None:
                await self.grpc.stop(grace=5)
            if not engine.done():
                engine.cancel()
            await asyncio.to_thread(self.runtime.stop_engine)
        return self.exit_code


def run(
    runtime: Runtime,
    options: Options,
    replica: Replica | None = None,
    sock: socket.socket | None = None,
) -> int:
    predictor = Predictor(runtime, options, replica)
    try:
        import uvloop  # what vLLM's own server runs on; noticeably faster per request
    except ImportError:
        return asyncio.run(predictor.run(sock))
    code: int = uvloop.run(predictor.run(sock))
    return code
