"""The blockers the status names (status/blockers.py), from objects as Kubernetes writes
them; the end-to-end tests (test_e2e_blockers.py) cover the main paths through the operator."""

from __future__ import annotations

from typing import Any

from voxtral_operator.status.blockers import (
    claim_blocker,
    download_failure,
    job_events_blocker,
    pod_blocker,
    replica_failure,
)

GPU = "nvidia.com/gpu"


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": status}


def crash(reason: str, message: str = "") -> dict[str, Any]:
    return {"containerStatuses": [{"name": "predictor", "state": {"waiting": {
        "reason": reason, "message": message}}}]}  # fmt: skip


def test_replicas_that_want_more_gpus_than_there_are() -> None:
    unschedulable = pod("voxtral-a", conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}])  # fmt: skip
    found = pod_blocker([unschedulable], "replica", GPU)
    assert found is not None and found.reason == "Unschedulable"
    assert "4 Insufficient nvidia.com/gpu" in found.message
    assert f"no node has {GPU} free" in found.message


def test_a_crashing_replica_points_at_its_logs() -> None:
    message = "back-off 5m0s restarting failed container=predictor pod=voxtral-b"
    found = pod_blocker([pod("voxtral-b", **crash("CrashLoopBackOff", message))], "replica", GPU)
    assert found is not None and found.reason == "CrashLoopBackOff"
    assert "kubectl logs --previous voxtral-b" in found.message


def test_pods_that_are_only_starting_block_nothing() -> None:
    creating = pod("voxtral-c", **crash("ContainerCreating"))
    assert pod_blocker([creating, pod("voxtral-d", phase="Pending")], "replica", GPU) is None


def test_claims() -> None:
    pending = {"status": {"phase": "Pending"}}
    assert claim_blocker("c", {"status": {"phase": "Bound"}}, []) is None
    assert claim_blocker("c", pending, []) is None
    first = {"reason": "WaitForFirstConsumer", "lastTimestamp": "2026-01-01T00:00:00Z",
             "message": "waiting for first consumer to be created before binding"}  # fmt: skip
    assert claim_blocker("c", pending, [first]) is None  # waits for the download pod: normal
    external = {"reason": "ExternalProvisioning", "lastTimestamp": "2026-01-01T00:01:00Z",
                "message": "Waiting for a volume to be created either by the external "
                "provisioner 'nfs.csi.k8s.io' or manually by the system administrator."}  # fmt: skip
    found = claim_blocker("c", pending, [first, external])
    assert (
        found is not None and found.reason == "ClaimPending" and "nfs.csi.k8s.io" in found.message
    )
    lost = claim_blocker("c", {"status": {"phase": "Lost"}}, [])
    assert lost is not None and lost.reason == "ClaimLost"


def test_a_replica_failure_that_is_not_a_quota() -> None:
    deployment = {"status": {"conditions": [{"type": "ReplicaFailure", "status": "True",
        "reason": "FailedCreate", "message": 'pods "voxtral-x" is forbidden: violates '
        'PodSecurity "restricted:latest": runAsNonRoot != true'}]}}  # fmt: skip
    found = replica_failure(deployment)
    assert found is not None and "PodSecurity" in found.message
    assert "ResourceQuota" not in found.message
    assert replica_failure({"status": {"conditions": [{"type": "ReplicaFailure",
                                                       "status": "False"}]}}) is None  # fmt: skip


def test_a_replica_that_exits_13_is_not_a_cache_permission_problem() -> None:
    """Exit code 13 means the cache's permissions only from the download container."""
    exited = pod("voxtral-e", containerStatuses=[{"name": "predictor", "state": {
        "terminated": {"exitCode": 13, "message": "permission denied"}}}])  # fmt: skip
    assert pod_blocker([exited], "replica", GPU) is None
    assert download_failure([exited]) is None


def test_a_failed_fix_permissions_step_says_the_volume_refuses_chown() -> None:
    failed = pod("voxtral-download-x", initContainerStatuses=[{"name": "cache-permissions",
        "state": {"terminated": {"exitCode": 1,
                                 "message": "chown: /models: Operation not permitted"}}}])  # fmt: skip
    found = download_failure([failed])
    assert found is not None and found.reason == "CachePermissionDenied"
    assert "Operation not permitted" in found.message and "root_squash" in found.message


def test_a_download_pod_that_pod_security_refuses() -> None:
    """The Job controller's FailedCreate Event when admission refuses the pod itself."""
    text = ('Error creating: pods "voxtral-download-x-abcde" is forbidden: violates PodSecurity '
            '"restricted:latest": runAsNonRoot != true (container "cache-permissions" must not '
            "set securityContext.runAsNonRoot=false)")  # fmt: skip
    event = {"reason": "FailedCreate", "type": "Warning", "message": text,
             "lastTimestamp": "2026-01-01T00:00:00Z"}  # fmt: skip
    found = job_events_blocker("voxtral-download-x", [event])
    assert found is not None and found.reason == "FailedCreate"
    assert "restricted" in found.message and "fsGroupPolicy" in found.message
    assert job_events_blocker("j", [{"reason": "SuccessfulCreate"}]) is None


def test_the_kubelets_changing_words_stay_out_of_the_status() -> None:
    """ErrImagePull and ImagePullBackOff alternate, back-off times grow: one stable text."""
    texts = set()
    for reason, message in (("ErrImagePull", "rpc error: not found"),
                            ("ImagePullBackOff", 'Back-off pulling image "x"')):  # fmt: skip
        found = pod_blocker([pod("p", **crash(reason, message))], "replica", GPU)
        assert found is not None
        texts.add((found.reason, found.message))
    assert len(texts) == 1
    one, two = (pod_blocker([pod("p", **crash("CrashLoopBackOff", f"back-off {s} restarting"))],
                            "replica", GPU) for s in ("10s", "5m0s"))  # fmt: skip
    assert one == two
