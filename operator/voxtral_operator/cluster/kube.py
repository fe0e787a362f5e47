"""The one module that talks to the Kubernetes API server (kopf's own watching aside).

Writes are server-side apply (PATCH application/apply-patch+yaml, field manager `voxtral-
operator`, force): creating and updating are one idempotent call, and fields the operator
stops setting are removed. A Deployment's replicas under an autoscaling mode are applied
through its scale subresource by a field manager of their own (`voxtral-autoscaler`), so
that they outlive the operator's applies that leave them out. 404 on get/delete is an
answer, not an error. Every call goes through `_request`, which counts it by (verb,
resource, code) for the metrics and for the RBAC list of the Helm chart.

Credentials are the ones kopf logged in with (`kopf.ConnectionInfo`), handed over by the
login handler, so the operator has a single notion of who it is."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import kopf

from voxtral_operator import __version__
from voxtral_operator.api import names
from voxtral_operator.api import service as api
from voxtral_operator.cluster.kinds import RESOURCES

APPLY: Final = "application/apply-patch+yaml"
MERGE: Final = "application/merge-patch+json"
TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
TYPED_PATCH: Final = "failed to create typed patch object"


# (verb, resource, HTTP status or "error") -> None: told of every request.
Observer = Callable[[str, str, str], None]


class KubeError(Exception):
    """The API server refused a request. `status` is the HTTP code (0: no answer)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def refused(self) -> bool:
        """The API server refuses the object as asked, and would again: 400, 403 (RBAC, an
        admission plugin, a policy webhook), 422, and the 500 of a server-side apply whose
        body does not fit its schema ("failed to create typed patch object": the answer to
        an unknown field or a duplicate list key, kubernetes/kubernetes#122480)."""
        return self.status in (400, 403, 422) or (
            self.status == 500 and TYPED_PATCH in self.message
        )


