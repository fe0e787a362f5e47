"""What the children say: the ModelReady and Available conditions, the endpoints. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.autoscaling.step import ScalingState
from voxtral_operator.builders import Children
from voxtral_operator.builders.meta import selector_labels
from voxtral_operator.status.blockers import (
    Blocker,
    claim_blocker,
    download_failure,
    job_events_blocker,
    pod_blocker,
    replica_failure,
)
from voxtral_operator.status.merge import COND_AVAILABLE, COND_MODEL_READY, Cond
from voxtral_operator.status.refusals import Refusal

Body = Mapping[str, Any]
ChildKey = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Waiting:
    """A dependency is not there yet: retry after `delay` (kopf.TemporaryError)."""

    reason: str
    message: str
    delay: float = 30.0


@dataclass(frozen=True)
class Lookups:
    """What the controller read outside the caches (see reconcile.needs), what the
    operator-mode autoscaler last found, and what the API server refused."""

    secret: Literal["ok", "missing", "no-key"] | None = None
    claim: Body | None = None
    claim_checked: bool = False
    apis: Mapping[str, bool] = field(default_factory=dict)
    """apis.Api.key -> whether the API server serves it (discovery)."""
    scaling: ScalingState | None = None
    refused: Mapping[ChildKey, Refusal] = field(default_factory=dict)
    """The writes of this reconcile that the API server refused (status.refusals)."""
    unwritten: frozenset[ChildKey] = frozenset()
    """The children this reconcile failed to write (refused, or the API server failed)."""
    claim_events: Sequence[Body] = ()
    """Events of a claim that is not Bound (reconcile.needs says which)."""
    job_pods: Sequence[Body] = ()
    """The download Job's pods, while it runs or after it failed."""
    job_events: Sequence[Body] = ()
    """The download Job's Events, while it runs without a pod."""
    pods: Sequence[Body] = ()
    """The predictor's pods, while no replica is available."""


def job_state(job: Body | None) -> Literal["absent", "running", "complete", "failed"]:
    if job is None:
        return "absent"
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") == "Complete":
            return "complete"
        if cond.get("status") == "True" and cond.get("type") == "Failed":
            return "failed"
    if (status.get("succeeded") or 0) >= 1:
        return "complete"
    return "running"


def job_failure(job: Body) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed":
            return f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": ")
    return "Failed"


def selector(service: str) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(service).items()))


def model_condition(
    resolved: Resolved, wanted: Children, children: Mapping[ChildKey, Body], lookups: Lookups
) -> tuple[Cond, Waiting | None]:
    ns = resolved.namespace
    if resolved.pvc is not None:
        pvc = resolved.pvc
        if lookups.claim_checked:
            phase = ((lookups.claim or {}).get("status") or {}).get("phase", "Pending")
            if lookups.claim is None or phase != "Bound":
                state = "to exist" if lookups.claim is None else f"to be Bound (it is {phase})"
                blocker = claim_blocker(pvc.claim_name, lookups.claim, lookups.claim_events)
                wait = Waiting(
                    "WaitingForClaim",
                    f"waiting for PersistentVolumeClaim "
                    f"{pvc.claim_name} (spec.model.source.pvc.claimName) in "
                    f"namespace {ns} {state}" + (f": {blocker.message}" if blocker else ""),
                )
                return Cond(COND_MODEL_READY, "False", wait.reason, wait.message), wait
        where = f"{pvc.claim_name}:/{pvc.path}".rstrip("/")
        return Cond(COND_MODEL_READY, "True", "ClaimBound", f"weights on {where}"), None

    hf = resolved.hugging_face
    assert hf is not None and wanted.download_job is not None
    job_name = wanted.download_job["metadata"]["name"]
    state = job_state(children.get(("Job", job_name)))
    if state == "complete":
        return Cond(
            COND_MODEL_READY,
            "True",
            "Downloaded",
            f"{hf.repo}@{hf.revision} is in PVC {resolved.claim_name}",
        ), None
    if lookups.secret in ("missing", "no-key") and hf.token_secret_ref is not None:
        ref = hf.token_secret_ref
        what = (
            f"Secret {ref.name}"
            if lookups.secret == "missing"
            else f"key {ref.key!r} in Secret {ref.name}"
        )
        wait = Waiting(
            "WaitingForSecret",
            f"waiting for {what} in namespace {ns} "
            "(spec.model.source.huggingFace.tokenSecretRef): create it with "
            f"the Hugging Face token, e.g. kubectl create secret generic "
            f"{ref.name} --from-literal={ref.key}=hf_...",
        )
        return Cond(COND_MODEL_READY, "False", wait.reason, wait.message), wait
    if state == "failed":
        job = children[("Job", job_name)]
        denied = download_failure(lookups.job_pods)
        if denied is not None:
            text = f"download Job {job_name} cannot write PVC {resolved.claim_name}: "
            return Cond(COND_MODEL_READY, "False", denied.reason, text + denied.message), None
        said = _last_words(lookups.job_pods)
        return Cond(
            COND_MODEL_READY,
            "False",
            "DownloadFailed",
            f"download Job {job_name} failed ({job_failure(job)})"
            + (f", saying: {said}" if said else "")
            + f": check `kubectl logs job/{job_name}`, the repository name and the token "
            "Secret, then delete the Job to retry",
        ), None
    blocker = _download_blocker(resolved, job_name, children, lookups)
    if blocker is not None:
        return Cond(COND_MODEL_READY, "False", blocker.reason, blocker.message), None
    return Cond(
        COND_MODEL_READY,
        "False",
        "Downloading",
        f"Job {job_name} is downloading {hf.repo}@{hf.revision} into PVC "
        f"{resolved.claim_name}; the Deployment starts when it finishes",
    ), None


