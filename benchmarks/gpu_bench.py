"""Transcription load against any OpenAI-compatible server (bare vLLM or voxtral-predictor),
runnable anywhere with --base-url. The request mix of the GPU issue: 30 s clips at
concurrency 1, 8 and 64, and 10-minute recordings at concurrency 4. Output length is fixed
at 2.5 tokens per second of audio (random weights never stop on their own).

Every request streams, so time to first token is the first non-empty delta; latency is
the end of the stream. Prints one table row per workload and writes JSON with --out.

    python benchmarks/gpu_bench.py --base-url http://127.0.0.1:8080 --name predictor
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.predictor.recordings import speech_like
from voxtral_predictor.audio import pcm_wav

TOKENS_PER_SECOND = 2.5


@dataclass
class Workload:
    name: str
    seconds: float
    concurrency: int
    requests: int
    extra: dict[str, str]


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
    ttft_p50: float
    ttft_p99: float
    completion_tokens: int


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _delta(event: dict[str, Any]) -> str:
    """The text of a stream event: OpenAI's transcript.text.delta (the predictor's), or
    vLLM's transcription.chunk (``vllm serve``, the baseline)."""
    if event.get("type") == "transcript.text.delta":
        return str(event.get("delta") or "")
    choices = event.get("choices") or []
    return str((choices[0].get("delta") or {}).get("content") or "") if choices else ""


async def one(
    client: httpx.AsyncClient, base: str, audio: bytes, tokens: int, extra: dict[str, str]
) -> tuple[float, float, int] | None:
    started = time.perf_counter()
    first = None
    completion = 0
    data = {
        "model": "voxtral",
        "max_completion_tokens": str(tokens),
        "stream": "true",
        "stream_include_usage": "true",
        "temperature": "0",
        **extra,
    }
    async with client.stream(
        "POST",
        f"{base}/v1/audio/transcriptions",
        files={"file": ("clip.wav", audio, "audio/wav")},
        data=data,
    ) as r:
        if r.status_code != 200:
            await r.aread()
            print(f"  error {r.status_code}: {r.text[:200]}", file=sys.stderr)
            return None
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if first is None and _delta(event):
                first = time.perf_counter() - started
            usage = event.get("usage")
            if usage:  # vLLM's completion_tokens, OpenAI's output_tokens (ours)
                completion = usage.get("completion_tokens", usage.get("output_tokens", completion))
    total = time.perf_counter() - started
    return total, first if first is not None else total, completion


async def run(base: str, server: str, work: Workload, audio: bytes) -> Result:
    tokens = int(
        TOKENS_PER_SECOND
        * min(work.seconds, 30.0 if work.extra.get("chunking") == "always" else work.seconds)
    )
    done: list[tuple[float, float, int]] = []
    errors = 0
    queue = list(range(work.requests))
    async with httpx.AsyncClient(
        timeout=3600, limits=httpx.Limits(max_connections=work.concurrency + 4)
    ) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                queue.pop()
                out = await one(client, base, audio, tokens, work.extra)
                if out is None:
                    errors += 1
                else:
                    done.append(out)

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(work.concurrency)))
        wall = time.perf_counter() - t
    lat = [d[0] for d in done]
    ttft = [d[1] for d in done]
    return Result(
        server,
        work.name,
        len(done),
        errors,
        wall,
        len(done) * work.seconds / wall,
        len(done) / wall,
        pct(lat, 50),
        pct(lat, 99),
        pct(ttft, 50),
        pct(ttft, 99),
        sum(d[2] for d in done),
    )


WORKLOADS = {
    "clip30-c1": Workload("30 s clips, concurrency 1", 30.0, 1, 16, {}),
    "clip30-c8": Workload("30 s clips, concurrency 8", 30.0, 8, 64, {}),
    "clip30-c64": Workload("30 s clips, concurrency 64", 30.0, 64, 320, {}),
    "rec10m-c4": Workload("10-min recordings, concurrency 4", 600.0, 4, 8, {}),
    # long-form (not in the default mix)
    "rec30m-c1": Workload("30-min recording", 1800.0, 1, 2, {}),
    "rec60m-c1": Workload("60-min recording", 3600.0, 1, 2, {}),
}
DEFAULT = ["clip30-c1", "clip30-c8", "clip30-c64", "rec10m-c4"]


def table(results: list[Result]) -> str:
    rows = [
        "| server | workload | RTFx | req/s | p50 s | p99 s | TTFT p50 s | TTFT p99 s | tokens | errors |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {r.server} | {r.workload} | {r.rtfx:.1f} | {r.rps:.2f} | {r.p50:.3f} | {r.p99:.3f} "
        f"| {r.ttft_p50:.3f} | {r.ttft_p99:.3f} | {r.completion_tokens} | {r.errors} |"
        for r in results
    ]
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> list[Result]:
    seconds = {WORKLOADS[k].seconds for k in args.workloads}
    audio = {s: pcm_wav(speech_like(s, seed=int(s))[0]) for s in seconds}
    results = []
    for key in args.workloads:
        work = WORKLOADS[key]
        if args.never_chunk:
            work = Workload(
                work.name, work.seconds, work.concurrency, work.requests, {"chunking": "never"}
            )
        if args.always_chunk:
            work = Workload(
                work.name + ", chunked",
                work.seconds,
                work.concurrency,
                work.requests,
                {"chunking": "always"},
            )
        await run(
            args.base_url,
            args.name,
            Workload("warm", work.seconds, 1, 1, work.extra),
            audio[work.seconds],
        )
        result = await run(args.base_url, args.name, work, audio[work.seconds])
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
    parser.add_argument("--never-chunk", action="store_true", help="send chunking=never (ours)")
    parser.add_argument("--always-chunk", action="store_true", help="send chunking=always (ours)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
