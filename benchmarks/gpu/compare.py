"""Bare vLLM's OpenAI server and voxtral-predictor, one after the other, same weights,
same engine flags (engine.vllm_cli_args), same request mix (benchmarks/gpu_bench.py).
Samples GPU memory with nvidia-smi while each server runs. Writes results as JSON.

On the GPU machine, after benchmarks/gpu/setup.sh:
    python3 benchmarks/gpu/compare.py --model /tmp/weights-mini --out $OUT/mini.json
Anywhere (CPU, tiny model), to check the script itself:
    .venv/bin/python benchmarks/gpu/compare.py --model DIR --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
import gpu_bench
from common import free_port, python, start

from voxtral_predictor.engine import NCCL_SAFE_ENV, vllm_cli_args, vllm_env
from voxtral_predictor.options import Options


class GpuMemory:
    """Highest memory.used per GPU (MiB) while running, from nvidia-smi."""

    def __init__(self) -> None:
        self.peak: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            used = [int(x) for x in out if x.isdigit()]
            self.peak = [max(a, b) for a, b in zip(self.peak or used, used, strict=False)]
            self._stop.wait(0.5)

    def __enter__(self) -> GpuMemory:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--servers", nargs="+", default=["bare-vllm", "predictor"])
    parser.add_argument("--workloads", nargs="+", default=gpu_bench.DEFAULT)
    parser.add_argument("--gpus", type=int, default=None, help="GPUs (default: visible)")
    parser.add_argument(
        "--predictor-chunked",
        action="store_true",
        help="also run the predictor on the 10-minute mix with chunking=always",
    )
    parser.add_argument(
        "--chunked-only", action="store_true", help="run the predictor with chunking=always only"
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts (script check)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    gpus = args.gpus
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    options = Options(model=args.model)
    env = (
        vllm_env(options, gpus)
        | NCCL_SAFE_ENV
        | {
            "VLLM_USE_FLASHINFER_SAMPLER": "0",
            "VLLM_CACHE_ROOT": os.environ.get("VLLM_CACHE_ROOT", "/tmp/vllm-cache"),
        }
    )
    if args.quick:
        for w in gpu_bench.WORKLOADS.values():
            w.requests = max(w.concurrency, 2)
    workdir = Path(os.environ.get("OUT", "/tmp"))
    results: list[dict[str, object]] = []
    for name in args.servers:
        port = free_port()
        if name == "bare-vllm":
            cmd = [
                python(),
                "-m",
                "vllm.entrypoints.openai.api_server",
                *vllm_cli_args(options, gpus),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-uvicorn-access-log",
            ]
            ready = "/health"
        else:
            cmd = [
                python(),
                "-m",
                "voxtral_predictor",
                "--model",
                args.model,
                "--host",
                "127.0.0.1",
                "--http-port",
                str(port),
                "--grpc-port",
                str(free_port()),
                "--access-log",
                "false",
            ]
            ready = "/v2/health/ready"
        with GpuMemory() as memory:
            t = time.monotonic()
            server = start(name, cmd, port, ready, workdir, env, timeout=900)
            startup = time.monotonic() - t
            print(f"{name}: ready in {startup:.0f} s", flush=True)
            try:
                runs = [(False, args.workloads)]
                if name == "predictor" and args.predictor_chunked:
                    runs.append((True, [w for w in args.workloads if w.startswith("rec")]))
                if name == "predictor" and args.chunked_only:
                    runs = [(True, args.workloads)]
                for chunked, workloads in runs:
                    bench = argparse.Namespace(
                        base_url=server.base,
                        name=name,
                        workloads=workloads,
                        never_chunk=name == "predictor" and not chunked,
                        always_chunk=chunked,
                    )
                    for r in asyncio.run(gpu_bench.main_async(bench)):
                        results.append(asdict(r) | {"startup_s": startup})
            finally:
                server.stop()
        for r in results:
            if r["server"] == name:
                r["gpu_memory_peak_mib"] = memory.peak
        print(f"{name}: peak GPU memory {memory.peak} MiB", flush=True)
    args.out.write_text(json.dumps(results, indent=1))
    by = {(r["server"], r["workload"]): r for r in results}
    print("\n| workload | ours/bare RTFx | ours/bare p50 | ours - bare TTFT p50 |")
    print("|---|---|---|---|")
    for key in args.workloads:
        w = gpu_bench.WORKLOADS[key].name
        bare, ours = by.get(("bare-vllm", w)), by.get(("predictor", w))
        if bare and ours:
            print(
                f"| {w} | {ours['rtfx'] / bare['rtfx']:.3f} | {ours['p50'] / bare['p50']:.3f} "
                f"| {1000 * (ours['ttft_p50'] - bare['ttft_p50']):+.0f} ms |"
            )


if __name__ == "__main__":
    main()
