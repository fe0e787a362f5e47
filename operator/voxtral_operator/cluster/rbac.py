"""What the operator may do in the API: every (verb, API group, resource) it calls, declared once.

The Helm chart's Role / ClusterRole rules are generated from these lists (`make manifests`
writes `charts/voxtral-operator/files/rbac-rules.yaml`), and `tests/install` checks them both
ways against the calls the end-to-end tests record: each recorded call is granted, and each
grant is either recorded or one of the few calls the emulator cannot see, each with its
reason here. A new API call in the operator fails that test until it is declared below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class Grant:
    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str
    recorded: bool = True
    """False: a call the API emulator of the tests cannot observe (see `why`)."""


# Namespaced resources, granted in every namespace the operator serves (a ClusterRole when it
# serves all of them). Watches of the kinds below are kopf's indexes (handlers.CHILDREN);
# get / patch / delete are the reconciler's (kube.py). Its writes are server-side applies,
# and an apply that creates the object is authorized as `create` as well as `patch`
# (k8s.io/apiserver pkg/endpoints/handlers/patch.go, createAuthorizerAttributes): every kind
# it applies has both. Whether KEDA or
# the Prometheus Operator is installed is asked of discovery, which needs no grant.
SERVED: Final[tuple[Grant, ...]] = (
    Grant(
        "voxtral.dev",
        "voxtralservices",
        ("list", "watch", "patch"),
        "kopf watches VoxtralServices and keeps its bookkeeping in their annotations",
    ),
    Grant("voxtral.dev", "voxtralservices/status", ("patch",), "the status the operator writes"),
    Grant(
        "voxtral.dev",
        "voxtralservices/finalizers",
        ("update",),
        "children carry a controller ownerReference with blockOwnerDeletion, which the "
        "OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened "
        "clusters) admits only from who may update the owner's finalizers; checked at "
        "admission of each child's creation, never called",
    ),
    Grant("apps", "deployments", ("get", "list", "watch", "create", "patch"), "the predictor"),
    Grant("", "services", ("get", "list", "watch", "create", "patch"), "the predictor's Service"),
    Grant(
        "policy",
        "poddisruptionbudgets",
        ("get", "list", "watch", "create", "patch", "delete"),
        "a PDB while replicas > 1, deleted below",
    ),
    Grant(
        "",
        "persistentvolumeclaims",
        ("get", "list", "watch", "create", "patch"),
        "the model cache volume",
    ),
    Grant(
        "batch",
        "jobs",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the model download Job, replaced when the source changes",
    ),
    Grant("", "secrets", ("get",), "checks that a Hugging Face token Secret exists"),
    Grant(
        "",
        "events",
        ("create", "list"),
        "kopf posts Events on VoxtralServices; the reconciler reads the Events of a claim "
        "that does not bind, to say why in the status",
    ),
    Grant(
        "",
        "pods",
        ("list",),
        "the operator-mode autoscaler lists a service's pods: ready ones (whose /metrics it "
        "reads), starting ones, and those Pending for lack of GPUs; the reconciler lists the "
        "download Job's and the predictor's pods while they do not run, to say why",
    ),
    Grant(
        "apps",
        "deployments/scale",
        ("patch",),
        "replicas set by the operator-mode autoscaler, and handed over to the autoscaler's "
        "field manager when autoscaling starts",
    ),
    Grant(
        "autoscaling",
        "horizontalpodautoscalers",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the HorizontalPodAutoscaler of autoscaling mode hpa, deleted in other modes",
    ),
    Grant(
        "keda.sh",
        "scaledobjects",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the KEDA ScaledObject of autoscaling mode keda, deleted in other modes",
    ),
    Grant(
        "monitoring.coreos.com",
        "servicemonitors",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the ServiceMonitor of spec.monitoring",
    ),
    Grant(
        "monitoring.coreos.com",
        "prometheusrules",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the alerts of spec.monitoring",
    ),
    Grant(
        "serving.kserve.io",
        "inferenceservices",
        ("get", "list", "watch", "create", "patch"),
        "the InferenceService of spec.runtime kserve (deleted with its service, by the "
        "garbage collector)",
    ),
    Grant(
        "inference.networking.k8s.io",
        "inferencepools",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the InferencePool of spec.routing",
    ),
    Grant(
        "",
        "configmaps",
        ("get", "list", "watch", "create", "patch", "delete"),
        "the Grafana dashboard of spec.monitoring",
    ),
)

# Cluster-scoped, with a ClusterRole. With namespaced Roles the operator runs with
# VOXTRAL_OPERATOR_OBSERVE_CLUSTER=false: kopf then works from discovery at start-up and the
# namespaces named, and never asks.
CLUSTER: Final[tuple[Grant, ...]] = (
    Grant(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        ("list", "watch"),
        "kopf follows CRDs appearing and going",
    ),
)

# Cluster-scoped, when a ClusterRole-backed operator serves a list of namespaces: kopf lists
# and watches namespaces to match the list (globs included) as namespaces come and go.
NAMESPACE_OBSERVER: Final[tuple[Grant, ...]] = (
    Grant(
        "",
        "namespaces",
        ("list", "watch"),
        "kopf matches namespaces to the served list; no end-to-end scenario of the tests' "
        "emulator serves a list of namespaces under a ClusterRole, so none records it",
        recorded=False,
    ),
)

# kopf peering (several replicas, one active): the peering object of the peering name, a
# ClusterKopfPeering when serving the cluster, a KopfPeering in each served namespace
# otherwise. kopf keeps each replica's keep-alive in its status (no status subresource).
PEERING_CLUSTER: Final[tuple[Grant, ...]] = (
    Grant(
        "kopf.dev",
        "clusterkopfpeerings",
        ("list", "watch", "patch"),
        "kopf peering: who is alive, who serves",
    ),
)
PEERING_NAMESPACED: Final[tuple[Grant, ...]] = (
    Grant(
        "kopf.dev",
        "kopfpeerings",
        ("list", "watch", "patch"),
        "kopf peering: who is alive, who serves",
    ),
)

SECTIONS: Final[dict[str, tuple[Grant, ...]]] = {
    "served": SERVED,
    "cluster": CLUSTER,
    "namespaceObserver": NAMESPACE_OBSERVER,
    "peeringCluster": PEERING_CLUSTER,
    "peeringNamespaced": PEERING_NAMESPACED,
}


def policy_rules(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """Kubernetes PolicyRules, one per resource, in the order declared."""
    return [
        {"apiGroups": [g.group], "resources": [g.resource], "verbs": list(g.verbs)} for g in grants
    ]


def calls(grants: Iterable[Grant]) -> set[tuple[str, str, str]]:
    """(verb, group, resource) triples, the terms the emulator records calls in."""
    return {(verb, g.group, g.resource) for g in grants for verb in g.verbs}
