"""Our predictor against bare vLLM's OpenAI server: same machine, same model, same engine
flags, same transcription requests, each of a different recording (both servers get the
same sequence of them). Rounds alternate between the two servers (A, B, A, B...) so that
the machine's drift hits both alike; the ratio is the median of the paired per-round
ratios. ``--bare-api-servers`` sets vLLM's ``--api-server-count`` (run the values the
machine allows and compare against the best).

    .venv/bin/python benchmarks/predictor_overhead.py            # tiny model, CPU
    .venv/bin/python benchmarks/predictor_overhead.py --model DIR --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    Round,
    Server,
    arguments,
    distinct_clips,
    drive,
    free_port,
    percentile,
    python,
    round_arguments,
    spread,
    start,
)

from voxtral_predictor.engine import vllm_cli_args, vllm_env
from voxtral_predictor.options import Options
from voxtral_predictor.tiny_model import write_checkpoint


def servers(model: str, workdir: Path, extra: list[str]) -> tuple[Server, Server]:
    options = Options(model=model, max_model_len=4096)
    env = vllm_env(options, gpus=0) | {"VLLM_CACHE_ROOT": str(workdir / "cache")}
    bare_port, ours_port = free_port(), free_port()
    bare_cmd = [
        python(), "-m", "vllm.entrypoints.openai.api_server", *vllm_cli_args(options, 0),
        "--host", "127.0.0.1", "--port", str(bare_port), "--disable-uvicorn-access-log", *extra,
    ]  # fmt: skip
    ours_cmd = [
        python(), "-m", "voxtral_predictor", "--model", model, "--max-model-len", "4096",
        "--host", "127.0.0.1", "--http-port", str(ours_port), "--grpc-port", str(free_port()),
        "--access-log", "false", "--vllm-args", " ".join(extra),
    ]  # fmt: skip
    bare = start("bare-vllm", bare_cmd, bare_port, "/health", workdir, env)
    ours = start("predictor", ours_cmd, ours_port, "/v2/health/ready", workdir, env)
    return bare, ours


def sender(client: httpx.AsyncClient, base: str, clips: Iterator[bytes], tokens: int):  # type: ignore[no-untyped-def]
    async def send() -> bool:
        r = await client.post(
            f"{base}/v1/audio/transcriptions",
            files={"file": ("clip.wav", next(clips), "audio/wav")},
            data={"model": "voxtral", "max_completion_tokens": str(tokens), "temperature": "0"},
        )
        return r.status_code == 200

    return send


async def compare(bare: Server, ours: Server, args: argparse.Namespace) -> None:
    per_round = max(args.requests // args.rounds, args.concurrency)
    clips = distinct_clips(args.concurrency + args.rounds * per_round, args.seconds)
    feeds = {server.name: iter(clips) for server in (bare, ours)}  # each clip once per server
    results: dict[str, list[Round]] = {"bare-vllm": [], "predictor": []}
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        for server in (bare, ours):  # warm both
            send = sender(client, server.base, feeds[server.name], args.tokens)
            await drive(send, args.concurrency, args.concurrency)
        for i in range(args.rounds):
            order = (bare, ours) if i % 2 == 0 else (ours, bare)
            for server in order:
                send = sender(client, server.base, feeds[server.name], args.tokens)
                results[server.name].append(await drive(send, per_round, args.concurrency))
    report(results, args, per_round)


def report(results: dict[str, list[Round]], args: argparse.Namespace, per_round: int) -> None:
    print(
        f"{args.rounds} rounds x {per_round} requests per server, concurrency "
        f"{args.concurrency}, {args.seconds:g} s clips (each different), {args.tokens} output "
        "tokens"
    )
    print(f"{'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    summary = {}
    for name, rounds in results.items():
        lat = [x for r in rounds for x in r.latencies]
        rps = sum(len(r.latencies) for r in rounds) / sum(r.wall for r in rounds)
        summary[name] = (rps, percentile(lat, 50), percentile(lat, 99))
        errors = sum(r.errors for r in rounds)
        print(
            f"{name:<10} {rps:8.2f} {1000 * summary[name][1]:8.1f} "
            f"{1000 * summary[name][2]:8.1f} {errors:6d}"
        )
    ratios = [
        o.throughput / b.throughput
        for b, o in zip(results["bare-vllm"], results["predictor"], strict=True)
    ]
    p50s = [
        1000 * (percentile(o.latencies, 50) - percentile(b.latencies, 50))
        for b, o in zip(results["bare-vllm"], results["predictor"], strict=True)
    ]
    print(f"throughput ours/bare per round: {spread(ratios)}")
    print(f"p50 added per round (ms): {spread(p50s)}")
    print(
        f"pooled: ratio {summary['predictor'][0] / summary['bare-vllm'][0]:.3f}, p50 added "
        f"{1000 * (summary['predictor'][1] - summary['bare-vllm'][1]):.1f} ms; "
        f"median paired ratio {statistics.median(ratios):.3f} (target >= 0.95), "
        f"median p50 added {statistics.median(p50s):.1f} ms (target <= 10)"
    )


def main() -> None:
    parser = arguments(__doc__)
    round_arguments(parser, requests=200, per="server", rounds=10)
    parser.add_argument(
        "--vllm-arg", action="append", default=[], help="extra engine flag (both servers)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        bare, ours = servers(model, workdir, args.vllm_arg)
        try:
            asyncio.run(compare(bare, ours, args))
        finally:
            bare.stop()
            ours.stop()


if __name__ == "__main__":
    main()
