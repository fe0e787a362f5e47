"""Transcription load against any OpenAI-compatible server (`vllm serve` or
voxtral-predictor): a distinct recording in every request (a repeated clip is served from
vLLM's multimodal and prefix caches and measures them, not serving), generated before the
clock starts, sent by several client processes so that the client is never the limit.
Output length is fixed at 2.5 tokens per second of audio (75 for a 30 s clip; random
weights never stop on their own). Latency is the whole answer; streaming workloads also
give the time to the first token and the decode rate of each stream (tokens a second after
the first). ``--base-url`` may name several servers (replicas side by side): client
processes take them in turn.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import distinct_clips, v2_grpc_request

TOKENS_PER_SECOND = 2.5
CHUNK_SECONDS = 30.0


@dataclass
class Workload:
    name: str
    seconds: float
    concurrency: int
    requests: int
    chunked: bool = False
    stream: bool = False
    grpc: bool = False  # KServe v2 gRPC ModelInfer (voxtral-predictor) instead of OpenAI REST
    warm: int = 8  # requests sent before the measured ones

    @property
    def tokens(self) -> int:
        """Output tokens: of each 30 s chunk when chunked, of the whole recording if not."""
        return round(TOKENS_PER_SECOND * (CHUNK_SECONDS if self.chunked else self.seconds))


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
    ttft_p50: float | None = None  # streams: seconds to the first token
    ttft_p99: float | None = None
    decode_tps: float | None = None  # streams: median tokens a second after the first
    server_cpu: dict[str, float] = field(default_factory=dict)  # process -> % of a core


WORKLOADS = {
    "clip30-c1": Workload("30 s clips, concurrency 1", 30.0, 1, 16),
    "clip30-c64": Workload("30 s clips, concurrency 64", 30.0, 64, 640),
    "clip30-c256": Workload("30 s clips, concurrency 256", 30.0, 256, 1536),
    "clip30-c512": Workload("30 s clips, concurrency 512", 30.0, 512, 2560),
    "rec10m-c8-chunked": Workload("10-min recordings, concurrency 8, chunked", 600.0, 8, 16, True),
    "clip30-c1-stream": Workload("30 s clips, concurrency 1, streamed", 30.0, 1, 8, stream=True),
    "clip30-c512-grpc": Workload(
        "30 s clips, concurrency 512, v2 gRPC", 30.0, 512, 1024, grpc=True
    ),
    "rec10m-c1-stream": Workload(
        "10-min recording, concurrency 1, one pass, streamed", 600.0, 1, 2, stream=True, warm=0
    ),
    "rec10m-c1-chunked": Workload(
        "10-min recording, concurrency 1, chunked", 600.0, 1, 3, True, warm=1
    ),
}
DEFAULT = ["clip30-c64", "clip30-c256", "clip30-c512"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# one answered request: (latency, seconds to the first token, decode tokens a second)
Sample = tuple[float, float | None, float | None]


def _token_events(line: str) -> int:
    """1 when a server-sent event line carries text: OpenAI's `transcript.text.delta`
    (voxtral-predictor) or a `transcription.chunk` delta (vllm serve)."""
    if not line.startswith("data: ") or line == "data: [DONE]":
        return 0
    event = json.loads(line[6:])
    text = event.get("delta") or (event.get("choices") or [{}])[0].get("delta", {}).get("content")
    return 1 if isinstance(text, str) and text else 0


async def _send(
    target: tuple[str, str | None], clips: list[bytes], work: Workload, concurrency: int,
    chunking: bool,
) -> tuple[list[Sample], int]:  # fmt: skip
    base, grpc_target = target
    mode = ("always" if work.chunked else "never") if chunking else None
    data = {"model": "voxtral", "max_completion_tokens": str(work.tokens), "temperature": "0"}
    if mode:  # voxtral-predictor's own field; vllm serve has no chunking
        data["chunking"] = mode
    if work.stream:
        data["stream"] = "true"
    samples: list[Sample] = []
    errors = 0
    queue = list(clips)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=3600, limits=httpx.Limits(max_connections=concurrency + 4))
        )
        stub: Any = None
        if work.grpc:
            from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

            assert grpc_target, "a gRPC workload needs the server's gRPC address"
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(
                    grpc_target, options=[("grpc.max_send_message_length", 64 << 20)]
                )
            )
            stub = pb_grpc.GRPCInferenceServiceStub(channel)

        async def one(audio: bytes) -> Sample:
            t = time.perf_counter()
            if stub is not None:
                await stub.ModelInfer(v2_grpc_request(audio, work.tokens, mode))
                return time.perf_counter() - t, None, None
            files = {"file": ("clip.wav", audio, "audio/wav")}
            url = f"{base}/v1/audio/transcriptions"
            if not work.stream:
                r = await client.post(url, files=files, data=data)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
                return time.perf_counter() - t, None, None
            first = last = 0.0
            tokens = 0
            async with client.stream("POST", url, files=files, data=data) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {(await r.aread())[:200]!r}")
                async for line in r.aiter_lines():
                    if _token_events(line):
                        last = time.perf_counter()
                        first = first or last
                        tokens += 1
            rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else None
            return last - t, (first - t) if tokens else None, rate

        async def worker() -> None:
            nonlocal errors
            while queue:
                try:
                    samples.append(await one(queue.pop()))
                except (httpx.HTTPError, grpc.aio.AioRpcError, RuntimeError) as exc:
                    if errors < 3:
                        print(f"  error {exc!r}"[:300], file=sys.stderr)
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, errors


def _client(index: int, args: tuple[Any, ...], barrier: Any, out: Any) -> None:
    targets, work, processes, chunking, salt = args
    share = work.requests // processes + (index < work.requests % processes)
    concurrency = max(1, work.concurrency // processes + (index < work.concurrency % processes))
    # the same recordings for every server compared; none of them twice in a session
    clips = distinct_clips(share, work.seconds, seed=salt * 1_000_000 + 1000 * index)
    barrier.wait()  # the clock starts once every client has its recordings
    started = time.time()
    cpu = time.process_time()
    target = targets[index % len(targets)]  # replicas side by side: clients take turns
    samples, errors = asyncio.run(_send(target, clips, work, concurrency, chunking))
    out.put((started, time.time(), samples, errors, time.process_time() - cpu))


class CpuSampler:
    """Mean CPU (% of one core) of each process of a server, every second."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _name(self, p: psutil.Process) -> str:
        line = " ".join(p.cmdline())
        for mark in ("EngineCore", "VLLM::Worker", "ApiServer", "APIServer"):
            if mark in p.name() or mark in line:
                return f"{p.name()}[{p.pid}]"
        return f"main[{p.pid}]" if p.pid in self.pids else f"{p.name()}[{p.pid}]"

    def _run(self) -> None:
        roots = [psutil.Process(pid) for pid in self.pids]
        procs = [p for root in roots for p in (root, *root.children(recursive=True))]
        for p in procs:
            p.cpu_percent(None)
        while not self._stop.wait(1.0):
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    self.samples.setdefault(self._name(p), []).append(p.cpu_percent(None))

    def __enter__(self) -> CpuSampler:
        if self.pids:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def means(self) -> dict[str, float]:
        return {k: round(sum(v) / len(v), 1) for k, v in self.samples.items() if v}


