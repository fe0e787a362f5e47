"""The KServe model: owns the vLLM engine. Nothing heavy happens in __init__; the engine
starts in start_engine(), and healthy() asks the engine."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from typing import Any

import kserve
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from . import engine as engine_flags
from . import inference
from . import vllm_adapter as vllm
from .audio import SAMPLE_RATE, tone, wav_bytes
from .errors import ApiError
from .options import Options

log = logging.getLogger(__name__)

WARMUP_SECONDS = 2.0


def cuda_device_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


class VoxtralModel(kserve.Model):  # type: ignore[misc]
    """Voxtral on an in-process vLLM AsyncLLM."""

    def __init__(self, options: Options):
        super().__init__(options.model_name)
        self.options = options
        self.engine = True  # KServe: this model has an engine to start
        self.ready = False
        self.phase = "created"
        self.failure: str | None = None
        self._engine: Any = None
        self._serving: vllm.Serving | None = None

    @property
    def serving(self) -> vllm.Serving:
        """vLLM's serving objects; a 503 until the engine has started and warmed up."""
        if self._serving is None or not self.ready:
            raise ApiError(
                503,
                f"model {self.name!r} is {self.phase}: retry when /v2/health/ready answers 200",
                code="model_not_ready",
                headers={"Retry-After": "5"},
            )
        return self._serving

    def engine_cli(self) -> list[str]:
        gpus = engine_flags.visible_gpu_count(os.environ, cuda_device_count())
        vllm.apply_env(engine_flags.vllm_env(self.options, gpus))
        return engine_flags.vllm_cli_args(self.options, gpus)

    async def start_engine(self) -> None:
        """Load the engine in a worker thread, build vLLM's serving objects, warm up."""
        started = time.perf_counter()
        try:
            self.phase = "loading"
            ns = vllm.parse_engine_args(self.engine_cli())
            self._engine = await asyncio.to_thread(vllm.build_engine, ns)
            self._serving = await vllm.init_serving(self._engine, ns)
            if self.options.warmup:
                self.phase = "warming up"
                await self.warm_up(self._serving)
        except Exception as exc:
            self.phase = "failed"
            self.failure = f"{type(exc).__name__}: {exc}"
            log.exception("engine start failed")
            raise
        self.ready = True
        self.phase = "ready"
        log.info("model %s ready in %.1f s", self.name, time.perf_counter() - started)

    async def warm_up(self, serving: vllm.Serving) -> None:
        """One short synthetic transcription: Voxtral skips vLLM's own audio warm-up, so
        without it the first real request would pay for it."""
        request = vllm.speech_request(
            "transcribe", {"model": self.name, "max_completion_tokens": 4}
        )
        wav = wav_bytes(tone(WARMUP_SECONDS), SAMPLE_RATE)
        result = await vllm.speech_to_text(serving, "transcribe", wav, request, None)
        failed = vllm.error_of(result)
        if failed is not None:
            raise RuntimeError(f"warm-up transcription failed: {failed[1]}")

    def get_input_types(self) -> list[dict[str, Any]]:
        return inference.INPUTS

    def get_output_types(self) -> list[dict[str, Any]]:
        return inference.OUTPUTS

    async def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        """KServe v1 (a dict of ``instances``) and v2 gRPC (an InferRequest)."""
        if isinstance(payload, InferRequest):
            items = inference.parse_v2(
                inference.request_tensors(payload.inputs, self.options.max_inputs),
                inference.plain_parameters(payload.parameters),
                self.options.max_inputs,
            )
            requested = [{"name": o.name} for o in payload.request_outputs or []] or None
            names = [o["name"] for o in inference.OUTPUTS]
            wanted = inference.requested_outputs(requested, {}, names)
            results = await inference.run(self, items)
            return InferResponse(
                response_id=payload.id or str(uuid.uuid4()),
                model_name=self.name,
                infer_outputs=[
                    InferOutput(name, [len(data)], "BYTES", data)
                    for name, data in inference.v2_outputs(results)
                    if wanted.names is None or name in wanted.names
                ],
            )
        items = inference.parse_v1(payload, self.options.max_inputs)
        return {"predictions": await inference.run(self, items)}

    def engine_alive(self) -> bool:
        """False once the engine has failed, died or been stopped: the process is of no use
        any more and must be replaced (liveness)."""
        if self.phase in ("failed", "stopped"):
            return False
        return self._engine is None or not vllm.engine_dead(self._engine)

    async def healthy(self) -> bool:
        return bool(self.ready) and self.engine_alive()

    def stop_engine(self) -> None:
        self.ready = False
        self.phase = "stopped"
        if self._engine is not None:
            vllm.shutdown_engine(self._engine)
            self._engine = None
