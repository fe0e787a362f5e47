"""The predictor's options: command-line flags, each also readable from an environment
variable (``VOXTRAL_<NAME>``), so that a Deployment can configure the server with env."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .longform import Policy

ENV_PREFIX = "VOXTRAL_"
MiB = 1 << 20


@dataclass(frozen=True)
class Options:
    """Everything the predictor is configured with. Field names are the flag names with
    dashes turned into underscores; the env var is ``VOXTRAL_`` + the upper-cased name."""

    model: str = ""
    model_name: str = "voxtral"
    host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 8081
    enable_grpc: bool = True
    api_servers: int | None = None
    tensor_parallel_size: int | None = None
    max_model_len: int = 32768
    gpu_memory_utilization: float = 0.9
    kv_cache_memory_bytes: int | None = None
    max_num_seqs: int | None = None
    enforce_eager: bool | None = None
    dtype: str = "auto"
    max_audio_seconds: float = 1800.0
    max_chat_audio_seconds: float = 2400.0
    max_upload_mb: float = 384.0
    max_long_audio_seconds: float = 14400.0
    chunk_seconds: float = 30.0
    chunk_search_seconds: float = 6.0
    chunk_overlap_seconds: float = 1.0
    chunk_concurrency: int = 32
    max_concurrency: int | None = None  # the engine's batch size (max_num_seqs)
    max_queue: int = 512
    max_inputs: int = 16
    body_timeout: float = 30.0
    max_buffered_mb: float = 2048.0
    max_decoded_audio_seconds: float = 28800.0
    drain_timeout: float = 30.0
    compile_cache: str = ""
    api_key: str = ""
    warmup: bool = True
    access_log: bool = True
    vllm_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def chunk_policy(self) -> Policy:
        return Policy(self.chunk_seconds, self.chunk_search_seconds, self.chunk_overlap_seconds)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MiB)

    @property
    def max_json_body_bytes(self) -> int:
        """A JSON body carrying --max-upload-mb of audio as base64, and room for the rest."""
        return -(-self.max_upload_bytes * 4 // 3) + MiB


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# flag -> (parser for the value, help). Defaults come from Options.
_HELP: dict[str, tuple[Callable[[str], Any], str]] = {
    "model": (str, "path of the Voxtral checkpoint in Mistral format (params.json, "
              "consolidated.safetensors, tekken.json) or a Hugging Face repo id"),
    "model_name": (str, "name clients use for the model in the `model` field and URLs"),
    "host": (str, "address the HTTP and gRPC servers bind"),
    "http_port": (int, "HTTP port: OpenAI, KServe v1/v2 REST, health and /metrics"),
    "grpc_port": (int, "gRPC port: KServe v2 (Open Inference Protocol)"),
    "enable_grpc": (_bool, "serve the v2 gRPC protocol"),
    "api_servers": (int, "frontend processes on the one engine core, sharing the HTTP and "
                    "gRPC ports; each parses, decodes and streams its requests (default: "
                    "1 on CPU; on GPUs the CPUs beside the engine core's 4, at most 8)"),
    "tensor_parallel_size": (int, "GPUs the model is split across (default: the number "
                             "of visible GPUs; on a machine without GPUs, the CPU backend)"),
    "max_model_len": (int, "context length in tokens (30 min of audio is 22,500 tokens)"),
    "gpu_memory_utilization": (float, "share of each GPU's memory vLLM may take"),
    "kv_cache_memory_bytes": (int, "KV-cache size in bytes (default on CPU: 1 GiB; "
                              "on GPU: derived from --gpu-memory-utilization)"),
    "max_num_seqs": (int, "most sequences the engine batches at once (default: vLLM's)"),
    "enforce_eager": (_bool, "disable CUDA graphs / compilation (default: true on CPU)"),
    "dtype": (str, "weight and activation dtype"),
    "max_audio_seconds": (float, "longest audio accepted for transcription and translation"),
    "max_chat_audio_seconds": (float, "longest total audio in one chat request "
                               "(audio understanding)"),
    "max_upload_mb": (float, "largest accepted audio upload in MiB (default fits 30 min "
                      "of 48 kHz stereo 16-bit WAV)"),
    "max_long_audio_seconds": (float, "longest recording accepted with chunking (4 hours)"),
    "chunk_seconds": (float, "longest chunk of a long recording (Voxtral's encoder window)"),
    "chunk_search_seconds": (float, "how far before the chunk length a pause is looked for"),
    "chunk_overlap_seconds": (float, "overlap after a hard cut (no pause found)"),
    "chunk_concurrency": (int, "chunks of one recording in the engine at once"),
    "max_concurrency": (
        int,
        "inference requests processed at once; more wait in the queue (default: the "
        "engine's batch size, vLLM's max_num_seqs)",
    ),
    "max_queue": (int, "requests that may wait for a slot; beyond, 429 / RESOURCE_EXHAUSTED"),
    "api_key": (
        str,
        "require `Authorization: Bearer KEY` (gRPC: `authorization` metadata) on /v1, /v2 "
        "and /openai routes but health, as vLLM's --api-key; several keys comma-separated",
    ),
    "max_inputs": (int, "audio inputs in one request: KServe v1 instances, v2 elements"),
    "body_timeout": (float, "seconds a request body may pause before it is refused with "
                     "408 (after them, it must average 16 KiB/s); a body is read in full "
                     "before the request takes a slot"),
    "max_buffered_mb": (float, "MiB of request bodies (and gRPC messages) held in memory "
                        "at once; a body that does not fit now is refused with 429"),
    "max_decoded_audio_seconds": (float, "seconds of decoded audio all requests hold at "
                                  "once (16 kHz PCM: 115 MB an hour); a request that would "
                                  "pass it is refused: 429 (or 413 if alone it would)"),
    "drain_timeout": (float, "seconds SIGTERM waits for admitted requests before exiting"),
    "compile_cache": (str, "a writable directory shared by the replicas (the model cache) "
                      "for vLLM's compile cache, per vLLM version (VLLM_CACHE_ROOT, when "
                      "not set, becomes DIR/vllm-VERSION): only the first replica compiles"),
    "warmup": (_bool, "run a synthetic transcription before reporting ready"),
    "access_log": (_bool, "log one line per HTTP request"),
    "vllm_args": (str, "extra vLLM engine flags, shell-quoted (e.g. '--max-num-batched-"
                  "tokens 8192'); they come last and win"),
}  # fmt: skip


# KServe's names for the same options (its custom runtimes get --model_dir and
# --model_name; --model_name and the ports already have underscore aliases).
_KSERVE_ALIASES: dict[str, list[str]] = {"model": ["--model_dir"]}


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def build_parser(parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """The ``voxtral-predictor`` parser. Defaults: the environment, then ``Options``."""
    parser = argparse.ArgumentParser(
        prog="voxtral-predictor",
        description="Serve Voxtral on vLLM behind a KServe model server: OpenAI audio and "
        "chat endpoints, KServe v1/v2 REST and v2 gRPC. Every flag can also be set by "
        f"the environment variable named in its help ({ENV_PREFIX}<FLAG>).",
        parents=list(parents),
        conflict_handler="resolve",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = Options()
    for f in fields(Options):
        convert, text = _HELP[f.name]
        flag = "--" + f.name.replace("_", "-")
        alias = "--" + f.name
        names = [flag] if alias == flag else [flag, alias]
        names += _KSERVE_ALIASES.get(f.name, [])
        default = getattr(defaults, f.name)
        if f.name == "vllm_args":
            default = " ".join(default)
        parser.add_argument(
            *names,
            dest=f.name,
            type=convert,
            default=os.environ.get(env_name(f.name), default),
            help=f"{text} [env {env_name(f.name)}]",
        )
    return parser


# The smallest value of each numeric option that still makes a working server (a
# --chunk-concurrency of 0 would hang every long-form request, for one).
_LEAST: dict[str, float] = {
    "http_port": 1,
    "api_servers": 1,
    "grpc_port": 1,
    "tensor_parallel_size": 1,
    "max_model_len": 1,
    "max_num_seqs": 1,
    "max_audio_seconds": 1,
    "max_chat_audio_seconds": 1,
    "max_upload_mb": 0.001,
    "max_long_audio_seconds": 1,
    "chunk_concurrency": 1,
    "max_concurrency": 1,
    "max_queue": 0,
    "max_inputs": 1,
    "body_timeout": 0.1,
    "max_buffered_mb": 1,
    "max_decoded_audio_seconds": 1,
    "drain_timeout": 0,
}


def options_from_namespace(ns: argparse.Namespace) -> Options:
    """Convert parsed flags (strings from the environment included) into ``Options``."""
    values: dict[str, Any] = {}
    for f in fields(Options):
        raw = getattr(ns, f.name)
        convert = _HELP[f.name][0]
        if f.name == "vllm_args":
            values[f.name] = tuple(shlex.split(raw)) if isinstance(raw, str) else tuple(raw)
        elif raw is None or raw == "":
            values[f.name] = getattr(Options(), f.name)
        elif isinstance(raw, str):
            values[f.name] = convert(raw)
        else:
            values[f.name] = raw
    options = Options(**values)
    try:
        options.chunk_policy  # noqa: B018 - validate the chunking flags now
    except ValueError as exc:
        raise SystemExit(f"voxtral-predictor: {exc}") from exc
    for name, least in _LEAST.items():
        value = getattr(options, name)
        if value is not None and value < least:
            flag = "--" + name.replace("_", "-")
            raise SystemExit(
                f"voxtral-predictor: {flag} (or {env_name(name)}) is {value}: it must be at "
                f"least {least}"
            )
    if not options.model:
        options = replace(options, model=kserve_model_dir(os.environ, os.path.isdir))
    if not options.model:
        raise SystemExit(
            f"voxtral-predictor: --model (or {env_name('model')}) is required: the path "
            "of a Voxtral checkpoint; `voxtral-tiny-model DIR` writes a tiny one (under "
            f"KServe: --model_dir, STORAGE_URI, or the model in {KSERVE_MODEL_DIR})"
        )
    return options


KSERVE_MODEL_DIR = "/mnt/models"
"""Where KServe's storage initializer puts an InferenceService's model."""


def kserve_model_dir(env: Mapping[str, str], is_dir: Callable[[str], bool]) -> str:
    """The model as KServe hands it to a custom runtime when no --model/--model_dir is
    given: STORAGE_URI when it names a local path (file:// or absolute), else the storage
    initializer's download, /mnt/models (STORAGE_URI hf://, s3://, pvc://...), if there."""
    uri = env.get("STORAGE_URI", "")
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    if uri.startswith("/"):
        return uri
    return KSERVE_MODEL_DIR if is_dir(KSERVE_MODEL_DIR) else ""
