"""RBAC complete and minimal. The chart's rules are generated from rbac.py; here they meet
what the operator really calls:

- statically, against EXPECTED_CALLS, the set the operator's end-to-end tests hold every
  recorded call to (tests/operator/test_e2e_operations.py);
- end to end, with the operator run as the chart deploys it (the image's entrypoint, the
  rendered environment) against an emulator that enforces the rendered RBAC: every call is
  allowed, and every grant is used, but for the few the emulator cannot see (rbac.py says
  why). Two peered replicas: one reconciles, the other takes over when it goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kmock
import pytest
from install_chart import NAMESPACE, RELEASE, component, find, render
from operator_harness import (
    VXS_API,
    Cluster,
    children,
    eventually,
    ready_service,
    settle,
    until_condition,
    write_kubeconfig,
)
from operator_process import OperatorProcess
from operator_samples import VALID
from rbac_emulator import RbacEmulator
from test_e2e_operations import EXPECTED_CALLS

from voxtral_operator.cluster import rbac

Triple = tuple[str, str, str]
SA = f"{RELEASE}-voxtral-operator"


def granted(docs: list[dict[str, Any]], kind: str) -> set[Triple]:
    triples = set()
    for doc in docs:
        if doc["kind"] == kind:
            for rule in doc["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        triples |= {(verb, group, resource) for verb in rule["verbs"]}
    return triples


def recorded(grants: tuple[rbac.Grant, ...]) -> set[Triple]:
    return rbac.calls(g for g in grants if g.recorded)


UNSEEN = rbac.calls(g for section in rbac.SECTIONS.values() for g in section if not g.recorded)


# --- the declared rules, the recorded set and the rendered rules agree ----------------


def test_the_declared_rules_are_the_calls_the_e2e_tests_allow() -> None:
    """What the operator's e2e tests allow (a cluster-wide, standalone operator) is exactly
    what rbac.py declares as recorded for that set-up: nothing missing, nothing extra."""
    assert recorded(rbac.SERVED + rbac.CLUSTER) == EXPECTED_CALLS


def test_every_unrecorded_grant_says_why() -> None:
    for section in rbac.SECTIONS.values():
        for grant in section:
            assert grant.why and (grant.recorded or "emulator" in grant.why), grant
    # The emulator records what admission authorizes (the finalizers' update) since issue 13.
    assert {("list", "", "namespaces"), ("watch", "", "namespaces")} == UNSEEN


CONFIGS = {
    "cluster": ([], rbac.SERVED + rbac.CLUSTER, ()),
    "cluster-peered": (
        ["--set", "replicaCount=2,peering.enabled=true"],
        rbac.SERVED + rbac.CLUSTER + rbac.PEERING_CLUSTER,
        (),
    ),
    "cluster-listed-peered": (
        ["--set", "replicaCount=2,peering.enabled=true,watch.namespaces={a,b}"],
        rbac.SERVED + rbac.CLUSTER + rbac.NAMESPACE_OBSERVER + rbac.PEERING_NAMESPACED,
        (),
    ),
    "namespace": (["--set", "rbac.scope=namespace"], (), rbac.SERVED),
    "namespace-peered": (
        ["--set", "rbac.scope=namespace,replicaCount=2,peering.enabled=true"],
        (),
        rbac.SERVED + rbac.PEERING_NAMESPACED,
    ),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_the_chart_grants_the_declared_rules_and_nothing_else(config: str) -> None:
    args, cluster, namespaced = CONFIGS[config]
    docs = [d for d in render(*args) if component(d) != "gateway"]  # its own: test_chart.py
    assert granted(docs, "ClusterRole") == rbac.calls(cluster)
    for role in (d for d in docs if d["kind"] == "Role"):
        assert granted([role], "Role") == rbac.calls(namespaced)
    for doc in docs:
        for rule in doc.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            assert "resourceNames" not in rule or rule["resourceNames"]


# --- end to end: the operator under the chart's RBAC ----------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[RbacEmulator, Cluster, Path]]:
    async with RbacEmulator() as em, kmock.Server(em) as server:
        url = str(server.url).rstrip("/")
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
        async with httpx.AsyncClient(base_url=url) as client:
            yield em, Cluster(client), kubeconfig


async def install(cluster: Cluster, em: RbacEmulator, docs: list[dict[str, Any]]) -> None:
    """What helm install does that the operator relies on: RBAC, peering objects."""
    em.grant(docs, NAMESPACE, SA)
    for doc in docs:
        if doc["apiVersion"] == "kopf.dev/v1":
            ns = doc["metadata"].get("namespace")
            base = "/apis/kopf.dev/v1" + (f"/namespaces/{ns}" if ns else "")
            plural = doc["kind"].lower() + "s"
            response = await cluster.http.post(f"{base}/{plural}", json=doc)
            assert response.status_code == 201, response.text


async def exercise(cluster: Cluster, em: RbacEmulator) -> None:
    """The e2e scenario that makes every call of EXPECTED_CALLS: a private model with its
    token Secret, a PDB that comes and goes, a replaced download Job, an invalid service
    (an Event), a service waiting for its claim; then the same service autoscaled by KEDA
    and monitored and pooled (an InferencePool), by an HPA, by the operator (which lists its pods and hands the replicas
    over through the scale subresource), and neither (each autoscaler and the monitoring
    objects deleted in turn); and a service on KServe (its InferenceService, then updated)."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-token"},
              "stringData": {"token": "hf_x"}}  # fmt: skip
    await cluster.create("v1", "secrets", secret)
    spec = VALID["hf-private"]["spec"] | {"replicas": 2}
    await ready_service(cluster, em, VALID["hf-private"] | {"spec": spec})
    assert "PodDisruptionBudget" in children(em)
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"replicas": 1, "model": {"source": {"huggingFace": {"revision": "b2c3d4e"}}}}},
    )
    await settle(em)
    await cluster.create_vxs("broken", {"model": {"preset": "voxtral-mini-3b"}, "bad": 1})
    await until_condition(cluster, "Ready", "False", name="broken")
    await cluster.create_vxs("claim", VALID["pvc"]["spec"])
    await until_condition(cluster, "Ready", "False", "WaitingForClaim", name="claim")
    # A download that waits (its claim never binds here): the operator looks at why.
    await cluster.create_vxs("slow", VALID["mini-preset"]["spec"])
    await eventually(lambda: _looked(em), timeout=20, what="the claim's events and the Job's pods")
    await settle(em)

    (job,) = children(em)["Job"]  # the new revision's download
    await cluster.mark_job_complete(job["metadata"]["name"])
    keda = {
        "autoscaling": {"mode": "keda", "prometheusAddress": "http://prometheus:9090"},
        "monitoring": {"enabled": True},
        "routing": {"inferencePool": True, "endpointPicker": {"serviceName": "epp"}},
    }
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": keda})
    wanted = {"ScaledObject", "ServiceMonitor", "PrometheusRule", "ConfigMap", "InferencePool"}
    await eventually(lambda: _has(em, wanted), timeout=20, what=f"{wanted}")
    hpa = {"autoscaling": {"mode": "hpa", "prometheusAddress": None}}
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": hpa})
    await eventually(lambda: _has(em, {"HorizontalPodAutoscaler"}), timeout=20, what="the HPA")
    await cluster.patch(
        VXS_API,
        "voxtralservices",
        "voxtral",
        {"spec": {"autoscaling": None, "monitoring": None, "routing": None}},
    )
    await settle(em)
    operator = {"autoscaling": {"minReplicas": 2}}
    await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": operator})
    await eventually(lambda: _scaled(em), timeout=20, what="the scale of 2 and a pod list")
    await settle(em)
    # spec.runtime kserve: one InferenceService, changed with its spec
    await cluster.create_vxs(
        "on-kserve", {"runtime": "kserve", "model": {"preset": "voxtral-mini-3b"}}
    )
    await eventually(lambda: _kserved(em), timeout=20, what="the InferenceService")
    await cluster.patch(VXS_API, "voxtralservices", "on-kserve", {"spec": {"replicas": 2}})
    await eventually(lambda: _kserved(em, "patch"), timeout=20, what="its update")
    await settle(em)


