"""The one module that imports vLLM internals.

vLLM moves its serving classes between releases (0.24 on the GPU image, 0.32 on CPU
here); every such import lives here so that an upgrade touches this file alone. The rest
of the predictor sees plain dicts, bytes and a few opaque objects.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request, UploadFile
from pydantic import ValidationError

Task = Literal["transcribe", "translate"]


def version() -> str:
    from vllm import __version__

    return str(__version__)


def apply_env(env: Mapping[str, str]) -> None:
    """Export the engine's environment before vLLM reads it; values already set win."""
    for key, value in env.items():
        os.environ.setdefault(key, value)


def parse_engine_args(cli: list[str]) -> argparse.Namespace:
    """Parse engine flags with vLLM's own OpenAI-server parser (all defaults filled)."""
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    try:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser
    except ImportError:  # vLLM <= 0.24
        from vllm.entrypoints.openai.cli_args import make_arg_parser
    parser: Any = make_arg_parser(FlexibleArgumentParser())
    ns: argparse.Namespace = parser.parse_args(cli)
    return ns


# How a frontend reaches an engine core another process started: vLLM's ``client_config``
# (addresses or bound ZMQ listeners, the client's index and count), opaque to the rest.
EngineClient = Mapping[str, Any]


def build_engine(ns: argparse.Namespace, client: EngineClient | None = None) -> Any:
    """Start vLLM's AsyncLLM and its engine-core process; or, given a frontend's
    ``client``, connect an AsyncLLM to the core the supervisor started, as vLLM's API
    server processes do (``build_async_engine_client_from_engine_args``). Blocking: run it
    in a thread so the HTTP server keeps answering liveness probes while it loads."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    engine_args = AsyncEngineArgs.from_cli_args(ns)
    connect: dict[str, Any] = {}
    if client is not None:
        addresses = dict(client)
        addresses.pop("api_server_loads", None)  # vLLM's own accept loop (0.32), not ours
        count, index = addresses.pop("client_count"), addresses.pop("client_index")
        engine_args._api_process_count, engine_args._api_process_rank = count, index
        connect = {"client_addresses": addresses, "client_count": count, "client_index": index}
    config = engine_args.create_engine_config(usage_context=UsageContext.OPENAI_API_SERVER)
    return AsyncLLM.from_vllm_config(
        vllm_config=config,
        usage_context=UsageContext.OPENAI_API_SERVER,
        enable_log_requests=engine_args.enable_log_requests,
        disable_log_stats=engine_args.disable_log_stats,
        **connect,
    )


# A frontend process: (listen address, the shared listening socket, what the supervisor
# hands it, its EngineClient). Must be importable by name: frontends are spawned.
Frontend = Callable[[str, socket.socket, Any, EngineClient], None]


STOP_SECONDS = 5.0  # for what is still running when the replica stops


@dataclass(frozen=True)
class Replica:
    """The processes vLLM's launcher started (multiprocessing processes)."""

    frontends: list[Any]
    engines: list[Any]


