"""Scale from zero, end to end: the real operator (kopf, in a thread of this process) and a
real voxtral-gateway process against the API emulator, the test playing the Deployment
controller, the kubelet and the EndpointSlice controller: when the Deployment's replicas go
0 -> 1 it starts a real tiny-model predictor and publishes its Pod (Ready) and EndpointSlice;
when they go back to 0 it stops it and removes them.

The operator's autoscaling period is long here (20 s): a replica ordered within a few seconds
of the held request can only come from the gateway's report waking the autoscaler."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kmock
import pytest
from kube_emulator import VoxtralEmulator  # tests/operator, on the path by conftest.py
from operator_harness import (
    Cluster,
    OperatorRun,
    condition,
    eventually,
    first_child,
    write_kubeconfig,
)

from tests.conftest import Predictor, start_predictor, stop_predictor
from tests.gateway.conftest import start_gateway, stop_gateway
from tests.gateway.test_discovery import endpoint_slice, transcribe
from voxtral_operator.config import Settings

PERIOD = 20.0
IDLE = 3
SPEC = {
    "model": {"preset": "voxtral-mini-3b"},
    "replicas": 0,
    "autoscaling": {"minReplicas": 0, "maxReplicas": 1, "scaleDown": {"idleSeconds": IDLE}},
}
HELD_KEY = "held.gateway.voxtral.dev/gateway-0"


class DeploymentController:
    """Runs the predictor the Deployment's replicas ask for (0 or 1)."""

    def __init__(self, emulator: VoxtralEmulator, cluster: Cluster, model: Path, workdir: Path):
        self.emulator, self.cluster, self.model, self.workdir = emulator, cluster, model, workdir
        self.running: Predictor | None = None
        self.log: list[tuple[str, float]] = []  # ("up" | "down", when)
        self.service: dict[str, Any] = {}

    def wanted(self) -> int:
        deployment = self.emulator.get("apps/v1/deployments", "default", "voxtral")
        return int((deployment or {}).get("spec", {}).get("replicas", 0))

    async def run(self) -> None:
        while True:
            want = self.wanted()
            if want >= 1 and self.running is None:
                await self.up()
            elif want == 0 and self.running is not None:
                await self.down()
            await asyncio.sleep(0.1)

    async def up(self) -> None:
        self.log.append(("ordered", time.monotonic()))
        server = await asyncio.to_thread(start_predictor, self.model, self.workdir)
        self.running = server
        port = int(server.http.rsplit(":", 1)[1])
        await self.cluster.create_pod("voxtral-7f9c-x1", port=port)
        await self.cluster.pod_ready("voxtral-7f9c-x1", "127.0.0.1")
        slice_ = endpoint_slice(self.service, "voxtral-x1", server, ready=True)
        await self.cluster.create("discovery.k8s.io/v1", "endpointslices", slice_)
        await self.cluster.mark_deployment_available("voxtral", 1)
        self.log.append(("up", time.monotonic()))

    async def down(self) -> None:
        assert self.running is not None
        await self.cluster.delete("discovery.k8s.io/v1", "endpointslices", "voxtral-x1")
        await self.cluster.delete("v1", "pods", "voxtral-7f9c-x1")
        await self.cluster.mark_deployment_available("voxtral", 0)
        await asyncio.to_thread(stop_predictor, self.running)
        self.running = None
        self.log.append(("down", time.monotonic()))


@pytest.fixture
async def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[VoxtralEmulator, Cluster]]:
    async with (
        VoxtralEmulator() as em,
        kmock.Server(em) as server,
        httpx.AsyncClient(base_url=str(server.url).rstrip("/")) as client,
    ):
        config = write_kubeconfig(tmp_path / "kubeconfig", str(server.url).rstrip("/"))
        monkeypatch.setenv("KUBECONFIG", str(config))
        yield em, Cluster(client)


