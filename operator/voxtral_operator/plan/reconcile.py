"""The pure planner: a VoxtralService and what exists -> what to write, and the status.

Level-based: the same function serves create, resume, update, a child's change and the
periodic resync. It writes nothing itself; `controller.py` executes the plan. A plan for
an unchanged world is empty and leaves the status alone: zero writes.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.quantity import parse_quantity
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.autoscaling.step import ScalingState
from voxtral_operator.builders import Children, build_children
from voxtral_operator.builders.download_job import download_job_name
from voxtral_operator.builders.meta import spec_hash
from voxtral_operator.cluster import kinds, optional_apis
from voxtral_operator.cluster.kinds import RESOURCES
from voxtral_operator.plan.drift import in_sync
from voxtral_operator.plan.kserve import plan_kserve
from voxtral_operator.status.conditions import (
    Lookups,
    Waiting,
    available_condition,
    endpoints,
    job_state,
    model_condition,
    selector,
)
from voxtral_operator.status.merge import (
    COND_MODEL_READY,
    COND_READY,
    COND_SCALING_ACTIVE,
    COND_SYNCED,
    Cond,
    merge_conditions,
    status_patch,
)
from voxtral_operator.status.refusals import (
    Refusal,
    refusal_summary,
    refused_among,
    synced_condition,
)
from voxtral_operator.status.scaling import (
    OPTIONAL_CONDITIONS,
    autoscaling_status,
    inference_pool_condition,
    monitoring_condition,
    scaled_to_zero_condition,
    scaling_conditions,
)

ChildKey = tuple[str, str]  # (kind, name)
Body = Mapping[str, Any]
WAIT_SECONDS: Final = 30.0
# Kinds the operator deletes when it no longer wants them (kinds.DELETABLE), by apiVersion.
DELETABLE: Final = {kind: RESOURCES[kind].api_version for kind in kinds.DELETABLE}
# The objects that own a Deployment's replicas in modes hpa and keda.
AUTOSCALERS: Final = frozenset({"HorizontalPodAutoscaler", "ScaledObject"})
# The replicas the API server gives a Deployment created without them.
DEFAULT_REPLICAS: Final = 1


@dataclass(frozen=True)
class Apply:
    manifest: dict[str, Any]
    create: bool

    @property
    def key(self) -> ChildKey:
        return (self.manifest["kind"], self.manifest["metadata"]["name"])


@dataclass(frozen=True)
class Delete:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class Scale:
    """Set a Deployment's replicas through its scale subresource, by the autoscaler's field
    manager (names.FIELD_MANAGER_SCALE): the start of an autoscaled Deployment, or the hand
    over of `replicas` from spec.replicas to an autoscaling mode. Done before the apply that
    stops carrying `replicas`, so the field always has a manager and is never reset."""

    name: str
    replicas: int
    why: str


@dataclass(frozen=True)
class Invalid:
    """The spec cannot be served as it is: no retry until it changes (kopf.PermanentError)."""

    reason: str
    message: str


@dataclass(frozen=True)
class Needs:
    """What the controller must look up before planning (outside the children indexes)."""

    secret: tuple[str, str] | None = None  # (name, key) of the Hugging Face token
    claim: str | None = None  # the user's PVC of a pvc source
    apis: tuple[optional_apis.Api, ...] = ()  # optional APIs to look for (discovery)
    claim_events: str | None = None  # a claim not Bound: its events say why
    job_pods: str | None = None  # the download Job (running or failed): its pods say why
    pods: bool = False  # no replica available: the predictor's pods say why


@dataclass(frozen=True)
class Context:
    now: str
    cluster_domain: str = "cluster.local"
    wait_seconds: float = WAIT_SECONDS


Action = Apply | Delete | Scale


@dataclass(frozen=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    status_patch: dict[str, Any] | None = None
    problem: Waiting | Invalid | None = None
    recheck: bool = False
    """Something the status reports changes without an event the operator watches (a claim
    that does not bind, a pod that cannot start): look again after the wait period."""


def needs(
    resolved: Resolved,
    children: Mapping[ChildKey, Body],
    now: datetime.datetime | None = None,
    grace: float = 0.0,
) -> Needs:
    """Look up the token Secret only while the download has not finished, the user's claim
    only until the Deployment exists, and what explains a wait (a claim's events, pods) only
    while a child has waited `grace` seconds since it was made (None `now`: at once): a
    steady state, and the first seconds of a new child, cost no reads."""
    if resolved.service.spec.runtime == "kserve":
        return Needs(apis=optional_apis.required(resolved))  # KServe runs the rest
    secret = None
    hf = resolved.hugging_face
    ref = hf.token_secret_ref if hf is not None else None
    job = download_job_name(resolved)
    job_body = children.get(("Job", job)) if job is not None else None
    state = job_state(job_body) if job is not None else "complete"
    if ref is not None and state != "complete":
        secret = (ref.name, ref.key)
    claim = None
    if resolved.pvc is not None and ("Deployment", resolved.name) not in children:
        claim = resolved.pvc.claim_name
    claim_events = None
    if resolved.pvc is not None and claim is not None:
        claim_events = claim  # read when the claim turns out not Bound (the controller)
    cache = children.get(("PersistentVolumeClaim", resolved.claim_name)) or {}
    phase = (cache.get("status") or {}).get("phase")
    waited = functools.partial(_waited, now=now, grace=grace)
    if hf is not None and cache and state != "complete" and phase != "Bound" and waited(cache):
        claim_events = resolved.claim_name
    job_pods = None
    if job_body is not None and (
        state == "failed"
        or (state == "running" and waited(job_body) and not _job_pod_ready(job_body))
    ):
        job_pods = job
    deployment = children.get(("Deployment", resolved.name))
    pods = False
    if deployment is not None and state == "complete" and waited(deployment):
        status = deployment.get("status") or {}
        wanted = (deployment.get("spec") or {}).get("replicas", DEFAULT_REPLICAS)
        pods = bool(wanted) and not status.get("availableReplicas")
    return Needs(
        secret=secret,
        claim=claim,
        apis=optional_apis.required(resolved),
        claim_events=claim_events,
        job_pods=job_pods,
        pods=pods,
    )


def _waited(child: Body, now: datetime.datetime | None, grace: float) -> bool:
    """Whether a child was made `grace` seconds ago or more."""
    made = (child.get("metadata") or {}).get("creationTimestamp")
    if now is None or not made:
        return True
    try:
        since = datetime.datetime.fromisoformat(str(made).replace("Z", "+00:00"))
    except ValueError:
        return True
    return (now - since).total_seconds() >= grace


def _job_pod_ready(job: Body) -> bool:
    """The Job counts a ready pod (status.ready, Kubernetes 1.24 and later): it downloads."""
    return int((job.get("status") or {}).get("ready") or 0) >= 1


def _controlled_by(child: Body, uid: str | None) -> bool:
    for ref in (child.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == uid:
            return True
    return False


def _claim_manifest(desired: dict[str, Any], observed: Body | None) -> dict[str, Any]:
    """A claim's spec is immutable but for growing: keep what exists, grow only."""
    if observed is None:
        return desired
    spec = dict(desired["spec"])
    seen = observed.get("spec") or {}
    for key in ("accessModes", "storageClassName", "volumeMode"):
        if key in seen:
            spec[key] = seen[key]
        else:
            spec.pop(key, None)
    size = desired["spec"]["resources"]["requests"]["storage"]
    have = ((seen.get("resources") or {}).get("requests") or {}).get("storage")
    if have is not None and parse_quantity(have) > parse_quantity(size):
        size = have  # a claim never shrinks
    spec["resources"] = {"requests": {"storage": size}}
    metadata = dict(desired["metadata"])
    metadata["annotations"] = {
        k: v for k, v in metadata["annotations"].items() if k != names.ANNOTATION_SPEC_HASH
    }
    manifest = {**desired, "metadata": metadata, "spec": spec}
    metadata["annotations"][names.ANNOTATION_SPEC_HASH] = spec_hash(manifest)
    return manifest


def _sync(desired: dict[str, Any], observed: Body | None) -> Apply | None:
    if observed is None:
        return Apply(desired, create=True)
    if in_sync(observed, desired):
        return None
    return Apply(desired, create=False)


def plan(
    body: Body,
    resolved: Resolved | SpecError,
    children: Mapping[ChildKey, Body],
    lookups: Lookups,
    ctx: Context,
) -> Plan:
    meta = body.get("metadata") or {}
    generation = meta.get("generation")
    previous = dict(body.get("status") or {})
    if isinstance(resolved, SpecError):
        return _plan_invalid(resolved, previous, generation, children, ctx)
    changed = _runtime_changed(resolved, children)
    if changed is not None:
        return _plan_invalid(changed, previous, generation, children, ctx)
    if resolved.service.spec.runtime == "kserve":
        applies, mirrored, patch = plan_kserve(
            body, resolved, children, lookups.apis, lookups.refused, ctx.now
        )
        applied: list[Action] = [Apply(m, create=_key_of(m) not in children) for m in applies]
        return Plan(actions=applied, status=mirrored, status_patch=patch)

    wanted = build_children(resolved)
    model, waiting = model_condition(resolved, wanted, children, lookups)
    if waiting is not None:
        waiting = replace(waiting, delay=ctx.wait_seconds)
    refused = lookups.refused
    model = _model_refused(model, wanted, children, refused)
    actions: list[Action] = []
    if waiting is None:
        actions = _actions(resolved, wanted, children, model, lookups.apis)
    # The status describes the world as this plan leaves it (a Deployment it creates is
    # "loading", not "missing"), so that the next reconcile has nothing new to say.
    unwritten = lookups.unwritten | set(refused)
    projected = _project(children, [a for a in actions if _key(a) not in unwritten])
    deployment = projected.get(("Deployment", resolved.name))
    available, replicas, ready, desired = available_condition(
        resolved, deployment, model, lookups.pods
    )
    serving = refusal_summary(
        refused_among(refused, {("Deployment", resolved.name), ("Service", resolved.name)})
    )
    if waiting is not None:
        top = Cond(COND_READY, "False", waiting.reason, waiting.message)
    elif not model.ok:
        top = Cond(COND_READY, "False", model.reason, model.message)
    elif serving is not None:
        top = Cond(COND_READY, "False", *serving)
    elif not available.ok and _held_at_zero(resolved, available, lookups.scaling):
        waking = available.reason != "ScaledToZero"
        top = Cond(
            COND_READY,
            "True",
            "Waking" if waking else "ScaledToZero",
            f"{resolved.model_label} "
            + ("waking from zero" if waking else "scaled to zero")
            + ": served through voxtral-gateway, which holds requests while a replica starts",
        )
    elif not available.ok:
        top = Cond(COND_READY, "False", available.reason, available.message)
    else:
        top = Cond(COND_READY, "True", "Serving", f"serving {resolved.model_label}")
    hpa = projected.get(("HorizontalPodAutoscaler", names.autoscaler(resolved.name)))
    extra = scaling_conditions(
        resolved, lookups.apis, hpa, lookups.scaling, previous.get("conditions") or []
    )
    monitored = monitoring_condition(resolved, lookups.apis)
    extra += [monitored] if monitored is not None else []
    pool_key = ("InferencePool", names.inference_pool(resolved.name))
    pool_refusal = refusal_summary(refused_among(refused, {pool_key}))
    pooled = inference_pool_condition(
        resolved,
        lookups.apis,
        projected.get(pool_key),
        pool_refusal[1] if pool_refusal is not None else None,
    )
    extra += [pooled] if pooled is not None else []
    zero = scaled_to_zero_condition(resolved, deployment, lookups.scaling)
    extra += [zero] if zero is not None else []
    leaving = _leaving_autoscaler(resolved, wanted, children)
    if leaving is not None and resolved.scaling is not None:
        extra = [c for c in extra if c.type != COND_SCALING_ACTIVE] + [leaving]
    synced = synced_condition(refused)
    extra += [synced] if synced is not None else []
    off = [t for t in (*OPTIONAL_CONDITIONS, COND_SYNCED) if t not in {c.type for c in extra}]

    service_there = ("Service", resolved.name) in projected
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.get("conditions") or [],
            [model, available, top, *extra],
            generation,
            ctx.now,
            drop=off,
        ),
        "replicas": replicas,
        "readyReplicas": ready,
        "replicaSummary": f"{ready}/{desired}",
        "selector": selector(resolved.name),
        "model": resolved.model_label,
        "gpusPerReplica": resolved.gpus,
        "autoscaling": autoscaling_status(
            resolved, deployment, hpa, lookups.scaling, previous.get("autoscaling")
        ),
    }
    if service_there:
        status["endpoints"] = endpoints(resolved, ctx.cluster_domain)
    if top.ok and top.reason == "Serving":
        status["message"] = (
            f"{resolved.model_label} on {ready}/{desired} replicas; OpenAI "
            f"base URL {endpoints(resolved, ctx.cluster_domain)['openai']}"
        )
    else:
        status["message"] = top.message
    status = {k: v for k, v in status.items() if v is not None}
    # Claims, pods and quotas change without an event the operator watches: look again
    # while the service waits on them (not on the user: a failed download, a bad spec).
    # A refusal is the user's to fix: no periodic retry of it either.
    recheck = (
        waiting is None
        and not refused
        and (
            (not model.ok and model.reason not in ("DownloadFailed", "CachePermissionDenied"))
            or (model.ok and not available.ok and available.reason != "ScaledToZero")
        )
    )
    return Plan(
        actions=actions,
        status=status,
        status_patch=status_patch(previous, status),
        problem=waiting,
        recheck=recheck,
    )


