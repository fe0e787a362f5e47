"""End to end, a status that names every blocker (issue 13, fixes 7 and 11): a claim that
never binds, a download pod that cannot start or cannot write the cache, a Deployment whose
pods a ResourceQuota refuses. The test plays the controllers and the kubelet as the real
ones write (the PV controller's and a CSI provisioner's Events, pod states, the Job's
pod-failure-policy condition, the ReplicaSet controller's ReplicaFailure), and the operator
must say what is wrong and what to do, without being told: it looks again while it waits."""

from __future__ import annotations

import datetime
from typing import Any

from kube_emulator import VoxtralEmulator
from operator_harness import (
    Cluster,
    OperatorRun,
    condition,
    eventually,
    first_child,
    until_condition,
)
from operator_samples import vxs

MINI = vxs({"model": {"preset": "voxtral-mini-3b"}})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def claim_event(cluster: Cluster, claim: str, reason: str, message: str, kind: str) -> None:
    """An Event on a claim, as the PV controller or an external provisioner posts it."""
    await cluster.create(
        "v1",
        "events",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{claim}."},
            "involvedObject": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                               "name": claim, "namespace": "default"},
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "persistentvolume-controller"},
            "firstTimestamp": _now(),
            "lastTimestamp": _now(),
            "count": 1,
        },
    )  # fmt: skip


async def job_pod(cluster: Cluster, job: str, status: dict[str, Any]) -> str:
    """The download Job's pod, as the Job controller creates it and the kubelet reports it."""
    name = f"{job}-x7k2p"
    await cluster.create(
        "v1",
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"batch.kubernetes.io/job-name": job,
                                                   "job-name": job}},
            "spec": {"containers": [{"name": "download", "image": "voxtral-predictor"}]},
        },
    )  # fmt: skip
    await cluster.patch("v1", "pods", name, {"status": status}, sub="status")
    return name


def waiting(reason: str, message: str) -> dict[str, Any]:
    return {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "download", "ready": False, "restartCount": 0, "image": "voxtral-predictor",
             "imageID": "", "state": {"waiting": {"reason": reason, "message": message}}}
        ],
    }  # fmt: skip


