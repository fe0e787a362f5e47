"""The predictor Deployment."""

from __future__ import annotations

from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.meta import finish, labels, selector_labels
from voxtral_operator.builders.pod import HTTP_PORT, predictor_pod_spec

# A rollout's pods load the model for up to startupTimeoutSeconds; the Deployment must not
# call that a stalled rollout before then.
PROGRESS_MARGIN_SECONDS: Final = 600


def build_deployment(resolved: Resolved) -> dict[str, Any]:
    spec = resolved.service.spec
    pod_labels = labels(resolved.name, names.COMPONENT_PREDICTOR)
    body: dict[str, Any] = {
        "spec": {
            "selector": {"matchLabels": selector_labels(resolved.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": spec.rollout.max_surge,
                    "maxUnavailable": spec.rollout.max_unavailable,
                },
            },
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": (
                spec.engine.startup_timeout_seconds + PROGRESS_MARGIN_SECONDS
            ),
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(HTTP_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": predictor_pod_spec(resolved),
            },
        }
    }
    if resolved.operator_owns_replicas:
        body["spec"] = {"replicas": spec.replicas, **body["spec"]}
    return finish(
        resolved,
        api_version="apps/v1",
        kind="Deployment",
        name=names.deployment(resolved.name),
        component=names.COMPONENT_PREDICTOR,
        # Who writes `replicas`: the planner hands the field over when this changes.
        annotations={names.ANNOTATION_REPLICAS_FROM: resolved.replicas_from},
        body=body,
    )