Target = tuple[str, str | None]  # a server's (HTTP base URL, gRPC host:port)


def _median(values: list[float]) -> float | None:
    return round(pct(values, 50), 3) if values else None


def run(
    targets: list[Target],
    server: str,
    work: Workload,
    processes: int,
    chunking: bool,
    pids: list[int],
    salt: int = 0,
) -> Result:
    """``work`` from ``processes`` clients, spread over ``targets``; ``salt`` picks the
    recordings (one salt, one set: give every run of a session its own)."""
    processes = max(1, min(processes, work.concurrency))
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(processes + 1), context.Queue()
    clients = [
        context.Process(
            target=_client, args=(i, (targets, work, processes, chunking, salt), barrier, out)
        )
        for i in range(processes)
    ]
    for c in clients:
        c.start()
    barrier.wait()
    with CpuSampler(pids) as cpu:
        parts = [out.get() for _ in clients]
    for c in clients:
        c.join()
    wall = max(p[1] for p in parts) - min(p[0] for p in parts)
    samples: list[Sample] = [x for p in parts for x in p[2]]
    latencies = [x[0] for x in samples]
    ttfts = [x[1] for x in samples if x[1] is not None]
    rates = [x[2] for x in samples if x[2] is not None]
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
        ttft_p50=_median(ttfts),
        ttft_p99=round(pct(ttfts, 99), 3) if ttfts else None,
        decode_tps=round(pct(rates, 50), 1) if rates else None,
    )