async def test_a_claim_that_never_binds_says_why(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", MINI["spec"])
    claim = await eventually(
        lambda: first_child(emulator, "PersistentVolumeClaim"), what="the claim"
    )
    name = claim["metadata"]["name"]
    await until_condition(cluster, "ModelReady", "False", "Downloading")

    # No default StorageClass: the PV controller says so (pv_controller.go syncUnboundClaim).
    await claim_event(cluster, name, "FailedBinding",
                      "no persistent volumes available for this claim and no storage class is set",
                      "Normal")  # fmt: skip
    vxs_ = await until_condition(cluster, "ModelReady", "False", "NoStorageClass")
    message = condition(vxs_, "ModelReady")["message"]
    assert f"PersistentVolumeClaim {name} cannot bind" in message
    assert "set spec.cache.storageClassName" in message
    assert condition(vxs_, "Ready")["reason"] == "NoStorageClass"

    # A ReadWriteOnce-only class (the default accessMode asks for ReadWriteMany).
    ebs = ('failed to provision volume with StorageClass "gp3": rpc error: code = InvalidArgument '
           "desc = Volume capabilities MULTI_NODE_MULTI_WRITER not supported. Only "
           "AccessModes[ReadWriteOnce] supported.")  # fmt: skip
    await claim_event(cluster, name, "ProvisioningFailed", ebs, "Warning")
    vxs_ = await until_condition(cluster, "ModelReady", "False", "ProvisioningFailed")
    message = condition(vxs_, "ModelReady")["message"]
    assert "MULTI_NODE_MULTI_WRITER not supported" in message
    assert "spec.cache.accessMode to ReadWriteOnce" in message

    # It binds: the blocker goes, the download goes on.
    await cluster.patch(
        "v1", "persistentvolumeclaims", name, {"status": {"phase": "Bound"}}, sub="status"
    )
    await until_condition(cluster, "ModelReady", "False", "Downloading")


async def test_a_download_pod_that_cannot_start_says_why(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", MINI["spec"])
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    job_name = job["metadata"]["name"]
    pod = await job_pod(cluster, job_name, waiting(
        "ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/voxtral-predictor:typo"'))  # fmt: skip
    vxs_ = await until_condition(cluster, "ModelReady", "False", "ImagePullBackOff")
    message = condition(vxs_, "ModelReady")["message"]
    assert f"the download pod {pod} cannot pull" in message
    assert "check spec.image" in message and f"download Job {job_name}" in message

    await cluster.patch("v1", "pods", pod, {"status": waiting(
        "CreateContainerConfigError", "couldn't find key token in Secret default/hf")}, sub="status")  # fmt: skip
    vxs_ = await until_condition(cluster, "ModelReady", "False", "CreateContainerConfigError")
    assert (
        "couldn't find key token in Secret default/hf" in condition(vxs_, "ModelReady")["message"]
    )

    unschedulable = {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ml}."}]}  # fmt: skip
    await cluster.patch("v1", "pods", pod, {"status": unschedulable}, sub="status")
    vxs_ = await until_condition(cluster, "ModelReady", "False", "Unschedulable")
    assert "untolerated taint" in condition(vxs_, "ModelReady")["message"]
    assert "spec.scheduling" in condition(vxs_, "ModelReady")["message"]


async def test_a_cache_the_download_cannot_write_says_what_to_do(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    """Fix 11: an NFS-like volume that ignores fsGroup. The download exits 13 with its own
    words; the Job's pod failure policy fails the Job at once; the status says what to do."""
    await cluster.create_vxs("voxtral", MINI["spec"])
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    job_name = job["metadata"]["name"]
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [13]
    words = "permission denied: uid 1000 gid 1000 cannot write /models/hf/mistralai--Voxtral-Mini-3B-2507/main"
    pod = await job_pod(cluster, job_name, {
        "phase": "Failed",
        "containerStatuses": [{"name": "download", "ready": False, "restartCount": 0,
                               "image": "voxtral-predictor", "imageID": "",
                               "state": {"terminated": {"exitCode": 13, "reason": "Error",
                                                        "message": words + "\n"}}}]})  # fmt: skip
    message = (f"Container download for pod default/{pod} failed with exit code 13 matching "
               "FailJob rule at index 0")  # fmt: skip
    await cluster.patch("batch/v1", "jobs", job_name, {"status": {"failed": 1, "conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy", "message": message},
        {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": message}]}},
        sub="status")  # fmt: skip
    vxs_ = await until_condition(cluster, "ModelReady", "False", "CachePermissionDenied")
    message = condition(vxs_, "ModelReady")["message"]
    assert words in message
    assert "spec.cache.fixPermissions: true" in message and "fsGroupPolicy: File" in message
    assert condition(vxs_, "Ready")["reason"] == "CachePermissionDenied"


async def test_pods_a_quota_refuses_are_named_not_loading(
    cluster: Cluster, emulator: VoxtralEmulator, operator: OperatorRun
) -> None:
    await cluster.create_vxs("voxtral", MINI["spec"])
    job = await eventually(lambda: first_child(emulator, "Job"), what="the download Job")
    await cluster.mark_job_complete(job["metadata"]["name"])
    await eventually(lambda: first_child(emulator, "Deployment"), what="the Deployment")
    await until_condition(cluster, "Available", "False", "Loading")
    quota = ('pods "voxtral-6f7d9c-a1b2c" is forbidden: exceeded quota: gpu-quota, requested: '
             "requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=4, limited: "
             "requests.nvidia.com/gpu=4")  # fmt: skip
    await cluster.patch("apps/v1", "deployments", "voxtral", {"status": {
        "observedGeneration": 1, "replicas": 0, "unavailableReplicas": 1, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability."},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": quota}]}}, sub="status")  # fmt: skip
    vxs_ = await until_condition(cluster, "Available", "False", "ReplicaFailure")
    message = condition(vxs_, "Available")["message"]
    assert "exceeded quota: gpu-quota" in message and "a ResourceQuota of the namespace" in message
    assert condition(vxs_, "Ready")["reason"] == "ReplicaFailure"
