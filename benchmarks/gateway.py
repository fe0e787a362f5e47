"""voxtral-gateway against going straight to the predictor, on this machine, tiny model.

Overhead: one predictor, the same load sent directly and through a gateway in front of it,
in interleaved rounds (the order alternates); a distinct recording in every request.
Reported: throughput through the gateway / direct per round (median and spread) and the
p50 latency it adds.

Balance: two predictors; one gRPC channel and one keep-alive HTTP client each send their
calls one after the other. Directly (a connection to a Service stays on the pod it reached)
every call lands on one replica; through the gateway they spread. Reported: each replica's
share of the calls, counted by the predictors themselves.

    .venv/bin/python benchmarks/gateway.py [--rounds 6] [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    Round,
    arguments,
    distinct_clips,
    drive,
    free_port,
    percentile,
    python,
    round_arguments,
    spread,
    start,
    start_predictor,
    v2_grpc_request,
)

from voxtral_predictor.tiny_model import write_checkpoint


def start_gateway(workdir: Path, *upstreams: str) -> tuple[subprocess.Popen[bytes], str, str]:
    port, grpc_port = free_port(), free_port()
    cmd = [python(), "-m", "voxtral_gateway", "--host", "127.0.0.1", "--http-port", str(port),
           "--grpc-port", str(grpc_port), "--health-interval", "0.5"]  # fmt: skip
    for upstream in upstreams:
        cmd += ["--upstream", upstream]
    server = start("gateway", cmd, port, "/v2/health/ready", workdir)
    return server.proc, server.base, f"127.0.0.1:{grpc_port}"


async def overhead(direct: str, gateway: str, args: object) -> None:
    rounds, requests, concurrency = args.rounds, args.requests, args.concurrency  # type: ignore[attr-defined]
    seconds, tokens = args.seconds, args.tokens  # type: ignore[attr-defined]
    clips = iter(distinct_clips(2 * (rounds + 1) * requests + 64, seconds, seed=17))
    results: dict[str, list[Round]] = {"direct": [], "gateway": []}
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as http:

        def sender(base: str):  # type: ignore[no-untyped-def]
            async def send() -> bool:
                r = await http.post(
                    f"{base}/v1/audio/transcriptions",
                    files={"file": ("clip.wav", next(clips))},
                    data={"model": "voxtral", "max_completion_tokens": str(tokens)},
                )
                return r.status_code == 200

            return send

        sends = {"direct": sender(direct), "gateway": sender(gateway)}
        for send in sends.values():  # warm-up
            await drive(send, 2 * concurrency, concurrency)
        for i in range(rounds):
            for name in ["direct", "gateway"] if i % 2 == 0 else ["gateway", "direct"]:
                results[name].append(await drive(sends[name], requests, concurrency))
    print(
        f"overhead: {rounds} rounds x {requests} requests each way, concurrency "
        f"{concurrency}, {seconds:g} s clips, {tokens} output tokens, distinct recordings"
    )
    for name, done in results.items():
        lat = [x for r in done for x in r.latencies]
        rps = sum(len(r.latencies) for r in done) / sum(r.wall for r in done)
        errors = sum(r.errors for r in done)
        print(f"  {name:<8} {rps:7.2f} req/s  p50 {1000 * percentile(lat, 50):7.1f} ms  "
              f"p99 {1000 * percentile(lat, 99):7.1f} ms  errors {errors}")  # fmt: skip
    ratios = [
        g.throughput / d.throughput
        for g, d in zip(results["gateway"], results["direct"], strict=True)
    ]
    added = [
        1000 * (percentile(g.latencies, 50) - percentile(d.latencies, 50))
        for g, d in zip(results["gateway"], results["direct"], strict=True)
    ]
    print(f"  gateway / direct throughput per round: {spread(ratios)}")
    print(f"  p50 added per round, ms: median {statistics.median(added):.1f} "
          f"(min {min(added):.1f}, max {max(added):.1f})")  # fmt: skip


def served(base: str, endpoint: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "voxtral_frontend_requests_total" and s.labels.get("endpoint") == endpoint
    )


def balance(replicas: list[tuple[str, str]], gateway: tuple[str, str], calls: int) -> None:
    """Shares of ``calls`` sequential calls on one channel / one keep-alive client."""
    clips = iter(distinct_clips(4 * calls, 1.0, seed=23))
    print(f"balance: {calls} calls one after the other on one connection, two replicas")
    for protocol, endpoint in (
        ("gRPC", "grpc_infer"),
        ("HTTP keep-alive", "openai_transcriptions"),
    ):
        for via, (http_base, grpc_target) in (("direct", replicas[0]), ("gateway", gateway)):
            before = [served(base, endpoint) for base, _ in replicas]
            if protocol == "gRPC":
                with grpc.insecure_channel(grpc_target) as channel:
                    stub = pb_grpc.GRPCInferenceServiceStub(channel)
                    for _ in range(calls):
                        stub.ModelInfer(v2_grpc_request(next(clips), 2))
            else:
                with httpx.Client(base_url=http_base, timeout=60) as client:
                    for _ in range(calls):
                        client.post(
                            "/v1/audio/transcriptions",
                            files={"file": ("a.wav", next(clips))},
                            data={"model": "voxtral", "max_completion_tokens": "2"},
                        ).raise_for_status()
            gained = [
                served(base, endpoint) - b for (base, _), b in zip(replicas, before, strict=True)
            ]
            shares = ", ".join(f"{100 * g / calls:.0f} %" for g in gained)
            print(f"  {protocol:<16} {via:<8} replica shares: {shares}")


def main() -> None:
    parser = arguments(__doc__)
    round_arguments(parser, requests=200, per="side and round", rounds=6)
    parser.add_argument("--calls", type=int, default=60, help="balance: calls per connection")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        flags = ("--max-model-len", "4096")
        (a, a_grpc), (b, b_grpc) = (start_predictor(model, workdir, *flags) for _ in range(2))
        replicas = [(a.base, f"127.0.0.1:{a_grpc}"), (b.base, f"127.0.0.1:{b_grpc}")]
        one, one_base, _ = start_gateway(workdir, f"voxtral={a.base}|{replicas[0][1]}")
        both, both_base, both_grpc = start_gateway(
            workdir, *(f"voxtral={base}|{target}" for base, target in replicas)
        )
        try:
            time.sleep(1.0)
            asyncio.run(overhead(a.base, one_base, args))
            balance(replicas, (both_base, both_grpc), args.calls)
        finally:
            for proc in (one, both):
                proc.terminate()
                proc.wait(timeout=60)
            a.stop()
            b.stop()


if __name__ == "__main__":
    main()
