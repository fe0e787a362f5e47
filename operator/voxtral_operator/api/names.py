"""Names of the children of a VoxtralService, and the labels and annotations they carry."""

from __future__ import annotations

from typing import Final

OPERATOR: Final = "voxtral-operator"
APP: Final = "voxtral"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
ANNOTATION_SPEC_HASH: Final = "voxtral.dev/spec-hash"
# Who decides the Deployment's replicas: "spec" (spec.replicas, applied by the operator),
# or the autoscaling mode ("operator", "keda", "hpa"). Read to hand the field over.
ANNOTATION_REPLICAS_FROM: Final = "voxtral.dev/replicas-from"
FIELD_MANAGER: Final = OPERATOR
# The field manager of the Deployment's replicas while an autoscaling mode owns them: the
# operator's server-side applies of the Deployment no longer carry `replicas`, and a field
# whose only manager stops applying it is reset by the API server.
FIELD_MANAGER_SCALE: Final = "voxtral-autoscaler"
LABEL_GRAFANA_DASHBOARD: Final = "grafana_dashboard"
# On the predictor Service: the model name its replicas serve (voxtral-gateway routes by it;
# an annotation, as a served name may be longer than a label value).
ANNOTATION_SERVED_NAME: Final = "voxtral.dev/served-name"

COMPONENT_PREDICTOR: Final = "predictor"
COMPONENT_DOWNLOAD: Final = "model-download"
COMPONENT_CACHE: Final = "model-cache"
COMPONENT_AUTOSCALER: Final = "autoscaler"
COMPONENT_MONITORING: Final = "monitoring"
COMPONENT_ROUTING: Final = "routing"


def deployment(service: str) -> str:
    return service


def service(service: str) -> str:
    return service


def pdb(service: str) -> str:
    return service


def cache_claim(service: str) -> str:
    return f"{service}-model-cache"


def download_job(service: str, source_hash: str) -> str:
    return f"{service}-download-{source_hash[:8]}"


def autoscaler(service: str) -> str:
    """The HorizontalPodAutoscaler (mode hpa) or the ScaledObject (mode keda)."""
    return service


def monitor(service: str) -> str:
    """The ServiceMonitor and the PrometheusRule."""
    return service


def inference_pool(service: str) -> str:
    """The InferencePool of spec.routing (the endpoint picker's --pool-name)."""
    return service


def dashboard(service: str) -> str:
    return f"{service}-dashboard"
