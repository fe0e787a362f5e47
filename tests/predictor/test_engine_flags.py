"""Pure: options -> vLLM flags and environment; GPU count -> tensor parallelism."""

from __future__ import annotations

import re

import pytest

from voxtral_predictor.engine import (
    NCCL_SAFE_ENV,
    tensor_parallel_size,
    visible_gpu_count,
    vllm_cli_args,
    vllm_env,
)
from voxtral_predictor.options import Options, build_parser, options_from_namespace


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_voxtral_needs_mistral_formats_always() -> None:
    args = vllm_cli_args(Options(model="/m"), gpus=1)
    for name in ("--tokenizer-mode", "--config-format", "--load-format"):
        assert flag(args, name) == "mistral"
    assert flag(args, "--tool-call-parser") == "mistral" and "--enable-auto-tool-choice" in args


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_tensor_parallel_defaults_to_visible_gpus(gpus: int) -> None:
    args = vllm_cli_args(Options(model="/m"), gpus=gpus)
    assert flag(args, "--tensor-parallel-size") == str(gpus)
    assert "--gpu-memory-utilization" in args and "--kv-cache-memory-bytes" not in args
    assert "--enforce-eager" not in args  # CUDA graphs on GPUs


def test_explicit_tensor_parallel_wins_and_is_checked() -> None:
    assert tensor_parallel_size(Options(model="/m", tensor_parallel_size=2), gpus=4) == 2
    with pytest.raises(ValueError, match="needs that many GPUs but only 1"):
        tensor_parallel_size(Options(model="/m", tensor_parallel_size=2), gpus=1)
    with pytest.raises(ValueError, match="at least 1"):
        tensor_parallel_size(Options(model="/m", tensor_parallel_size=0), gpus=1)


def test_cpu_backend_gets_an_explicit_kv_cache() -> None:
    args = vllm_cli_args(Options(model="/m"), gpus=0)
    assert flag(args, "--tensor-parallel-size") == "1"
    assert int(flag(args, "--kv-cache-memory-bytes")) == 1 << 30
    assert "--enforce-eager" in args and "--gpu-memory-utilization" not in args
    args = vllm_cli_args(Options(model="/m", kv_cache_memory_bytes=64 << 20), gpus=0)
    assert int(flag(args, "--kv-cache-memory-bytes")) == 64 << 20


def test_visible_gpus_follow_cuda_visible_devices() -> None:
    assert visible_gpu_count({}, 8) == 8
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": "0,1"}, 8) == 2
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": ""}, 8) == 0
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": "0"}, 0) == 0


def test_extra_vllm_args_come_last() -> None:
    args = vllm_cli_args(Options(model="/m", vllm_args=("--max-num-batched-tokens", "8192")), 1)
    assert args[-2:] == ["--max-num-batched-tokens", "8192"]


def test_audio_limits_raised_to_voxtral_capacity() -> None:
    env = vllm_env(Options(model="/m"), gpus=1)
    assert int(env["VLLM_MAX_AUDIO_DECODE_DURATION_S"]) > 2400  # 40 min of understanding
    assert int(env["VLLM_MAX_AUDIO_CLIP_FILESIZE_MB"]) > 384
    assert not set(NCCL_SAFE_ENV) & set(env)
    assert vllm_env(Options(model="/m"), gpus=2).items() >= NCCL_SAFE_ENV.items()


def test_every_option_reads_its_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXTRAL_MODEL", "/weights")
    monkeypatch.setenv("VOXTRAL_HTTP_PORT", "9000")
    monkeypatch.setenv("VOXTRAL_TENSOR_PARALLEL_SIZE", "2")
    monkeypatch.setenv("VOXTRAL_ENABLE_GRPC", "false")
    monkeypatch.setenv("VOXTRAL_VLLM_ARGS", "--max-num-seqs 8")
    options = options_from_namespace(build_parser().parse_args([]))
    assert options.model == "/weights" and options.http_port == 9000
    assert options.tensor_parallel_size == 2 and options.enable_grpc is False
    assert options.vllm_args == ("--max-num-seqs", "8")
    # a flag beats the environment
    options = options_from_namespace(build_parser().parse_args(["--http-port", "9100"]))
    assert options.http_port == 9100


def test_model_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXTRAL_MODEL", raising=False)
    with pytest.raises(SystemExit, match="voxtral-tiny-model"):
        options_from_namespace(build_parser().parse_args([]))


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--chunk-concurrency", "0"], "--chunk-concurrency (or VOXTRAL_CHUNK_CONCURRENCY) is 0"),
        (["--max-concurrency", "0"], "--max-concurrency (or VOXTRAL_MAX_CONCURRENCY) is 0"),
        (["--max-queue", "-1"], "--max-queue (or VOXTRAL_MAX_QUEUE) is -1: it must be at least 0"),
        (["--max-audio-seconds", "0"], "--max-audio-seconds"),
    ],
)
def test_a_number_that_cannot_work_is_refused_at_start(flags: list[str], said: str) -> None:
    with pytest.raises(SystemExit, match=re.escape(said)):
        options_from_namespace(build_parser().parse_args(["--model", "/m", *flags]))
    options_from_namespace(build_parser().parse_args(["--model", "/m", "--max-queue", "0"]))


def test_kserve_conventions_of_a_custom_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """What KServe passes a custom runtime: --model_dir and --model_name ({{.Name}}), its
    own flags (its parser is a parent of ours), or only STORAGE_URI / the storage
    initializer's /mnt/models."""
    from kserve.model_server import parser as kserve_parser

    from voxtral_predictor.options import kserve_model_dir

    monkeypatch.delenv("VOXTRAL_MODEL", raising=False)
    parser = build_parser([kserve_parser])
    flags = ["--model_dir=/mnt/models", "--model_name=voxtral-mini", "--http_port=8080"]
    options = options_from_namespace(parser.parse_args([*flags, "--workers", "1"]))
    assert (options.model, options.model_name, options.http_port) == (
        "/mnt/models",
        "voxtral-mini",
        8080,
    )
    assert kserve_model_dir({"STORAGE_URI": "file:///models/voxtral"}, bool) == "/models/voxtral"
    assert kserve_model_dir({"STORAGE_URI": "/models/voxtral"}, bool) == "/models/voxtral"
    downloaded = {"STORAGE_URI": "hf://mistralai/Voxtral-Mini-3B-2507"}
    assert kserve_model_dir(downloaded, lambda path: path == "/mnt/models") == "/mnt/models"
    assert kserve_model_dir({}, lambda path: False) == ""
    monkeypatch.setenv("STORAGE_URI", "file:///weights/voxtral")
    assert options_from_namespace(build_parser().parse_args([])).model == "/weights/voxtral"
    monkeypatch.setenv("STORAGE_URI", "hf://mistralai/Voxtral-Mini-3B-2507")  # not downloaded
    with pytest.raises(SystemExit, match="STORAGE_URI, or the model in /mnt/models"):
        options_from_namespace(build_parser().parse_args([]))
