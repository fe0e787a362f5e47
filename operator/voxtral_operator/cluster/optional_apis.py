"""The optional APIs a service may need, and which ones it needs. Pure.

KEDA's ScaledObject, the Prometheus Operator's ServiceMonitor and PrometheusRule and the
Gateway API Inference Extension's InferencePool are custom resources that exist only where
their CRDs are installed; mode hpa's Pods metrics come from the custom metrics API, served
only where a metrics adapter is. The controller
asks the API server's discovery (no RBAC needed, so it also works under namespaced Roles)
and the planner creates a custom resource only where its API is served, with a condition
saying what is missing otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from voxtral_operator.api.resolve import Resolved
from voxtral_operator.cluster.kinds import RESOURCES


@dataclass(frozen=True)
class Api:
    group: str
    version: str | None = None
    """None: any version of the group."""
    plural: str | None = None
    """A resource that must be listed in the group version; None: the group version alone."""

    @property
    def key(self) -> str:
        parts = [self.group, self.version or "", self.plural or ""]
        return "/".join(p for p in parts if p)


def _of(kind: str) -> Api:
    resource = RESOURCES[kind]
    return Api(resource.group, resource.version, resource.plural)


SCALED_OBJECTS: Final = _of("ScaledObject")
SERVICE_MONITORS: Final = _of("ServiceMonitor")
PROMETHEUS_RULES: Final = _of("PrometheusRule")
INFERENCE_POOLS: Final = _of("InferencePool")
INFERENCE_SERVICES: Final = _of("InferenceService")
CUSTOM_METRICS: Final = Api("custom.metrics.k8s.io")

# The API each optional kind is created through.
BY_KIND: Final = {
    "ScaledObject": SCALED_OBJECTS,
    "ServiceMonitor": SERVICE_MONITORS,
    "PrometheusRule": PROMETHEUS_RULES,
    "InferencePool": INFERENCE_POOLS,
    "InferenceService": INFERENCE_SERVICES,
}


def required(resolved: Resolved) -> tuple[Api, ...]:
    """The optional APIs this service's spec asks for."""
    if resolved.service.spec.runtime == "kserve":
        return (INFERENCE_SERVICES,)  # KServe runs it: nothing else of this spec applies
    wanted: list[Api] = []
    scaling = resolved.scaling
    if scaling is not None and scaling.mode == "keda":
        wanted.append(SCALED_OBJECTS)
    if scaling is not None and scaling.mode == "hpa":
        wanted.append(CUSTOM_METRICS)
    monitoring = resolved.service.spec.monitoring
    if monitoring.enabled:
        wanted.append(SERVICE_MONITORS)
        if monitoring.alerts.enabled:
            wanted.append(PROMETHEUS_RULES)
    if resolved.service.spec.routing.inference_pool:
        wanted.append(INFERENCE_POOLS)
    return tuple(wanted)
