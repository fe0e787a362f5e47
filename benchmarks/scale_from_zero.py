"""Scale from zero with voxtral-gateway, on this machine, tiny model.

Cold start: a gateway in front of a predictor that is not running (--upstream, its ports
fixed); a request is sent through the gateway and the predictor process started at the same
moment, as a new pod would start. Reported per round: the predictor's cold start (process
start to its /v2/health/ready answering 200, polled every 20 ms), the first request's time
from sent to answered, and the hold overhead: that time less the cold start less what the
same request takes on the warm replica right after (the gateway notices readiness by its
health check here, every --health-interval 0.1 s; in a cluster by the EndpointSlice watch).

The cluster path: the real operator (kopf, in a thread) and the gateway (discovering through
the API emulator, the tests' model of kube-apiserver) with the operator's autoscaling period
at its default, 15 s; the script plays the Deployment controller with a warm predictor.
Reported per round: from a request held at zero to the operator's scale order (the gateway's
report waking the autoscaler; the period alone would take up to 15 s), and from the
EndpointSlice published to the held request answered, less a direct request's time.

    .venv/bin/python benchmarks/scale_from_zero.py [--rounds 3] [--cluster-rounds 5]
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "operator"))
KUBECONFIG = Path(tempfile.mkdtemp(prefix="voxtral-bench-")) / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG)

import httpx
import kmock
from common import arguments, distinct_clips, free_port, percentile, python, start
from kube_emulator import VoxtralEmulator
from operator_harness import Cluster, OperatorRun, first_child, write_kubeconfig

from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders.service import build_service
from voxtral_operator.config import Settings
from voxtral_predictor.tiny_model import write_checkpoint

CLIP_SECONDS = 2.0
TOKENS = "4"
SPEC = {
    "model": {"preset": "voxtral-mini-3b"},
    "replicas": 0,
    "autoscaling": {"minReplicas": 0, "maxReplicas": 1, "scaleDown": {"idleSeconds": 2}},
}


async def transcribe(client: httpx.AsyncClient, base: str, clip: bytes) -> float:
    """Seconds to a 200 (raises on anything else)."""
    started = time.perf_counter()
    reply = await client.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": ("a.wav", clip)},
        data={"model": "voxtral", "max_completion_tokens": TOKENS},
    )
    if reply.status_code != 200:
        raise SystemExit(f"{base}: {reply.status_code} {reply.text[:300]}")
    return time.perf_counter() - started


def predictor_cmd(model: str, port: int, grpc_port: int) -> list[str]:
    return [
        python(), "-m", "voxtral_predictor", "--model", model, "--host", "127.0.0.1",
        "--http-port", str(port), "--grpc-port", str(grpc_port), "--access-log", "false",
        "--max-model-len", "4096", "--kv-cache-memory-bytes", str(128 << 20),
    ]  # fmt: skip


async def wait_ready(client: httpx.AsyncClient, base: str, proc: subprocess.Popen[bytes]) -> None:
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"predictor exited {proc.returncode}")
        try:
            if (await client.get(f"{base}/v2/health/ready", timeout=1)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.02)


async def gateway_routes(client: httpx.AsyncClient, gateway: str, replicas: int) -> None:
    line = f'voxtral_gateway_ready_replicas{{model="voxtral"}} {replicas}.0'
    while line not in (await client.get(f"{gateway}/metrics")).text:
        await asyncio.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def cold_starts(model: str, workdir: Path, rounds: int) -> list[dict[str, float]]:
    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    gateway_port = free_port()
    gateway = start(
        "gateway",
        [python(), "-m", "voxtral_gateway", "--host", "127.0.0.1", "--http-port",
         str(gateway_port), "--grpc-port", str(free_port()), "--health-interval", "0.1",
         "--hold-seconds", "900", "--upstream", f"voxtral={base}|127.0.0.1:{grpc_port}"],
        gateway_port,
        "/healthz",
        workdir,
    )  # fmt: skip
    clips = distinct_clips(2 * rounds, CLIP_SECONDS, seed=3)
    env = os.environ | {"VLLM_CACHE_ROOT": str(workdir / "cache"), "PYTHONUNBUFFERED": "1"}
    results = []
    try:
        async with httpx.AsyncClient(timeout=900) as client:
            for i in range(rounds):
                sent = time.perf_counter()
                held = asyncio.create_task(transcribe(client, gateway.base, clips[2 * i]))
                log = (workdir / f"predictor-{i}.log").open("wb")
                cmd = predictor_cmd(model, port, grpc_port)
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
                await wait_ready(client, base, proc)
                ready = time.perf_counter()
                first = await held
                direct = await transcribe(client, base, clips[2 * i + 1])
                results.append(
                    {
                        "cold_start": ready - sent,
                        "first_answer": first,
                        "overhead": first - (ready - sent) - direct,
                        "direct": direct,
                    }
                )
                print(f"round {i}: {results[-1]}", flush=True)
                await asyncio.to_thread(stop, proc)
                await gateway_routes(client, gateway.base, 0)
    finally:
        stop(gateway.proc)
    return results


def pod(name: str, port: int) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": "voxtral",
        "app.kubernetes.io/instance": "voxtral",
        "app.kubernetes.io/component": "predictor",
        "app.kubernetes.io/managed-by": "voxtral-operator",
        "app.kubernetes.io/part-of": "voxtral-operator",
    }
    container = {"name": "predictor", "image": "voxtral-predictor",
                 "ports": [{"name": "http", "containerPort": port}]}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container]}}  # fmt: skip


def endpoint_slice(service: dict[str, Any], port: int, grpc_port: int) -> dict[str, Any]:
    """What the EndpointSlice controller writes for the one ready pod."""
    labels = dict(service["metadata"]["labels"])
    labels |= {
        "kubernetes.io/service-name": service["metadata"]["name"],
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "voxtral-x1", "labels": labels},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port}, {"name": "grpc", "port": grpc_port}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }


def replicas(emulator: VoxtralEmulator) -> int:
    deployment = emulator.get("apps/v1/deployments", "default", "voxtral") or {}
    return int((deployment.get("spec") or {}).get("replicas", -1))


async def until(check: Any, every: float = 0.01) -> float:
    while not check():
        await asyncio.sleep(every)
    return time.perf_counter()


async def cluster_path(model: str, workdir: Path, rounds: int) -> list[dict[str, float]]:
    warm = start(
        "warm-predictor",
        predictor_cmd(model, port := free_port(), grpc_port := free_port()),
        port,
        "/v2/health/ready",
        workdir,
        {"VLLM_CACHE_ROOT": str(workdir / "cache")},
    )
    clips = distinct_clips(2 * rounds, CLIP_SECONDS, seed=5)
    results = []
    async with (
        VoxtralEmulator() as emulator,
        kmock.Server(emulator) as server,
        httpx.AsyncClient(base_url=str(server.url).rstrip("/")) as api,
    ):
        write_kubeconfig(KUBECONFIG, str(server.url).rstrip("/"))
        operator = OperatorRun(
            Settings(metrics_port=0, resync_seconds=300, wait_seconds=0.3, gateway=True)
        )
        await operator.start()
        cluster = Cluster(api)
        gateway_port = free_port()
        gateway = None
        try:
            await cluster.create_vxs("voxtral", SPEC)
            while (job := await first_child(emulator, "Job")) is None:
                await asyncio.sleep(0.05)
            await cluster.mark_job_complete(job["metadata"]["name"])
            service = build_service(resolve(parse(await cluster.vxs("voxtral"))))
            while await first_child(emulator, "Service") is None:
                await asyncio.sleep(0.05)
            gateway = start(
                "gateway-cluster",
                [python(), "-m", "voxtral_gateway", "--host", "127.0.0.1", "--http-port",
                 str(gateway_port), "--grpc-port", str(free_port()), "--kube-api",
                 str(api.base_url), "--hold-seconds", "120", "--pod-name", "gateway-0"],
                gateway_port,
                "/healthz",
                workdir,
            )  # fmt: skip
            async with httpx.AsyncClient(timeout=120) as client:
                await gateway_routes(client, gateway.base, 0)
                for i in range(rounds):
                    await until(lambda: replicas(emulator) == 0)
                    sent = time.perf_counter()
                    held = asyncio.create_task(transcribe(client, gateway.base, clips[2 * i]))
                    ordered = await until(lambda: replicas(emulator) == 1)
                    # the Deployment controller, the kubelet and the EndpointSlice controller
                    await cluster.create("v1", "pods", pod("voxtral-7f9c-x1", port))
                    await cluster.pod_ready("voxtral-7f9c-x1", "127.0.0.1")
                    published = time.perf_counter()
                    await cluster.create(
                        "discovery.k8s.io/v1",
                        "endpointslices",
                        endpoint_slice(service, port, grpc_port),
                    )
                    await held
                    answered = time.perf_counter()
                    direct = await transcribe(client, warm.base, clips[2 * i + 1])
                    results.append(
                        {
                            "decision": ordered - sent,
                            "release_overhead": answered - published - direct,
                            "direct": direct,
                        }
                    )
                    print(f"cluster round {i}: {results[-1]}", flush=True)
                    await until(lambda: replicas(emulator) == 0, every=0.1)  # idle again
                    await cluster.delete("discovery.k8s.io/v1", "endpointslices", "voxtral-x1")
                    await cluster.delete("v1", "pods", "voxtral-7f9c-x1")
                    await gateway_routes(client, gateway.base, 0)
        finally:
            if gateway is not None:
                stop(gateway.proc)
            await operator.stop()
            stop(warm.proc)
    return results


def summary(name: str, values: list[float], unit: str = "s") -> str:
    ordered = sorted(values)
    return (
        f"{name}: median {percentile(ordered, 50):.3f} {unit}, min {ordered[0]:.3f}, "
        f"max {ordered[-1]:.3f}"
    )


async def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cluster-rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="voxtral-zero-"))
    model = args.model or str(write_checkpoint(workdir / "tiny"))
    cold = await cold_starts(model, workdir, args.rounds)
    path = await cluster_path(model, workdir, args.cluster_rounds)
    print()
    print(f"Cold start through the gateway, {args.rounds} rounds ({CLIP_SECONDS:g} s clips):")
    print(
        "- " + summary("predictor cold start (process to ready)", [r["cold_start"] for r in cold])
    )
    print("- " + summary("first request, sent to answered", [r["first_answer"] for r in cold]))
    print("- " + summary("hold overhead", [r["overhead"] for r in cold]))
    print("- " + summary("the same request, direct, warm", [r["direct"] for r in cold]))
    print(f"Cluster path (operator period 15 s), {args.cluster_rounds} rounds:")
    print("- " + summary("held request -> scale order", [r["decision"] for r in path]))
    print(
        "- "
        + summary("slice published -> answered, less direct", [r["release_overhead"] for r in path])
    )


if __name__ == "__main__":
    asyncio.run(main())
