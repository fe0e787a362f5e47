"""`vllm serve --api-server-count N` and `voxtral-predictor --api-servers N`, one after the
other, on the same GPU, weights and engine flags (engine.vllm_cli_args), with the same load
(benchmarks/gpu_bench.py: a distinct recording per request, a multi-process client, the CPU
of every server process sampled). Records start to ready (the first server with an empty
compile cache: cold; the others reuse it: warm) and peak GPU memory. Writes JSON.

On the GPU machine, after benchmarks/gpu/setup.sh:
    python3 benchmarks/gpu/compare.py --model /tmp/weights-mini --servers vllm:8 ours:8 \
        --out $OUT/mini.json
Anywhere (CPU, tiny model), to check the script itself:
    .venv/bin/python benchmarks/gpu/compare.py --model DIR --quick --servers vllm:1 ours:2
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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


def command(
    server: str, model: str, options: Options, gpus: int, port: int, ours_args: list[str]
) -> list[str]:
    kind, _, count = server.partition(":")
    if kind == "vllm":  # vLLM's own best server: several API processes (`vllm serve`)
        return [
            python(), "-m", "vllm.entrypoints.cli.main", "serve",
            *vllm_cli_args(options, gpus),
            "--host", "127.0.0.1", "--port", str(port),
            "--api-server-count", count or "1", "--disable-uvicorn-access-log",
        ]  # fmt: skip
    return [
        python(), "-m", "voxtral_predictor", "--model", model,
        "--host", "127.0.0.1", "--http-port", str(port), "--grpc-port", str(free_port()),
        "--access-log", "false", *(["--api-servers", count] if count else []), *ours_args,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["vllm:8", "ours"],
        help="vllm:N (vllm serve --api-server-count N), ours[:N] (voxtral-predictor, "
        "--api-servers N or its default)",
    )
    parser.add_argument("--workloads", nargs="+", default=gpu_bench.DEFAULT)
    parser.add_argument("--processes", type=int, default=8, help="client processes")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs (default: visible)")
    parser.add_argument("--cache", default="/tmp/vllm-cache", help="VLLM_CACHE_ROOT")
    parser.add_argument("--cold", action="store_true", help="empty the compile cache first")
    parser.add_argument("--quick", action="store_true", help="tiny counts (script check)")
    parser.add_argument(
        "--ours-args",
        default="",
        help="more voxtral-predictor flags, shell-quoted (e.g. '--max-concurrency 1024')",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    gpus = args.gpus
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    options = Options(model=args.model)
    if args.cold:
        shutil.rmtree(args.cache, ignore_errors=True)
    env = (
        vllm_env(options, gpus)
        | NCCL_SAFE_ENV
        | {"VLLM_USE_FLASHINFER_SAMPLER": "0", "VLLM_CACHE_ROOT": args.cache}
    )
    if args.quick:
        gpu_bench.quicken()
    workdir = Path(os.environ.get("OUT", "/tmp"))
    results: list[dict[str, object]] = []
    for name in args.servers:
        port = free_port()
        ready = "/health" if name.startswith("vllm") else "/v2/health/ready"
        cold = not any(Path(args.cache).glob("**/*"))
        cmd = command(name, args.model, options, gpus, port, shlex.split(args.ours_args))
        with GpuMemory() as memory:
            t = time.monotonic()
            server = start(name.replace(":", "-"), cmd, port, ready, workdir, env, timeout=900)
            startup = time.monotonic() - t
            print(f"{name}: ready in {startup:.0f} s ({'cold' if cold else 'warm'})", flush=True)
            try:
                for r in gpu_bench.bench(
                    [(server.base, None)],
                    name,
                    args.workloads,
                    args.processes,
                    chunking=not name.startswith("vllm"),
                    pids=[server.proc.pid],
                ):
                    results.append(asdict(r) | {"startup_s": round(startup), "cold": cold})
            finally:
                server.stop()
        for r in results:
            if r["server"] == name:
                r["gpu_memory_peak_mib"] = memory.peak
        print(f"{name}: peak GPU memory {memory.peak} MiB", flush=True)
        args.out.write_text(json.dumps(results, indent=1))
    by = {(r["server"], r["workload"]): r for r in results}
    print(
        gpu_bench.table(
            [
                gpu_bench.Result(**{k: v for k, v in r.items() if k in RESULT_FIELDS})
                for r in results
            ]
        )
    )
    best = {
        w: max((r for r in results if r["workload"] == w and str(r["server"]).startswith("vllm")),
               key=lambda r: r["rtfx"], default=None)
        for w in {str(r["workload"]) for r in results}
    }  # fmt: skip
    print("\n| workload | ours | ours / best vllm serve RTFx | p50 ours / vllm |")
    print("|---|---|---|---|")
    for (server, workload), r in sorted(by.items()):
        base = best.get(workload)
        if base and not server.startswith("vllm"):
            print(
                f"| {workload} | {server} | {float(r['rtfx']) / float(base['rtfx']):.3f} "
                f"| {float(r['p50']) / float(base['p50']):.3f} |"
            )


RESULT_FIELDS = set(gpu_bench.Result.__dataclass_fields__)


if __name__ == "__main__":
    main()