@contextlib.contextmanager
def launch_replica(
    ns: argparse.Namespace, count: int, frontend: Frontend, handed: Any, sock: socket.socket
) -> Iterator[Replica]:
    """One engine core and ``count`` frontend processes, wired the way ``vllm serve
    --api-server-count`` wires its API servers (``run_multi_api_server``: the engine's
    ZMQ endpoints, ``launch_core_engines``, ``APIServerProcessManager`` with our frontend
    as its target). Frontends start at once (they answer liveness while the weights load);
    the context is entered once the engine core has started. On exit (or a failed start)
    what is still running is stopped: frontends, then the engine core."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine import utils as engine_utils
    from vllm.v1.executor import Executor
    from vllm.v1.utils import APIServerProcessManager

    engine_args = AsyncEngineArgs.from_cli_args(ns)
    engine_args._api_process_count, engine_args._api_process_rank = count, -1
    config = engine_args.create_engine_config(usage_context=UsageContext.OPENAI_API_SERVER)
    executor, log_stats = Executor.get_class(config), not engine_args.disable_log_stats
    servers: dict[str, Any] = {
        "listen_address": f"http://{sock.getsockname()[0]}:{sock.getsockname()[1]}",
        "sock": sock,
        "args": handed,
        "num_servers": count,
        "target_server_fn": frontend,
    }
    started: dict[str, Any] = {}  # what has started, to stop if the start fails
    try:
        if hasattr(engine_utils, "bind_engine_zmq_listeners"):  # vLLM >= 0.30: bound sockets
            listeners = engine_utils.bind_engine_zmq_listeners(config, count)
            with engine_utils.launch_core_engines(
                config, executor, log_stats, listeners.addresses
            ) as launch:
                started |= {"engines": launch.engine_manager, "coordinator": launch.coordinator}
                started["frontends"] = APIServerProcessManager(
                    **servers,
                    input_listeners=listeners.inputs,
                    output_listeners=listeners.outputs,
                    stats_update_address=_stats_address(launch.coordinator),
                    tensor_queue=launch.tensor_queue,
                )
                launch.watched_frontend_processes = started["frontends"].processes
        else:  # vLLM 0.24: each frontend binds and reports its address
            addresses = engine_utils.get_engine_zmq_addresses(
                config, count, defer_api_server_ports=True
            )
            with engine_utils.launch_core_engines(
                config, executor, log_stats, addresses, count
            ) as (engines, coordinator, addresses, tensor_queue):
                started |= {"engines": engines, "coordinator": coordinator}
                started["frontends"] = APIServerProcessManager(
                    **servers,
                    input_addresses=addresses.inputs,
                    output_addresses=addresses.outputs,
                    stats_update_address=_stats_address(coordinator),
                    tensor_queue=tensor_queue,
                )
                addresses.inputs, addresses.outputs = started["frontends"].gather_actual_addresses()
        engines = started["engines"]
        yield Replica(
            frontends=list(started["frontends"].processes),
            engines=list(engines.processes) if engines is not None else [],
        )
    finally:
        for part in ("frontends", "engines", "coordinator"):
            if started.get(part) is not None:
                started[part].shutdown(timeout=STOP_SECONDS)


def _stats_address(coordinator: Any) -> str | None:
    return coordinator.get_stats_publish_address() if coordinator else None


def batch_size(engine: Any) -> int:
    """The most sequences the engine batches at once (vLLM's resolved max_num_seqs: its
    default depends on the device, e.g. 1024 on an H100/H200 and 256 on smaller GPUs)."""
    return int(engine.vllm_config.scheduler_config.max_num_seqs)


def engine_dead(engine: Any) -> bool:
    """True once the engine core has died: the process must be restarted."""
    return bool(getattr(engine, "errored", False))


def shutdown_engine(engine: Any) -> None:
    engine.shutdown()


@dataclass
class Serving:
    """vLLM's own OpenAI serving objects for this engine."""

    transcription: Any
    translation: Any
    chat: Any
    models: Any
    languages: Mapping[str, str]


async def init_serving(engine: Any, ns: argparse.Namespace) -> Serving:
    """Build vLLM's serving classes exactly as its OpenAI server does."""
    from starlette.datastructures import State

    try:
        from vllm.entrypoints.launchers.api_server.app_state import init_app_state
    except ImportError:  # vLLM <= 0.24
        from vllm.entrypoints.openai.api_server import init_app_state

    await engine.reset_mm_cache()
    tasks = await engine.get_supported_tasks()
    state = State()
    await init_app_state(engine, state, ns, tasks)
    transcription = state.openai_serving_transcription
    # vLLM tries torchcodec first for every audio; we hand it 16 kHz WAV, which soundfile
    # decodes, so its per-request "torchcodec unavailable" warning says nothing.
    logging.getLogger("vllm.multimodal.media.audio").setLevel(logging.ERROR)
    return Serving(
        transcription=transcription,
        translation=state.openai_serving_translation,
        chat=state.openai_serving_chat,
        models=state.openai_serving_models,
        languages=dict(transcription.model_cls.supported_languages),
    )


def _request_classes() -> dict[Task, Any]:
    from vllm.entrypoints.speech_to_text.transcription.protocol import TranscriptionRequest
    from vllm.entrypoints.speech_to_text.translation.protocol import TranslationRequest

    return {"transcribe": TranscriptionRequest, "translate": TranslationRequest}


class RequestInvalid(ValueError):
    """A request body vLLM's request model rejects; ``param`` names the field."""

    def __init__(self, message: str, param: str | None):
        super().__init__(message)
        self.param = param


def _invalid(exc: ValidationError) -> RequestInvalid:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    return RequestInvalid(f"{param}: {first.get('msg')}" if param else str(exc), param)


def _client_errors() -> tuple[type[Exception], ...]:
    """What vLLM raises for a bad request: VLLMClientError where vLLM has it, a ValueError
    from a validator otherwise. Anything else is a bug, and a 500, not the client's 400."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:
        return (ValueError,)
    return (VLLMClientError, ValueError)


def speech_request(task: Task, fields: Mapping[str, Any]) -> Any:
    """vLLM's Transcription/TranslationRequest from form fields (``file`` excluded: the
    audio travels separately, already decoded and checked)."""
    values = dict(fields)
    values["file"] = UploadFile(io.BytesIO(b""), filename="audio.wav")
    try:
        return _request_classes()[task].model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    except _client_errors() as exc:  # vLLM's own request checks (VLLMValidationError)
        raise RequestInvalid(str(exc), getattr(exc, "parameter", None)) from exc


async def speech_to_text(
    serving: Serving, task: Task, wav: bytes, request: Any, raw_request: Request | None
) -> Any:
    """Run a transcription/translation. Returns a response object, an async iterator of
    SSE lines (stream=true), or an ErrorResponse (see ``error_of``)."""
    if task == "transcribe":
        return await serving.transcription.create_transcription(wav, request, raw_request)
    return await serving.translation.create_translation(wav, request, raw_request)


def chat_request(body: Mapping[str, Any]) -> Any:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    try:
        return ChatCompletionRequest.model_validate(dict(body))
    except ValidationError as exc:
        raise _invalid(exc) from exc
    except _client_errors() as exc:  # vLLM's own request checks (VLLMValidationError)
        raise RequestInvalid(str(exc), getattr(exc, "parameter", None)) from exc


async def chat(serving: Serving, request: Any, raw_request: Request | None) -> Any:
    return await serving.chat.create_chat_completion(request, raw_request)


def is_stream(result: Any) -> bool:
    return isinstance(result, AsyncIterator)


def error_of(result: Any) -> tuple[int, dict[str, Any]] | None:
    """(status, OpenAI error body) when ``result`` is vLLM's ErrorResponse, else None."""
    error = getattr(result, "error", None)
    if error is None or not hasattr(error, "code") or not hasattr(error, "message"):
        return None
    return int(error.code), result.model_dump()


def error_from_exception(exc: Exception) -> tuple[int, dict[str, Any]]:
    """Map an exception vLLM raised to (status, OpenAI error body), as its server does."""
    try:
        from vllm.entrypoints.serve.exception_handling.error_response import (
            create_error_response,
        )
    except ImportError:  # vLLM <= 0.24
        from vllm.entrypoints.serve.utils.error_response import create_error_response

    response = create_error_response(exc)
    return int(response.error.code), response.model_dump()


def dump(result: Any) -> dict[str, Any]:
    return dict(result.model_dump())


async def model_cards(serving: Serving) -> list[dict[str, Any]]:
    listing = await serving.models.show_available_models()
    return [card.model_dump() for card in listing.data]