async def status_shows(cluster: Cluster, reason: str, held: int) -> dict[str, Any] | None:
    vxs = await cluster.vxs("voxtral")
    zero = condition(vxs, "ScaledToZero") if (vxs.get("status") or {}).get("conditions") else {}
    count = ((vxs.get("status") or {}).get("autoscaling") or {}).get("heldRequests")
    return vxs if zero.get("reason") == reason and count == held else None


async def test_a_request_at_zero_wakes_the_service_and_idle_takes_it_back(
    cluster: tuple[VoxtralEmulator, Cluster], tiny_model: Path, tmp_path: Path
) -> None:
    emulator, api = cluster
    operator = OperatorRun(
        Settings(
            metrics_port=0,
            resync_seconds=0.5,
            wait_seconds=0.3,
            autoscale_seconds=PERIOD,
            scrape_timeout=1.0,
            gateway=True,
        )
    )
    await operator.start()
    controller = DeploymentController(emulator, api, tiny_model, tmp_path)
    playing: asyncio.Task[None] | None = None
    gateway = None
    try:
        await api.create_vxs("voxtral", SPEC)
        job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
        await api.mark_job_complete(job["metadata"]["name"])
        deployment = await eventually(
            lambda: first_child(emulator, "Deployment"), what="Deployment"
        )
        assert deployment["spec"]["replicas"] == 0  # spec.replicas 0: created at zero
        controller.service = await eventually(
            lambda: first_child(emulator, "Service"), what="the predictor Service"
        )
        vxs = await eventually(lambda: status_shows(api, "Idle", 0), what="ScaledToZero")
        ready = condition(vxs, "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "ScaledToZero")
        assert condition(vxs, "Available")["reason"] == "ScaledToZero"
        playing = asyncio.create_task(controller.run())

        flags = ("--kube-api", str(api.http.base_url), "--hold-seconds", "240")
        flags += ("--pod-name", "gateway-0")
        gateway = await asyncio.to_thread(start_gateway, tmp_path, extra=flags, expect=0)
        sent = time.monotonic()
        held = asyncio.create_task(transcribe(gateway))
        # the gateway reports it on the VoxtralService, the operator orders a replica
        await eventually(lambda: _ordered(controller), what="a replica ordered", timeout=PERIOD / 2)
        ordered = controller.log[0][1]
        assert ordered - sent < PERIOD / 2  # the report woke the autoscaler: no period passed
        vxs = await api.vxs("voxtral")
        report = json.loads(vxs["metadata"]["annotations"][HELD_KEY])
        assert report["held"] == 1 and report["since"].endswith("Z")
        # while the replica starts, the status says who waits
        vxs = await eventually(lambda: status_shows(api, "Waking", 1), what="Waking", timeout=60)
        ready = condition(vxs, "Ready")  # it serves meanwhile: the gateway holds the request
        assert (ready["status"], ready["reason"]) in {("True", "Waking"), ("True", "ScaledToZero")}
        answered = await held
        assert answered.status_code == 200, answered.text
        assert answered.json()["text"]
        # answered: the report is withdrawn; no request for IDLE s and the service is at 0
        await eventually(lambda: _reports_gone(api), what="the report removed")
        await eventually(lambda: _down(controller), what="scaled back to 0", timeout=3 * PERIOD)
        vxs = await eventually(lambda: status_shows(api, "Idle", 0), what="Idle again")
        decision = vxs["status"]["autoscaling"]["lastDecision"]
        assert decision.startswith("1 → 0 replicas: no request for "), decision
        assert [what for what, _ in controller.log] == ["ordered", "up", "down"]
    finally:
        if gateway is not None:
            await asyncio.to_thread(stop_gateway, gateway)
        if playing is not None:
            playing.cancel()
        if controller.running is not None:
            await asyncio.to_thread(stop_predictor, controller.running)
        await operator.stop()


async def _ordered(controller: DeploymentController) -> bool:
    return bool(controller.log)


async def _down(controller: DeploymentController) -> bool:
    return bool(controller.log) and controller.log[-1][0] == "down"


async def _reports_gone(api: Cluster) -> bool:
    vxs = await api.vxs("voxtral")
    return HELD_KEY not in (vxs["metadata"].get("annotations") or {})
