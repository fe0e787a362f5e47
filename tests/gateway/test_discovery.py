"""The gateway finds its replicas in a cluster: the operator's predictor Service (built by the
operator's own builder) and its EndpointSlices in the API emulator (the model of
kube-apiserver the operator's tests use), the test playing the EndpointSlice controller for
two real predictors on loopback (one slice each: their ports differ, as pods with different
target ports get different slices)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kmock
import pytest
import yaml
from install_chart import find, render  # tests/install, on the path by conftest.py
from kube_emulator import VoxtralEmulator  # tests/operator, likewise

from tests.conftest import Predictor
from tests.gateway.conftest import start_gateway, stop_gateway
from tests.predictor.audiofiles import wav
from voxtral_operator.api import names
from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders.service import build_service

SAMPLE = Path(__file__).parent.parent.parent / "manifests/samples/voxtral-mini.yaml"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
RESERVED = {"kubernetes.io/service-name", "endpointslice.kubernetes.io/managed-by"}


def predictor_service(namespace: str) -> dict[str, Any]:
    sample = yaml.safe_load(SAMPLE.read_text())
    sample["metadata"] |= {"namespace": namespace, "uid": f"uid-{namespace}"}
    return build_service(resolve(parse(sample)))


def endpoint_slice(
    service: dict[str, Any], name: str, server: Predictor, ready: bool
) -> dict[str, Any]:
    """What the EndpointSlice controller writes for a pod of ``service``: the Service's
    labels but the reserved ones, its own two, the pod's ports by name."""
    labels = {k: v for k, v in service["metadata"]["labels"].items() if k not in RESERVED}
    labels |= {
        "kubernetes.io/service-name": service["metadata"]["name"],
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    http_port = int(server.http.rsplit(":", 1)[1])
    grpc_port = int(server.grpc.rsplit(":", 1)[1])
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": service["metadata"]["namespace"], "labels": labels},
        "addressType": "IPv4",
        "ports": [
            {"name": "http", "port": http_port, "protocol": "TCP"},
            {"name": "grpc", "port": grpc_port, "protocol": "TCP"},
            {"name": "metrics", "port": http_port, "protocol": "TCP"},
        ],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}],
    }


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[VoxtralEmulator, httpx.AsyncClient]]:
    async with (
        VoxtralEmulator() as em,
        kmock.Server(em) as server,
        httpx.AsyncClient(base_url=str(server.url).rstrip("/")) as client,
    ):
        yield em, client


async def created(api: httpx.AsyncClient, path: str, obj: dict[str, Any]) -> None:
    response = await api.post(path, json=obj)
    assert response.status_code == 201, response.text


async def gateway_metric(gateway: Predictor, line: str) -> bool:
    async with httpx.AsyncClient() as client:
        return line in (await client.get(f"{gateway.http}/metrics")).text


async def eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


async def transcribe(gateway: Predictor, model: str = "voxtral") -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(
            f"{gateway.openai_base}/audio/transcriptions",
            files={"file": ("a.wav", wav(1.0))},
            data={"model": model, "max_completion_tokens": "4"},
        )


async def test_replicas_come_from_endpoint_slices(
    emulator: tuple[VoxtralEmulator, httpx.AsyncClient],
    predictor: Predictor,
    narrow: Predictor,
    tmp_path: Path,
) -> None:
    em, api = emulator
    service = predictor_service("team-a")
    served = service["metadata"]["annotations"][names.ANNOTATION_SERVED_NAME]
    assert served == "voxtral"
    await created(api, "/api/v1/namespaces/team-a/services", service)
    first = endpoint_slice(service, "voxtral-mini-abc12", predictor, ready=True)
    second = endpoint_slice(service, "voxtral-mini-def34", narrow, ready=False)  # starting
    for slice_ in (first, second):
        await created(api, SLICES.format(ns="team-a"), slice_)
    gateway = await asyncio.to_thread(
        start_gateway,
        tmp_path,
        extra=("--kube-api", str(api.base_url), "--hold-seconds", "4", "--max-held", "1"),
        expect=1,
    )
    try:
        assert (await transcribe(gateway)).status_code == 200
        # the second pod turns ready: both get requests
        path = SLICES.format(ns="team-a") + "/voxtral-mini-def34"
        patch = {"endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}
        merge = {"Content-Type": "application/merge-patch+json"}
        assert (await api.patch(path, json=patch, headers=merge)).status_code == 200
        await eventually(lambda: gateway_metric(gateway, 'ready_replicas{model="voxtral"} 2.0'))
        assert [(await transcribe(gateway)).status_code for _ in range(4)] == [200] * 4

        # the same served name in another namespace: ambiguous, refused with the namespaces
        other = predictor_service("team-b")
        await created(api, "/api/v1/namespaces/team-b/services", other)
        await eventually(lambda: gateway_metric(gateway, 'ready_replicas{model="voxtral"} 0.0'))
        refused = await transcribe(gateway)
        assert refused.status_code == 409
        assert refused.json()["error"]["message"] == (
            "model 'voxtral' is served by VoxtralServices in namespaces ['team-a', 'team-b']: "
            "give each its own spec.model.servedName"
        )
        name = other["metadata"]["name"]
        assert (await api.delete(f"/api/v1/namespaces/team-b/services/{name}")).status_code == 200
        await eventually(lambda: gateway_metric(gateway, 'ready_replicas{model="voxtral"} 2.0'))

        # both pods go away (scaled to zero): known, but no replica
        for slice_name in ("voxtral-mini-abc12", "voxtral-mini-def34"):
            path = SLICES.format(ns="team-a") + f"/{slice_name}"
            assert (await api.delete(path)).status_code == 200
        await eventually(lambda: gateway_metric(gateway, 'ready_replicas{model="voxtral"} 0.0'))
        gone = await transcribe(gateway)  # held 4 s, then refused
        assert gone.status_code == 503 and gone.headers["retry-after"] == "5"
        assert gone.json()["error"]["message"] == (
            "no replica of 'voxtral' turned ready within 4 s: retry later"
        )
        # scale from zero: a request is held until a replica turns ready, then answered;
        # one more than --max-held is refused at once
        held = asyncio.create_task(transcribe(gateway))
        await eventually(lambda: gateway_metric(gateway, 'held_requests{model="voxtral"} 1.0'))
        beyond = await transcribe(gateway)
        assert beyond.status_code == 503
        assert beyond.json()["error"]["message"] == (
            "the gateway already holds 1 requests for 'voxtral' (--max-held) until a replica "
            "starts: retry in a few seconds"
        )
        await created(api, SLICES.format(ns="team-a"), first)  # a replica is back
        assert (await held).status_code == 200
    finally:
        await asyncio.to_thread(stop_gateway, gateway)
    # what the gateway called is exactly what the chart grants it
    called = set(em.api_calls(agent="voxtral-gateway"))
    rules = find(await asyncio.to_thread(render), "ClusterRole", of="gateway")["rules"]
    granted = {
        (verb, group, resource)
        for rule in rules
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert called == granted
