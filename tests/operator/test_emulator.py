"""The emulator's API-server behaviours, each against the upstream source it follows (named
in each test and in kube_emulator's docstring), over real HTTP. A behaviour the operator's
tests rely on and the emulator got wrong would make those tests pass where a real cluster
fails: the lesson of issue 13 (an apply that creates was authorized as patch alone)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kube_emulator import VoxtralEmulator
from kube_emulator.admission import Request
from kube_emulator.quantity import canonical
from operator_harness import Cluster
from quantity_vectors import CANONICAL

from voxtral_operator.api.quantity import canonical_quantity

OPERATOR = {"User-Agent": "voxtral-operator/0.1.0"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(name: str = "d", **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], **pod},
            },
        },
    }


async def apply(
    cluster: Cluster, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await cluster.http.patch(
        path,
        params={"fieldManager": "m", "force": "true"},
        content=json.dumps(body),
        headers={"Content-Type": "application/apply-patch+yaml", **(headers or {})},
    )


def role(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    """A Role with these rules, bound to the ServiceAccount default/op."""
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "r", "namespace": "default"}, "rules": list(rules)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "r", "namespace": "default"},
         "roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
         "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "default"}]},
    ]  # fmt: skip


# --- authorization: k8s.io/apiserver pkg/endpoints/handlers/patch.go, RBAC -------------------


async def test_an_apply_that_creates_is_authorized_as_create_too(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """handlers/patch.go createAuthorizerAttributes: the create of an apply needs `create`;
    the 403 is NewForbidden with RBAC's empty reason (handlers/update.go withAuthorization)."""
    emulator.owner_references_enforced = False
    emulator.bind(role({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}),
                  "default", "op")  # fmt: skip
    response = await apply(cluster, f"{DEPLOYMENTS}/d", deployment(), OPERATOR)
    assert response.status_code == 403
    assert response.json()["message"] == 'deployments.apps "d" is forbidden: '
    assert response.json()["reason"] == "Forbidden"
    assert emulator.get("apps/v1/deployments", "default", "d") is None
    # Created by someone else, the same apply is an update: `patch` alone.
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", deployment())).status_code == 201
    mark = emulator.request_count
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", deployment(), OPERATOR)).status_code == 200
    assert emulator.api_calls(mark, agent="voxtral-operator") == [("patch", "apps", "deployments")]


async def test_rbac_matches_subresources_and_names_as_the_authorizer_does(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """evaluation_helpers.go: "deployments" does not cover "deployments/scale", "*/scale"
    does; resourceNames match only requests that name one; the filter's 403 text
    (responsewriters/errors.go forbiddenMessage)."""
    emulator.bind(role(
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"],
         "resourceNames": ["only"]},
    ), "default", "op")  # fmt: skip
    await apply(cluster, f"{DEPLOYMENTS}/d", deployment())
    scale = await cluster.http.get(f"{DEPLOYMENTS}/d/scale", headers=OPERATOR)
    assert scale.status_code == 403
    assert scale.json()["message"] == (
        'deployments.apps "d" is forbidden: User "system:serviceaccount:default:op" cannot get '
        'resource "deployments/scale" in API group "apps" in the namespace "default"'
    )
    assert (await cluster.http.get(f"{DEPLOYMENTS}/d", headers=OPERATOR)).status_code == 200
    configmaps = "/api/v1/namespaces/default/configmaps"
    listed = await cluster.http.get(configmaps, headers=OPERATOR)
    assert listed.status_code == 403 and listed.json()["message"].startswith(
        "configmaps is forbidden"
    )
    assert (await cluster.http.get(f"{configmaps}/only", headers=OPERATOR)).status_code == 404
    everywhere = await cluster.http.get("/api/v1/pods", headers=OPERATOR)
    assert "at the cluster scope" in everywhere.json()["message"]


