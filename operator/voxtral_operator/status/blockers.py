"""What keeps a service from serving, read where Kubernetes says it: a claim's phase and
events, a pod's scheduling and container states, a Deployment's ReplicaFailure condition.
Pure: each function returns a Blocker (a condition reason and a message that says what is
wrong and what to do) or None. The texts matched are Kubernetes' own (the PV controller's
and external provisioners' events, the scheduler's Unschedulable condition, the kubelet's
waiting reasons, the ReplicaSet controller's FailedCreate)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from voxtral_operator.builders.download_job import PERMISSION_EXIT, PERMISSION_TEXT

Body = Mapping[str, Any]

# The kubelet's waiting reasons that mean a container will not start without a change.
IMAGE_REASONS: Final = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CONFIG_REASONS: Final = frozenset({"CreateContainerConfigError", "CreateContainerError"})
CRASH_REASONS: Final = frozenset({"CrashLoopBackOff", "RunContainerError"})
# PV controller and provisioner events on a claim, most telling first.
CLAIM_EVENTS: Final = ("ProvisioningFailed", "FailedBinding", "ExternalProvisioning")


@dataclass(frozen=True)
class Blocker:
    reason: str
    message: str


def _when(event: Body) -> str:
    meta = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
        or ""
    )


def claim_blocker(name: str, claim: Body | None, events: Sequence[Body]) -> Blocker | None:
    """Why a claim is not Bound, from its phase and its latest telling event."""
    phase = ((claim or {}).get("status") or {}).get("phase", "Pending")
    if claim is None or phase == "Bound":
        return None
    if phase == "Lost":
        return Blocker(
            "ClaimLost",
            f"PersistentVolumeClaim {name} is Lost: its PersistentVolume is gone; delete the "
            "claim so that a new one is made (the weights are downloaded again)",
        )
    telling = [e for e in events if e.get("reason") in CLAIM_EVENTS]
    if not telling:
        return None  # e.g. WaitForFirstConsumer: binding waits for the pod that uses it
    event = max(telling, key=lambda e: (_when(e), CLAIM_EVENTS[::-1].index(e["reason"])))
    text = str(event.get("message") or "")
    reason = str(event["reason"])
    if reason == "FailedBinding" and "no storage class is set" in text:
        return Blocker(
            "NoStorageClass",
            f"PersistentVolumeClaim {name} cannot bind: {text}. The cluster has no default "
            "StorageClass: set spec.cache.storageClassName to a class that offers the claim's "
            "access mode, or make one class the default",
        )
    if reason == "ProvisioningFailed":
        advice = "check the StorageClass and its provisioner"
        lowered = text.lower()
        rwx = ("readwritemany", "multi_node", "multi writer", "multi-writer", "access mode")
        if any(s in lowered for s in rwx):
            advice = (
                "the StorageClass does not offer ReadWriteMany (the default of "
                "spec.cache.accessMode; EBS, Persistent Disk and Azure Disk are "
                "ReadWriteOnce only): set spec.cache.storageClassName to a ReadWriteMany class "
                "(EFS, Filestore, Azure Files, NFS), or spec.cache.accessMode to ReadWriteOnce "
                "(every replica then runs on the node that holds the volume)"
            )
        return Blocker(
            "ProvisioningFailed",
            f"PersistentVolumeClaim {name} cannot be provisioned: {text}: {advice}",
        )
    if reason == "ExternalProvisioning":
        return Blocker("ClaimPending", f"PersistentVolumeClaim {name} is Pending: {text}")
    return Blocker("ClaimPending", f"PersistentVolumeClaim {name} cannot bind: {text}")


def _statuses(pod: Body) -> list[Body]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def _unschedulable(pod: Body) -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return str(cond.get("message") or "unschedulable")
    return None


def pod_blocker(
    pods: Sequence[Body], what: str, gpu_resource: str, download: bool = False
) -> Blocker | None:
    """The first reason the pods cannot run (`what`: "the download pod", "replica"). The
    messages leave out the kubelet's changing words (back-off times, restart counts), so
    that a stuck pod does not rewrite the status at each look."""
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        name = (pod.get("metadata") or {}).get("name")
        scheduler = _unschedulable(pod)
        if scheduler is not None:
            if f"Insufficient {gpu_resource}" in scheduler:
                advice = (
                    f"no node has {gpu_resource} free: add GPU nodes (or let the cluster "
                    "autoscaler), or lower spec.replicas or spec.gpusPerReplica"
                )
            elif "PersistentVolumeClaim" in scheduler or "persistentvolumeclaim" in scheduler:
                advice = "the model cache claim does not bind: see its events"
            else:
                advice = (
                    "check spec.scheduling (nodeSelector, tolerations, affinity) and "
                    "spec.gpuResource against the nodes"
                )
            return Blocker(
                "Unschedulable", f"{what} {name} cannot be scheduled: {scheduler}: {advice}"
            )
        if download:
            failed = download_failure([pod])
            if failed is not None:
                return failed
        for status in _statuses(pod):
            state = status.get("state") or {}
            waiting = state.get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            container = status.get("name")
            if reason in IMAGE_REASONS:
                image = status.get("image") or "its image"
                return Blocker(
                    "ImagePullBackOff",
                    f"{what} {name} cannot pull {image}: check spec.image (it must "
                    "exist and be pullable from the nodes) and spec.imagePullSecrets; "
                    f"`kubectl describe pod {name}` shows the registry's answer",
                )
            if reason in CONFIG_REASONS:
                return Blocker(
                    reason,
                    f"{what} {name}: {reason}: {waiting.get('message') or ''}: a Secret or key "
                    "the pod reads is missing (the token Secret of "
                    "spec.model.source.huggingFace.tokenSecretRef?)",
                )
            if reason in CRASH_REASONS:
                return Blocker(
                    "CrashLoopBackOff",
                    f"{what} {name}: container {container} exits as it starts: see "
                    f"`kubectl logs --previous {name} -c {container}`",
                )
    return None


def download_failure(pods: Sequence[Body]) -> Blocker | None:
    """Why the download could not write the cache: its own exit code (PERMISSION_EXIT), or
    the spec.cache.fixPermissions init step failing (a root_squash export refuses chown)."""
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        for status in _statuses(pod):
            for key in ("state", "lastState"):
                terminated = (status.get(key) or {}).get("terminated") or {}
                code = terminated.get("exitCode")
                said = " ".join(str(terminated.get("message") or "").split())
                if status.get("name") == "download" and code == PERMISSION_EXIT:
                    text = said or f"exit code {PERMISSION_EXIT} ({PERMISSION_TEXT})"
                    return Blocker(
                        "CachePermissionDenied",
                        f"the download pod {name}: {text}: {PERMISSION_ADVICE}",
                    )
                if status.get("name") == "cache-permissions" and code:
                    return Blocker(
                        "CachePermissionDenied",
                        f"the cache-permissions step of the download pod {name} failed (exit "
                        f"{code}): {said or 'no message'}: the volume refuses the chown (an NFS "
                        "export with root_squash?): have the CSI driver apply fsGroup "
                        "(fsGroupPolicy: File) or make the export writable by uid/gid 1000, "
                        "then delete the failed download Job",
                    )
    return None


def job_events_blocker(job: str, events: Sequence[Body]) -> Blocker | None:
    """The Job controller's FailedCreate: the Job's pod itself was refused (Pod Security
    admission, a ResourceQuota, a webhook)."""
    failed = [e for e in events if e.get("reason") == "FailedCreate"]
    if not failed:
        return None
    text = str(max(failed, key=_when).get("message") or "")
    if "PodSecurity" in text:
        advice = (
            "the namespace's Pod Security level refuses the pod; spec.cache.fixPermissions "
            "runs a root step that the restricted level forbids: use the CSI driver's "
            "fsGroupPolicy instead, or allow the baseline level in the namespace"
        )
    elif "exceeded quota" in text:
        advice = "a ResourceQuota of the namespace refuses the download pod: raise it"
    else:
        advice = "fix what the message names"
    return Blocker(
        "FailedCreate", f"the download Job {job} cannot create its pod: {text}: {advice}"
    )


PERMISSION_ADVICE: Final = (
    "the volume's driver does not apply the pod's fsGroup (common with NFS and other "
    "ReadWriteMany drivers), so the non-root download (uid 1000) cannot write the model "
    "cache. Either set spec.cache.fixPermissions: true (an init step, as root, gives the cache "
    "to uid 1000; the namespace's Pod Security level must allow it, and root_squash exports "
    "refuse it), or have the CSI driver apply fsGroup (CSIDriver fsGroupPolicy: File), or "
    "make the export writable by uid/gid 1000; then delete the failed download Job"
)


def replica_failure(deployment: Body | None) -> Blocker | None:
    """The Deployment's ReplicaFailure condition (the ReplicaSet controller's FailedCreate:
    a ResourceQuota, a LimitRange, Pod Security admission, a webhook refused the pods)."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") != "ReplicaFailure" or cond.get("status") != "True":
            continue
        text = str(cond.get("message") or cond.get("reason") or "")
        if "exceeded quota" in text:
            advice = (
                "a ResourceQuota of the namespace refuses the pods: raise it, or lower "
                "spec.replicas, spec.gpusPerReplica or spec.resources"
            )
        else:
            advice = "the API server refuses the Deployment's pods: fix what the message names"
        return Blocker("ReplicaFailure", f"the Deployment cannot create its pods: {text}: {advice}")
    return None