def _key_of(manifest: Mapping[str, Any]) -> ChildKey:
    return (manifest["kind"], manifest["metadata"]["name"])


def _runtime_changed(resolved: Resolved, children: Mapping[ChildKey, Body]) -> SpecError | None:
    """spec.runtime cannot change: the children of the other runtime are still there."""
    uid = resolved.service.metadata.uid
    kserve = resolved.service.spec.runtime == "kserve"
    other = ("Deployment", resolved.name) if kserve else ("InferenceService", resolved.name)
    child = children.get(other)
    if child is None or not _controlled_by(child, uid):
        return None
    was, now = ("deployment", "kserve") if kserve else ("kserve", "deployment")
    return SpecError(
        f"spec.runtime changed from {was} to {now}: a VoxtralService keeps the runtime it was "
        f"created with (its {other[0]} {other[1]} still serves); set spec.runtime back to "
        f"{was}, or delete the service and create it again with runtime {now}",
        reason="RuntimeChanged",
    )


def _held_at_zero(resolved: Resolved, available: Cond, state: ScalingState | None) -> bool:
    """Scaled to zero on purpose with voxtral-gateway in front, or starting its first
    replica for requests the gateway holds: the service serves (they wait), Ready stays."""
    if not resolved.scales_to_zero:
        return False
    waking = available.reason == "Loading" and state is not None and state.held > 0
    return available.reason == "ScaledToZero" or waking


