"""A Kubernetes API emulator for the operator's tests: kmock's KubernetesEmulator (real HTTP,
discovery, list/watch) with the API server behaviour kmock 0.8 lacks, filled in here:

- metadata.uid, metadata.resourceVersion (one cluster-wide counter), metadata.generation
  (bumped when anything but metadata and status changes), creationTimestamp;
- a list's resourceVersion, and watches that start from it (no replay of old objects);
- merge patches, JSON patches (a failed `test` op is 422, as kopf expects), and server-side
  apply (create-or-update, fields a manager stops applying are removed, `force` wins);
- the status subresource: writes to /status change only status, writes to the object
  never do; create ignores status;
- a Deployment's scale subresource (get; merge patch and server-side apply of
  spec.replicas), and the default of 1 replica when an object has none;
- label selectors (equality, inequality, existence) on lists and watches;
- no-op writes change nothing: no new resourceVersion, no watch event;
- a little defaulting (a Service's clusterIP, CPU quantities in canonical form), so the
  operator's drift check meets what a real API server returns;
- deletion with finalizers, and garbage collection: deleting an owner deletes the objects
  whose ownerReferences name its uid (background propagation);
- every request is recorded (kmock's), and `api_calls()` turns them into RBAC terms.

The objects live in this class's own store (`get()`, `list()`), not in kmock's `objects`.

Server-side apply is simplified: one applied configuration is remembered per (object,
field manager; an apply to /scale is the manager's configuration of spec.replicas), lists
are atomic, and writers that do not apply own nothing. A field a manager stops applying is
removed unless another manager's applied configuration still holds it, as the API server
does; a Deployment's replicas removed that way come back as the default, 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from decimal import Decimal
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
from kmock._internal import enums, k8s, references, rendering

Key = tuple[Any, str | None, str]

CRD_RESOURCE = "voxtral.dev/v1alpha1/voxtralservices"
WITH_STATUS = {
    "deployments",
    "services",
    "persistentvolumeclaims",
    "jobs",
    "poddisruptionbudgets",
    "voxtralservices",
    "pods",
    "replicasets",
    "statefulsets",
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _unapply(current: Any, before: Any, after: Any, others: Iterable[Any] = ()) -> Any:
    """Remove from current the fields `before` set that `after` no longer sets, but for
    those another manager's applied configuration (`others`) still sets."""
    if not isinstance(current, dict) or not isinstance(before, dict):
        return current
    others = [o for o in others if isinstance(o, dict)]
    result = dict(current)
    for key, value in before.items():
        owned = [o[key] for o in others if key in o]
        if not isinstance(after, dict) or key not in after:
            if not owned:
                result.pop(key, None)
            elif isinstance(value, dict) and key in result:
                result[key] = _unapply(result[key], value, {}, owned)
        elif isinstance(value, dict) and isinstance(after[key], dict) and key in result:
            result[key] = _unapply(result[key], value, after[key], owned)
    return result


def _selector(text: str) -> Callable[[dict[str, Any]], bool]:
    """A label selector (k=v, k==v, k!=v, k, !k; comma-separated) as a predicate."""
    terms = [t.strip() for t in text.split(",") if t.strip()]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for term in terms:
            if "!=" in term:
                key, value = term.split("!=", 1)
                if labels.get(key.strip()) == value.strip():
                    return False
            elif "=" in term:
                key, value = term.replace("==", "=").split("=", 1)
                if labels.get(key.strip()) != value.strip():
                    return False
            elif term.startswith("!"):
                if term[1:] in labels:
                    return False
            elif term not in labels:
                return False
        return True

    return matches