def table(results: list[Result]) -> str:
    rows = [
        "| server | workload | RTFx | req/s | p50 s | p99 s | TTFT p50 s | decode tok/s | errors | client cores | busiest server processes (% of a core) |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        busiest = sorted(r.server_cpu.items(), key=lambda kv: -kv[1])[:4]
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in busiest)
        ttft = "" if r.ttft_p50 is None else f"{r.ttft_p50:.2f}"
        rate = "" if r.decode_tps is None else f"{r.decode_tps:.0f}"
        rows.append(
            f"| {r.server} | {r.workload} | {r.rtfx:,.0f} | {r.rps:.1f} | {r.p50:.2f} | "
            f"{r.p99:.2f} | {ttft} | {rate} | {r.errors} | {r.client_cpu:.1f} | {cpu} |"
        )
    return "\n".join(rows)


def quicken() -> None:
    """Tiny counts, to check a script on CPU with the tiny model."""
    for w in WORKLOADS.values():
        w.concurrency, w.requests, w.warm = (
            min(w.concurrency, 4),
            min(w.requests, 4),
            min(w.warm, 1),
        )
        w.seconds = min(w.seconds, 60.0)


def workload(spec: str) -> Workload:
    """A workload by name, ``NAME`` or ``NAME:REQUESTS`` (fewer or more requests)."""
    key, _, requests = spec.partition(":")
    if key not in WORKLOADS:
        raise SystemExit(f"unknown workload {key!r}: one of {', '.join(WORKLOADS)}")
    work = WORKLOADS[key]
    return replace(work, requests=int(requests)) if requests else work


def bench(
    targets: list[Target],
    server: str,
    workloads: list[str],
    processes: int = 8,
    chunking: bool = False,
    pids: list[int] | None = None,
    salt: int = 0,
) -> list[Result]:
    """Each workload after its own warm-up; ``salt`` keeps this call's recordings apart
    from other calls' of the same session."""
    results = []
    for spec in workloads:
        work = workload(spec)
        position = list(WORKLOADS).index(spec.partition(":")[0])  # its recordings, any list
        if work.warm:
            warm = replace(work, name="warm", concurrency=min(4, work.warm), requests=work.warm)
            run(targets, server, warm, 4, chunking, [], salt=salt + 2 * position + 1)
        result = run(
            targets, server, work, processes, chunking, pids or [], salt=salt + 2 * position + 2
        )
        print(table([result]).splitlines()[-1], flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True, nargs="+", help="one URL a server")
    parser.add_argument("--grpc", nargs="*", default=[], help="host:port a server, in order")
    parser.add_argument("--name", default="server")
    parser.add_argument("--workloads", nargs="+", default=DEFAULT, help="NAME[:REQUESTS]")
    parser.add_argument("--processes", type=int, default=8, help="client processes")
    parser.add_argument("--predictor", action="store_true", help="send `chunking` (ours)")
    parser.add_argument("--server-pid", type=int, nargs="*", default=[], help="sample their CPU")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    grpc_targets = args.grpc + [None] * (len(args.base_url) - len(args.grpc))
    targets = list(zip(args.base_url, grpc_targets, strict=True))
    results = bench(
        targets, args.name, args.workloads, args.processes, args.predictor, args.server_pid
    )
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