def _leaving_autoscaler(
    resolved: Resolved, wanted: Children, children: Mapping[ChildKey, Body]
) -> Cond | None:
    """ScalingActive=False while a superseded HPA or ScaledObject is still being deleted
    (its replacement waits for it): KEDA's own finalizer holds a ScaledObject forever once
    KEDA is uninstalled."""
    keep = {(m["kind"], m["metadata"]["name"]) for m in wanted.all()}
    uid = resolved.service.metadata.uid
    for (kind, name), child in sorted(children.items()):
        meta = child.get("metadata") or {}
        if kind not in AUTOSCALERS or (kind, name) in keep or not _controlled_by(child, uid):
            continue
        if not meta.get("deletionTimestamp"):
            continue
        finalizers = ", ".join(meta.get("finalizers") or []) or "none"
        return Cond(
            COND_SCALING_ACTIVE,
            "False",
            "WaitingForOldAutoscaler",
            f"{kind} {name} of the previous autoscaling mode is being deleted (finalizers: "
            f"{finalizers}); the new mode's autoscaler is created once it is gone. If its "
            "controller is uninstalled (KEDA), nothing removes its finalizer: `kubectl patch "
            f'{kind.lower()} {name} --type merge -p \'{{"metadata":{{"finalizers":null}}}}\'`',
        )
    return None


