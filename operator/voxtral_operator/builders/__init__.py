"""Pure builders: a resolved VoxtralService in, Kubernetes manifests (plain dicts) out.

No I/O, no kopf, no client: each is a function of its input, tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.deployment import build_deployment
from voxtral_operator.builders.download_job import build_download_job
from voxtral_operator.builders.monitoring import (
    build_dashboard_config_map,
    build_prometheus_rule,
    build_service_monitor,
)
from voxtral_operator.builders.pdb import build_pdb
from voxtral_operator.builders.pvc import build_cache_claim
from voxtral_operator.builders.routing import build_inference_pool
from voxtral_operator.builders.scaling import build_hpa, build_scaled_object
from voxtral_operator.builders.service import build_service

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Children:
    """Every child the operator wants for one VoxtralService (None: it wants none). The
    custom resources (ScaledObject, ServiceMonitor, PrometheusRule, InferencePool) are
    wanted whether or not their CRDs are installed: the planner creates them only where
    they are."""

    deployment: Manifest
    service: Manifest
    pdb: Manifest | None
    cache_claim: Manifest | None
    download_job: Manifest | None
    hpa: Manifest | None = None
    scaled_object: Manifest | None = None
    service_monitor: Manifest | None = None
    prometheus_rule: Manifest | None = None
    dashboard: Manifest | None = None
    inference_pool: Manifest | None = None

    def all(self) -> list[Manifest]:
        """In creation order: storage, download, serving, then the network and the PDB,
        then the autoscaler and the monitoring objects."""
        items = [
            self.cache_claim,
            self.download_job,
            self.deployment,
            self.service,
            self.pdb,
            self.hpa,
            self.scaled_object,
            self.service_monitor,
            self.prometheus_rule,
            self.dashboard,
            self.inference_pool,
        ]
        return [item for item in items if item is not None]


def build_children(resolved: Resolved) -> Children:
    return Children(
        deployment=build_deployment(resolved),
        service=build_service(resolved),
        pdb=build_pdb(resolved),
        cache_claim=build_cache_claim(resolved),
        download_job=build_download_job(resolved),
        hpa=build_hpa(resolved),
        scaled_object=build_scaled_object(resolved),
        service_monitor=build_service_monitor(resolved),
        prometheus_rule=build_prometheus_rule(resolved),
        dashboard=build_dashboard_config_map(resolved),
        inference_pool=build_inference_pool(resolved),
    )


__all__ = ["Children", "Manifest", "build_children"]
