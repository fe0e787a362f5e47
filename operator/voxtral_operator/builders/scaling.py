"""The autoscaler objects of modes keda and hpa: a KEDA ScaledObject, or an autoscaling/v2
HorizontalPodAutoscaler. Both scale the predictor Deployment on the signals of `promql`,
with the targets and step limits of spec.autoscaling turned into the HPA's behavior.

Both use the HPA controller's rule, ceil(replicas × metric / target), proportional, with its
10 % tolerance: the operator mode's square-root step and GPU-awareness are its own.
"""

from __future__ import annotations

from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.quantity import canonical_quantity
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.api.scaling import AutoscalingSpec
from voxtral_operator.autoscaling import defaults
from voxtral_operator.builders import promql
from voxtral_operator.builders.meta import finish

KEDA_API: Final = "keda.sh/v1alpha1"
HPA_API: Final = "autoscaling/v2"
# The HPA controller's period; a scale-down step is allowed once a minute.
UP_PERIOD_SECONDS: Final = defaults.INTERVAL_SECONDS
DOWN_PERIOD_SECONDS: Final = 60


def _number(value: float) -> str:
    return f"{value:g}"


def _target(value: float) -> str:
    """An HPA target: a quantity, written as the API server stores it (12.5 -> "12500m",
    0.9 -> "900m", 1.0 -> "1"), so that it reads back unchanged."""
    return canonical_quantity(value)


def _target_ref(resolved: Resolved) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.deployment(resolved.name)}


def behavior(scaling: AutoscalingSpec) -> dict[str, Any]:
    """spec.autoscaling's windows and steps as an HPA's scaling behavior."""
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": scaling.scale_up.stabilization_seconds,
            "selectPolicy": "Max",
            "policies": [
                {
                    "type": "Pods",
                    "value": scaling.scale_up.max_step,
                    "periodSeconds": UP_PERIOD_SECONDS,
                }
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": scaling.scale_down.delay_seconds,
            "selectPolicy": "Max",
            "policies": [
                {
                    "type": "Pods",
                    "value": scaling.scale_down.max_step,
                    "periodSeconds": DOWN_PERIOD_SECONDS,
                }
            ],
        },
    }


def build_hpa(resolved: Resolved) -> dict[str, Any] | None:
    """Mode hpa: Pods metrics from the custom metrics API (see promql.adapter_rules)."""
    scaling = resolved.scaling
    if scaling is None or scaling.mode != "hpa":
        return None
    t = scaling.target

    def pods_metric(name: str, average: str) -> dict[str, Any]:
        return {
            "type": "Pods",
            "pods": {
                "metric": {"name": name},
                "target": {"type": "AverageValue", "averageValue": average},
            },
        }

    return finish(
        resolved,
        api_version=HPA_API,
        kind="HorizontalPodAutoscaler",
        name=names.autoscaler(resolved.name),
        component=names.COMPONENT_AUTOSCALER,
        body={
            "spec": {
                "scaleTargetRef": _target_ref(resolved),
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    pods_metric(promql.POD_DEMAND, _target(t.concurrency_per_replica)),
                    pods_metric(promql.POD_QUEUE, _target(t.queue_per_replica)),
                    pods_metric(promql.POD_KV_CACHE, _target(t.kv_cache_usage)),
                ],
                "behavior": behavior(scaling),
            }
        },
    )


def build_scaled_object(resolved: Resolved) -> dict[str, Any] | None:
    """Mode keda, once a Prometheus address is known (the spec's or the operator's)."""
    scaling = resolved.scaling
    address = resolved.prometheus_address
    if scaling is None or scaling.mode != "keda" or not address:
        return None
    t, ns, name = scaling.target, resolved.namespace, resolved.name

    def trigger(trigger_name: str, query: str, threshold: str, metric_type: str) -> dict[str, Any]:
        return {
            "type": "prometheus",
            "name": trigger_name,
            "metricType": metric_type,
            "metadata": {
                "serverAddress": address,
                "query": query,
                "threshold": threshold,
                # No replica, or Prometheus without a series yet: a load of 0, not an error.
                "ignoreNullValues": "true",
            },
        }

    return finish(
        resolved,
        api_version=KEDA_API,
        kind="ScaledObject",
        name=names.autoscaler(name),
        component=names.COMPONENT_AUTOSCALER,
        body={
            "spec": {
                "scaleTargetRef": _target_ref(resolved),
                "minReplicaCount": scaling.min_replicas,
                "maxReplicaCount": scaling.max_replicas,
                "pollingInterval": defaults.INTERVAL_SECONDS,
                # Only used when scaling to zero (minReplicas 0): the delay before it.
                "cooldownPeriod": scaling.scale_down.delay_seconds,
                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior(scaling)}},
                "triggers": [
                    trigger(
                        "demand",
                        promql.demand(ns, name),
                        _number(t.concurrency_per_replica),
                        "AverageValue",
                    ),
                    trigger(
                        "queue",
                        promql.queue(ns, name),
                        _number(t.queue_per_replica),
                        "AverageValue",
                    ),
                    trigger(
                        "kv-cache", promql.kv_cache(ns, name), _number(t.kv_cache_usage), "Value"
                    ),
                ],
            }
        },
    )
