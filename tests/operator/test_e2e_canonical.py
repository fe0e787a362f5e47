"""End to end, the forms the API server stores (issue 13, fix 5): quantities in canonical
form, empty optional fields left out. What the operator writes must read back as it wrote
it, or each resync would write the same objects again. The emulator stores them as
kube-apiserver does (kube_emulator.schema, checked in test_emulator.py)."""

from __future__ import annotations

import asyncio

import pytest
from kube_emulator import VoxtralEmulator
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    eventually,
    operator_writes,
    ready_service,
    settle,
)
from operator_samples import vxs

from voxtral_operator import metrics
from voxtral_operator.config import Settings

FRACTIONAL = vxs(
    {
        "model": {"preset": "voxtral-mini-3b"},
        "resources": {"cpu": "0.5", "memory": "24576Mi"},
        "cache": {"size": "0.5Ti"},
        "engine": {"env": {"VLLM_EMPTY": ""}},
        "scheduling": {
            "tolerations": [{"key": "gpu-pool", "operator": "Exists", "value": ""}],
            "nodeSelector": {},
        },
        "autoscaling": {
            "mode": "hpa",
            "target": {"concurrencyPerReplica": 12.5, "queuePerReplica": 2.5, "kvCacheUsage": 1},
        },
    }
)


@pytest.fixture
def operator_settings(resync_settings: Settings) -> Settings:
    return resync_settings


async def test_a_resync_after_fractional_quantities_and_empty_fields_writes_nothing(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, FRACTIONAL)
    await settle(emulator)
    stored = children(emulator)
    (hpa,) = stored["HorizontalPodAutoscaler"]
    targets = [m["pods"]["target"]["averageValue"] for m in hpa["spec"]["metrics"]]
    assert targets == ["12500m", "2500m", "1"]  # as the operator wrote them
    (deployment,) = stored["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "500m"
    assert container["resources"]["requests"]["memory"] == "24Gi"
    assert {"name": "VLLM_EMPTY"} in container["env"]  # the server kept no value ""
    (claim,) = stored["PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "512Gi"

    resyncs = metrics.RECONCILES.labels("resync", "ok")._value.get()
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert metrics.RECONCILES.labels("resync", "ok")._value.get() >= resyncs + 3
    assert operator_writes(emulator, mark) == []


async def test_a_spec_change_to_an_equal_quantity_writes_nothing(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """ "1000m" and "1" are one quantity: a spec that says the other changes no child."""
    await ready_service(cluster, emulator, vxs({"model": {"preset": "voxtral-mini-3b"},
                                                "resources": {"cpu": "1"}}))  # fmt: skip
    await settle(emulator)
    mark = emulator.request_count
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"resources": {"cpu": "1000m"}}}
    )

    async def observed() -> bool:
        return (await cluster.vxs("voxtral"))["status"]["observedGeneration"] == 2

    await eventually(observed, what="the new generation observed")
    await settle(emulator)
    children_written = [
        c for c in operator_writes(emulator, mark) if not c[2].startswith("voxtralservices")
    ]
    assert children_written == []  # kopf's bookkeeping and the status only