async def test_block_owner_deletion_needs_update_of_the_owners_finalizers(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """plugin/pkg/admission/gc/gc_admission.go (OwnerReferencesPermissionEnforcement)."""
    rules = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "patch"]}
    emulator.bind(role(rules), "default", "op")
    owned = deployment()
    owned["metadata"]["ownerReferences"] = [{
        "apiVersion": "voxtral.dev/v1alpha1", "kind": "VoxtralService", "name": "voxtral",
        "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    response = await apply(cluster, f"{DEPLOYMENTS}/d", owned, OPERATOR)
    assert response.status_code == 403
    assert response.json()["message"] == (
        'deployments.apps "d" is forbidden: cannot set blockOwnerDeletion if an ownerReference '
        "refers to a resource you can't set finalizers on: , <nil>"
    )
    checks = [c[:3] for c in emulator.checks()]
    assert ("update", "voxtral.dev", "voxtralservices/finalizers") in checks
    finalizers = {"apiGroups": ["voxtral.dev"], "resources": ["voxtralservices/finalizers"],
                  "verbs": ["update"]}  # fmt: skip
    emulator.authorizer.rules = {}
    emulator.bind(role(rules, finalizers), "default", "op")
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", owned, OPERATOR)).status_code == 201
    # Changing the ownerReferences of an existing object needs `delete` of it.
    owned["metadata"]["ownerReferences"][0]["uid"] = "u-2"
    changed = await apply(cluster, f"{DEPLOYMENTS}/d", owned, OPERATOR)
    assert changed.status_code == 403
    assert "cannot set an ownerRef on a resource you can't delete" in changed.json()["message"]


# --- server-side apply: managedfields/internal/structuredmerge.go ----------------------------


async def test_an_apply_with_a_field_the_schema_does_not_know_is_a_500(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """kubernetes/kubernetes#122480: "failed to create typed patch object", code 500, no
    reason; one line per problem after "errors:" when there are several."""
    typo = deployment(affinity={"nodeAfinity": {}})
    response = await apply(cluster, f"{DEPLOYMENTS}/d", typo)
    assert response.status_code == 500
    body = response.json()
    assert "reason" not in body and body["code"] == 500
    assert body["message"] == (
        "failed to create typed patch object (default/d; apps/v1, Kind=Deployment): "
        ".spec.template.spec.affinity.nodeAfinity: field not declared in schema"
    )
    # Problems in different maps are all told; in one map, its walk stops at an unknown field.
    twice = deployment(imagePullSecrets=[{"name": "a"}, {"name": "a"}])
    twice["spec"]["template"]["spec"]["containers"][0]["foo"] = 1
    message = (await apply(cluster, f"{DEPLOYMENTS}/d", twice)).json()["message"]
    assert message.endswith(
        'errors:\n  .spec.template.spec.containers[name="c"].foo: field not declared in schema\n'
        '  .spec.template.spec.imagePullSecrets: duplicate entries for key [name="a"]'
    )
    env = deployment()
    env["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A"}, {"name": "A"}]
    message = (await apply(cluster, f"{DEPLOYMENTS}/d", env)).json()["message"]
    assert (
        '.spec.template.spec.containers[name="c"].env: duplicate entries for key [name="A"]'
        in message
    )
    assert emulator.get("apps/v1/deployments", "default", "d") is None


async def test_the_schema_is_the_server_versions(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """PodAffinityTerm.matchLabelKeys came in Kubernetes 1.29: unknown to a 1.28 server."""
    term = {"topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"]}
    body = deployment(
        affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    )
    emulator.serve_version("1.28.0")
    old = await apply(cluster, f"{DEPLOYMENTS}/d", body)
    assert old.status_code == 500 and "matchLabelKeys: field not declared in schema" in old.text
    emulator.serve_version("1.30.0")
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", body)).status_code == 201


async def test_an_apply_to_a_subresource_never_creates(cluster: Cluster) -> None:
    """pkg/registry/apps/deployment/storage ScaleREST.Update: forceAllowCreate false."""
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 2}}
    response = await apply(cluster, f"{DEPLOYMENTS}/missing/scale", scale)
    assert response.status_code == 404
    assert response.json()["message"] == 'deployments.apps "missing" not found'


# --- what is stored: resource.Quantity, omitempty, decoding -------------------------------------