def _key(action: Action) -> ChildKey:
    if isinstance(action, Apply):
        return action.key
    if isinstance(action, Scale):
        return ("Deployment", action.name)
    return (action.kind, action.name)


def _model_refused(
    model: Cond,
    wanted: Children,
    children: Mapping[ChildKey, Body],
    refused: Mapping[ChildKey, Refusal],
) -> Cond:
    """ModelReady=False when what puts the weights in place was refused: the download Job,
    or the model cache claim's creation (a refused resize leaves the claim as it was)."""
    keys: set[ChildKey] = set()
    if wanted.download_job is not None:
        keys.add(("Job", wanted.download_job["metadata"]["name"]))
    if wanted.cache_claim is not None:
        claim = ("PersistentVolumeClaim", wanted.cache_claim["metadata"]["name"])
        if claim not in children:
            keys.add(claim)
    summary = refusal_summary(refused_among(refused, keys))
    if model.ok or summary is None:
        return model
    return Cond(COND_MODEL_READY, "False", *summary)


def _project(children: Mapping[ChildKey, Body], actions: list[Action]) -> dict[ChildKey, Body]:
    """The children once the actions are done (an applied child keeps its status, and the
    replicas it has unless the manifest sets them)."""
    projected = dict(children)
    for action in actions:
        if isinstance(action, Apply):
            old = children.get(action.key) or {}
            spec = dict(action.manifest.get("spec") or {})
            if action.manifest["kind"] == "Deployment" and "replicas" not in spec:
                spec["replicas"] = (old.get("spec") or {}).get("replicas", DEFAULT_REPLICAS)
            projected[action.key] = {
                **action.manifest,
                "spec": spec,
                "status": old.get("status") or {},
            }
        elif isinstance(action, Scale):
            key = ("Deployment", action.name)
            old = projected.get(key) or {}
            spec = {**(old.get("spec") or {}), "replicas": action.replicas}
            projected[key] = {**old, "spec": spec}
        else:
            projected.pop((action.kind, action.name), None)
    return projected


def _deployment(resolved: Resolved, desired: dict[str, Any], observed: Body | None) -> list[Action]:
    """Sync the Deployment; with autoscaling on, give `replicas` a manager first (see Scale)."""
    action = _sync(desired, observed)
    scaling = resolved.scaling
    if scaling is None or action is None:
        return [action] if action is not None else []
    name = desired["metadata"]["name"]
    if observed is None:
        start = resolved.start_replicas
        if start == DEFAULT_REPLICAS:
            return [action]
        return [action, Scale(name, start, f"start at {start} (spec.replicas, within bounds)")]
    annotations = (observed.get("metadata") or {}).get("annotations") or {}
    if annotations.get(names.ANNOTATION_REPLICAS_FROM, "spec") != "spec":
        return [action]
    current = int((observed.get("spec") or {}).get("replicas", DEFAULT_REPLICAS))
    why = f"replicas handed from spec.replicas to autoscaling mode {scaling.mode}"
    return [Scale(name, scaling.clamp(current), why), action]


def _actions(
    resolved: Resolved,
    wanted: Children,
    children: Mapping[ChildKey, Body],
    model: Cond,
    served: Mapping[str, bool],
) -> list[Action]:
    actions: list[Action] = []

    def sync(manifest: dict[str, Any] | None) -> None:
        if manifest is None:
            return
        key = (manifest["kind"], manifest["metadata"]["name"])
        action = _sync(manifest, children.get(key))
        if action is not None:
            actions.append(action)

    def sync_optional(manifest: dict[str, Any] | None) -> None:
        """A custom resource only where its CRD is installed (the status says otherwise)."""
        api = optional_apis.BY_KIND.get(manifest["kind"]) if manifest is not None else None
        if api is None or served.get(api.key):
            sync(manifest)

    if wanted.cache_claim is not None:
        claim_key = ("PersistentVolumeClaim", wanted.cache_claim["metadata"]["name"])
        sync(_claim_manifest(wanted.cache_claim, children.get(claim_key)))
    if wanted.download_job is not None:
        job_key = ("Job", wanted.download_job["metadata"]["name"])
        if job_key not in children:  # a Job is immutable: create it, never update it
            actions.append(Apply(wanted.download_job, create=True))
    keep = {(m["kind"], m["metadata"]["name"]) for m in wanted.all()}
    uid = resolved.service.metadata.uid
    unwanted = [
        (kind, name, child)
        for (kind, name), child in sorted(children.items())
        if kind in DELETABLE and (kind, name) not in keep and _controlled_by(child, uid)
    ]
    # An autoscaler that another mode supersedes goes first, and its replacement waits until
    # it is gone: KEDA's admission webhook refuses a ScaledObject whose Deployment an HPA
    # still scales, and two autoscalers must never fight over the replicas.
    superseded = [(k, n, c) for k, n, c in unwanted if k in AUTOSCALERS]
    for kind, name, child in superseded:
        if not (child.get("metadata") or {}).get("deletionTimestamp"):
            actions.append(Delete(DELETABLE[kind], kind, name))
    if model.ok:  # until the new weights are in place, a running Deployment keeps the old
        key = ("Deployment", wanted.deployment["metadata"]["name"])
        actions += _deployment(resolved, wanted.deployment, children.get(key))
        if not superseded:
            sync(wanted.hpa)
            sync_optional(wanted.scaled_object)
    sync(wanted.service)
    sync(wanted.pdb)
    sync_optional(wanted.service_monitor)
    sync_optional(wanted.prometheus_rule)
    sync(wanted.dashboard)
    sync_optional(wanted.inference_pool)

    for kind, name, _ in unwanted:
        if kind in AUTOSCALERS:
            continue
        actions.append(Delete(DELETABLE[kind], kind, name))
    return actions


def _plan_invalid(
    error: SpecError,
    previous: dict[str, Any],
    generation: int | None,
    children: Mapping[ChildKey, Body],
    ctx: Context,
) -> Plan:
    message = error.message
    if children:
        message += " (the existing children are left as they were until the spec is fixed)"
    ready = Cond(COND_READY, "False", error.reason, message)
    status = dict(previous)
    status["observedGeneration"] = generation
    status["conditions"] = merge_conditions(
        previous.get("conditions") or [], [ready], generation, ctx.now
    )
    status["message"] = message
    status = {k: v for k, v in status.items() if v is not None}
    return Plan(
        status=status,
        status_patch=status_patch(previous, status),
        problem=Invalid(error.reason, message),
    )


__all__ = [
    "Apply",
    "ChildKey",
    "Context",
    "Delete",
    "Invalid",
    "Lookups",
    "Needs",
    "Plan",
    "Scale",
    "Waiting",
    "needs",
    "plan",
]
