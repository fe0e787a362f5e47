"""What the autoscaler and the monitoring objects say in the status: `status.autoscaling` and
the conditions ScalingActive, ScalingLimited and MonitoringReady. Pure.

Operator mode reports its own decisions (`autoscaling.step.ScalingState`, in memory: after an
operator restart the last decision shown is the one the status already held); mode hpa
mirrors the HorizontalPodAutoscaler's own status; mode keda says whether KEDA is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.autoscaling.step import ScalingState
from voxtral_operator.cluster import optional_apis
from voxtral_operator.status.merge import (
    COND_INFERENCE_POOL_READY,
    COND_MONITORING_READY,
    COND_SCALED_TO_ZERO,
    COND_SCALING_ACTIVE,
    COND_SCALING_LIMITED,
    Cond,
    Status,
)

Body = Mapping[str, Any]
OPTIONAL_CONDITIONS = (
    COND_SCALING_ACTIVE,
    COND_SCALING_LIMITED,
    COND_MONITORING_READY,
    COND_SCALED_TO_ZERO,
    COND_INFERENCE_POOL_READY,
)


def _served(served: Mapping[str, bool], api: optional_apis.Api) -> bool:
    return bool(served.get(api.key))


def _hpa_condition(hpa: Body | None, type_: str) -> Cond | None:
    for cond in ((hpa or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") in ("True", "False", "Unknown"):
            status: Status = cond["status"]
            return Cond(
                type_, status, str(cond.get("reason") or type_), str(cond.get("message") or "")
            )
    return None


def autoscaling_status(
    resolved: Resolved,
    deployment: Body | None,
    hpa: Body | None,
    state: ScalingState | None,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """status.autoscaling, or None while autoscaling is off."""
    scaling = resolved.scaling
    if scaling is None:
        return None
    spec = (deployment or {}).get("spec") or {}
    status = (deployment or {}).get("status") or {}
    entry: dict[str, Any] = {
        "mode": scaling.mode,
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "desiredReplicas": int(spec.get("replicas", resolved.start_replicas)),
        "currentReplicas": int(status.get("replicas") or 0),
    }
    before = dict(previous or {}) if (previous or {}).get("mode") == scaling.mode else {}
    if scaling.mode == "operator":
        decision = state.last_decision if state else None
        when = state.last_scale_time if state else None
        entry["lastDecision"] = decision or before.get("lastDecision")
        entry["lastScaleTime"] = when or before.get("lastScaleTime")
        if scaling.min_replicas == 0:
            entry["heldRequests"] = state.held if state else before.get("heldRequests", 0)
    elif scaling.mode == "hpa":
        hpa_status = (hpa or {}).get("status") or {}
        entry["lastScaleTime"] = hpa_status.get("lastScaleTime")
        able = _hpa_condition(hpa, "AbleToScale")
        if able is not None and hpa_status.get("lastScaleTime"):
            entry["lastDecision"] = f"HorizontalPodAutoscaler: {able.message}"
    return {k: v for k, v in entry.items() if v is not None}


def _kept(previous: Sequence[Mapping[str, Any]], type_: str) -> Cond | None:
    for cond in previous:
        if cond.get("type") == type_ and cond.get("status") in ("True", "False", "Unknown"):
            status: Status = cond["status"]
            return Cond(type_, status, str(cond.get("reason")), str(cond.get("message") or ""))
    return None


def scaling_conditions(
    resolved: Resolved,
    served: Mapping[str, bool],
    hpa: Body | None,
    state: ScalingState | None,
    previous: Sequence[Mapping[str, Any]] = (),
) -> list[Cond]:
    """ScalingActive and ScalingLimited. In operator mode before the autoscaler's first tick
    (`state` None: just started, or restarted), what the status said stays."""
    scaling = resolved.scaling
    if scaling is None:
        return []
    bounds = f"{scaling.min_replicas}..{scaling.max_replicas} replicas"
    name = names.autoscaler(resolved.name)
    if scaling.mode == "operator":
        kept = [_kept(previous, t) for t in (COND_SCALING_ACTIVE, COND_SCALING_LIMITED)]
        if state is None and kept[0] is not None and kept[1] is not None:
            return [kept[0], kept[1]]
        if state is not None and state.unreadable:
            active = Cond(COND_SCALING_ACTIVE, "False", "MetricsUnavailable", state.unreadable)
        else:
            active = Cond(
                COND_SCALING_ACTIVE,
                "True",
                "OperatorScaling",
                f"the operator reads each ready replica's /metrics and keeps {bounds}",
            )
        if state is not None and state.limited:
            limited = Cond(COND_SCALING_LIMITED, "True", state.limited_reason, state.limited)
        else:
            limited = Cond(
                COND_SCALING_LIMITED,
                "False",
                "DesiredWithinRange",
                "the replicas the load asks for are within bounds and schedulable",
            )
        return [active, limited]
    if scaling.mode == "keda":
        if not resolved.prometheus_address:
            return [
                Cond(
                    COND_SCALING_ACTIVE,
                    "False",
                    "NoPrometheusAddress",
                    "mode keda needs the Prometheus that scrapes the replicas: set "
                    "spec.autoscaling.prometheusAddress (or the operator's "
                    "VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS); the replicas stay as they are",
                )
            ]
        if not _served(served, optional_apis.SCALED_OBJECTS):
            return [
                Cond(
                    COND_SCALING_ACTIVE,
                    "False",
                    "KedaMissing",
                    "KEDA is not installed (the API has no keda.sh/v1alpha1 ScaledObject): "
                    "install KEDA, or set spec.autoscaling.mode to operator; the replicas stay "
                    "as they are, and the ScaledObject is created once KEDA is there",
                )
            ]
        return [
            Cond(
                COND_SCALING_ACTIVE,
                "True",
                "KedaScaling",
                f"KEDA keeps {bounds} (ScaledObject {name}, Prometheus "
                f"{resolved.prometheus_address})",
            )
        ]
    # hpa
    conds: list[Cond] = []
    mirrored = _hpa_condition(hpa, COND_SCALING_ACTIVE)
    if not _served(served, optional_apis.CUSTOM_METRICS):
        conds.append(
            Cond(
                COND_SCALING_ACTIVE,
                "False",
                "MetricsAdapterMissing",
                "no custom metrics API (custom.metrics.k8s.io) serves the Pods metrics of "
                f"HorizontalPodAutoscaler {name}: install prometheus-adapter with the rules of "
                "manifests/monitoring/prometheus-adapter-values.yaml; it scales once they are "
                "served",
            )
        )
    elif mirrored is not None:
        conds.append(mirrored)
    else:
        conds.append(
            Cond(
                COND_SCALING_ACTIVE,
                "True",
                "HorizontalPodAutoscaler",
                f"HorizontalPodAutoscaler {name} keeps {bounds}",
            )
        )
    hpa_limited = _hpa_condition(hpa, COND_SCALING_LIMITED)
    if hpa_limited is not None:
        conds.append(hpa_limited)
    return conds


def scaled_to_zero_condition(
    resolved: Resolved, deployment: Body | None, state: ScalingState | None
) -> Cond | None:
    """ScaledToZero, while the service may scale to zero: True at 0 replicas (with the
    requests the gateway holds, if any), False with the idle time that takes it there."""
    scaling = resolved.scaling
    if scaling is None or not resolved.scales_to_zero or deployment is None:
        return None
    idle = f"{scaling.scale_down.idle_seconds} s"
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    held = state.held if state else 0
    waiting = (
        f"voxtral-gateway holds {held} request(s) since {state.held_since}"
        if state and held
        else ""
    )
    if desired == 0:
        return Cond(
            COND_SCALED_TO_ZERO,
            "True",
            "Idle",
            f"0 replicas after {idle} without a request; "
            + (
                f"{waiting}: starting a replica"
                if waiting
                else "voxtral-gateway holds the next request while a replica starts"
            ),
        )
    if waiting and ready == 0:
        return Cond(
            COND_SCALED_TO_ZERO,
            "False",
            "Waking",
            f"{waiting}: a replica is starting (a cold start takes minutes)",
        )
    return Cond(
        COND_SCALED_TO_ZERO,
        "False",
        "Active",
        f"{desired} replica(s); scales to zero after {idle} without a request",
    )


def monitoring_condition(resolved: Resolved, served: Mapping[str, bool]) -> Cond | None:
    monitoring = resolved.service.spec.monitoring
    if not monitoring.enabled:
        return None
    wanted = [optional_apis.SERVICE_MONITORS] + (
        [optional_apis.PROMETHEUS_RULES] if monitoring.alerts.enabled else []
    )
    missing = [api.plural or api.key for api in wanted if not _served(served, api)]
    dashboard = (
        f"; dashboard in ConfigMap {names.dashboard(resolved.name)}" if monitoring.dashboard else ""
    )
    if missing:
        return Cond(
            COND_MONITORING_READY,
            "False",
            "PrometheusOperatorMissing",
            f"the Prometheus Operator's CRDs are not installed (no monitoring.coreos.com/v1 "
            f"{' or '.join(missing)}): install it (kube-prometheus-stack) so that the replicas "
            f"are scraped and the alerts loaded{dashboard or ''}",
        )
    what = f"ServiceMonitor {names.monitor(resolved.name)} scrapes the replicas every " + (
        monitoring.scrape_interval
    )
    if monitoring.alerts.enabled:
        what += f"; alerts in PrometheusRule {names.monitor(resolved.name)}"
    return Cond(COND_MONITORING_READY, "True", "Monitored", what + dashboard)


def inference_pool_condition(
    resolved: Resolved, served: Mapping[str, bool], child: Body | None, refused: str | None
) -> Cond | None:
    """InferencePoolReady, while spec.routing.inferencePool is on: False while the CRD is
    not served or the API server refuses the pool (`refused`: what it said)."""
    routing = resolved.service.spec.routing
    if not routing.inference_pool:
        return None
    pool = names.inference_pool(resolved.name)
    if not _served(served, optional_apis.INFERENCE_POOLS):
        return Cond(
            COND_INFERENCE_POOL_READY,
            "False",
            "InferencePoolCRDMissing",
            "the Gateway API Inference Extension's CRD is not installed (no "
            "inference.networking.k8s.io/v1 InferencePool): install its manifests; "
            f"InferencePool {pool} is created once the API is served",
        )
    if refused is not None:
        return Cond(COND_INFERENCE_POOL_READY, "False", "InferencePoolRefused", refused)
    if child is None:
        return Cond(
            COND_INFERENCE_POOL_READY, "False", "Creating", f"creating InferencePool {pool}"
        )
    picker = routing.endpoint_picker
    via = (
        f"endpoint picker Service {picker.service_name}:{picker.port} ({picker.failure_mode})"
        if picker is not None
        else "no endpoint picker"
    )
    return Cond(
        COND_INFERENCE_POOL_READY,
        "True",
        "Created",
        f"InferencePool {pool} selects the predictor pods on their HTTP port; {via}",
    )