@pytest.mark.parametrize("written", sorted(CANONICAL))
def test_quantities_are_canonical_as_resource_quantity_prints_them(written: str) -> None:
    """The emulator's and the operator's formatters, each against upstream's own outputs."""
    assert canonical(written) == CANONICAL[written]
    assert canonical_quantity(written) == CANONICAL[written]


async def test_what_is_stored_is_canonical_and_leaves_empty_fields_out(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """Quantities canonical (resource.Quantity), "" and empty collections of optional plain
    fields left out (encoding/json omitempty), a *string kept as "" (PVC storageClassName),
    a field the Go type does not declare dropped on a create (decoding)."""
    body = deployment(
        tolerations=[{"key": "gpu", "operator": "Exists", "value": ""}],
        nodeSelector={},
        priorityClassName="",
    )
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "EMPTY", "value": ""}]
    container["resources"] = {"requests": {"cpu": "0.5", "memory": "65536Mi"}, "limits": {"cpu": 2}}
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", body)).status_code == 201
    pod = emulator.get("apps/v1/deployments", "default", "d")["spec"]["template"]["spec"]  # type: ignore[index]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert "nodeSelector" not in pod and "priorityClassName" not in pod
    stored = pod["containers"][0]
    assert stored["env"] == [{"name": "EMPTY"}]
    assert stored["resources"] == {
        "requests": {"cpu": "500m", "memory": "64Gi"},
        "limits": {"cpu": "2"},
    }
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "c"}, "bogus": 1,
             "spec": {"storageClassName": "", "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "0.5Ti"}}}}  # fmt: skip
    created = await cluster.create("v1", "persistentvolumeclaims", claim)
    assert created["spec"]["storageClassName"] == ""  # a pointer: "" means "no class"
    assert created["spec"]["resources"]["requests"]["storage"] == "512Gi"
    assert "bogus" not in created


async def test_a_claim_without_a_class_gets_the_default_one(cluster: Cluster) -> None:
    """plugin/pkg/admission/storage/storageclass/setdefault (DefaultStorageClass)."""
    await cluster.http.post("/apis/storage.k8s.io/v1/storageclasses", json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "x",
        "metadata": {"name": "standard", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}})  # fmt: skip
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    created = await cluster.create("v1", "persistentvolumeclaims", claim)
    assert created["spec"]["storageClassName"] == "standard"


async def test_a_merge_patch_merges_nested_maps(cluster: Cluster) -> None:
    """RFC 7386 (patch.go MergePatchType, jsonpatch.MergePatch): a key left out of a nested
    map stays, null removes it."""
    await cluster.create_vxs("v", {"model": {"preset": "voxtral-mini-3b"}})
    status = {"autoscaling": {"mode": "operator", "lastDecision": "1 -> 2"}}
    await cluster.patch(
        "voxtral.dev/v1alpha1", "voxtralservices", "v", {"status": status}, sub="status"
    )
    kept = await cluster.patch("voxtral.dev/v1alpha1", "voxtralservices", "v",
                               {"status": {"autoscaling": {"mode": "hpa"}}}, sub="status")  # fmt: skip
    assert kept["status"]["autoscaling"] == {"mode": "hpa", "lastDecision": "1 -> 2"}
    gone = await cluster.patch("voxtral.dev/v1alpha1", "voxtralservices", "v",
                               {"status": {"autoscaling": {"lastDecision": None}}}, sub="status")  # fmt: skip
    assert gone["status"]["autoscaling"] == {"mode": "hpa"}


# --- admission: PersistentVolumeClaimResize, webhooks -----------------------------------------