def _scale(deployment: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment."""
    meta = deployment["metadata"]
    labels = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "spec": {"replicas": deployment["spec"].get("replicas", 1)},
        "status": {
            "replicas": (deployment.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _canonical_cpu(value: Any) -> Any:
    """The API server keeps quantities in canonical form: 0.5 CPU reads back as 500m."""
    if isinstance(value, str) and "." in value and value.replace(".", "", 1).isdigit():
        millis = Decimal(value) * 1000
        return f"{int(millis)}m" if millis % 1000 else str(int(millis / 1000))
    return value


def _default(plural: str, obj: dict[str, Any], counter: int) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if plural == "services" and spec.get("type", "ClusterIP") != "ExternalName":
        spec.setdefault("clusterIP", f"10.96.{counter // 250 % 250}.{counter % 250 + 1}")
        spec.setdefault("sessionAffinity", "None")
    if plural == "deployments":
        spec.setdefault("replicas", 1)
        pod = spec.get("template", {}).get("spec", {})
        pod.setdefault("dnsPolicy", "ClusterFirst")
        pod.setdefault("restartPolicy", "Always")
        for container in pod.get("containers", []):
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            for section in ("requests", "limits"):
                values = container.get("resources", {}).get(section, {})
                if "cpu" in values:
                    values["cpu"] = _canonical_cpu(values["cpu"])


class VoxtralEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._store: dict[Key, dict[str, Any]] = {}
        self._applied: dict[tuple[Key, str], dict[str, Any]] = {}
        # Admission: (plural, object) -> an error message to refuse the write with (422).
        self.admission: list[Callable[[str, dict[str, Any]], str | None]] = []
        self.resources.load_bundled()
        self.resources[CRD_RESOURCE] = kmock.ResourceInfo(
            kind="VoxtralService",
            singular="voxtralservice",
            namespaced=True,
            shortnames={"vxs"},
            subresources={"status", "scale"},
            verbs={
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            },
        )

    # --- helpers for tests -------------------------------------------------------------

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        obj = self._store.get((kmock.resource(resource), namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self, resource: str, namespace: str | None = None, copy_: bool = True
    ) -> list[dict[str, Any]]:
        """The stored objects: copies, unless copy_=False (then read them, never change)."""
        res = kmock.resource(resource)
        found = [
            o
            for (r, ns, _), o in list(self._store.items())
            if r == res and (namespace is None or ns == namespace)
        ]
        return [copy.deepcopy(o) for o in found] if copy_ else found

    async def install_crd(self, group: str, version: str, plural: str, kind: str) -> None:
        """Install a CRD (KEDA's, the Prometheus Operator's): served from now on, and its
        CustomResourceDefinition object created (a watcher of CRDs sees it appear)."""
        self.resources[f"{group}/{version}/{plural}"] = kmock.ResourceInfo(
            kind=kind,
            singular=kind.lower(),
            namespaced=True,
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
        )
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": plural, "kind": kind, "singular": kind.lower()},
                "versions": [{"name": version, "served": True, "storage": True}],
            },
        }
        key = (
            kmock.resource("apiextensions.k8s.io/v1/customresourcedefinitions"),
            None,
            crd["metadata"]["name"],
        )
        async with self._lock:
            await self._store_new(key, crd)

    @property
    def request_count(self) -> int:
        return len(self._requests)

    def api_calls(self, since: int = 0, agent: str = "") -> list[tuple[str, str, str]]:
        """(verb, group, resource[/subresource]) of every API request since request #since,
        of clients whose User-Agent starts with `agent` (kopf/..., voxtral-operator/...)."""
        calls = []
        for request in list(self._requests)[since:]:
            if request.resource is None or not request.resource.plural:
                continue
            if not str(request.headers.get("User-Agent", "")).startswith(agent):
                continue
            resource = request.resource.plural
            if request.subresource:
                resource += f"/{request.subresource}"
            calls.append((_verb(request), request.resource.group or "", resource))
        return calls

    # --- request handling --------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8 cannot parse /api/v1/namespaces (it reads "namespaces" as the start of
        # a namespaced path); kopf lists and watches it when serving named namespaces.
        if raw.path.rstrip("/") == "/api/v1/namespaces":
            return await self._namespaces(raw)
        result: aiohttp.web.StreamResponse = await super().__call__(raw)
        return result

    async def _namespaces(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        names = sorted({"default"} | {ns for _, ns, _ in self._store if ns})
        items = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "resourceVersion": "1", "uid": f"ns-{ns}"},
            }
            for ns in names
        ]
        if raw.query.get("watch") not in ("true", "1"):
            return aiohttp.web.json_response(
                {
                    "apiVersion": "v1",
                    "kind": "NamespaceList",
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                }
            )
        response = aiohttp.web.StreamResponse()
        await response.prepare(raw)
        try:
            while True:  # namespaces never change here: keep the stream open, silent
                await asyncio.sleep(3600)
        finally:
            with contextlib.suppress(Exception):
                await response.write_eof()

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or not request.resource.plural:
            return await super()._handle(request)
        method = str(getattr(request.method, "value", request.method)).upper()
        if request.action == enums.action.CREATE:
            return await self._create(request)
        if method == "PATCH" and request.name:
            return await self._patch(request)
        if method == "DELETE" and request.name:
            return await self._delete(request)
        if method == "PUT":
            raise k8s.KubernetesError(405, "MethodNotAllowed", "PUT is not emulated")
        # Reads straight to the store: kmock's reaction matching costs ~5-10 ms a request.
        if request.action == enums.action.FETCH:
            return aiohttp.web.json_response(await self._serve_fetch(request))
        if request.action == enums.action.LIST:
            return aiohttp.web.json_response(await self._serve_list(request))
        return await super()._handle(request)

    def _key(self, request: rendering.Request, name: str | None = None) -> Key:
        res = references.resource(
            group=request.resource.group,
            version=request.resource.version,
            plural=request.resource.plural,
        )
        return (res, request.namespace, name or request.name)

    def _bump(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    async def _publish(self, key: Key, kind: str, obj: dict[str, Any]) -> None:
        await self._buses[key[0]].put({"type": kind, "object": copy.deepcopy(obj)})

    def _admit(self, key: Key, obj: dict[str, Any]) -> None:
        for check in self.admission:
            message = check(key[0].plural, obj)
            if message:
                raise k8s.KubernetesError(422, "Invalid", message)

    async def _store_new(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self._admit(key, obj)
        meta = obj.setdefault("metadata", {})
        meta["name"] = key[2]
        if key[1] is not None:
            meta["namespace"] = key[1]
        meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
        meta["resourceVersion"] = self._bump()
        if key[0].plural in WITH_STATUS:
            obj.pop("status", None)
        _default(key[0].plural, obj, self._last_rv)
        self._store[key] = obj
        await self._publish(key, "ADDED", obj)
        return obj

    async def _create(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        body = copy.deepcopy(request.data or {})
        name = body.get("metadata", {}).get("name")
        if not name:
            raise k8s.KubernetesError(422, "Invalid", "metadata.name: Required value")
        key = self._key(request, name)
        async with self._lock:
            if key in self._store:
                raise k8s.KubernetesError(
                    409, "AlreadyExists", f"{key[0].plural} {name!r} already exists"
                )
            obj = await self._store_new(key, body)
            return aiohttp.web.json_response(copy.deepcopy(obj), status=201)

    async def _patch(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        key = self._key(request)
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        data = json.loads(request.text or "null")
        if request.subresource == "scale":
            return await self._patch_scale(request, key, ctype, data)
        async with self._lock:
            current = self._store.get(key)
            if ctype == "application/apply-patch+yaml":
                manager = request.params.get("fieldManager")
                if not manager:
                    raise k8s.KubernetesError(422, "Invalid", "fieldManager is required")
                if current is None:
                    self._applied[(key, manager)] = copy.deepcopy(data)
                    obj = await self._store_new(key, copy.deepcopy(data))
                    return aiohttp.web.json_response(copy.deepcopy(obj), status=201)
                before = self._applied.get((key, manager), {})
                others = [a for (k, m), a in self._applied.items() if k == key and m != manager]
                new = _merge(_unapply(copy.deepcopy(current), before, data, others), data)
                self._applied[(key, manager)] = copy.deepcopy(data)
            elif current is None:
                raise k8s.KubernetesError(404, "NotFound", f"{key[0].plural} {key[2]!r} not found")
            elif ctype == "application/json-patch+json":
                try:
                    new = jsonpatch.apply_patch(copy.deepcopy(current), data)
                except jsonpatch.JsonPatchTestFailed as exc:
                    raise k8s.KubernetesError(422, "Invalid", f"the test failed: {exc}") from None
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    raise k8s.KubernetesError(422, "Invalid", str(exc)) from None
            else:  # merge-patch+json and strategic-merge-patch+json (maps merge alike)
                new = _merge(current, data)
            obj = await self._update(key, current, new, request.subresource)
            return aiohttp.web.json_response(copy.deepcopy(obj))

    async def _patch_scale(
        self, request: rendering.Request, key: Key, ctype: str, data: Any
    ) -> aiohttp.web.StreamResponse:
        if key[0].plural != "deployments":
            raise k8s.KubernetesError(404, "NotFound", f"{key[0].plural} have no scale")
        replicas = ((data or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise k8s.KubernetesError(422, "Invalid", "spec.replicas: must be an integer >= 0")
        async with self._lock:
            current = self._store.get(key)
            if current is None:
                raise k8s.KubernetesError(404, "NotFound", f"deployments {key[2]!r} not found")
            if ctype == "application/apply-patch+yaml":
                manager = request.params.get("fieldManager")
                if not manager:
                    raise k8s.KubernetesError(422, "Invalid", "fieldManager is required")
                self._applied[(key, f"{manager}/scale")] = {"spec": {"replicas": replicas}}
            new = _merge(current, {"spec": {"replicas": replicas}})
            obj = await self._update(key, current, new, None)
            return aiohttp.web.json_response(_scale(obj))

    async def _update(
        self, key: Key, current: dict[str, Any], new: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        plural = key[0].plural
        if plural in WITH_STATUS:
            if subresource == "status":
                new = {**current, "status": new.get("status")}
                if new["status"] is None:
                    new.pop("status")
            elif "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for field in ("uid", "creationTimestamp", "name", "namespace", "generation"):
            if field in current["metadata"]:
                meta[field] = current["metadata"][field]
        expected = new["metadata"].get("resourceVersion")
        if expected not in (None, current["metadata"]["resourceVersion"]):
            raise k8s.KubernetesError(409, "Conflict", "the object has been modified")
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        _default(plural, new, self._last_rv)
        if new == current:
            return current  # a no-op: no new version, no event
        self._admit(key, new)

        def essence(obj: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

        if essence(new) != essence(current):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        meta["resourceVersion"] = self._bump()
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            await self._remove(key, new)
            return new
        self._store[key] = new
        await self._publish(key, "MODIFIED", new)
        return new

    async def _remove(self, key: Key, obj: dict[str, Any]) -> None:
        self._store.pop(key, None)
        for applied in [k for k in self._applied if k[0] == key]:
            del self._applied[applied]
        await self._publish(key, "DELETED", obj)
        await self._collect_garbage(obj["metadata"]["uid"])

    async def _delete_locked(self, key: Key) -> dict[str, Any]:
        current = self._store[key]
        meta = current["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                new = copy.deepcopy(current)
                new["metadata"]["deletionTimestamp"] = _now()
                new["metadata"]["resourceVersion"] = self._bump()
                self._store[key] = new
                await self._publish(key, "MODIFIED", new)
            return self._store[key]
        await self._remove(key, current)
        return current

    async def _collect_garbage(self, uid: str) -> None:
        dependents = [
            key
            for key, obj in self._store.items()
            if any(
                ref.get("uid") == uid
                for ref in obj.get("metadata", {}).get("ownerReferences") or []
            )
        ]
        for key in dependents:
            if key in self._store:
                await self._delete_locked(key)

    async def _delete(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        key = self._key(request)
        async with self._lock:
            if key not in self._store:
                raise k8s.KubernetesError(404, "NotFound", f"{key[0].plural} {key[2]!r} not found")
            obj = await self._delete_locked(key)
            return aiohttp.web.json_response(copy.deepcopy(obj))

    # --- reads ---------------------------------------------------------------------------

    def _matching(self, request: rendering.Request) -> Iterable[dict[str, Any]]:
        res = self._key(request)[0]
        selected = _selector(request.params.get("labelSelector") or "")
        for (r, ns, name), obj in self._store.items():
            if r != res:
                continue
            if request.namespace is not None and ns != request.namespace:
                continue
            if request.name is not None and name != request.name:
                continue
            if selected(obj):
                yield obj

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        async with self._lock:
            found = self._store.get(self._key(request))
        if found is None:
            raise k8s.KubernetesError(404, "NotFound", f"{request.name!r} not found")
        if request.subresource == "scale":
            return _scale(found)
        return copy.deepcopy(found)

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        if request.resource not in self._get_resources():
            raise k8s.KubernetesResourceNotFoundError()
        async with self._lock:
            items = [copy.deepcopy(o) for o in self._matching(request)]
            version = str(self._last_rv)
        return {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        yield b""
        since = int(request.params.get("resourceVersion") or 0)
        bus = self._buses[self._key(request)[0]]
        async with self._lock:
            mark = await bus.mark()
            replay = [
                copy.deepcopy(o)
                for o in self._matching(request)
                if int(o["metadata"]["resourceVersion"]) > since
            ]
        selected = _selector(request.params.get("labelSelector") or "")
        try:
            for obj in replay:
                yield {"type": "ADDED", "object": obj}
            async for event in bus.stream(since=mark):
                obj = event["object"]
                if int(obj["metadata"]["resourceVersion"]) <= since:
                    continue
                if request.namespace and obj["metadata"].get("namespace") != request.namespace:
                    continue
                if not selected(obj):
                    continue  # (an object leaving the selection is not told as DELETED here)
                yield event
        finally:
            await bus.unmark(mark)


def _verb(request: rendering.Request) -> str:
    method = str(getattr(request.method, "value", request.method)).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )
