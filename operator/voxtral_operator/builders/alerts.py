"""The alerts of a service (its PrometheusRule's rules): each one something a person can act
on, with a description that says what to do. The thresholds come from spec.monitoring.alerts
and spec.autoscaling; the expressions from `promql`. Replica counts come from
kube-state-metrics (kube-prometheus-stack ships it)."""

from __future__ import annotations

from typing import Any, Final

from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders import promql

KV_CACHE_SATURATED: Final = 0.95
"""Above this vLLM runs out of KV cache blocks and preempts sequences (recomputes them)."""


def _alert(
    name: str, expr: str, wait: str, severity: str, summary: str, what_to_do: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": what_to_do},
    }


def alert_rules(resolved: Resolved) -> list[dict[str, Any]]:
    ns, name = resolved.namespace, resolved.name
    alerts = resolved.service.spec.monitoring.alerts
    scaling = resolved.scaling
    who = f"VoxtralService {ns}/{name}"
    pods = f"kubectl -n {ns} get pods -l app.kubernetes.io/instance={name}"
    dep = promql.deployment(ns, name)
    limit = f"spec.autoscaling.maxReplicas ({scaling.max_replicas})" if scaling else ""
    capacity = (
        f"check `kubectl -n {ns} get vxs {name}` (condition ScalingLimited: GPUs free? {limit}"
        " reached?)"
        if scaling
        else f"add replicas (spec.replicas) or turn on spec.autoscaling of {who}"
    )
    rules = [
        _alert(
            "VoxtralQueueTimeHigh",
            f"{promql.queue_time_p95(ns, name)} > {alerts.queue_time_seconds:g} or "
            f"{promql.admission_wait_p95(ns, name)} > {alerts.queue_time_seconds:g}",
            "10m",
            "warning",
            f"{who}: requests wait more than {alerts.queue_time_seconds:g} s in the queue (p95)",
            f"The replicas cannot keep up with the load: {capacity}. A burst of long "
            "recordings also queues their 30 s chunks; if the wait persists with free "
            "replicas, lower spec.autoscaling.target.concurrencyPerReplica.",
        ),
        _alert(
            "VoxtralErrorRatioHigh",
            f"{promql.error_ratio(ns, name)} > {alerts.error_ratio:g}",
            "10m",
            "critical",
            f"{who}: more than {alerts.error_ratio:.0%} of requests fail (5xx or 429)",
            "429 means the replicas' admission queues are full: more replicas are needed "
            f"({capacity}). 5xx means the engine or the predictor fails: read "
            f"`kubectl -n {ns} logs deploy/{name}` and the panel 'Errors by code' of the "
            "Voxtral dashboard.",
        ),
        _alert(
            "VoxtralKVCacheSaturated",
            f"max(max by (pod) ({promql.KV_CACHE}{{{promql.pods(ns, name)}}})) "
            f"> {KV_CACHE_SATURATED:g}",
            "15m",
            "warning",
            f"{who}: a replica's KV cache is over {KV_CACHE_SATURATED:.0%} full",
            "vLLM preempts and recomputes sequences when its KV cache is full, which slows "
            "every request. Long single-pass recordings fill it: add replicas, give the "
            "engine more memory (spec.engine.gpuMemoryUtilization, spec.gpusPerReplica), or "
            "lower spec.engine.maxNumSeqs.",
        ),
        _alert(
            "VoxtralPredictorNotReady",
            f"kube_deployment_status_replicas_available{{{dep}}} == 0 "
            f"and on (namespace, deployment) kube_deployment_spec_replicas{{{dep}}} > 0",
            "15m",
            "critical",
            f"{who}: no replica has been ready for 15 minutes",
            f"Nothing serves. See `{pods}` and `kubectl describe` them: Pending (no node with "
            "free GPUs of spec.gpuResource?), ImagePullBackOff (spec.image), CrashLoopBackOff "
            f"(model load errors in `kubectl -n {ns} logs`), and the conditions of "
            f"`kubectl -n {ns} describe vxs {name}`.",
        ),
        _alert(
            "VoxtralReplicasNotReady",
            f"kube_deployment_status_replicas_ready{{{dep}}} "
            f"< on (namespace, deployment) kube_deployment_spec_replicas{{{dep}}}",
            "30m",
            "warning",
            f"{who}: some replicas have not been ready for 30 minutes",
            f"A replica loads in minutes; one not ready for 30 is stuck. See `{pods}`: "
            "Pending pods mean the cluster has no free GPUs (add GPU nodes or lower "
            "spec.autoscaling.maxReplicas), others say why in `kubectl describe`.",
        ),
    ]
    if scaling is not None:
        rules.append(
            _alert(
                "VoxtralReplicasAtMax",
                f"kube_deployment_spec_replicas{{{dep}}} >= {scaling.max_replicas}",
                "30m",
                "warning",
                f"{who}: pinned at maxReplicas ({scaling.max_replicas}) for 30 minutes",
                "The load asks for more replicas than spec.autoscaling.maxReplicas allows. "
                "If the queue time is fine this is the planned ceiling; otherwise raise "
                f"maxReplicas (each replica takes {resolved.gpus} GPU(s)) once the cluster has "
                "the GPUs.",
            )
        )
    for rule in rules:
        rule["labels"] |= {"namespace": ns, "voxtral_service": name}
    return rules
