"""One TP=2 replica or two TP=1 replicas? Voxtral on two GPUs of one host, measured with
distinct audio (benchmarks/gpu_bench.py), voxtral-predictor and `vllm serve` side by side.

Configurations (each started, measured and stopped in turn, the compile cache shared):
    ours-tp2   voxtral-predictor as the operator's Deployment starts it for
               gpusPerReplica: 2 (OPERATOR_ENV: TP=2, its frontends), both GPUs
    ours-tp1   the same with --tensor-parallel-size 1 on GPU 0
    ours-2x    two TP=1 predictors, one a GPU, loaded together; clients take turns
    vllm-*     `vllm serve` with the same engine flags (engine.vllm_cli_args) and
               --api-server-count 8, beside each
    kill-worker  ours-tp2 once more: a tensor-parallel worker is killed (SIGKILL); the
               predictor must exit non-zero at once and leave no process behind
Every predictor is stopped with SIGTERM while requests run: they must all be answered,
the exit code 0 and every worker process gone.

Results (one JSON, rewritten after every step, so a run cut short keeps what it measured):
start to ready, KV-cache tokens per replica (from vLLM's log), peak GPU memory per GPU,
RTFx, requests/s, p50/p99, TTFT, decode tokens/s, CPU of every process.

On the GPU machine, after benchmarks/gpu/setup.sh (NVLink multicast stays off: NCCL_SAFE_ENV):
    python3 benchmarks/gpu/multigpu.py --model /tmp/weights-small --out $OUT/multigpu.json
Anywhere (CPU, tiny model), to check the script itself:
    .venv/bin/python benchmarks/gpu/multigpu.py --model DIR --quick --steps ours-tp1 vllm-tp1
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))
sys.path.insert(0, str(ROOT))
import gpu_bench
from common import Server, distinct_clips, free_port, python, start
from compare import GpuMemory

from voxtral_predictor.engine import NCCL_SAFE_ENV, vllm_cli_args, vllm_env
from voxtral_predictor.options import Options
from voxtral_predictor.vllm_adapter import version

# What the operator's Deployment gives the predictor for the voxtral-small-24b preset with
# gpusPerReplica: 2 (tests/test_benchmarks.py keeps it equal to the operator's builder).
OPERATOR_ENV = {
    "VOXTRAL_MODEL_NAME": "voxtral",
    "VOXTRAL_TENSOR_PARALLEL_SIZE": "2",
    "VOXTRAL_MAX_MODEL_LEN": "32768",
    "VOXTRAL_GPU_MEMORY_UTILIZATION": "0.9",
    "VOXTRAL_MAX_AUDIO_SECONDS": "1800",
    "VOXTRAL_MAX_CHAT_AUDIO_SECONDS": "2400",
    "VOXTRAL_MAX_UPLOAD_MB": "384",
    "VOXTRAL_DRAIN_TIMEOUT": "30",
    "VOXTRAL_API_SERVERS": "4",
    **NCCL_SAFE_ENV,
}
VLLM_API_SERVERS = "8"  # vllm serve's best count on one H200 (BENCHMARKS.md, issue 15)
CLIPS = ["clip30-c1-stream", "clip30-c64:256", "clip30-c512:1024"]
LONG = ["rec10m-c1-stream"]
OURS_ONLY = ["rec10m-c1-chunked:2", "clip30-c512-grpc:768"]
WORKLOADS = {
    "ours-tp2": CLIPS + LONG + OURS_ONLY,
    "ours-tp1": CLIPS + LONG + OURS_ONLY,
    "ours-2x": CLIPS[1:],  # one stream is one replica's: ours-tp1 measures it
    "vllm-tp2": CLIPS + LONG,
    "vllm-tp1": CLIPS + LONG,
    "vllm-2x": CLIPS[1:],
}
STEPS = ["ours-tp2", "ours-tp1", "ours-2x", "vllm-tp2", "kill-worker", "vllm-tp1", "vllm-2x"]
REPLICAS = {"tp2": [("0,1", 2)], "tp1": [("0", 1)], "2x": [("0", 1), ("1", 1)]}
DRAIN_REQUESTS = 32
KV_TOKENS = re.compile(r"KV cache size: ([\d,]+) tokens")


@dataclass
class Replica:
    server: Server
    grpc: str | None


def kv_tokens(log: Path) -> list[int]:
    return [int(m.replace(",", "")) for m in KV_TOKENS.findall(log.read_text(errors="replace"))]


def start_replicas(step: str, model: str, cache: Path, workdir: Path, quick: bool) -> list[Replica]:
    """The step's replicas, started together (each on its GPUs)."""
    kind, _, layout = step.partition("-")
    base_env = os.environ | {"VLLM_USE_FLASHINFER_SAMPLER": "0"} | NCCL_SAFE_ENV
    pending: list[tuple[str, list[str], int, str, dict[str, str], str | None]] = []
    for index, (devices, tp) in enumerate(REPLICAS[layout]):
        port, name = free_port(), f"{step}-{index}"
        env = dict(base_env)
        if not quick:
            env["CUDA_VISIBLE_DEVICES"] = devices
        options = Options(model=model, tensor_parallel_size=tp)
        if kind == "ours":
            grpc_port = free_port()
            env |= OPERATOR_ENV | {
                "VOXTRAL_MODEL": model,
                "VOXTRAL_TENSOR_PARALLEL_SIZE": str(tp),
                "VOXTRAL_COMPILE_CACHE": str(cache),
                "VOXTRAL_HOST": "127.0.0.1",
                "VOXTRAL_HTTP_PORT": str(port),
                "VOXTRAL_GRPC_PORT": str(grpc_port),
            }
            if quick:  # CPU: the tiny model's small cache, workers bound to a core each
                env |= {"VOXTRAL_API_SERVERS": "2", "VOXTRAL_MAX_MODEL_LEN": "4096"}
                env |= {"VOXTRAL_KV_CACHE_MEMORY_BYTES": str(128 << 20)}
                env |= {"VLLM_CPU_OMP_THREADS_BIND": "|".join(map(str, range(tp)))}
            cmd = [python(), "-m", "voxtral_predictor", "--access-log", "false"]
            pending.append((name, cmd, port, "/v2/health/ready", env, f"127.0.0.1:{grpc_port}"))
        else:
            gpus = 0 if quick else tp
            env |= vllm_env(options, gpus) | {"VLLM_CACHE_ROOT": str(cache / f"vllm-{version()}")}
            cmd = [
                python(), "-m", "vllm.entrypoints.cli.main", "serve",
                *vllm_cli_args(options, gpus), "--host", "127.0.0.1", "--port", str(port),
                "--api-server-count", "1" if quick else VLLM_API_SERVERS,
                "--disable-uvicorn-access-log",
            ]  # fmt: skip
            pending.append((name, cmd, port, "/health", env, None))
    with concurrent.futures.ThreadPoolExecutor(len(pending)) as pool:
        started = [
            pool.submit(start, name, cmd, port, ready, workdir, env, 1200)
            for name, cmd, port, ready, env, _ in pending
        ]
        concurrent.futures.wait(started)
    failed = [f.exception() for f in started if f.exception() is not None]
    if failed:  # stop the others: they would hold their GPU from the next step
        for f in started:
            if f.exception() is None:
                f.result().stop()
        raise RuntimeError(f"{step} did not start: {failed[0]!r}")
    return [Replica(f.result(), grpc) for f, (*_, grpc) in zip(started, pending, strict=True)]


