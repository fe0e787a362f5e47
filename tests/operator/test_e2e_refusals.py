"""End to end, what the API server refuses (issue 13, fixes 3 and 4): one refused child
never stalls the others, and autoscalers are handed over in the order admission allows.
The refusals are the API server's own: its PersistentVolumeClaimResize admission plugin,
and a validating webhook modelled on KEDA's (kube_emulator.admission)."""

from __future__ import annotations

import asyncio

from kube_emulator import VoxtralEmulator
from kube_emulator.admission import Request
from kube_emulator.errors import ApiError
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    condition,
    env_of,
    eventually,
    operator_writes,
    ready_service,
    settle,
    until_condition,
)
from operator_samples import INVALID, vxs

MINI = vxs({"model": {"preset": "voxtral-mini-3b"}})


async def test_a_refused_claim_resize_stalls_nothing_else(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    # The cluster's default class cannot expand volumes (allowVolumeExpansion unset).
    await cluster.http.post(
        "/apis/storage.k8s.io/v1/storageclasses",
        json={
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "ebs.csi.aws.com",
        },
    )
    await ready_service(cluster, emulator, MINI)
    (claim,) = children(emulator)["PersistentVolumeClaim"]
    assert claim["spec"]["storageClassName"] == "standard"  # DefaultStorageClass admission
    name = claim["metadata"]["name"]
    await cluster.patch(
        "v1", "persistentvolumeclaims", name, {"status": {"phase": "Bound"}}, sub="status"
    )
    await settle(emulator)

    # One spec change grows the cache (refused) and changes the engine (unrelated).
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"cache": {"size": "200Gi"}, "engine": {"maxConcurrency": 8}}},
    )
    vxs_ = await until_condition(cluster, "Synced", "False", "ChildForbidden")
    status = vxs_["status"]
    assert status["observedGeneration"] == 2
    synced = condition(vxs_, "Synced")["message"]
    assert f"PersistentVolumeClaim {name} (update) refused with 403" in synced
    assert (
        "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
        in synced
    )
    assert condition(vxs_, "Ready")["status"] == "True"  # it serves, with the old cache size
    (deployment,) = children(emulator)["Deployment"]
    assert env_of(deployment)["VOXTRAL_MAX_CONCURRENCY"] == "8"  # applied after the refusal
    (claim,) = children(emulator)["PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"

    # No retry storm: the refusal stands until something changes.
    await settle(emulator)
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert operator_writes(emulator, mark) == []

    # Back to the claim's size: nothing refused, the condition goes.
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"cache": {"size": "100Gi"}}}
    )

    async def synced_gone() -> bool:
        return condition(await cluster.vxs("voxtral"), "Synced") == {}

    await eventually(synced_gone, what="the Synced condition to go")


def keda_webhook(emulator: VoxtralEmulator):  # type: ignore[no-untyped-def]
    """KEDA's ScaledObject validation (apis/keda/v1alpha1/scaledobject_webhook.go): a
    ScaledObject whose target another HorizontalPodAutoscaler already scales is refused."""

    def check(request: Request) -> str | None:
        if request.resource != "scaledobjects" or request.operation != "CREATE":
            return None
        target = request.obj["spec"]["scaleTargetRef"]["name"]
        for hpa in emulator.list("autoscaling/v2/horizontalpodautoscalers", request.namespace):
            if hpa["spec"]["scaleTargetRef"]["name"] == target:
                return (
                    f"the workload '{target}' of type 'apps/v1.Deployment' is already managed "
                    f"by the hpa '{hpa['metadata']['name']}'"
                )
        return None

    return check


def _first(calls: list[tuple[str, str, str]], call: tuple[str, str, str]) -> int:
    return calls.index(call) if call in calls else -1


async def test_autoscalers_are_handed_over_delete_first(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await emulator.install_crd("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject")
    emulator.refuse("vscaledobject.kb.io", keda_webhook(emulator))
    await ready_service(cluster, emulator, MINI)
    hpa_mode = {"autoscaling": {"mode": "hpa", "minReplicas": 1, "maxReplicas": 3}}
    keda_mode = {"autoscaling": {"mode": "keda", "prometheusAddress": "http://prometheus:9090"}}
    delete_hpa = ("delete", "autoscaling", "horizontalpodautoscalers")
    create_hpa = ("create", "autoscaling", "horizontalpodautoscalers")
    delete_so = ("delete", "keda.sh", "scaledobjects")
    create_so = ("create", "keda.sh", "scaledobjects")

    async def only(kind: str) -> bool:
        have = set(children(emulator)) & {"HorizontalPodAutoscaler", "ScaledObject"}
        return have == {kind}

    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": hpa_mode})
    await eventually(lambda: only("HorizontalPodAutoscaler"), what="the HPA")

    mark = emulator.request_count
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": keda_mode})
    await eventually(lambda: only("ScaledObject"), timeout=15, what="the ScaledObject alone")
    calls = emulator.api_calls(mark, agent="voxtral-operator")
    assert 0 <= _first(calls, delete_hpa) < _first(calls, create_so), calls
    await until_condition(cluster, "ScalingActive", "True", "KedaScaling")
    assert condition(await cluster.vxs("voxtral"), "Synced") == {}  # nothing was refused

    mark = emulator.request_count
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": hpa_mode})
    await eventually(lambda: only("HorizontalPodAutoscaler"), timeout=15, what="the HPA alone")
    calls = emulator.api_calls(mark, agent="voxtral-operator")
    assert 0 <= _first(calls, delete_so) < _first(calls, create_hpa), calls

    # hpa -> operator: the HPA goes before the Deployment is handed to the operator's scaler.
    mark = emulator.request_count
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"autoscaling": {"mode": "operator"}}}
    )

    async def no_autoscaler_object() -> bool:
        return not set(children(emulator)) & {"HorizontalPodAutoscaler", "ScaledObject"}

    await eventually(no_autoscaler_object, timeout=15, what="the HPA to go")
    await settle(emulator)
    calls = emulator.api_calls(mark, agent="voxtral-operator")
    assert 0 <= _first(calls, delete_hpa) < _first(calls, ("patch", "apps", "deployments")), calls
    (deployment,) = children(emulator)["Deployment"]
    assert deployment["metadata"]["annotations"]["voxtral.dev/replicas-from"] == "operator"
    assert [c for c in operator_writes(emulator, mark) if c == create_so] == []


async def test_a_typo_in_kubernetes_own_fields_is_named_before_anything_is_applied(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """Fix 2, better still: the affinity is checked against Kubernetes' schema first, so the
    message names the field (the API server's own answer would be a 500 at the first
    Deployment write), and nothing is created from an invalid spec."""
    spec = INVALID["affinity-typo"][0]["spec"]
    await cluster.create_vxs("voxtral", spec)
    vxs_ = await until_condition(cluster, "Ready", "False", "InvalidSpec")
    assert "matchExpresions: unknown field" in vxs_["status"]["message"]
    assert "did you mean 'matchExpressions'?" in vxs_["status"]["message"]
    await settle(emulator)
    assert children(emulator) == {}


async def test_a_failed_write_outside_kopfs_handlers_is_tried_again_soon(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """A 500 that is not a refusal (a webhook that times out: apierrors.NewInternalError) in a
    reconcile a child's event started: the operator tries again after the wait period, not
    at the next resync (off here) or never."""
    await ready_service(cluster, emulator, MINI)
    failures = []

    def slow(request: Request) -> str | None:
        if request.resource == "services" and request.operation == "CREATE" and not failures:
            failures.append(request.name)
            raise ApiError(500, "InternalError", 'Internal error occurred: failed calling webhook '
                           '"slow.example.com": failed to call webhook: Post "https://slow.svc:443/'
                           'validate?timeout=10s": context deadline exceeded')  # fmt: skip
        return None

    emulator.refuse("slow.example.com", slow)
    await cluster.delete("v1", "services", "voxtral")  # a child deleted by hand

    async def back() -> bool:
        return "Service" in children(emulator)

    await eventually(back, timeout=10, what="the Service re-created after the failure")
    assert failures == ["voxtral"]
