"""End to end, autoscaling: the real operator (kopf, its autoscaler daemon) against the API
emulator, with the replicas' /metrics served over real HTTP (replica_metrics.py: each
emulated pod has its own loopback podIP; only the port is the test's, by the operator
setting VOXTRAL_OPERATOR_REPLICA_METRICS_PORT). The test plays the ReplicaSet, the
scheduler and the kubelet: it creates the pods and says whether they are Ready or Pending
for lack of GPUs.

The windows of the policy are shortened through the spec (scaleUp.stabilizationSeconds: 1)
and the operator's period (VOXTRAL_OPERATOR_AUTOSCALE_SECONDS=0.2): the same code, faster.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import pytest
from custom_resources import validate
from kube_emulator import VoxtralEmulator
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    condition,
    env_of,
    eventually,
    first_child,
    operator_writes,
    ready_service,
    settle,
    until_condition,
)
from operator_samples import VALID
from replica_metrics import ReplicaMetrics

from voxtral_operator.config import Settings

DEPLOYMENTS = "apps/v1/deployments"
SCALE = ("patch", "apps", "deployments/scale")
AUTOSCALED = {
    "model": {"preset": "voxtral-mini-3b"},
    "autoscaling": {
        "minReplicas": 1,
        "maxReplicas": 3,
        "scaleUp": {"stabilizationSeconds": 1},
        "scaleDown": {"delaySeconds": 3600},
    },
}


@pytest.fixture
async def replicas() -> AsyncIterator[ReplicaMetrics]:
    server = ReplicaMetrics()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def operator_settings(replicas: ReplicaMetrics) -> Settings:
    return Settings(
        metrics_port=0,
        resync_seconds=0.3,
        wait_seconds=0.3,
        autoscale_seconds=0.2,
        scrape_timeout=0.5,
        replica_metrics_port=replicas.port,
    )


def replicas_of(emulator: VoxtralEmulator) -> int:
    deployment = emulator.get(DEPLOYMENTS, "default", "voxtral")
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def applied_by(emulator: VoxtralEmulator, manager: str) -> dict[str, Any]:
    """What a field manager last applied to the Deployment (the emulator's SSA record)."""
    for (key, who), config in emulator._applied.items():
        if key[2] == "voxtral" and key[0].plural == "deployments" and who == manager:
            return dict(config)
    return {}


async def deployed(cluster: Cluster, emulator: VoxtralEmulator) -> dict[str, Any]:
    """The AUTOSCALED service, its download done: its Deployment."""
    await cluster.create_vxs("voxtral", AUTOSCALED)
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    await cluster.mark_job_complete(job["metadata"]["name"])
    deployment: dict[str, Any] = await eventually(
        lambda: first_child(emulator, "Deployment"), what="Deployment"
    )
    return deployment


async def has_replicas(emulator: VoxtralEmulator, count: int) -> bool:
    return replicas_of(emulator) == count


async def test_the_emulator_resets_replicas_that_lose_their_last_manager(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """What makes the hand-over below necessary, as the API server does it: a field whose
    only manager stops applying it is removed (and replicas default to 1), unless another
    manager's applied configuration (here: an apply to /scale) still holds it."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "voxtral"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}},
    }
    path = cluster.path("apps/v1", "deployments", "voxtral")

    async def apply(body: dict[str, Any], manager: str, sub: str = "") -> None:
        response = await cluster.http.patch(
            path + sub,
            params={"fieldManager": manager, "force": "true"},
            json=body,
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert response.status_code < 300, response.text

    without = {**deployment, "spec": {"selector": deployment["spec"]["selector"]}}
    await apply(deployment, "a")
    await apply(without, "a")
    assert replicas_of(emulator) == 1
    await apply(deployment, "a")
    await apply(
        {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 3}}, "b", "/scale"
    )
    await apply(without, "a")
    assert replicas_of(emulator) == 3


async def test_operator_mode_scales_on_real_metrics_and_stops_when_gpus_run_out(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun, replicas: ReplicaMetrics
) -> None:
    deployment = await deployed(cluster, emulator)
    assert deployment["metadata"]["annotations"]["voxtral.dev/replicas-from"] == "operator"
    assert "replicas" not in applied_by(emulator, "voxtral-operator")["spec"]
    assert replicas_of(emulator) == 1

    # One ready replica with a light load: nothing to do, and nothing written while so.
    replicas.set("127.0.0.2", running=4, in_flight=4, kv_cache=0.05)
    await cluster.create_pod("voxtral-6f7d9c-a1b2c")
    await cluster.pod_ready("voxtral-6f7d9c-a1b2c", "127.0.0.2")
    await cluster.mark_deployment_available("voxtral", 1)
    vxs = await until_condition(cluster, "ScalingActive", "True", "OperatorScaling")
    assert condition(vxs, "ScalingLimited")["status"] == "False"
    await eventually(lambda: _at_least(replicas.reads, "127.0.0.2", 5), what="reads")
    await settle(emulator)
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert operator_writes(emulator, mark) == [], "a steady load must cost no writes"
    reads = collections.Counter(emulator.api_calls(mark, agent="voxtral-operator"))
    assert reads[("list", "", "pods")] >= 3  # the autoscaler looked, and wrote nothing

    # Demand up: 204 requests on a replica whose target is 64 -> 2 replicas.
    mark = emulator.request_count
    replicas.set("127.0.0.2", running=200, waiting=4, in_flight=204, kv_cache=0.4)
    await eventually(lambda: has_replicas(emulator, 2), timeout=20, what="2 replicas")
    assert SCALE in emulator.api_calls(mark, agent="voxtral-operator")
    assert applied_by(emulator, "voxtral-autoscaler/scale") == {"spec": {"replicas": 2}}

    async def scaled_status() -> dict[str, Any] | None:
        status = (await cluster.vxs("voxtral")).get("status") or {}
        auto = status.get("autoscaling") or {}
        return auto if auto.get("lastScaleTime") and auto.get("desiredReplicas") == 2 else None

    auto = await eventually(scaled_status, what="status.autoscaling of the scale-up")
    assert auto["lastDecision"].startswith("1 → 2 replicas: load")
    assert auto["mode"] == "operator" and auto["maxReplicas"] == 3

    # No GPU for the second replica: it stays Pending; the load grows; no more replicas.
    await cluster.create_pod("voxtral-6f7d9c-d3e4f")
    await cluster.pod_unschedulable("voxtral-6f7d9c-d3e4f")
    replicas.set("127.0.0.2", running=600, waiting=4, in_flight=256, kv_cache=0.8)
    vxs = await until_condition(cluster, "ScalingLimited", "True", "GPUsUnavailable")
    assert "Pending unschedulable since" in condition(vxs, "ScalingLimited")["message"]
    mark = emulator.request_count
    await asyncio.sleep(1.5)
    assert replicas_of(emulator) == 2
    assert SCALE not in emulator.api_calls(mark, agent="voxtral-operator")

    # Capacity back: the pod is scheduled and serves; scaling resumes, up to maxReplicas.
    replicas.set("127.0.0.3", running=600, waiting=4, in_flight=256, kv_cache=0.8)
    await cluster.pod_ready("voxtral-6f7d9c-d3e4f", "127.0.0.3")
    await eventually(lambda: has_replicas(emulator, 3), timeout=20, what="3 replicas")
    vxs = await until_condition(cluster, "ScalingLimited", "True", "TooManyReplicas")
    assert vxs["status"]["autoscaling"]["lastDecision"].startswith("2 → 3 replicas")


async def _at_least(counts: dict[str, int], key: str, value: int) -> bool:
    return counts.get(key, 0) >= value


async def test_unreadable_metrics_are_missing_not_zero(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun, replicas: ReplicaMetrics
) -> None:
    spec = AUTOSCALED | {"replicas": 2}
    await cluster.create_vxs("voxtral", spec)
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    await cluster.mark_job_complete(job["metadata"]["name"])
    await eventually(lambda: first_child(emulator, "Deployment"), what="Deployment")
    await eventually(lambda: has_replicas(emulator, 2), what="the starting count")
    for name, ip in (("voxtral-6f7d9c-aaaaa", "127.0.0.4"), ("voxtral-6f7d9c-bbbbb", "127.0.0.5")):
        replicas.set(ip, status=500)
        await cluster.create_pod(name)
        await cluster.pod_ready(name, ip)
    await cluster.mark_deployment_available("voxtral", 2)
    vxs = await until_condition(cluster, "ScalingActive", "False", "MetricsUnavailable")
    assert "HTTP 500" in condition(vxs, "ScalingActive")["message"]
    # One replica answers again, idle; the other's load is unknown: nothing is removed
    # (the scale-down delay is 0 here), and the autoscaler is active again.
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"autoscaling": {"scaleDown": {"delaySeconds": 0}}}},
    )
    replicas.set("127.0.0.4", running=0)
    await until_condition(cluster, "ScalingActive", "True", "OperatorScaling")
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert replicas_of(emulator) == 2
    assert SCALE not in emulator.api_calls(mark, agent="voxtral-operator")


async def test_autoscalers_own_the_replicas_and_come_with_their_crds(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, VALID["small-preset"])
    await settle(emulator)
    assert (
        replicas_of(emulator) == 2
        and "replicas" in applied_by(emulator, "voxtral-operator")["spec"]
    )

    # Static -> hpa. The operator's applies stop carrying replicas, after handing the field
    # to the autoscaler's manager: it stays 2 (without that hand-over it would reset to 1).
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"autoscaling": {"mode": "hpa", "minReplicas": 1, "maxReplicas": 4}}},
    )
    hpa = await eventually(lambda: first_child(emulator, "HorizontalPodAutoscaler"), what="HPA")
    for version in ("1.30.0", "1.37.0"):
        validate(hpa, version)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "voxtral",
    }
    await settle(emulator)
    assert replicas_of(emulator) == 2
    assert "replicas" not in applied_by(emulator, "voxtral-operator")["spec"]
    assert applied_by(emulator, "voxtral-autoscaler/scale") == {"spec": {"replicas": 2}}
    vxs = await until_condition(cluster, "ScalingActive", "False", "MetricsAdapterMissing")
    assert "prometheus-adapter" in condition(vxs, "ScalingActive")["message"]

    # Someone else scales (kubectl scale, or the HPA controller): the operator leaves it, even
    # when it re-applies the Deployment for a spec change.
    await cluster.patch("apps/v1", "deployments", "voxtral", {"spec": {"replicas": 4}}, sub="scale")
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"engine": {"maxConcurrency": 8}}}
    )

    async def new_env() -> bool:
        dep = emulator.get(DEPLOYMENTS, "default", "voxtral") or {}
        return env_of(dep).get("VOXTRAL_MAX_CONCURRENCY") == "8"

    await eventually(new_env, what="the Deployment's new env")
    await settle(emulator)
    assert replicas_of(emulator) == 4

    # hpa -> keda, without KEDA: the HPA goes, no ScaledObject, a condition says why.
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"autoscaling": {"mode": "keda", "prometheusAddress": "http://prometheus:9090"}}},
    )
    vxs = await until_condition(cluster, "ScalingActive", "False", "KedaMissing")
    await settle(emulator)
    assert {"HorizontalPodAutoscaler", "ScaledObject"} & set(children(emulator)) == set()
    assert "ScalingLimited" not in {c["type"] for c in vxs["status"]["conditions"]}

    # KEDA installed: the ScaledObject comes with the next reconcile (here the resync).
    await emulator.install_crd("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject")
    scaled = await eventually(
        lambda: first_child(emulator, "ScaledObject"), timeout=15, what="ScaledObject"
    )
    validate(scaled, "1.37.0")
    assert [t["metadata"]["serverAddress"] for t in scaled["spec"]["triggers"]] == [
        "http://prometheus:9090"
    ] * 3
    await until_condition(cluster, "ScalingActive", "True", "KedaScaling")
    assert replicas_of(emulator) == 4

    # Autoscaling off: the ScaledObject goes and spec.replicas applies again.
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"autoscaling": None}})
    await eventually(lambda: has_replicas(emulator, 2), what="spec.replicas again")
    await settle(emulator)
    assert "ScaledObject" not in children(emulator)
    vxs = await cluster.vxs("voxtral")
    assert "autoscaling" not in vxs["status"]
    assert {c["type"] for c in vxs["status"]["conditions"]} == {"ModelReady", "Available", "Ready"}


async def test_static_to_operator_mode_keeps_the_replicas_and_clamps_them(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, VALID["small-preset"])
    await settle(emulator)
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"autoscaling": {"minReplicas": 3, "maxReplicas": 5}}},
    )
    # Handed over to the autoscaler's manager, within minReplicas..maxReplicas.
    await eventually(lambda: has_replicas(emulator, 3), timeout=10, what="minReplicas")
    await settle(emulator)
    assert replicas_of(emulator) == 3
    assert applied_by(emulator, "voxtral-autoscaler/scale") == {"spec": {"replicas": 3}}
    vxs = await until_condition(cluster, "ScalingActive", "True")
    assert vxs["status"]["autoscaling"]["desiredReplicas"] == 3


async def test_a_restarted_operator_resumes_scaling_without_writes_and_deletion_works(
    cluster: Cluster,
    emulator: VoxtralEmulator,
    operator: OperatorRun,
    operator_settings: Settings,
    replicas: ReplicaMetrics,
) -> None:
    await deployed(cluster, emulator)
    replicas.set("127.0.0.6", running=10, in_flight=10)
    await cluster.create_pod("voxtral-6f7d9c-zzzzz")
    await cluster.pod_ready("voxtral-6f7d9c-zzzzz", "127.0.0.6")
    await cluster.mark_deployment_available("voxtral", 1)
    await until_condition(cluster, "ScalingActive", "True", "OperatorScaling")
    await settle(emulator)

    await operator.stop()
    mark, reads = emulator.request_count, replicas.reads["127.0.0.6"]
    again = OperatorRun(operator_settings)
    await again.start()
    try:
        await eventually(lambda: _at_least(replicas.reads, "127.0.0.6", reads + 3), what="reads")
        await settle(emulator)
        assert operator_writes(emulator, mark) == []
        # Deleting the service: kopf stops its autoscaler, then the service and children go.
        await cluster.delete(VXS_API, "voxtralservices", "voxtral")

        async def gone() -> bool:
            response = await cluster.http.get(cluster.path(VXS_API, "voxtralservices", "voxtral"))
            return response.status_code == 404 and not children(emulator)

        await eventually(gone, what="the service and its children to be deleted")
    finally:
        await again.stop()


async def test_status_keys_of_an_earlier_mode_go_across_a_switch_and_a_restart(
    cluster: Cluster,
    emulator: VoxtralEmulator,
    operator: OperatorRun,
    operator_settings: Settings,
    replicas: ReplicaMetrics,
) -> None:
    """Issue 13, fix 6: status.autoscaling.lastDecision and lastScaleTime of operator mode
    are removed when mode hpa has none (a merge patch keeps nested keys it does not null),
    and a restarted operator finds nothing to write."""
    await deployed(cluster, emulator)
    replicas.set("127.0.0.7", running=200, waiting=4, in_flight=204, kv_cache=0.4)
    await cluster.create_pod("voxtral-6f7d9c-q1w2e")
    await cluster.pod_ready("voxtral-6f7d9c-q1w2e", "127.0.0.7")
    await cluster.mark_deployment_available("voxtral", 1)

    async def decided() -> dict[str, Any] | None:
        auto = ((await cluster.vxs("voxtral")).get("status") or {}).get("autoscaling") or {}
        return auto if auto.get("lastDecision") and auto.get("lastScaleTime") else None

    await eventually(decided, timeout=20, what="a scale decision in the status")
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"autoscaling": {"mode": "hpa"}}}
    )

    async def hpa_status() -> dict[str, Any] | None:
        auto = ((await cluster.vxs("voxtral")).get("status") or {}).get("autoscaling") or {}
        return auto if auto.get("mode") == "hpa" else None

    auto = await eventually(hpa_status, what="status.autoscaling of mode hpa")
    await settle(emulator)
    auto = (await cluster.vxs("voxtral"))["status"]["autoscaling"]
    assert "lastDecision" not in auto and "lastScaleTime" not in auto, auto

    await operator.stop()
    mark = emulator.request_count
    again = OperatorRun(operator_settings)
    await again.start()
    try:
        await asyncio.sleep(1.0)  # several resyncs (every 0.3 s)
        await settle(emulator)
        assert operator_writes(emulator, mark) == []
    finally:
        await again.stop()
