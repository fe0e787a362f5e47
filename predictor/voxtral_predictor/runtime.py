"""The served model: the vLLM engine client, its start, warm-up and health, and vLLM's
serving objects. No KServe here: the serving logic (speech, chat, inference) takes a
Runtime; the KServe model class (``model.py``) wraps one.

A Runtime either starts its own engine core (one frontend) or connects to an engine core
that the supervisor started (several frontends, ``frontends.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import engine as engine_flags
from . import vllm_adapter as vllm
from .audio import SAMPLE_RATE, tone, wav_bytes
from .errors import ApiError
from .options import Options

log = logging.getLogger(__name__)
T = TypeVar("T")

WARMUP_SECONDS = 2.0


def cuda_device_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())  # from NVML where it can: CUDA stays uninitialised


def engine_cli(options: Options) -> list[str]:
    """vLLM's flags for these options on the GPUs this process sees; exports the
    environment vLLM reads at start-up."""
    gpus = engine_flags.visible_gpu_count(os.environ, cuda_device_count())
    vllm.apply_env(engine_flags.vllm_env(options, gpus) | compile_cache_env(options))
    return engine_flags.vllm_cli_args(options, gpus)


def compile_cache_env(options: Options) -> dict[str, str]:
    """VLLM_CACHE_ROOT in --compile-cache, per vLLM version; nothing (vLLM's default, in
    $HOME) when it is not given or not writable, which costs a compile, not the start."""
    if not options.compile_cache:
        return {}
    root = os.path.join(options.compile_cache, f"vllm-{vllm.version()}")
    try:
        os.makedirs(root, exist_ok=True)
        probe = os.path.join(root, f".write-test-{os.getpid()}")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as exc:
        log.warning("--compile-cache %s is not writable (%s): compiling into $HOME", root, exc)
        return {}
    return {"VLLM_CACHE_ROOT": root}


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread of its own that does not keep the process alive: an
    engine that never finishes loading (its core gone) must not hold the exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        outcome: tuple[T | None, BaseException | None]
        try:
            outcome = (fn(*args), None)
        except BaseException as exc:  # handed to the awaiting task
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name="engine-start", daemon=True).start()
    return await done


class Runtime:
    """Voxtral on a vLLM engine client: ``serving`` is a 503 until started and warm."""

    def __init__(self, options: Options, engine_client: vllm.EngineClient | None = None):
        self.options = options
        self.name = options.model_name
        self.ready = False
        self.phase = "created"
        self.failure: str | None = None
        self._client = engine_client  # how to reach a core another process started
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

    async def start_engine(self) -> None:
        """Start (or connect to) the engine in a worker thread, build vLLM's serving
        objects, warm up."""
        started = time.perf_counter()
        try:
            self.phase = "loading"
            ns = vllm.parse_engine_args(engine_cli(self.options))
            self._engine = await in_daemon_thread(vllm.build_engine, ns, self._client)
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

    def engine_alive(self) -> bool:
        """False once the engine has failed, died or been stopped: the process is of no use
        any more and must be replaced (liveness)."""
        if self.phase in ("failed", "stopped"):
            return False
        return self._engine is None or not vllm.engine_dead(self._engine)

    def healthy(self) -> bool:
        return self.ready and self.engine_alive()

    @property
    def batch_size(self) -> int | None:
        """The engine's batch size once it has started (vLLM's max_num_seqs)."""
        return vllm.batch_size(self._engine) if self._engine is not None else None

    def stop_engine(self) -> None:
        self.ready = False
        self.phase = "stopped"
        if self._engine is not None:
            vllm.shutdown_engine(self._engine)
            self._engine = None