def _download_blocker(
    resolved: Resolved, job: str, children: Mapping[ChildKey, Body], lookups: Lookups
) -> Blocker | None:
    """What keeps the download from running: its claim, then its pod."""
    claim = children.get(("PersistentVolumeClaim", resolved.claim_name))
    found = (
        claim_blocker(resolved.claim_name, claim, lookups.claim_events)
        or pod_blocker(
            lookups.job_pods, "the download pod", resolved.service.spec.gpu_resource, True
        )
        or job_events_blocker(job, lookups.job_events)
    )
    if found is None:
        return None
    return Blocker(found.reason, f"{found.message} (download Job {job})")


def _last_words(pods: Sequence[Body]) -> str:
    """The termination message of a failed download (its log's tail: FallbackToLogsOnError)."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            for key in ("state", "lastState"):
                terminated = (status.get(key) or {}).get("terminated") or {}
                if terminated.get("message"):
                    return " ".join(str(terminated["message"]).split())[-500:]
    return ""


def available_condition(
    resolved: Resolved, deployment: Body | None, model: Cond, pods: Sequence[Body] = ()
) -> tuple[Cond, int, int, int]:
    """(condition, replicas, ready, desired). `pods`: the predictor's, read while none is
    available, to say why."""
    desired = resolved.service.spec.replicas
    if deployment is None:
        reason = "WaitingForModel" if not model.ok else "Creating"
        return (
            Cond(
                COND_AVAILABLE,
                "False",
                reason,
                "no replicas yet: "
                + (
                    "the Deployment starts when the model is in place"
                    if not model.ok
                    else "creating the Deployment"
                ),
            ),
            0,
            0,
            desired,
        )
    if not resolved.operator_owns_replicas:
        desired = int((deployment.get("spec") or {}).get("replicas") or 0)
    status = deployment.get("status") or {}
    replicas = int(status.get("replicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    look = f"kubectl get pods -l {selector(resolved.name)}"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return (
                Cond(
                    COND_AVAILABLE,
                    "False",
                    "RolloutStuck",
                    f"{ready}/{desired} replicas ready and the rollout stopped progressing: "
                    f"see `{look}` and `kubectl describe` them (GPUs free? image "
                    "pulled? model loading errors in the logs?)",
                ),
                replicas,
                ready,
                desired,
            )
    if desired == 0:
        why = "spec.replicas is 0" if resolved.operator_owns_replicas else "autoscaled to 0"
        if resolved.scales_to_zero and resolved.scaling is not None:
            idle = resolved.scaling.scale_down.idle_seconds
            why = (
                f"scaled to zero after {idle} s without a request: "
                "voxtral-gateway holds the next request while a replica starts"
            )
        return (
            Cond(COND_AVAILABLE, "False", "ScaledToZero", why),
            replicas,
            ready,
            desired,
        )
    failure = replica_failure(deployment)
    if available >= 1:
        text = f"{ready}/{desired} replicas ready" + (f"; {failure.message}" if failure else "")
        return (
            Cond(COND_AVAILABLE, "True", "ReplicasReady", text),
            replicas,
            ready,
            desired,
        )
    blocker = failure or pod_blocker(pods, "replica", resolved.service.spec.gpu_resource)
    if blocker is not None:
        return (
            Cond(
                COND_AVAILABLE,
                "False",
                blocker.reason,
                f"0/{desired} replicas ready: {blocker.message}",
            ),
            replicas,
            ready,
            desired,
        )
    return (
        Cond(
            COND_AVAILABLE,
            "False",
            "Loading",
            f"0/{desired} replicas ready: pods get GPUs, pull the image and load the model, "
            f"which takes minutes; watch `{look}`",
        ),
        replicas,
        ready,
        desired,
    )


def endpoints(resolved: Resolved, domain: str) -> dict[str, str]:
    host = f"{names.service(resolved.name)}.{resolved.namespace}.svc.{domain}"
    svc = resolved.service.spec.service
    return {
        "http": f"http://{host}:{svc.http_port}",
        "openai": f"http://{host}:{svc.http_port}/v1",
        "grpc": f"{host}:{svc.grpc_port}",
    }
