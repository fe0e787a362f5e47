"""Transcription load against any OpenAI-compatible server (`vllm serve` or
voxtral-predictor): a distinct recording in every request (a repeated clip is served from
vLLM's multimodal and prefix caches and measures them, not serving), generated before the
clock starts, sent by several client processes so that the client is never the limit.
Output length is fixed at 2.5 tokens per second of audio (75 for a 30 s clip; random
weights never stop on their own). Non-streaming requests; latency is the whole answer.

With --server-pid, samples the CPU of every process of the server (engine core, API
servers or frontends) while the load runs, and reports the client's own CPU.

    python benchmarks/gpu_bench.py --base-url http://127.0.0.1:8080 --name predictor
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import distinct_clips

TOKENS_PER_SECOND = 2.5
CHUNK_SECONDS = 30.0


@dataclass
class Workload:
    name: str
    seconds: float
    concurrency: int
    requests: int
    chunked: bool = False


@dataclass
class Result:
    server: str
    workload: str
    requests: int
    errors: int
    wall: float
    rtfx: float
    rps: float
    p50: float
    p99: float
    client_cpu: float  # cores the client processes used, on average
    server_cpu: dict[str, float] = field(default_factory=dict)  # process -> % of a core


WORKLOADS = {
    "clip30-c1": Workload("30 s clips, concurrency 1", 30.0, 1, 16),
    "clip30-c64": Workload("30 s clips, concurrency 64", 30.0, 64, 640),
    "clip30-c256": Workload("30 s clips, concurrency 256", 30.0, 256, 1536),
    "clip30-c512": Workload("30 s clips, concurrency 512", 30.0, 512, 2560),
    "rec10m-c8-chunked": Workload("10-min recordings, concurrency 8, chunked", 600.0, 8, 16, True),
}
DEFAULT = ["clip30-c64", "clip30-c256", "clip30-c512"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _send(
    base: str, clips: list[bytes], work: Workload, concurrency: int, chunking: bool
) -> tuple[list[float], int]:
    tokens = int(TOKENS_PER_SECOND * min(work.seconds, CHUNK_SECONDS))
    data = {"model": "voxtral", "max_completion_tokens": str(tokens), "temperature": "0"}
    if chunking:  # voxtral-predictor's own field; vllm serve has no chunking
        data["chunking"] = "always" if work.chunked else "never"
    latencies: list[float] = []
    errors = 0
    queue = list(clips)
    async with httpx.AsyncClient(
        timeout=3600, limits=httpx.Limits(max_connections=concurrency + 4)
    ) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                audio = queue.pop()
                t = time.perf_counter()
                try:
                    r = await client.post(
                        f"{base}/v1/audio/transcriptions",
                        files={"file": ("clip.wav", audio, "audio/wav")},
                        data=data,
                    )
                    ok = r.status_code == 200
                    if not ok and errors < 3:
                        print(f"  error {r.status_code}: {r.text[:200]}", file=sys.stderr)
                except httpx.HTTPError as exc:
                    ok = False
                    print(f"  error {exc!r}", file=sys.stderr)
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def _client(index: int, args: tuple[Any, ...], barrier: Any, out: Any) -> None:
    base, work, processes, chunking, salt = args
    share = work.requests // processes + (index < work.requests % processes)
    concurrency = max(1, work.concurrency // processes + (index < work.concurrency % processes))
    # the same recordings for every server compared; none of them twice in a session
    clips = distinct_clips(share, work.seconds, seed=salt * 1_000_000 + 1000 * index)
    barrier.wait()  # the clock starts once every client has its recordings
    started = time.time()
    cpu = time.process_time()
    latencies, errors = asyncio.run(_send(base, clips, work, concurrency, chunking))
    out.put((started, time.time(), latencies, errors, time.process_time() - cpu))


class CpuSampler:
    """Mean CPU (% of one core) of each process of a server, every second."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _name(self, p: psutil.Process) -> str:
        line = " ".join(p.cmdline())
        for mark in ("EngineCore", "VLLM::Worker", "ApiServer", "APIServer"):
            if mark in p.name() or mark in line:
                return f"{p.name()}[{p.pid}]"
        return f"main[{p.pid}]" if p.pid == self.pid else f"{p.name()}[{p.pid}]"

    def _run(self) -> None:
        assert self.pid is not None
        root = psutil.Process(self.pid)
        procs = [root, *root.children(recursive=True)]
        for p in procs:
            p.cpu_percent(None)
        while not self._stop.wait(1.0):
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    self.samples.setdefault(self._name(p), []).append(p.cpu_percent(None))

    def __enter__(self) -> CpuSampler:
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def means(self) -> dict[str, float]:
        return {k: round(sum(v) / len(v), 1) for k, v in self.samples.items() if v}