async def _looked(em: RbacEmulator) -> bool:
    return ("list", "", "events") in used(em)


async def _has(em: RbacEmulator, kinds: set[str]) -> bool:
    return kinds <= set(children(em))


async def _kserved(em: RbacEmulator, verb: str = "create") -> bool:
    return (verb, "serving.kserve.io", "inferenceservices") in used(em) and bool(
        em.list("serving.kserve.io/v1beta1/inferenceservices", "default")
    )


async def _scaled(em: RbacEmulator) -> bool:
    calls = used(em)
    return {("patch", "apps", "deployments/scale"), ("list", "", "pods")} <= calls


def used(em: RbacEmulator) -> set[Triple]:
    return {(verb, group, resource) for verb, group, resource, _ in em.allowed}


# The operators look at what a waiting service waits on after VOXTRAL_OPERATOR_WAIT_SECONDS
# (30 s in the chart): sooner here.
FAST_LOOKS = {"VOXTRAL_OPERATOR_WAIT_SECONDS": "1"}

SCOPES = {
    # ClusterRole; the replicas meet in a ClusterKopfPeering.
    "cluster": "replicaCount=2,peering.enabled=true",
    # Roles in the served namespace only, no cluster-wide grant at all
    # (VOXTRAL_OPERATOR_OBSERVE_CLUSTER=false); the replicas meet in a KopfPeering there.
    "namespace": "rbac.scope=namespace,watch.namespaces={default},replicaCount=2,peering.enabled=true",
}