def descendants(pid: int) -> list[psutil.Process]:
    return list(psutil.Process(pid).children(recursive=True))


def left_running(procs: list[psutil.Process], wait: float = 5.0) -> list[int]:
    """Those of ``procs`` still running after ``wait`` seconds."""
    return [p.pid for p in psutil.wait_procs(procs, timeout=wait)[1]]


def stop_under_load(replica: Replica, seconds: float) -> dict[str, Any]:
    """SIGTERM while DRAIN_REQUESTS requests run: all answered 200, exit 0, no process left."""
    server = replica.server
    everyone = descendants(server.proc.pid)
    clips = distinct_clips(DRAIN_REQUESTS, seconds, seed=999_000)

    def send(audio: bytes) -> int:
        return httpx.post(
            f"{server.base}/v1/audio/transcriptions",
            files={"file": ("clip.wav", audio, "audio/wav")},
            data={"model": "voxtral", "max_completion_tokens": "75"},
            timeout=300,
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(DRAIN_REQUESTS) as pool:
        answers = [pool.submit(send, clip) for clip in clips]
        time.sleep(1.0)
        t = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=120)
        stopped = time.monotonic() - t
        statuses = [a.result() for a in answers]
    return {
        "exit_code": code,
        "stop_s": round(stopped, 1),
        "answered_200": statuses.count(200),
        "requests": len(statuses),
        "processes_left": left_running(everyone),
    }


