"""End to end, spec.runtime kserve: the real operator against the API emulator with KServe's
InferenceService CRD declared (installed here while the operator runs, as a cluster admin
would), the test playing KServe's controller by writing the InferenceService's status as it
does: a condition while KServe is missing; one InferenceService, valid for KServe's models,
updated when the spec changes; its URL and conditions mirrored; a runtime change refused;
the InferenceService gone with its VoxtralService."""

from __future__ import annotations

from typing import Any

import pytest
from kserve_models import kserve_problems
from kube_emulator import VoxtralEmulator
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    condition,
    eventually,
    first_child,
    settle,
    until_condition,
)

from voxtral_operator.config import Settings

ISVC_API = "serving.kserve.io/v1beta1"
SPEC = {"runtime": "kserve", "model": {"preset": "voxtral-mini-3b", "servedName": "mini"}}
URL = "http://voxtral-predictor.default.svc.cluster.local"


@pytest.fixture
def operator_settings() -> Settings:
    return Settings(metrics_port=0, resync_seconds=0.3, wait_seconds=0.3)


def kserve_status(ready: str, reason: str = "", message: str = "") -> dict[str, Any]:
    """What KServe's controller writes: knative-style conditions, the URLs."""
    conds = [
        {"type": "PredictorReady", "status": ready, "reason": reason, "message": message},
        {"type": "Ready", "status": ready, "reason": reason, "message": message},
    ]
    return {
        "status": {
            "url": URL,
            "address": {"url": URL},
            "conditions": [{k: v for k, v in c.items() if v} for c in conds],
            "deploymentMode": "RawDeployment",
        }
    }


async def test_a_kserve_service_is_one_inference_service(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", SPEC)
    vxs = await until_condition(cluster, "Ready", "False", "KServeMissing")
    assert "install KServe" in condition(vxs, "Ready")["message"]
    assert children(emulator) == {}  # no Job, no Deployment, no Service of its own

    await emulator.install_crd(
        "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
    )
    isvc = await eventually(
        lambda: first_child(emulator, "InferenceService"), timeout=15, what="InferenceService"
    )
    assert kserve_problems(isvc) == []
    assert isvc["spec"]["predictor"]["model"]["args"] == ["--model_name=mini"]
    assert set(children(emulator)) == {"InferenceService"}
    await until_condition(cluster, "Ready", "False", "Creating")

    # the spec changes: the InferenceService follows
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"replicas": 2}})

    async def two() -> bool:
        found = await first_child(emulator, "InferenceService")
        return bool(found) and found["spec"]["predictor"]["minReplicas"] == 2  # type: ignore[index]

    await eventually(two, timeout=15, what="minReplicas 2")

    # KServe reports: mirrored
    failing = kserve_status("False", "RevisionMissing", "Revision voxtral-predictor-1 failed")
    await cluster.patch(ISVC_API, "inferenceservices", "voxtral", failing, sub="status")
    vxs = await until_condition(cluster, "Ready", "False", "RevisionMissing")
    assert condition(vxs, "Available")["message"] == (
        "InferenceService voxtral: Revision voxtral-predictor-1 failed"
    )
    await cluster.patch(
        ISVC_API, "inferenceservices", "voxtral", kserve_status("True"), sub="status"
    )
    vxs = await until_condition(cluster, "Ready", "True")
    status = vxs["status"]
    assert status["url"] == URL
    assert status["endpoints"] == {
        "http": URL,
        "openai": f"{URL}/v1",
        "grpc": "voxtral-predictor.default.svc.cluster.local:8081",
    }
    assert condition(vxs, "Available")["status"] == "True"
    assert "ModelReady" not in {c["type"] for c in status["conditions"]}

    # the runtime cannot change under a running service
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"runtime": "deployment"}})
    vxs = await until_condition(cluster, "Ready", "False", "RuntimeChanged")
    assert "set spec.runtime back to kserve" in condition(vxs, "Ready")["message"]
    assert "Deployment" not in children(emulator)
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"runtime": "kserve"}})
    await until_condition(cluster, "Ready", "True")

    # deleted with its service (owner reference: the garbage collector)
    await cluster.delete(VXS_API, "voxtralservices", "voxtral")
    await eventually(lambda: _gone(emulator), timeout=15, what="the InferenceService deleted")
    await settle(emulator)


async def _gone(emulator: VoxtralEmulator) -> bool:
    return "InferenceService" not in children(emulator)