async def test_growing_a_claim_needs_a_bound_claim_and_an_expandable_class(
    cluster: Cluster,
) -> None:
    """plugin/pkg/admission/storage/persistentvolume/resize/admission.go."""
    for name, expand in (("fixed", None), ("grows", True)):
        sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "x",
              "metadata": {"name": name}}  # fmt: skip
        if expand:
            sc["allowVolumeExpansion"] = True
        await cluster.http.post("/apis/storage.k8s.io/v1/storageclasses", json=sc)
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                 "spec": {"storageClassName": name, "accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
        await cluster.create("v1", "persistentvolumeclaims", claim)
    bigger = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    path = "/api/v1/namespaces/default/persistentvolumeclaims"
    headers = {"Content-Type": "application/merge-patch+json"}
    unbound = await cluster.http.patch(f"{path}/grows", content=json.dumps(bigger), headers=headers)
    assert unbound.status_code == 403
    assert unbound.json()["message"] == (
        'persistentvolumeclaims "grows" is forbidden: Only bound persistent volume claims can be expanded'
    )
    for name in ("fixed", "grows"):
        await cluster.patch(
            "v1", "persistentvolumeclaims", name, {"status": {"phase": "Bound"}}, sub="status"
        )
    refused = await cluster.http.patch(f"{path}/fixed", content=json.dumps(bigger), headers=headers)
    assert refused.status_code == 403 and "must support resize" in refused.json()["message"]
    grown = await cluster.http.patch(f"{path}/grows", content=json.dumps(bigger), headers=headers)
    assert grown.status_code == 200


async def test_a_webhook_denial_reads_as_the_api_server_words_it(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """webhook/errors/statuserror.go ToStatusErr, controller-runtime's Denied (403); the
    webhook sees a no-op update too (admission runs before the store compares)."""
    seen: list[str] = []

    def check(request: Request) -> str | None:
        seen.append(request.operation)
        return "no" if request.resource == "deployments" and len(seen) > 1 else None

    emulator.refuse("policy.example.com", check)
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", deployment())).status_code == 201
    again = await apply(cluster, f"{DEPLOYMENTS}/d", deployment())  # changes nothing
    assert again.status_code == 403
    assert (
        again.json()["message"] == 'admission webhook "policy.example.com" denied the request: no'
    )
    assert seen == ["CREATE", "UPDATE"]


# --- reads ---------------------------------------------------------------------------------------


async def test_events_are_selected_by_their_involved_object(cluster: Cluster) -> None:
    """pkg/registry/core/event/strategy.go ToSelectableFields; an unknown field is a 400; a
    generateName gets a suffix (names.SimpleNameGenerator)."""
    for kind, name in (("PersistentVolumeClaim", "c"), ("Pod", "c")):
        await cluster.create("v1", "events", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "c."},
            "involvedObject": {"kind": kind, "name": name}, "reason": "R", "type": "Normal"})  # fmt: skip
    path = "/api/v1/namespaces/default/events"
    found = await cluster.http.get(
        path,
        params={"fieldSelector": "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=c"},
    )
    (event,) = found.json()["items"]
    assert event["metadata"]["name"].startswith("c.") and len(event["metadata"]["name"]) > 2
    bad = await cluster.http.get(path, params={"fieldSelector": "spec.nodeName=x"})
    assert (
        bad.status_code == 400
        and bad.json()["message"] == "field label not supported: spec.nodeName"
    )