def kill_worker(replica: Replica) -> dict[str, Any]:
    """SIGKILL one tensor-parallel worker: the predictor must exit non-zero at once."""
    server = replica.server
    everyone = descendants(server.proc.pid)
    workers = {p.name(): p for p in everyone if "Worker" in p.name()}
    victim = max(workers)
    t = time.monotonic()
    workers[victim].kill()
    try:
        code: int | None = server.proc.wait(timeout=120)
    except Exception:
        code = None
    exited = time.monotonic() - t
    return {
        "workers": sorted(workers),
        "killed": victim,
        "exit_code": code,
        "exit_s": round(exited, 1),
        "processes_left": left_running(everyone),
    }


def run_step(step: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = "ours-tp2" if step == "kill-worker" else step
    cold = not any(Path(args.cache).rglob("*"))
    with GpuMemory() as memory:
        t = time.monotonic()
        replicas = start_replicas(config, args.model, Path(args.cache), workdir, args.quick)
        record: dict[str, Any] = {
            "step": step,
            "startup_s": round(time.monotonic() - t),
            "cold": cold,
            "kv_cache_tokens": [kv_tokens(r.server.log) for r in replicas],
        }
        print(f"{step}: ready in {record['startup_s']} s", flush=True)
        try:
            if step == "kill-worker":
                record["kill_worker"] = kill_worker(replicas[0])
                return record
            targets = [(r.server.base, r.grpc) for r in replicas]
            pids = [r.server.proc.pid for r in replicas]
            results = gpu_bench.bench(
                targets, step, WORKLOADS[step], args.processes, step.startswith("ours"), pids
            )
            record["results"] = [asdict(r) for r in results]
            if step.startswith("ours"):
                record["sigterm"] = [
                    stop_under_load(r, 2.0 if args.quick else 30.0) for r in replicas
                ]
        finally:
            for r in replicas:
                r.server.stop()
            record["gpu_memory_peak_mib"] = memory.peak
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--steps",
        nargs="+",
        # the most telling first: a run cut short still answers TP=2 against TP=1
        default=[*STEPS],
        choices=[*WORKLOADS, "kill-worker"],
    )
    parser.add_argument("--processes", type=int, default=8, help="client processes")
    parser.add_argument("--cache", default="/tmp/voxtral-cache", help="the compile cache")
    parser.add_argument("--quick", action="store_true", help="CPU, tiny model: tiny counts")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.quick:
        gpu_bench.quicken()
        for key, specs in WORKLOADS.items():
            WORKLOADS[key] = [s.partition(":")[0] for s in specs]
    workdir = Path(os.environ.get("OUT", "/tmp"))
    records: list[dict[str, Any]] = []
    for step in args.steps:
        try:
            records.append(run_step(step, args, workdir))
        except (SystemExit, Exception) as exc:  # the next steps still run
            records.append({"step": step, "failed": repr(exc)[:2000]})
            print(f"{step} failed: {exc!r}"[:2000], flush=True)
        args.out.write_text(json.dumps(records, indent=1))
    print(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