@pytest.mark.parametrize("scope", SCOPES)
async def test_two_peered_replicas_under_the_charts_rbac(
    api: tuple[RbacEmulator, Cluster, Path], tmp_path: Path, scope: str
) -> None:
    em, cluster, kubeconfig = api
    docs = [d for d in render("--set", SCOPES[scope]) if component(d) != "gateway"]
    await install(cluster, em, docs)
    deployment = find(docs, "Deployment")
    replicas = [
        OperatorProcess.start(deployment, kubeconfig, tmp_path / f"operator-{i}.log", FAST_LOOKS)
        for i in range(deployment["spec"]["replicas"])
    ]
    try:
        for replica in replicas:
            await eventually(replica.healthy, timeout=30, what="the operator's health endpoint")
        (peering,) = [d for d in docs if d["apiVersion"] == "kopf.dev/v1"]
        ns = peering["metadata"].get("namespace")
        path = "/apis/kopf.dev/v1" + (f"/namespaces/{ns}" if ns else "")
        path += f"/{peering['kind'].lower()}s/{peering['metadata']['name']}"

        async def peers() -> dict[str, Any] | None:
            status = (await cluster.http.get(path)).json().get("status") or {}
            return status if len(status) == 2 else None

        status = await eventually(peers, timeout=20, what="both replicas in the peering object")
        assert len({peer["priority"] for peer in status.values()}) == 2  # random, distinct

        await exercise(cluster, em)
        counts = [await r.reconciles() for r in replicas]
        assert sorted(c > 0 for c in counts) == [False, True], counts  # one served

        assert em.denied == []
        rules = granted(docs, "ClusterRole" if scope == "cluster" else "Role")
        assert used(em) <= rules
        assert rules - used(em) == rules & UNSEEN, "granted, never used"
        if scope == "namespace":
            assert {namespace for *_, namespace in em.allowed} == {"default"}

        # The active replica goes (a rollout, a node drain): the standby takes over.
        active, standby = (replicas[0], replicas[1]) if counts[0] else (replicas[1], replicas[0])
        assert await active.stop() == 0, active.output()
        await cluster.patch(VXS_API, "voxtralservices", "voxtral", {"spec": {"replicas": 2}})

        async def pdb_back() -> bool:
            return "PodDisruptionBudget" in children(em)

        await eventually(pdb_back, timeout=30, what="the standby to reconcile")
        assert await standby.reconciles() > 0
        assert em.denied == []
    finally:
        codes = [await r.stop() for r in replicas]
    assert codes == [0, 0], [r.output() for r in replicas]