async def test_one_request_may_make_several_checks(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """An apply that creates an owned object: the filter's patch, the create of patch.go,
    the finalizers update of OwnerReferencesPermissionEnforcement; one request."""
    owned = deployment()
    owned["metadata"]["ownerReferences"] = [{
        "apiVersion": "voxtral.dev/v1alpha1", "kind": "VoxtralService", "name": "voxtral",
        "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    mark = emulator.request_count
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", owned, OPERATOR)).status_code == 201
    assert emulator.api_calls(mark, agent="voxtral-operator") == [
        ("patch", "apps", "deployments"),
        ("create", "apps", "deployments"),
        ("update", "voxtral.dev", "voxtralservices/finalizers"),
    ]
    assert emulator.requests(mark, agent="voxtral-operator") == [("patch", "apps", "deployments")]


# --- objects: generation, no-op writes, finalizers and garbage collection, watches ----------


async def test_generation_follows_each_kinds_strategy(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """PrepareForCreate/PrepareForUpdate: a Deployment's generation moves with its spec and
    its annotations (apps/deployment/strategy.go), not with labels or status; a Service has
    none; a write that changes nothing stores nothing (etcd3 GuaranteedUpdate)."""
    created = (await apply(cluster, f"{DEPLOYMENTS}/d", deployment())).json()
    assert created["metadata"]["generation"] == 1
    version = created["metadata"]["resourceVersion"]
    same = (await apply(cluster, f"{DEPLOYMENTS}/d", deployment())).json()
    assert same["metadata"]["resourceVersion"] == version  # a no-op: no new version
    labelled = deployment()
    labelled["metadata"]["labels"] = {"x": "y"}
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", labelled)).json()["metadata"][
        "generation"
    ] == 1
    annotated = labelled | {"metadata": labelled["metadata"] | {"annotations": {"a": "b"}}}
    assert (await apply(cluster, f"{DEPLOYMENTS}/d", annotated)).json()["metadata"][
        "generation"
    ] == 2
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    assert "generation" not in await cluster.create("v1", "services", service)


async def test_finalizers_hold_and_garbage_collection_follows_owners(
    cluster: Cluster, emulator: VoxtralEmulator
) -> None:
    """A delete of an object with finalizers sets deletionTimestamp and keeps it until they
    are gone; deleting an owner deletes its dependents (the garbage collector, background
    propagation)."""
    owner = await cluster.create_vxs("v", {"model": {"preset": "voxtral-mini-3b"}})
    await cluster.patch("voxtral.dev/v1alpha1", "voxtralservices", "v",
                        {"metadata": {"finalizers": ["example.com/hold"]}})  # fmt: skip
    child = deployment()
    child["metadata"]["ownerReferences"] = [{"apiVersion": "voxtral.dev/v1alpha1",
        "kind": "VoxtralService", "name": "v", "uid": owner["metadata"]["uid"]}]  # fmt: skip
    await apply(cluster, f"{DEPLOYMENTS}/d", child)
    await cluster.delete("voxtral.dev/v1alpha1", "voxtralservices", "v")
    held = await cluster.vxs("v")
    assert held["metadata"]["deletionTimestamp"]
    assert emulator.get("apps/v1/deployments", "default", "d") is not None
    await cluster.patch("voxtral.dev/v1alpha1", "voxtralservices", "v",
                        {"metadata": {"finalizers": None}})  # fmt: skip
    assert await cluster.get("voxtral.dev/v1alpha1", "voxtralservices", "v") is None
    assert emulator.get("apps/v1/deployments", "default", "d") is None


async def test_a_watch_from_a_lists_version_sends_only_what_came_after(cluster: Cluster) -> None:
    """A list's resourceVersion, and a watch from it (no replay of older objects)."""
    await apply(cluster, f"{DEPLOYMENTS}/old", deployment("old"))
    listed = (await cluster.http.get(DEPLOYMENTS)).json()
    since = listed["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []
    async with cluster.http.stream(
        "GET", DEPLOYMENTS, params={"watch": "true", "resourceVersion": since}, timeout=5
    ) as stream:
        await apply(cluster, f"{DEPLOYMENTS}/new", deployment("new"))
        async for line in stream.aiter_lines():
            if line.strip():
                events.append(json.loads(line))
                break
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new")]


async def test_a_deletion_reaches_a_watch_started_before_it(cluster: Cluster) -> None:
    """The DELETED event carries the deletion's resourceVersion, newer than the list's the
    watch started from (storage/etcd3/watcher.go transform), with a label selector too."""
    labelled = deployment("gone")
    labelled["metadata"]["labels"] = {"app": "x"}
    await apply(cluster, f"{DEPLOYMENTS}/gone", labelled)
    since = (await cluster.http.get(DEPLOYMENTS)).json()["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []
    params = {"watch": "true", "resourceVersion": since, "labelSelector": "app=x"}
    async with cluster.http.stream("GET", DEPLOYMENTS, params=params, timeout=5) as stream:
        assert (await cluster.http.delete(f"{DEPLOYMENTS}/gone")).status_code == 200
        async for line in stream.aiter_lines():
            if line.strip():
                events.append(json.loads(line))
                break
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "gone")]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(since)
