"""Replicas from the cluster: the operator's predictor Services (their served model name in
the `voxtral.dev/served-name` annotation) and the EndpointSlices of those Services, both
watched. The EndpointSlice controller copies a Service's labels onto its slices (all but the
reserved `kubernetes.io/service-name`, `endpointslice.kubernetes.io/managed-by` and
`service.kubernetes.io/headless`; k8s.io/endpointslice utils.go setEndpointSliceLabels), so
one label selector finds both. An endpoint is routed to when it is ready (a nil `ready` is
true) and not terminating (a nil `terminating` is false: k8s.io/api discovery/v1 types.go),
at its first address (the addresses of one endpoint are interchangeable there).

Names: a request names a served model name. One served by VoxtralServices in several
namespaces is ambiguous: requests for it are refused (409) with the namespaces named, until
each service gets a name of its own (`spec.model.servedName`)."""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Iterable

from . import metrics
from .kube import Kube, Object, follow
from .pool import Pools
from .upstreams import Upstream

SELECTOR = "app.kubernetes.io/managed-by=voxtral-operator,app.kubernetes.io/component=predictor"
SERVED_NAME = "voxtral.dev/served-name"
SERVICE_NAME = "kubernetes.io/service-name"
INSTANCE = "app.kubernetes.io/instance"  # on a predictor Service: its VoxtralService

Key = tuple[str, str]  # (namespace, name)


def _key(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def endpoints(slice_: Object, served: str) -> list[tuple[Upstream, bool]]:
    """(replica, ready) for each endpoint of an EndpointSlice."""
    ports = {p.get("name"): p.get("port") for p in slice_.get("ports") or []}
    http, grpc = ports.get("http"), ports.get("grpc")
    if not http or slice_.get("addressType") not in ("IPv4", "IPv6"):
        return []
    found = []
    for endpoint in slice_.get("endpoints") or []:
        addresses = endpoint.get("addresses") or []
        if not addresses:
            continue
        conditions = endpoint.get("conditions") or {}
        ready = conditions.get("ready") is not False and conditions.get("terminating") is not True
        host = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
        grpc_target = f"{host}:{grpc}" if grpc else None
        found.append((Upstream(served, f"http://{host}:{http}", grpc_target), ready))
    return found


class Catalog:
    """What the watches saw, turned into the pools the proxies route with."""

    def __init__(self, pools: Pools):
        self.pools = pools
        self.services: dict[Key, str] = {}  # predictor Service -> served name
        self.owners: dict[Key, str] = {}  # predictor Service -> its VoxtralService
        self.slices: dict[Key, tuple[str, Object]] = {}  # slice -> (its Service, the slice)

    def reset_services(self, items: Iterable[Object], namespace: str | None) -> None:
        self.services = {k: v for k, v in self.services.items() if namespace not in (None, k[0])}
        self.owners = {k: v for k, v in self.owners.items() if k in self.services}
        for obj in items:
            self.change_service("ADDED", obj)

    def change_service(self, kind: str, obj: Object) -> None:
        meta = obj.get("metadata") or {}
        served = (meta.get("annotations") or {}).get(SERVED_NAME)
        if kind == "DELETED" or not served:
            self.services.pop(_key(obj), None)
            self.owners.pop(_key(obj), None)
        else:
            self.services[_key(obj)] = served
            self.owners[_key(obj)] = (meta.get("labels") or {}).get(INSTANCE) or _key(obj)[1]
        self.publish()

    def owner(self, served: str) -> Key | None:
        """The VoxtralService (namespace, name) that serves ``served``, if exactly one does."""
        found = [
            (ns, self.owners[(ns, svc)]) for (ns, svc), s in self.services.items() if s == served
        ]
        return found[0] if len(found) == 1 else None

    def reset_slices(self, items: Iterable[Object], namespace: str | None) -> None:
        self.slices = {k: v for k, v in self.slices.items() if namespace not in (None, k[0])}
        for obj in items:
            self.change_slice("ADDED", obj)

    def change_slice(self, kind: str, obj: Object) -> None:
        owner = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME)
        if kind == "DELETED" or not owner:
            self.slices.pop(_key(obj), None)
        else:
            self.slices[_key(obj)] = (owner, obj)
        self.publish()

    def publish(self) -> None:
        namespaces: dict[str, set[str]] = defaultdict(set)
        for (namespace, _), served in self.services.items():
            namespaces[served].add(namespace)
        listed: dict[str, list[tuple[Upstream, bool]]] = defaultdict(list)
        for (namespace, _), (owner, slice_) in self.slices.items():
            name = self.services.get((namespace, owner))
            if name is not None:
                listed[name] += endpoints(slice_, name)
        self.pools.conflicts = {
            served: sorted(spaces) for served, spaces in namespaces.items() if len(spaces) > 1
        }
        for served in self.pools.services():
            if served not in namespaces:
                self.pools.drop(served)
        for served in namespaces:
            self.pools.sync(served, [] if served in self.pools.conflicts else listed[served])
        for served in namespaces:
            metrics.READY_REPLICAS.labels(served).set(len(self.pools.ready(served)))


async def watch(kube: Kube, catalog: Catalog, namespaces: list[str]) -> None:
    """Follow the predictor Services and their EndpointSlices, in ``namespaces`` (all when
    empty), into ``catalog``, forever."""
    scopes: list[str | None] = list(namespaces) or [None]
    async with kube.client() as client:
        tasks = []
        for namespace in scopes:
            core = f"/api/v1/namespaces/{namespace}" if namespace else "/api/v1"
            slices = "/apis/discovery.k8s.io/v1" + (f"/namespaces/{namespace}" if namespace else "")
            reset_services = functools.partial(catalog.reset_services, namespace=namespace)
            reset_slices = functools.partial(catalog.reset_slices, namespace=namespace)
            tasks += [
                follow(
                    kube,
                    client,
                    f"{core}/services",
                    SELECTOR,
                    reset_services,
                    catalog.change_service,
                ),
                follow(
                    kube,
                    client,
                    f"{slices}/endpointslices",
                    SELECTOR,
                    reset_slices,
                    catalog.change_slice,
                ),
            ]
        await asyncio.gather(*tasks)
