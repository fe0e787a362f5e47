"""The same clips through the predictor's three inference protocols, side by side in one
run: OpenAI REST (multipart), KServe v2 REST (binary tensor extension) and v2 gRPC.
Rounds rotate the order of the protocols; figures are pooled over rounds.

    .venv/bin/python benchmarks/protocols.py [--model DIR] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    Round,
    arguments,
    drive,
    percentile,
    round_arguments,
    spread,
    start_predictor,
    v2_grpc_request,
)

from voxtral_predictor.audio import tone, wav_bytes
from voxtral_predictor.tiny_model import write_checkpoint

Send = Callable[[], Awaitable[bool]]


def senders(
    http: httpx.AsyncClient,
    base: str,
    stub: pb_grpc.GRPCInferenceServiceStub,
    audio: bytes,
    tokens: int,
) -> dict[str, Send]:
    async def openai() -> bool:
        r = await http.post(
            f"{base}/v1/audio/transcriptions",
            files={"file": ("clip.wav", audio, "audio/wav")},
            data={"model": "voxtral", "max_completion_tokens": str(tokens)},
        )
        return r.status_code == 200

    payload = struct.pack("<I", len(audio)) + audio
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "audio",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(payload)},
                }
            ],
            "parameters": {"max_completion_tokens": tokens},
        }
    ).encode()

    async def v2_rest() -> bool:
        r = await http.post(
            f"{base}/v2/models/voxtral/infer",
            content=header + payload,
            headers={"inference-header-content-length": str(len(header))},
        )
        return r.status_code == 200

    request = v2_grpc_request(audio, tokens)

    async def v2_grpc() -> bool:
        try:
            await stub.ModelInfer(request)
        except grpc.aio.AioRpcError:
            return False
        return True

    return {"openai-rest": openai, "v2-rest-binary": v2_rest, "v2-grpc": v2_grpc}


async def compare(base: str, grpc_target: str, args: argparse.Namespace) -> None:
    audio = wav_bytes(tone(args.seconds))
    per_round = max(args.requests // args.rounds, args.concurrency)
    async with (
        httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=64)) as http,
        grpc.aio.insecure_channel(grpc_target) as channel,
    ):
        protocols = senders(
            http, base, pb_grpc.GRPCInferenceServiceStub(channel), audio, args.tokens
        )
        results: dict[str, list[Round]] = {name: [] for name in protocols}
        for send in protocols.values():  # warm-up
            await drive(send, args.concurrency, args.concurrency)
        names = list(protocols)
        for i in range(args.rounds):
            for name in names[i % 3 :] + names[: i % 3]:
                results[name].append(await drive(protocols[name], per_round, args.concurrency))
    print(
        f"{args.rounds} rounds x {per_round} requests per protocol, concurrency "
        f"{args.concurrency}, {args.seconds:g} s clips, {args.tokens} output tokens"
    )
    print(f"{'protocol':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    openai_rounds = results["openai-rest"]
    for name, rounds in results.items():
        lat = [x for r in rounds for x in r.latencies]
        rps = sum(len(r.latencies) for r in rounds) / sum(r.wall for r in rounds)
        print(
            f"{name:<16} {rps:8.2f} {1000 * percentile(lat, 50):8.1f} "
            f"{1000 * percentile(lat, 99):8.1f} {sum(r.errors for r in rounds):6d}"
        )
    for name in names[1:]:
        ratios = [
            r.throughput / o.throughput for r, o in zip(results[name], openai_rounds, strict=True)
        ]
        print(f"{name} / openai-rest throughput per round: {spread(ratios)}")


def main() -> None:
    parser = arguments(__doc__)
    round_arguments(parser, requests=300, per="protocol", rounds=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = args.model or str(write_checkpoint(workdir / "tiny"))
        server, grpc_port = start_predictor(model, workdir, "--max-model-len", "4096")
        try:
            asyncio.run(compare(server.base, f"127.0.0.1:{grpc_port}", args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