def run(
    base: str,
    server: str,
    work: Workload,
    processes: int,
    chunking: bool,
    pid: int | None,
    salt: int = 0,
) -> Result:
    """``work`` from ``processes`` clients; ``salt`` picks the recordings (one salt, one
    set: give every run of a session its own)."""
    processes = max(1, min(processes, work.concurrency))
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(processes + 1), context.Queue()
    clients = [
        context.Process(
            target=_client, args=(i, (base, work, processes, chunking, salt), barrier, out)
        )
        for i in range(processes)
    ]
    for c in clients:
        c.start()
    barrier.wait()
    with CpuSampler(pid) as cpu:
        parts = [out.get() for _ in clients]
    for c in clients:
        c.join()
    wall = max(p[1] for p in parts) - min(p[0] for p in parts)
    latencies = [x for p in parts for x in p[2]]
    return Result(
        server=server,
        workload=work.name,
        requests=len(latencies),
        errors=sum(p[3] for p in parts),
        wall=round(wall, 2),
        rtfx=round(len(latencies) * work.seconds / wall, 1),
        rps=round(len(latencies) / wall, 2),
        p50=round(pct(latencies, 50), 3),
        p99=round(pct(latencies, 99), 3),
        client_cpu=round(sum(p[4] for p in parts) / wall, 2),
        server_cpu=cpu.means(),
    )


def table(results: list[Result]) -> str:
    rows = [
        "| server | workload | RTFx | req/s | p50 s | p99 s | errors | client cores | busiest server processes (% of a core) |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        busiest = sorted(r.server_cpu.items(), key=lambda kv: -kv[1])[:4]
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in busiest)
        rows.append(
            f"| {r.server} | {r.workload} | {r.rtfx:,.0f} | {r.rps:.1f} | {r.p50:.2f} | "
            f"{r.p99:.2f} | {r.errors} | {r.client_cpu:.1f} | {cpu} |"
        )
    return "\n".join(rows)


def bench(
    base: str,
    server: str,
    workloads: list[str],
    processes: int = 8,
    chunking: bool = False,
    pid: int | None = None,
) -> list[Result]:
    results = []
    for position, key in enumerate(workloads):
        work = WORKLOADS[key]
        warm = Workload("warm", work.seconds, 4, 8, work.chunked)
        run(base, server, warm, 4, chunking, None, salt=2 * position + 1)
        result = run(base, server, work, processes, chunking, pid, salt=2 * position + 2)
        print(table([result]).splitlines()[-1], flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--name", default="server")
    parser.add_argument("--workloads", nargs="+", default=DEFAULT, choices=list(WORKLOADS))
    parser.add_argument("--processes", type=int, default=8, help="client processes")
    parser.add_argument("--predictor", action="store_true", help="send `chunking` (ours)")
    parser.add_argument("--server-pid", type=int, help="sample this server's processes' CPU")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = bench(
        args.base_url, args.name, args.workloads, args.processes, args.predictor, args.server_pid
    )
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
