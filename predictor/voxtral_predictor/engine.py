"""Pure: our options -> the vLLM engine's command-line flags and environment.

The same flags start bare vLLM in the benchmarks, so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Mapping

from .options import MiB, Options

# Voxtral only loads in Mistral's own format (model card; vLLM's voxtral.py).
MISTRAL_FORMAT = (
    "--tokenizer-mode", "mistral",
    "--config-format", "mistral",
    "--load-format", "mistral",
)  # fmt: skip
CPU_KV_CACHE_DEFAULT_BYTES = 1024 * MiB
# NVLink multicast must stay off on the lent multi-GPU machines and on many clusters.
NCCL_SAFE_ENV = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def visible_gpu_count(env: Mapping[str, str], cuda_device_count: int) -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else what CUDA reports."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() not in ("", "-1")]
        return min(len(ids), cuda_device_count) if cuda_device_count else 0
    return cuda_device_count


def tensor_parallel_size(options: Options, gpus: int) -> int:
    """--tensor-parallel-size when given, else every visible GPU (1 on CPU)."""
    if options.tensor_parallel_size is not None:
        if options.tensor_parallel_size < 1:
            raise ValueError("--tensor-parallel-size must be at least 1")
        if gpus and options.tensor_parallel_size > gpus:
            raise ValueError(
                f"--tensor-parallel-size {options.tensor_parallel_size} needs that many "
                f"GPUs but only {gpus} are visible"
            )
        return options.tensor_parallel_size
    return max(gpus, 1)


def vllm_cli_args(options: Options, gpus: int) -> list[str]:
    """The flags vLLM's own OpenAI server would be started with for these options."""
    on_cpu = gpus == 0
    args = [
        "--model", options.model,
        "--served-model-name", options.model_name,
        *MISTRAL_FORMAT,
        "--tensor-parallel-size", str(tensor_parallel_size(options, gpus)),
        "--max-model-len", str(options.max_model_len),
        "--dtype", options.dtype,
        "--enable-auto-tool-choice",
        "--tool-call-parser", "mistral",
        # Voxtral accepts at most 5 audios a prompt (vLLM's get_supported_mm_limits).
        "--limit-mm-per-prompt", '{"audio": 5}',
    ]  # fmt: skip
    if on_cpu:
        kv_bytes = options.kv_cache_memory_bytes or CPU_KV_CACHE_DEFAULT_BYTES
        args += ["--kv-cache-memory-bytes", str(kv_bytes)]
    else:
        args += ["--gpu-memory-utilization", str(options.gpu_memory_utilization)]
        if options.kv_cache_memory_bytes:
            args += ["--kv-cache-memory-bytes", str(options.kv_cache_memory_bytes)]
    eager = on_cpu if options.enforce_eager is None else options.enforce_eager
    if eager:
        args.append("--enforce-eager")
    if options.max_num_seqs is not None:
        args += ["--max-num-seqs", str(options.max_num_seqs)]
    return args + list(options.vllm_args)


def vllm_env(options: Options, gpus: int) -> dict[str, str]:
    """Environment vLLM reads at start-up: its audio limits raised to Voxtral's real
    capacity (its defaults cut at 25 MB and 10 minutes) and NCCL kept off multicast."""
    longest = max(options.max_audio_seconds, options.max_chat_audio_seconds)
    env = {
        "VLLM_MAX_AUDIO_CLIP_FILESIZE_MB": str(int(options.max_upload_mb) + 1),
        "VLLM_MAX_AUDIO_DECODE_DURATION_S": str(int(longest) + 1),
        # float32 PCM of the longest audio at 48 kHz stereo, the largest we resample
        "VLLM_MAX_AUDIO_DECODE_BYTES": str(int(longest + 1) * 48_000 * 2 * 4),
    }
    if gpus > 1:
        env |= NCCL_SAFE_ENV
    return env
