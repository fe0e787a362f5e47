"""The kinds the operator reads and writes, and where the API server serves each. Pure:
the one table the API adapter, the kopf watches and the planner's deletions share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from voxtral_operator.api import service as api


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
        return path


RESOURCES: Final[dict[str, Resource]] = {
    "Deployment": Resource("apps", "v1", "deployments"),
    "Service": Resource("", "v1", "services"),
    "PodDisruptionBudget": Resource("policy", "v1", "poddisruptionbudgets"),
    "PersistentVolumeClaim": Resource("", "v1", "persistentvolumeclaims"),
    "Job": Resource("batch", "v1", "jobs"),
    "Secret": Resource("", "v1", "secrets"),
    "Pod": Resource("", "v1", "pods"),
    "Event": Resource("", "v1", "events"),
    "ConfigMap": Resource("", "v1", "configmaps"),
    "HorizontalPodAutoscaler": Resource("autoscaling", "v2", "horizontalpodautoscalers"),
    "ScaledObject": Resource("keda.sh", "v1alpha1", "scaledobjects"),
    "ServiceMonitor": Resource("monitoring.coreos.com", "v1", "servicemonitors"),
    "PrometheusRule": Resource("monitoring.coreos.com", "v1", "prometheusrules"),
    "InferencePool": Resource("inference.networking.k8s.io", "v1", "inferencepools"),
    "InferenceService": Resource("serving.kserve.io", "v1beta1", "inferenceservices"),
    api.KIND: Resource(api.GROUP, api.VERSION, api.PLURAL),
}

# The children the operator owns, watched (by its label) for drift and readiness.
CHILDREN: Final = (
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "Job",
    "ConfigMap",
    "HorizontalPodAutoscaler",
    # Custom resources: watched where their CRDs are installed (kopf follows CRDs appearing).
    "ScaledObject",
    "ServiceMonitor",
    "PrometheusRule",
    "InferencePool",
    "InferenceService",
)
# The children it deletes when it no longer wants them. Never the model cache: losing
# downloaded weights must be a person's decision (it goes with the VoxtralService). Nor the
# Deployment and the Service, which always exist under the service's own name (and which
# RBAC does not let it delete), nor the InferenceService of spec.runtime kserve, which
# exists as long as its service (the runtime cannot change).
DELETABLE: Final = tuple(
    kind
    for kind in CHILDREN
    if kind not in ("PersistentVolumeClaim", "Deployment", "Service", "InferenceService")
)
