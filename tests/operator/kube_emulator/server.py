"""The emulator itself: kmock's KubernetesEmulator (real HTTP, discovery, list/watch) with the
API server behaviours listed in this package's docstring."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

import aiohttp.web
import jsonpatch
import kmock
from kmock._internal import enums, k8s, references, rendering

from kube_emulator import admission
from kube_emulator.apply import merge, unapply
from kube_emulator.authz import Attributes, Authorizer, forbidden
from kube_emulator.errors import ApiError, invalid, not_found
from kube_emulator.schema import Schema, definition_of
from kube_emulator.selectors import field_selector, label_selector

Key = tuple[Any, str | None, str]


class Check(NamedTuple):
    """One authorization check: a request's, or one made after it (see api_calls)."""

    verb: str
    group: str
    resource: str  # resource[/subresource]
    namespace: str | None
    name: str
    agent: str  # the client's User-Agent
    allowed: bool
    follow_up: bool = False  # made after the request's own (an apply's create, admission)


CRD_RESOURCE = "voxtral.dev/v1alpha1/voxtralservices"
OPERATOR_AGENTS = ("kopf/", "voxtral-operator/")
APPLY = "application/apply-patch+yaml"
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
    "horizontalpodautoscalers",
}
DEFAULT_VERSION = "1.37.0"
VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _default(plural: str, obj: dict[str, Any], counter: int) -> None:
    """The defaults the operator's drift check meets (pkg/apis/*/v1/defaults.go)."""
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


class VoxtralEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._store: dict[Key, dict[str, Any]] = {}
        self._applied: dict[tuple[Key, str], dict[str, Any]] = {}
        self._checks: list[Check] = []
        self.schema = Schema(DEFAULT_VERSION)
        self.authorizer = Authorizer()
        self.owner_references_enforced = True
        self.webhooks: list[admission.Webhook] = []
        self.resources.load_bundled()
        self.resources[CRD_RESOURCE] = kmock.ResourceInfo(
            kind="VoxtralService",
            singular="voxtralservice",
            namespaced=True,
            shortnames={"vxs"},
            subresources={"status", "scale"},
            verbs=VERBS,
        )

    # --- set-up and helpers for tests ----------------------------------------------------

    def serve_version(self, version: str) -> None:
        """Answer as kube-apiserver of this version (its built-in schemas)."""
        self.schema = Schema(version)

    def bind(self, docs: list[dict[str, Any]], namespace: str, service_account: str) -> None:
        """Authorize the operator (User-Agent kopf/... or voxtral-operator/...) with the RBAC
        objects among `docs` that bind this ServiceAccount; other clients stay admins."""
        self.authorizer.bind(docs, namespace, service_account)

    def refuse(self, name: str, check: admission.Check, code: int = 403) -> None:
        """Install a validating admission webhook that denies what `check` names."""
        self.webhooks.append(admission.Webhook(name, check, code))

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
            kind=kind, singular=kind.lower(), namespaced=True, verbs=VERBS
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
        """A mark for api_calls(since=...)."""
        return len(self._checks)

    def api_calls(self, since: int = 0, agent: str = "") -> list[tuple[str, str, str]]:
        """(verb, group, resource[/subresource]) of every authorization check made since the
        mark, for clients whose User-Agent starts with `agent` (kopf/..., voxtral-operator/...):
        one per request, and the further checks some make (an apply that creates is `create`
        too; blockOwnerDeletion is `update` of the owner's finalizers)."""
        return [
            (c.verb, c.group, c.resource) for c in self._checks[since:] if c.agent.startswith(agent)
        ]

    def checks(self, since: int = 0) -> list[Check]:
        return list(self._checks[since:])

    # --- authorization ---------------------------------------------------------------------

    def requests(self, since: int = 0, agent: str = "") -> list[tuple[str, str, str]]:
        """Like api_calls, one per request: the requests themselves, not the checks made
        after them."""
        return [
            (c.verb, c.group, c.resource)
            for c in self._checks[since:]
            if c.agent.startswith(agent) and not c.follow_up
        ]

    def _authorize(self, attrs: Attributes, agent: str, follow_up: bool = True) -> bool:
        """Record the check; True if allowed (everyone but the bound operator is an admin)."""
        allowed = (
            not self.authorizer.enforcing
            or not agent.startswith(OPERATOR_AGENTS)
            or self.authorizer.allows(attrs)
        )
        self._checks.append(
            Check(
                attrs.verb,
                attrs.group,
                attrs.full_resource,
                attrs.namespace,
                attrs.name,
                agent,
                allowed,
                follow_up,
            )
        )
        return allowed

    def _filter(self, attrs: Attributes, agent: str) -> None:
        if not self._authorize(attrs, agent, follow_up=False):
            raise self.authorizer.filter_denial(attrs)

    def _owner_mapping(self, api_version: str, kind: str) -> tuple[str, str] | None:
        group, _, version = api_version.rpartition("/")
        for resource, info in self.resources.items():
            if (resource.group or "", resource.version) == (group, version) and info.kind == kind:
                return resource.group or "", resource.plural
        return None

    def _admit(self, request: admission.Request, agent: str) -> None:
        """Validating admission, in the API server's plugin order."""
        if self.owner_references_enforced:
            admission.owner_references(
                request, lambda attrs: self._authorize(attrs, agent), self._owner_mapping
            )
        admission.claim_resize(request, self._storage_class)
        for webhook in self.webhooks:
            webhook.review(request)

    def _storage_class(self, name: str) -> dict[str, Any] | None:
        return self._store.get((kmock.resource("storage.k8s.io/v1/storageclasses"), None, name))

    # --- request handling --------------------------------------------------------------

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, ApiError):
            return exc.response()
        result: aiohttp.web.StreamResponse = await super()._render_error(exc)
        return result

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8 cannot parse /api/v1/namespaces (it reads "namespaces" as the start of
        # a namespaced path); kopf lists and watches it when serving named namespaces.
        if raw.path.rstrip("/") == "/api/v1/namespaces":
            verb = "watch" if raw.query.get("watch") in ("true", "1") else "list"
            attrs = Attributes(verb, "", "namespaces")
            if not self._authorize(attrs, raw.headers.get("User-Agent", ""), follow_up=False):
                return self.authorizer.filter_denial(attrs).response()
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
        agent = str(request.headers.get("User-Agent", ""))
        self._filter(self._attributes(request), agent)
        method = str(getattr(request.method, "value", request.method)).upper()
        if request.action == enums.action.CREATE:
            return await self._create(request, agent)
        if method == "PATCH" and request.name:
            return await self._patch(request, agent)
        if method == "DELETE" and request.name:
            return await self._delete(request)
        if method == "PUT":
            raise ApiError(405, "MethodNotAllowed", "PUT is not emulated")
        # Reads straight to the store: kmock's reaction matching costs ~5-10 ms a request.
        if request.action == enums.action.FETCH:
            return aiohttp.web.json_response(await self._serve_fetch(request))
        if request.action == enums.action.LIST:
            return aiohttp.web.json_response(await self._serve_list(request))
        return await super()._handle(request)

    @staticmethod
    def _attributes(request: rendering.Request, verb: str | None = None) -> Attributes:
        return Attributes(
            verb or _verb(request),
            request.resource.group or "",
            request.resource.plural,
            request.subresource or "",
            request.namespace,
            request.name or "",
        )

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

    # --- what a body becomes -----------------------------------------------------------------

    def _definition(self, key: Key) -> str | None:
        info = self.resources.get(key[0])
        if info is None:
            return None
        return definition_of(self.schema.version, key[0].group or "", key[0].version, info.kind)

    def _stored_form(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        """Defaults, canonical quantities, omitempty: the object as the server keeps it."""
        _default(key[0].plural, obj, self._last_rv)
        definition = self._definition(key)
        if definition is None:
            return obj
        result: dict[str, Any] = self.schema.normalize(definition, obj)
        return result

    def _typed_check(self, key: Key, body: Any) -> None:
        """A server-side apply body must fit the schema (structuredmerge.go): else 500."""
        definition = self._definition(key)
        if definition is None or not isinstance(body, dict):
            return
        errors = self.schema.typed_errors(definition, body)
        if not errors:
            return
        text = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join(f"  {e}" for e in errors)
        meta = body.get("metadata") or {}
        group = key[0].group or ""
        gvk = f"{group}/{key[0].version}, Kind={self.resources[key[0]].kind}"
        where = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; {gvk}"
        raise ApiError(500, "", f"failed to create typed patch object ({where}): {text}")

    def _default_storage_class(self, key: Key, obj: dict[str, Any]) -> None:
        """DefaultStorageClass admission (plugin/pkg/admission/storage/storageclass/
        setdefault): a claim created without a class gets the default one, if any."""
        if key[0].plural != "persistentvolumeclaims" or "storageClassName" in obj.get("spec", {}):
            return
        for sc in self.list("storage.k8s.io/v1/storageclasses", None, copy_=False):
            annotations = sc["metadata"].get("annotations") or {}
            if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                obj.setdefault("spec", {})["storageClassName"] = sc["metadata"]["name"]
                return

    def _request_of(
        self,
        key: Key,
        operation: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        sub: str = "",
    ) -> admission.Request:
        return admission.Request(
            operation, key[0].group or "", key[0].plural, sub, key[1], key[2], obj, old
        )

    # --- writes ----------------------------------------------------------------------------------

    async def _store_new(
        self, key: Key, obj: dict[str, Any], agent: str = "", apply: bool = False
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["name"] = key[2]
        if key[1] is not None:
            meta["namespace"] = key[1]
        if key[0].plural in WITH_STATUS:
            obj.pop("status", None)
        self._default_storage_class(key, obj)
        obj = self._stored_form(key, obj)
        if apply:  # patch.go: the create of an apply is authorized as `create` too
            attrs = Attributes("create", key[0].group or "", key[0].plural, "", key[1], key[2])
            if not self._authorize(attrs, agent):
                raise forbidden(key[0].group or "", key[0].plural, key[2], "")
        self._admit(self._request_of(key, "CREATE", obj, None), agent)
        meta = obj["metadata"]
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        if _has_generation(key[0]):
            meta["generation"] = 1
        meta["resourceVersion"] = self._bump()
        self._store[key] = obj
        await self._publish(key, "ADDED", obj)
        return obj

    async def _create(self, request: rendering.Request, agent: str) -> aiohttp.web.StreamResponse:
        body = copy.deepcopy(request.data or {})
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            # names.SimpleNameGenerator: the prefix and 5 random characters
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            kind = self.resources[self._key(request, "-")[0]].kind
            raise invalid(
                kind, "", "metadata.name: Required value: name or generateName is required"
            )
        key = self._key(request, name)
        async with self._lock:
            if key in self._store:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{key[0].plural} "{name}" already exists',
                    {"name": name, "group": key[0].group or "", "kind": key[0].plural},
                )
            obj = await self._store_new(key, body, agent)
            return aiohttp.web.json_response(copy.deepcopy(obj), status=201)

    async def _patch(self, request: rendering.Request, agent: str) -> aiohttp.web.StreamResponse:
        key = self._key(request)
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        data = json.loads(request.text or "null")
        if request.subresource == "scale":
            return await self._patch_scale(request, key, ctype, data, agent)
        async with self._lock:
            current = self._store.get(key)
            if ctype == APPLY:
                manager = _manager(request)
                self._typed_check(key, data)
                if current is None:
                    if request.subresource:  # subresources never create (status, scale)
                        raise not_found(key[0].group or "", key[0].plural, key[2])
                    obj = await self._store_new(key, copy.deepcopy(data), agent, apply=True)
                    self._applied[(key, manager)] = copy.deepcopy(data)
                    return aiohttp.web.json_response(copy.deepcopy(obj), status=201)
                before = self._applied.get((key, manager), {})
                others = [a for (k, m), a in self._applied.items() if k == key and m != manager]
                new = merge(unapply(copy.deepcopy(current), before, data, others), data)
            elif current is None:
                raise not_found(key[0].group or "", key[0].plural, key[2])
            elif ctype == "application/json-patch+json":
                try:
                    new = jsonpatch.apply_patch(copy.deepcopy(current), data)
                except jsonpatch.JsonPatchTestFailed as exc:
                    raise ApiError(422, "Invalid", f"the test failed: {exc}") from None
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    raise ApiError(422, "Invalid", str(exc)) from None
            else:  # merge-patch+json and strategic-merge-patch+json (maps merge alike)
                new = merge(current, data)
            obj = await self._update(key, current, new, request.subresource, agent)
            if ctype == APPLY:
                self._applied[(key, manager)] = copy.deepcopy(data)
            return aiohttp.web.json_response(copy.deepcopy(obj))

    async def _patch_scale(
        self, request: rendering.Request, key: Key, ctype: str, data: Any, agent: str
    ) -> aiohttp.web.StreamResponse:
        if key[0].plural != "deployments":
            raise not_found(key[0].group or "", key[0].plural, key[2])
        replicas = ((data or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid("Scale", key[2], "spec.replicas: Invalid value: must be an integer >= 0")
        async with self._lock:
            current = self._store.get(key)
            if current is None:
                raise not_found("apps", "deployments", key[2])
            new = merge(current, {"spec": {"replicas": replicas}})
            obj = await self._update(key, current, new, None, agent, sub="scale")
            if ctype == APPLY:
                manager = _manager(request)
                self._applied[(key, f"{manager}/scale")] = {"spec": {"replicas": replicas}}
            return aiohttp.web.json_response(_scale(obj))

    async def _update(
        self,
        key: Key,
        current: dict[str, Any],
        new: dict[str, Any],
        subresource: str | None,
        agent: str,
        sub: str = "",
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
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {plural} "{key[2]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        new = self._stored_form(key, new)
        # Admission sees every update, a no-op one too (the store compares after it).
        self._admit(self._request_of(key, "UPDATE", new, current, sub or subresource or ""), agent)
        if new == current:
            return current  # a no-op: no new version, no event
        meta = new["metadata"]

        if _has_generation(key[0]) and _generation_changes(plural, current, new):
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
        # The event carries the deletion's own resourceVersion (storage/etcd3/watcher.go
        # transform: the previous object, versioned at the delete's revision), so that a
        # watch started from a list before the deletion sees it.
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = self._bump()
        await self._publish(key, "DELETED", gone)
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
                raise not_found(key[0].group or "", key[0].plural, key[2])
            obj = await self._delete_locked(key)
            return aiohttp.web.json_response(copy.deepcopy(obj))

    # --- reads ---------------------------------------------------------------------------

    def _matching(self, request: rendering.Request) -> Iterable[dict[str, Any]]:
        res = self._key(request)[0]
        selected = label_selector(request.params.get("labelSelector") or "")
        fields = field_selector(res.plural, request.params.get("fieldSelector") or "")
        for (r, ns, name), obj in self._store.items():
            if r != res:
                continue
            if request.namespace is not None and ns != request.namespace:
                continue
            if request.name is not None and name != request.name:
                continue
            if selected(obj) and fields(obj):
                yield obj

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        async with self._lock:
            found = self._store.get(self._key(request))
        if found is None:
            raise not_found(request.resource.group or "", request.resource.plural, request.name)
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
        selected = label_selector(request.params.get("labelSelector") or "")
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


# Kinds whose strategy keeps metadata.generation (PrepareForCreate sets 1); Services,
# ConfigMaps, Secrets, PVCs, Events and Namespaces have none.
_NO_GENERATION = {"services", "configmaps", "secrets", "persistentvolumeclaims", "events",
                  "namespaces", "storageclasses"}  # fmt: skip


def _has_generation(resource: Any) -> bool:
    return resource.plural not in _NO_GENERATION


def _generation_changes(plural: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an update bumps metadata.generation: a change of anything but metadata and
    status (custom resources with a status subresource; the built-in kinds' spec), and for
    Deployments a change of annotations too (pkg/registry/apps/deployment/strategy.go
    PrepareForUpdate)."""

    def essence(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

    if essence(new) != essence(old):
        return True
    annotations = [(o.get("metadata") or {}).get("annotations") or {} for o in (old, new)]
    return plural == "deployments" and annotations[0] != annotations[1]


def _manager(request: rendering.Request) -> str:
    manager = request.params.get("fieldManager")
    if not manager:  # k8s.io/apiserver handlers/patch.go
        raise ApiError(
            400, "BadRequest", "PATCH requests of type apply must specify a fieldManager"
        )
    return str(manager)


def _verb(request: rendering.Request) -> str:
    method = str(getattr(request.method, "value", request.method)).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )
