"""End to end, the operator's operations: restarts, the idle resync, deletion, metrics, and
the API calls it makes (the RBAC set of the Helm chart). Same set-up as test_e2e.py."""

from __future__ import annotations

import asyncio

from kube_emulator import VoxtralEmulator
from operator_harness import (
    VXS_API,
    Cluster,
    OperatorRun,
    children,
    operator_writes,
    ready_service,
    settle,
    until_condition,
)
from operator_samples import VALID
from prometheus_client import generate_latest

from voxtral_operator import metrics
from voxtral_operator.config import Settings


async def test_a_restarted_operator_makes_no_duplicates_and_no_writes(
    cluster: Cluster,
    emulator: VoxtralEmulator,
    operator: OperatorRun,
    operator_settings: Settings,
) -> None:
    await ready_service(cluster, emulator, VALID["small-preset"])
    await settle(emulator)
    before = {
        kind: [o["metadata"]["uid"] for o in objs] for kind, objs in children(emulator).items()
    }
    await operator.stop()
    mark = emulator.request_count
    again = OperatorRun(operator_settings)
    await again.start()
    try:
        await settle(emulator, quiet=1.0)
        assert operator_writes(emulator, mark) == []
        # The caches answer; at most a child the caches did not show yet is read (a GET
        # before any create), never written.
        calls = emulator.api_calls(mark, agent="voxtral-operator")
        assert all(verb == "get" for verb, _, _ in calls), calls
        after = {
            kind: [o["metadata"]["uid"] for o in objs] for kind, objs in children(emulator).items()
        }
        assert after == before
    finally:
        await again.stop()


async def test_an_idle_resync_makes_no_writes(
    cluster: Cluster, emulator: VoxtralEmulator, resync_settings: Settings
) -> None:
    run = OperatorRun(resync_settings)
    await run.start()
    try:
        await ready_service(
            cluster,
            emulator,
            VALID["everything"] | {"metadata": {"name": "voxtral", "namespace": "default"}},
        )
        await settle(emulator)
        resyncs = metrics.RECONCILES.labels("resync", "ok")._value.get()
        mark = emulator.request_count
        await asyncio.sleep(1.0)
        assert metrics.RECONCILES.labels("resync", "ok")._value.get() >= resyncs + 3
        assert operator_writes(emulator, mark) == []
    finally:
        await run.stop()


async def test_delete_takes_the_children_with_it(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    vxs = await ready_service(cluster, emulator, VALID["small-preset"])
    uid = vxs["metadata"]["uid"]
    for objs in children(emulator).values():  # what garbage collection works from
        for obj in objs:
            refs = obj["metadata"]["ownerReferences"]
            assert [r["uid"] for r in refs if r.get("controller")] == [uid]
    mark = emulator.request_count
    await cluster.delete(VXS_API, "voxtralservices", "voxtral")
    await settle(emulator)
    assert children(emulator) == {}
    # The operator saw its children go and did not bring any of them back (its one write is
    # kopf's removal of its finalizer from the VoxtralService, once its daemons stopped).
    writes = [c for c in operator_writes(emulator, mark) if c[0] in ("create", "patch")]
    assert [c for c in writes if c[2] != "voxtralservices"] == []


async def test_the_operator_exports_its_metrics(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, VALID["mini-preset"])
    text = generate_latest(metrics.REGISTRY).decode()
    for name in (
        "voxtral_operator_reconciles_total",
        "voxtral_operator_reconcile_duration_seconds",
        "voxtral_operator_errors_total",
        "voxtral_operator_writes_total",
        "voxtral_operator_api_requests_total",
        "voxtral_operator_managed_services",
    ):
        assert f"# TYPE {name}" in text
    assert metrics.RECONCILES.labels("create", "ok")._value.get() >= 1
    assert metrics.WRITES.labels("apply", "Deployment")._value.get() >= 1


# What the operator asks of the API server, for the Helm chart's RBAC (issue 4), as the API
# server authorizes it: kopf's watches and bookkeeping, the reconciler's reads (a GET before
# each create) and server-side applies (`patch`, and `create` too where the apply creates:
# handlers/patch.go), and the `update` of the VoxtralService's finalizers that admission asks
# for each child's blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
APPLIED = (
    ("apps", "deployments"),
    ("", "services"),
    ("policy", "poddisruptionbudgets"),
    ("", "persistentvolumeclaims"),
    ("batch", "jobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("keda.sh", "scaledobjects"),
    ("monitoring.coreos.com", "servicemonitors"),
    ("monitoring.coreos.com", "prometheusrules"),
    ("", "configmaps"),
    ("inference.networking.k8s.io", "inferencepools"),
)
EXPECTED_CALLS = {
    ("list", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("watch", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("list", "voxtral.dev", "voxtralservices"),
    ("watch", "voxtral.dev", "voxtralservices"),
    ("patch", "voxtral.dev", "voxtralservices"),
    ("patch", "voxtral.dev", "voxtralservices/status"),
    ("update", "voxtral.dev", "voxtralservices/finalizers"),
    *(
        (verb, group, resource)
        for group, resource in APPLIED
        for verb in ("get", "list", "watch", "create", "patch")
    ),
    ("delete", "policy", "poddisruptionbudgets"),
    ("delete", "batch", "jobs"),
    ("get", "", "secrets"),
    ("create", "", "events"),
    # What explains a wait (issue 13): a claim's events, the download's and replicas' pods.
    ("list", "", "events"),
    # Autoscaling and monitoring (issue 6).
    ("list", "", "pods"),
    ("patch", "apps", "deployments/scale"),
    *(("delete", group, resource) for group, resource in APPLIED[5:]),
    # spec.runtime kserve (issue 18): applied, never deleted (the garbage collector does)
    *(
        (verb, "serving.kserve.io", "inferenceservices")
        for verb in ("get", "list", "watch", "create", "patch")
    ),
}


async def test_the_api_calls_stay_within_the_rbac_set(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create(
        "v1",
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token"},
            "stringData": {"token": "hf_x"},
        },
    )
    await ready_service(
        cluster,
        emulator,
        VALID["hf-private"] | {"spec": {**VALID["hf-private"]["spec"], "replicas": 2}},
    )
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"replicas": 1, "model": {"source": {"huggingFace": {"revision": "b2c3d4e"}}}}},
    )
    await settle(emulator)
    await cluster.create_vxs("broken", {"model": {"preset": "voxtral-mini-3b"}, "bad": 1})
    await until_condition(cluster, "Ready", "False", name="broken")
    await cluster.create_vxs("claim", VALID["pvc"]["spec"])
    await until_condition(cluster, "Ready", "False", "WaitingForClaim", name="claim")
    calls = set(emulator.api_calls(agent="voxtral-operator")) | set(
        emulator.api_calls(agent="kopf")
    )
    assert calls <= EXPECTED_CALLS, calls - EXPECTED_CALLS
    assert ("delete", "batch", "jobs") in calls and ("get", "", "secrets") in calls
    # A server-side apply that creates is authorized as create too (handlers/patch.go).
    assert ("create", "apps", "deployments") in calls and ("create", "batch", "jobs") in calls
