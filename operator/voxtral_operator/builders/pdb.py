"""The PodDisruptionBudget: with more than one replica (or an autoscaler that may add them),
voluntary evictions (node drains) take one replica at a time."""

from __future__ import annotations

from typing import Any

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.meta import finish, selector_labels


def build_pdb(resolved: Resolved) -> dict[str, Any] | None:
    scaling = resolved.scaling
    most = scaling.max_replicas if scaling is not None else resolved.service.spec.replicas
    if most <= 1:
        return None  # a budget for one replica would block every node drain
    return finish(
        resolved,
        api_version="policy/v1",
        kind="PodDisruptionBudget",
        name=names.pdb(resolved.name),
        component=names.COMPONENT_PREDICTOR,
        body={
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector_labels(resolved.name)},
                # A replica that never got ready (still loading, or broken) may be evicted.
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            }
        },
    )
