"""The plan of a VoxtralService with spec.runtime kserve: one InferenceService, applied
where KServe's CRD is served, and the status mirrored from it. Pure.

KServe reports on an InferenceService with knative-style conditions: `PredictorReady` (its
predictor's pods serve) and `Ready` (everything, the route included), and `status.url`
(the external or cluster URL) with `status.address.url` (the cluster-local one). They
become `Available` and `Ready` here, KServe's reason and message kept; until KServe has
said anything, `Ready` is False with reason `Creating`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.kserve import RAW, build_inference_service, deployment_mode
from voxtral_operator.builders.pod import GRPC_PORT
from voxtral_operator.cluster import optional_apis
from voxtral_operator.plan.drift import in_sync
from voxtral_operator.status.merge import (
    COND_AVAILABLE,
    COND_MODEL_READY,
    COND_READY,
    COND_SYNCED,
    Cond,
    Status,
    merge_conditions,
    status_patch,
)
from voxtral_operator.status.refusals import Refusal, refusal_summary, synced_condition
from voxtral_operator.status.scaling import OPTIONAL_CONDITIONS

Body = Mapping[str, Any]
ChildKey = tuple[str, str]


def _kserve_condition(isvc: Body, type_: str) -> Cond | None:
    for cond in (isvc.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") in ("True", "False", "Unknown"):
            status: Status = cond["status"]
            reason = str(cond.get("reason") or ("Ready" if status == "True" else "NotReady"))
            return Cond(type_, status, reason, str(cond.get("message") or ""))
    return None


def _endpoints(resolved: Resolved, isvc: Body) -> tuple[dict[str, str] | None, str | None]:
    """(status.endpoints, status.url) from what KServe reports."""
    status = isvc.get("status") or {}
    url = status.get("url")
    local = (status.get("address") or {}).get("url") or url
    if not local:
        return None, url
    base = str(local).rstrip("/")
    found = {"http": base, "openai": f"{base}/v1"}
    host = urlsplit(base).hostname
    if deployment_mode(resolved) == RAW and host:
        found["grpc"] = f"{host}:{GRPC_PORT}"
    return found, url


def _lines(
    resolved: Resolved, served: bool, isvc: Body | None, refused: Refusal | None
) -> tuple[Cond, Cond]:
    """(Available, Ready)."""
    name = resolved.name
    if not served:
        message = (
            "KServe is not installed (the API has no serving.kserve.io/v1beta1 "
            "InferenceService): install KServe (RawDeployment needs its controller; "
            "Serverless needs Knative too) and the voxtral ClusterServingRuntime "
            "(manifests/kserve/), or set spec.runtime to deployment; the InferenceService "
            "is created once the API is served"
        )
        return (
            Cond(COND_AVAILABLE, "False", "KServeMissing", message),
            Cond(COND_READY, "False", "KServeMissing", message),
        )
    if refused is not None:
        summary = refusal_summary({("InferenceService", name): refused})
        assert summary is not None
        return Cond(COND_AVAILABLE, "False", *summary), Cond(COND_READY, "False", *summary)
    said = isvc is not None and bool((isvc.get("status") or {}).get("conditions"))
    if isvc is None or not said:
        message = f"InferenceService {name} created; KServe has not reported on it yet"
        return (
            Cond(COND_AVAILABLE, "False", "Creating", message),
            Cond(COND_READY, "False", "Creating", message),
        )
    predictor = _kserve_condition(isvc, "PredictorReady")
    ready = _kserve_condition(isvc, "Ready")
    prefix = f"InferenceService {name}: "
    available = (
        Cond(COND_AVAILABLE, predictor.status, predictor.reason, prefix + predictor.message)
        if predictor is not None
        else Cond(COND_AVAILABLE, "Unknown", "PredictorUnknown", prefix + "no PredictorReady")
    )
    top = (
        Cond(COND_READY, ready.status, ready.reason, prefix + (ready.message or "ready"))
        if ready is not None
        else Cond(COND_READY, "Unknown", "ReadyUnknown", prefix + "no Ready condition")
    )
    return available, top


def plan_kserve(
    body: Body,
    resolved: Resolved,
    children: Mapping[ChildKey, Body],
    served_apis: Mapping[str, bool],
    refused: Mapping[ChildKey, Refusal],
    now: str,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any] | None]:
    """(manifests to apply, the new status, its patch) of a service with runtime kserve."""
    meta = body.get("metadata") or {}
    generation = meta.get("generation")
    previous = dict(body.get("status") or {})
    wanted = build_inference_service(resolved)
    assert wanted is not None
    key = ("InferenceService", resolved.name)
    observed = children.get(key)
    served = bool(served_apis.get(optional_apis.INFERENCE_SERVICES.key))
    applies = []
    if served and (observed is None or not in_sync(observed, wanted)):
        applies.append(wanted)
    available, top = _lines(resolved, served, observed, refused.get(key))
    synced = synced_condition(dict(refused))
    conds = [available, top] + ([synced] if synced is not None else [])
    drop = [COND_MODEL_READY, *OPTIONAL_CONDITIONS]
    if synced is None:
        drop.append(COND_SYNCED)
    endpoints, url = _endpoints(resolved, observed or {})
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.get("conditions") or [], conds, generation, now, drop=drop
        ),
        "model": resolved.model_label,
        "gpusPerReplica": resolved.gpus,
        "endpoints": endpoints,
        "url": url,
        "message": (
            f"{resolved.model_label} on KServe; OpenAI base URL {endpoints['openai']}"
            if top.ok and endpoints
            else top.message
        ),
    }
    status = {k: v for k, v in status.items() if v is not None}
    return applies, status, status_patch(previous, status)
