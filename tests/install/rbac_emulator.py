"""The operator tests' API emulator (tests/operator/kube_emulator), set up as a cluster the
chart installs into:

- kopf's peering resources (kopf.dev/v1 ClusterKopfPeering and KopfPeering), whose CRDs the
  chart ships;
- KEDA's ScaledObject and the Prometheus Operator's ServiceMonitor and PrometheusRule, as if
  their CRDs were installed (the operator creates those only where they are);
- `grant()`: the chart's RBAC for its ServiceAccount, enforced on the operator's requests as
  the RBAC authorizer does (kube_emulator.authz); `denied` lists what it refused.
"""

from __future__ import annotations

from typing import Any

import kmock
from kube_emulator import VoxtralEmulator

VERBS = {"create", "delete", "get", "list", "patch", "update", "watch"}


class RbacEmulator(VoxtralEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for plural, kind, namespaced in (
            ("clusterkopfpeerings", "ClusterKopfPeering", False),
            ("kopfpeerings", "KopfPeering", True),
        ):
            self.resources[f"kopf.dev/v1/{plural}"] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=namespaced, verbs=VERBS
            )
        for resource, kind in (
            ("keda.sh/v1alpha1/scaledobjects", "ScaledObject"),
            ("monitoring.coreos.com/v1/servicemonitors", "ServiceMonitor"),
            ("monitoring.coreos.com/v1/prometheusrules", "PrometheusRule"),
            ("inference.networking.k8s.io/v1/inferencepools", "InferencePool"),
            ("serving.kserve.io/v1beta1/inferenceservices", "InferenceService"),
        ):
            self.resources[resource] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=True, verbs=VERBS
            )

    def grant(self, docs: list[dict[str, Any]], namespace: str, service_account: str) -> None:
        self.bind(docs, namespace, service_account)

    def _operator_checks(self, allowed: bool) -> list[tuple[str, str, str, str | None]]:
        return [
            (c.verb, c.group, c.resource, c.namespace)
            for c in self.checks()
            if c.agent.startswith(("kopf/", "voxtral-operator/")) and c.allowed == allowed
        ]

    @property
    def allowed(self) -> list[tuple[str, str, str, str | None]]:
        return self._operator_checks(True)

    @property
    def denied(self) -> list[tuple[str, str, str, str | None]]:
        return self._operator_checks(False)
