"""End to end, spec.monitoring: the dashboard ConfigMap always, the ServiceMonitor and the
PrometheusRule only where the Prometheus Operator's CRDs are installed (installed here while
the operator runs, as a cluster admin would), a condition saying which, and all of it gone
when monitoring is turned off."""

from __future__ import annotations

import json

import pytest
from custom_resources import validate
from kube_emulator import VoxtralEmulator
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    condition,
    eventually,
    first_child,
    ready_service,
    settle,
    until_condition,
)
from operator_samples import vxs

from voxtral_operator.config import Settings

MONITORED = vxs(
    {
        "model": {"preset": "voxtral-mini-3b"},
        "monitoring": {"enabled": True, "labels": {"release": "prometheus"}},
    }
)


@pytest.fixture
def operator_settings() -> Settings:
    return Settings(metrics_port=0, resync_seconds=0.3, wait_seconds=0.3)


async def test_monitoring_objects_follow_the_prometheus_operator(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, MONITORED)
    dashboard = await eventually(lambda: first_child(emulator, "ConfigMap"), what="dashboard")
    assert dashboard["metadata"]["name"] == "voxtral-dashboard"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    for version in ("1.30.0", "1.37.0"):
        validate(dashboard, version)
    (text,) = dashboard["data"].values()
    model = json.loads(text)
    assert model["title"] == "Voxtral: default/voxtral" and model["panels"]
    vxs_ = await until_condition(cluster, "MonitoringReady", "False", "PrometheusOperatorMissing")
    assert "kube-prometheus-stack" in condition(vxs_, "MonitoringReady")["message"]
    assert {"ServiceMonitor", "PrometheusRule"} & set(children(emulator)) == set()

    await emulator.install_crd("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor")
    await emulator.install_crd("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule")
    monitor = await eventually(
        lambda: first_child(emulator, "ServiceMonitor"), timeout=15, what="ServiceMonitor"
    )
    rule = await eventually(
        lambda: first_child(emulator, "PrometheusRule"), timeout=15, what="PrometheusRule"
    )
    for obj in (monitor, rule):
        validate(obj, "1.37.0")
        assert obj["metadata"]["labels"]["release"] == "prometheus"
    service = (children(emulator)["Service"])[0]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    alerts = {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}
    assert alerts >= {"VoxtralQueueTimeHigh", "VoxtralErrorRatioHigh", "VoxtralKVCacheSaturated"}
    await until_condition(cluster, "MonitoringReady", "True", "Monitored")

    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"monitoring": None}})
    await eventually(
        lambda: _none_left(emulator), timeout=10, what="the monitoring objects to be deleted"
    )
    await settle(emulator)
    status = (await cluster.vxs("voxtral"))["status"]
    assert "MonitoringReady" not in {c["type"] for c in status["conditions"]}


async def _none_left(emulator: VoxtralEmulator) -> bool:
    return not {"ServiceMonitor", "PrometheusRule", "ConfigMap"} & set(children(emulator))


POOLED = vxs(
    {
        "model": {"preset": "voxtral-mini-3b"},
        "routing": {"inferencePool": True, "endpointPicker": {"serviceName": "voxtral-epp"}},
    }
)


async def test_the_inference_pool_follows_the_inference_extension(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """spec.routing.inferencePool: a condition while the InferencePool CRD is not served,
    the pool (valid, selecting the predictor pods) once it is, gone when turned off."""
    await ready_service(cluster, emulator, POOLED)
    vxs_ = await until_condition(cluster, "InferencePoolReady", "False", "InferencePoolCRDMissing")
    assert (
        "inference.networking.k8s.io/v1 InferencePool"
        in (condition(vxs_, "InferencePoolReady")["message"])
    )
    assert "InferencePool" not in children(emulator)

    await emulator.install_crd(
        "inference.networking.k8s.io", "v1", "inferencepools", "InferencePool"
    )
    pool = await eventually(
        lambda: first_child(emulator, "InferencePool"), timeout=15, what="InferencePool"
    )
    validate(pool, "1.37.0")
    deployment = children(emulator)["Deployment"][0]
    assert pool["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pool["spec"]["endpointPickerRef"]["name"] == "voxtral-epp"
    vxs_ = await until_condition(cluster, "InferencePoolReady", "True", "Created")
    assert "voxtral-epp:9002 (FailClose)" in condition(vxs_, "InferencePoolReady")["message"]

    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"routing": None}})
    await eventually(lambda: _no_pool(emulator), timeout=10, what="the InferencePool deleted")
    await settle(emulator)
    status = (await cluster.vxs("voxtral"))["status"]
    assert "InferencePoolReady" not in {c["type"] for c in status["conditions"]}


async def _no_pool(emulator: VoxtralEmulator) -> bool:
    return "InferencePool" not in children(emulator)
