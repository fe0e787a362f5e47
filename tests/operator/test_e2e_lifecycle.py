"""End to end over real HTTP: the real operator (kopf running voxtral_operator.handlers, in
its own thread and event loop) against the API emulator, driven as a user would drive a
cluster. The emulator plays the controllers that do not exist here: the test marks Jobs
complete and Deployments available, as the Job and Deployment controllers would."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import kubernetes_validate
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


async def test_create_builds_the_children_with_gpus_and_tensor_parallelism(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    created = await cluster.create_vxs("voxtral", VALID["small-preset"]["spec"])
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    await settle(emulator)
    first = children(emulator)
    assert set(first) == {"PersistentVolumeClaim", "Job", "Service", "PodDisruptionBudget"}
    vxs = await cluster.vxs("voxtral")
    assert condition(vxs, "ModelReady")["reason"] == "Downloading"
    assert condition(vxs, "Available")["reason"] == "WaitingForModel"

    await cluster.mark_job_complete(job["metadata"]["name"])
    deployment = await eventually(lambda: first_child(emulator, "Deployment"), what="Deployment")
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
        return dep if env_of(dep).get("VOXTRAL_MAX_CONCURRENCY") == "8" else None

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
    await eventually(lambda: first_child(emulator, "Deployment"), what="the Deployment back")


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
    job = await eventually(lambda: first_child(emulator, "Job"), timeout=10, what="the Job")
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
    deployment = await eventually(lambda: first_child(emulator, "Deployment"), what="Deployment")
    assert env_of(deployment)["VOXTRAL_MODEL"] == "/models/voxtral/mini"
    await settle(emulator)
    assert set(children(emulator)) == {"Deployment", "Service"}


async def test_a_child_the_api_server_refuses_is_reported_once(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """A field the operator's schema knows (core/v1 1.37) but the cluster's does not
    (PodAffinityTerm.matchLabelKeys came in 1.29): the API server answers the apply with 500
    "failed to create typed patch object" (kubernetes/kubernetes#122480), which is the
    user's to fix, not a reason to retry."""
    emulator.serve_version("1.28.0")
    await ready_service(cluster, emulator, VALID["mini-preset"])
    term = {"topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"],
            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "voxtral"}}}  # fmt: skip
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"scheduling": {"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term]}}}}},
    )  # fmt: skip
    vxs = await until_condition(cluster, "Ready", "False", "ChildRejected")
    message = vxs["status"]["message"]
    assert (
        "failed to create typed patch object (default/voxtral; apps/v1, Kind=Deployment)" in message
    )
    assert (
        ".spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys: field not declared in schema"
        in message
    )
    assert "fix the VoxtralService spec" in message
    assert condition(vxs, "Synced")["reason"] == "ChildRejected"
    await settle(emulator)
    mark = emulator.request_count
    await asyncio.sleep(1.0)
    assert operator_writes(emulator, mark) == []
