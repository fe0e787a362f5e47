"""End to end over real HTTP: the real operator (kopf running voxtral_operator.handlers, in
its own thread and event loop) against the API emulator, driven as a user would drive a
cluster. The emulator plays the controllers that do not exist here: the test marks Jobs
complete and Deployments available, as the Job and Deployment controllers would."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import kubernetes_validate
import pytest
from operator_emulator import VoxtralEmulator
from operator_harness import Cluster, OperatorRun, eventually, settle
from operator_samples import VALID
from prometheus_client import generate_latest

from voxtral_operator import metrics
from voxtral_operator.config import Settings

VXS_API = "voxtral.dev/v1alpha1"
WRITES = {"create", "patch", "update", "delete"}
CHILD_RESOURCES = {
    "Deployment": "apps/v1/deployments",
    "Service": "v1/services",
    "PodDisruptionBudget": "policy/v1/poddisruptionbudgets",
    "PersistentVolumeClaim": "v1/persistentvolumeclaims",
    "Job": "batch/v1/jobs",
}


def children(
    emulator: VoxtralEmulator, instance: str = "voxtral"
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, resource in CHILD_RESOURCES.items():
        for obj in emulator.list(resource, "default"):
            labels = obj["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/instance") == instance:
                found.setdefault(kind, []).append(obj)
    return found


def condition(vxs: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (vxs.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def operator_writes(emulator: VoxtralEmulator, since: int) -> list[tuple[str, str, str]]:
    calls = emulator.api_calls(since, agent="voxtral-operator") + emulator.api_calls(
        since, agent="kopf"
    )
    return [call for call in calls if call[0] in WRITES]


async def until_condition(
    cluster: Cluster,
    type_: str,
    status: str,
    reason: str | None = None,
    name: str = "voxtral",
    timeout: float = 10,
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        vxs = await cluster.vxs(name)
        cond = condition(vxs, type_)
        ok = cond.get("status") == status and (reason is None or cond.get("reason") == reason)
        return vxs if ok else None

    return await eventually(check, timeout, f"{type_}={status} ({reason})")


async def ready_service(
    cluster: Cluster, emulator: VoxtralEmulator, sample: dict[str, Any]
) -> dict[str, Any]:
    """Create a service and play the Job and Deployment controllers until it is Ready."""
    await cluster.create_vxs(sample["metadata"]["name"], sample["spec"])
    job = await eventually(lambda: _first(emulator, "Job"), what="the download Job")
    await cluster.mark_job_complete(job["metadata"]["name"])
    await eventually(lambda: _first(emulator, "Deployment"), what="the Deployment")
    replicas = sample["spec"].get("replicas", 1)
    await cluster.mark_deployment_available("voxtral", replicas)
    return await until_condition(cluster, "Ready", "True")


async def _first(emulator: VoxtralEmulator, kind: str) -> dict[str, Any] | None:
    found = children(emulator).get(kind)
    return found[0] if found else None


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


async def test_create_builds_the_children_with_gpus_and_tensor_parallelism(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    created = await cluster.create_vxs("voxtral", VALID["small-preset"]["spec"])
    job = await eventually(lambda: _first(emulator, "Job"), what="the download Job")
    await settle(emulator)
    first = children(emulator)
    assert set(first) == {"PersistentVolumeClaim", "Job", "Service", "PodDisruptionBudget"}
    vxs = await cluster.vxs("voxtral")
    assert condition(vxs, "ModelReady")["reason"] == "Downloading"
    assert condition(vxs, "Available")["reason"] == "WaitingForModel"

    await cluster.mark_job_complete(job["metadata"]["name"])
    deployment = await eventually(lambda: _first(emulator, "Deployment"), what="Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert env_of(deployment)["VOXTRAL_TENSOR_PARALLEL_SIZE"] == "2"
    assert env_of(deployment)["NCCL_NVLS_ENABLE"] == "0"
    assert deployment["spec"]["replicas"] == 2
    await settle(emulator)

    uid = created["metadata"]["uid"]
    everything = children(emulator)
    assert {kind: len(objs) for kind, objs in everything.items()} == {
        "PersistentVolumeClaim": 1,
        "Job": 1,
        "Service": 1,
        "PodDisruptionBudget": 1,
        "Deployment": 1,
    }
    for objs in everything.values():
        for obj in objs:
            assert obj["metadata"]["ownerReferences"] == [
                {
                    "apiVersion": VXS_API,
                    "kind": "VoxtralService",
                    "name": "voxtral",
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            for version in ("1.30.0", "1.37.0"):  # as stored, server fields included
                kubernetes_validate.validate(obj, version, strict=True)


async def test_ready_sets_endpoints(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    vxs = await ready_service(cluster, emulator, VALID["mini-preset"])
    status = vxs["status"]
    assert status["endpoints"] == {
        "http": "http://voxtral.default.svc.cluster.local:8080",
        "openai": "http://voxtral.default.svc.cluster.local:8080/v1",
        "grpc": "voxtral.default.svc.cluster.local:8081",
    }
    assert status["readyReplicas"] == 1 and status["replicaSummary"] == "1/1"
    assert status["gpusPerReplica"] == 1 and status["model"] == "voxtral-mini-3b"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "ModelReady": "True",
        "Available": "True",
        "Ready": "True",
    }
    assert "OpenAI base URL" in status["message"]


async def test_spec_update_patches_the_deployment_without_recreating_it(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, VALID["mini-preset"])
    await settle(emulator)
    before = _only(emulator, "Deployment")
    mark = emulator.request_count
    await cluster.patch(
        VXS_API, "voxtralservices", "voxtral", {"spec": {"engine": {"maxConcurrency": 8}}}
    )

    async def updated() -> dict[str, Any] | None:
        dep = _only(emulator, "Deployment")
        return dep if env_of(dep)["VOXTRAL_MAX_CONCURRENCY"] == "8" else None

    after = await eventually(updated, what="the Deployment's new env")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    calls = collections.Counter(
        c for c in emulator.api_calls(mark, agent="voxtral-operator") if c[2] == "deployments"
    )
    assert calls == {("patch", "apps", "deployments"): 1}
    vxs = await eventually(lambda: _observed(cluster, 2), what="observedGeneration 2")
    assert vxs["status"]["observedGeneration"] == 2


async def _observed(cluster: Cluster, generation: int) -> dict[str, Any] | None:
    vxs = await cluster.vxs("voxtral")
    return vxs if (vxs.get("status") or {}).get("observedGeneration") == generation else None


def _only(emulator: VoxtralEmulator, kind: str) -> dict[str, Any]:
    found = children(emulator).get(kind) or []
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


async def test_a_child_deleted_or_edited_by_hand_is_restored(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await ready_service(cluster, emulator, VALID["mini-preset"])
    old = _only(emulator, "Service")
    await cluster.delete("v1", "services", "voxtral")

    async def recreated() -> dict[str, Any] | None:
        found = children(emulator).get("Service")
        return found[0] if found and found[0]["metadata"]["uid"] != old["metadata"]["uid"] else None

    await eventually(recreated, what="the Service to come back")

    deployment = _only(emulator, "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    await cluster.patch(
        "apps/v1",
        "deployments",
        "voxtral",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "predictor", "image": "attacker/miner:latest"}]
                    }
                }
            }
        },
    )

    async def restored() -> bool:
        dep = _only(emulator, "Deployment")
        return dep["spec"]["template"]["spec"]["containers"][0]["image"] == image

    await eventually(restored, what="the image to be restored")
    await cluster.delete("apps/v1", "deployments", "voxtral")
    await eventually(lambda: _first(emulator, "Deployment"), what="the Deployment back")


async def test_an_invalid_spec_gets_a_condition_and_no_children(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs(
        "voxtral",
        {"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 1, "gpuMemory": "40Gi"},
    )
    vxs = await until_condition(cluster, "Ready", "False", "ModelDoesNotFit")
    assert "set spec.gpusPerReplica to 2 or more" in condition(vxs, "Ready")["message"]
    # The emulator, like an API server under non-strict field validation, lets an unknown
    # field through: the operator names it.
    await cluster.create_vxs("typo", {"model": {"preset": "voxtral-mini-3b"}, "replica": 2})
    typo = await until_condition(cluster, "Ready", "False", "InvalidSpec", name="typo")
    assert (
        "spec.replica: unknown field 'replica': did you mean 'replicas'?"
        in typo["status"]["message"]
    )
    await settle(emulator)
    assert children(emulator) == {} and children(emulator, "typo") == {}
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert operator_writes(emulator, mark) == []  # PermanentError: no retry storm


async def test_a_missing_secret_is_waited_for(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", VALID["hf-private"]["spec"])
    vxs = await until_condition(cluster, "Ready", "False", "WaitingForSecret")
    assert "Secret hf-token" in vxs["status"]["message"]
    assert children(emulator) == {}
    await cluster.create(
        "v1",
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token"},
            "data": {"token": "aGZfeHl6"},
        },
    )
    job = await eventually(lambda: _first(emulator, "Job"), timeout=10, what="the Job")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    } in env
    assert "aGZfeHl6" not in str(job) and "hf_xyz" not in str(job)


async def test_a_pvc_source_waits_for_its_claim(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", VALID["pvc"]["spec"])
    await until_condition(cluster, "Ready", "False", "WaitingForClaim")
    await cluster.create(
        "v1",
        "persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "resources": {"requests": {"storage": "20Gi"}},
            },
        },
    )
    await cluster.patch(
        "v1", "persistentvolumeclaims", "models", {"status": {"phase": "Bound"}}, sub="status"
    )
    deployment = await eventually(lambda: _first(emulator, "Deployment"), what="Deployment")
    assert env_of(deployment)["VOXTRAL_MODEL"] == "/models/voxtral/mini"
    await settle(emulator)
    assert set(children(emulator)) == {"Deployment", "Service"}


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


@pytest.fixture
def resync_settings() -> Settings:
    return Settings(metrics_port=0, resync_seconds=0.2, wait_seconds=0.3)


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
    # The operator saw its children go and did not bring any of them back.
    assert [c for c in operator_writes(emulator, mark) if c[0] in ("create", "patch")] == []


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


# What the operator asks of the API server, for the Helm chart's RBAC (issue 4): kopf's
# watches and bookkeeping, and the reconciler's reads (a GET before each create) and
# server-side applies.
EXPECTED_CALLS = {
    ("list", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("watch", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("list", "voxtral.dev", "voxtralservices"),
    ("watch", "voxtral.dev", "voxtralservices"),
    ("patch", "voxtral.dev", "voxtralservices"),
    ("patch", "voxtral.dev", "voxtralservices/status"),
    ("list", "apps", "deployments"),
    ("watch", "apps", "deployments"),
    ("patch", "apps", "deployments"),
    ("get", "apps", "deployments"),
    ("list", "", "services"),
    ("watch", "", "services"),
    ("patch", "", "services"),
    ("get", "", "services"),
    ("list", "policy", "poddisruptionbudgets"),
    ("watch", "policy", "poddisruptionbudgets"),
    ("patch", "policy", "poddisruptionbudgets"),
    ("get", "policy", "poddisruptionbudgets"),
    ("delete", "policy", "poddisruptionbudgets"),
    ("list", "", "persistentvolumeclaims"),
    ("watch", "", "persistentvolumeclaims"),
    ("patch", "", "persistentvolumeclaims"),
    ("get", "", "persistentvolumeclaims"),
    ("list", "batch", "jobs"),
    ("watch", "batch", "jobs"),
    ("patch", "batch", "jobs"),
    ("get", "batch", "jobs"),
    ("delete", "batch", "jobs"),
    ("get", "", "secrets"),
    ("create", "", "events"),
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


async def test_a_child_the_api_server_refuses_is_reported_once(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    def no_bad_affinity(plural: str, obj: dict[str, Any]) -> str | None:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        if plural == "deployments" and "nodeAfinity" in (pod.get("affinity") or {}):
            return 'spec.template.spec.affinity.nodeAfinity: unknown field "nodeAfinity"'
        return None

    emulator.admission.append(no_bad_affinity)
    await ready_service(cluster, emulator, VALID["mini-preset"])
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"scheduling": {"affinity": {"nodeAfinity": {}}}}},
    )
    vxs = await until_condition(cluster, "Ready", "False", "ChildRejected")
    assert 'unknown field "nodeAfinity"' in vxs["status"]["message"]
    await settle(emulator)
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert operator_writes(emulator, mark) == []