def _tls(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    """How to check the API server (its CA, or not at all when insecure) and the client
    certificate to present, if kopf logged in with one."""
    has_cert = bool(info.certificate_path or info.certificate_data)
    if not has_cert and (info.insecure or not (info.ca_path or info.ca_data)):
        return not info.insecure
    ca_data = info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data
    context = ssl.create_default_context(
        cafile=str(info.ca_path) if info.ca_path else None, cadata=ca_data or None
    )
    if info.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if has_cert:
        with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only
            cert, key = info.certificate_path, info.private_key_path
            if cert is None:
                cert = os.path.join(tmp, "cert.pem")
                Path(cert).write_bytes(_bytes(info.certificate_data))
            if key is None and info.private_key_data:
                key = os.path.join(tmp, "key.pem")
                Path(key).write_bytes(_bytes(info.private_key_data))
            context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def _bytes(data: str | bytes | None) -> bytes:
    return (data.encode() if isinstance(data, str) else data) or b""


def client_for(info: kopf.ConnectionInfo) -> httpx.AsyncClient:
    """An HTTP client with the credentials kopf logged in with."""
    verify = _tls(info)
    headers = {"User-Agent": f"{names.OPERATOR}/{__version__}"}
    if info.token:
        headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
    auth = httpx.BasicAuth(info.username, info.password or "") if info.username else None
    return httpx.AsyncClient(
        base_url=info.server,
        verify=verify,
        headers=headers,
        auth=auth,
        timeout=TIMEOUT,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
    )


class Kube:
    """Get, apply, delete and status-patch the operator's objects."""

    def __init__(self, observer: Observer | None = None) -> None:
        self._client: httpx.AsyncClient | None = None
        self._ready = asyncio.Event()
        self._observer = observer

    async def login(self, info: kopf.ConnectionInfo) -> None:
        old, self._client = self._client, client_for(info)
        self._ready.set()
        if old is not None:
            await old.aclose()

    async def close(self) -> None:
        """At the operator's exit: a call still waiting, or made after, fails at once (a
        daemon that kopf has not stopped yet must not hang the exit)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        self._ready.set()

    async def _request(
        self,
        verb: str,
        kind: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        sub: str | None = None,
    ) -> httpx.Response:
        await self._ready.wait()
        if self._client is None:
            raise KubeError(0, "Closed", "the operator is stopping")
        if kind:
            resource = RESOURCES[kind]
            plural = f"{resource.plural}/{sub}" if sub else resource.plural
            label = f"{resource.group}/{plural}" if resource.group else plural
        else:
            label = "discovery"
        headers = {"Content-Type": content_type} if content_type else {}
        content = json.dumps(body).encode() if body is not None else None
        try:
            response = await self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            self._observe(verb, label, "error")
            raise KubeError(0, type(exc).__name__, str(exc) or repr(exc)) from exc
        self._observe(verb, label, str(response.status_code))
        return response

    def _observe(self, verb: str, resource: str, code: str) -> None:
        if self._observer is not None:
            self._observer(verb, resource, code)

    @staticmethod
    def _fail(response: httpx.Response) -> KubeError:
        try:
            data = response.json()
        except ValueError:
            data = {}
        return KubeError(
            response.status_code,
            str(data.get("reason") or response.reason_phrase),
            str(data.get("message") or response.text[:500]),
        )

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise self._fail(response)

    def _object(self, response: httpx.Response) -> dict[str, Any] | None:
        """The object the API server answered; None if it is gone (404)."""
        if response.status_code == 404:
            return None
        self._raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = RESOURCES[kind].path(namespace, name)
        response = await self._request("get", kind, "GET", path)
        return self._object(response)

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update by server-side apply; the operator's fields win (force)."""
        kind = str(manifest["kind"])
        meta = manifest["metadata"]
        path = RESOURCES[kind].path(str(meta["namespace"]), str(meta["name"]))
        response = await self._request(
            "patch",
            kind,
            "PATCH",
            path,
            params={"fieldManager": names.FIELD_MANAGER, "force": "true"},
            body=manifest,
            content_type=APPLY,
        )
        self._raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete with background propagation (a Job's pods go too). The object when it is
        still there (finalizers hold it, with a deletionTimestamp); None once gone."""
        path = RESOURCES[kind].path(namespace, name)
        response = await self._request(
            "delete", kind, "DELETE", path, params={"propagationPolicy": "Background"}
        )
        body = self._object(response)
        meta = (body or {}).get("metadata") or {}
        if body is None or body.get("kind") == "Status" or not meta.get("finalizers"):
            return None
        return body

    async def patch_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch a VoxtralService's status subresource. None if it is gone."""
        path = RESOURCES[api.KIND].path(namespace, name, "status")
        response = await self._request(
            "patch", api.KIND, "PATCH", path, body={"status": dict(patch)}, content_type=MERGE
        )
        return self._object(response)

    async def events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The Events about an object (core/v1 Events, by their involvedObject fields)."""
        path = RESOURCES["Event"].path(namespace)
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        response = await self._request(
            "list", "Event", "GET", path, params={"fieldSelector": selector}
        )
        self._raise_for(response)
        items: list[dict[str, Any]] = response.json().get("items") or []
        return items

    async def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The objects of a kind in a namespace that match a label selector."""
        path = RESOURCES[kind].path(namespace)
        response = await self._request(
            "list", kind, "GET", path, params={"labelSelector": selector}
        )
        self._raise_for(response)
        items: list[dict[str, Any]] = response.json().get("items") or []
        return items

    async def scale(self, namespace: str, name: str, replicas: int) -> dict[str, Any] | None:
        """Apply a Deployment's replicas through its scale subresource, by the autoscaler's
        field manager. The Scale object the API server answers, None if it is gone."""
        path = RESOURCES["Deployment"].path(namespace, name, "scale")
        body = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        response = await self._request(
            "patch",
            "Deployment",
            "PATCH",
            path,
            params={"fieldManager": names.FIELD_MANAGER_SCALE, "force": "true"},
            body=body,
            content_type=APPLY,
            sub="scale",
        )
        return self._object(response)

    async def served(self, group: str, version: str | None, plural: str | None) -> bool:
        """Whether the API server serves a group (any version), a group version, or a
        resource of it, by discovery (allowed to every authenticated client)."""
        path = f"/apis/{group}" + (f"/{version}" if version else "")
        response = await self._request("get", "", "GET", path)
        if response.status_code == 404:
            return False
        self._raise_for(response)
        if plural is None:
            return True
        resources = response.json().get("resources") or []
        return any(r.get("name") == plural for r in resources)
