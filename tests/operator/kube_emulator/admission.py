"""Validating admission as kube-apiserver runs it, in its order: the plugins the operator's
writes meet (OwnerReferencesPermissionEnforcement, PersistentVolumeClaimResize), then
validating admission webhooks (a policy engine, KEDA's webhook) that a test installs.

- OwnerReferencesPermissionEnforcement (k8s.io/kubernetes plugin/pkg/admission/gc/
  gc_admission.go): a write that changes ownerReferences (a create that sets any) needs, but
  on create, `delete` on the object itself ("cannot set an ownerRef on a resource you can't
  delete"); each newly blocking reference (blockOwnerDeletion: true) needs `update` on the
  owner's `<plural>/finalizers`, by the owner's name, in the request's namespace ("cannot set
  blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on");
  403 with the authorizer's empty reason and a nil error: "..., <nil>". pods/status is
  exempt. On by default here: OpenShift and hardened clusters enable it.
- PersistentVolumeClaimResize (plugin/pkg/admission/storage/persistentvolume/resize/
  admission.go): an update that grows a claim's storage request is refused with 403 unless the
  claim is Bound ("Only bound persistent volume claims can be expanded") and its StorageClass
  (the same on both sides, and found) has allowVolumeExpansion: true ("only dynamically
  provisioned pvc can be resized and the storageclass that provisions the pvc must support
  resize").
- Webhooks (k8s.io/apiserver pkg/admission/plugin/webhook/errors/statuserror.go ToStatusErr):
  a denial keeps the webhook's code (at least 400; controller-runtime's Denied is 403
  Forbidden) and reads `admission webhook "<name>" denied the request: <message>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kube_emulator.authz import Attributes, forbidden
from kube_emulator.errors import ApiError
from kube_emulator.quantity import parse


@dataclass(frozen=True)
class Request:
    """admission.Attributes: the operation and the objects, old (None on create) and new."""

    operation: str  # CREATE, UPDATE
    group: str
    resource: str
    subresource: str
    namespace: str | None
    name: str
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None


# (request) -> a denial message, or None to allow
Check = Callable[[Request], str | None]


@dataclass(frozen=True)
class Webhook:
    name: str
    check: Check
    code: int = 403
    reason: str = "Forbidden"

    def review(self, request: Request) -> None:
        message = self.check(request)
        if message is None:
            return
        code = max(self.code, 400)
        raise ApiError(
            code, self.reason, f'admission webhook "{self.name}" denied the request: {message}'
        )


# (attributes) -> allowed?  (the emulator's authorizer, recording the check)
Authorize = Callable[[Attributes], bool]
# (apiVersion, kind) -> (group, plural) of the owner's resource, None when not served
Mapper = Callable[[str, str], tuple[str, str] | None]


def _refs(obj: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return list(((obj or {}).get("metadata") or {}).get("ownerReferences") or [])


def owner_references(request: Request, authorize: Authorize, mapper: Mapper) -> None:
    if request.resource == "pods" and request.subresource == "status":
        return
    new, old = _refs(request.obj), _refs(request.old)
    if new == old:
        return
    if request.operation != "CREATE":
        attrs = Attributes(
            "delete",
            request.group,
            request.resource,
            request.subresource,
            request.namespace,
            request.name,
        )
        if not authorize(attrs):
            raise forbidden(
                request.group,
                request.resource,
                request.name,
                "cannot set an ownerRef on a resource you can't delete: , <nil>",
            )
    blocking_before = {r.get("uid") for r in old if r.get("blockOwnerDeletion")}
    for ref in new:
        if not ref.get("blockOwnerDeletion") or ref.get("uid") in blocking_before:
            continue
        mapped = mapper(str(ref.get("apiVersion")), str(ref.get("kind")))
        if mapped is None:
            raise forbidden(
                request.group,
                request.resource,
                request.name,
                "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for "
                f"APIVersion {ref.get('apiVersion')} Kind {ref.get('kind')}: , <nil>",
            )
        group, plural = mapped
        attrs = Attributes(
            "update", group, plural, "finalizers", request.namespace, str(ref.get("name"))
        )
        if not authorize(attrs):
            raise forbidden(
                request.group,
                request.resource,
                request.name,
                "cannot set blockOwnerDeletion if an ownerReference refers to a resource you "
                "can't set finalizers on: , <nil>",
            )


def _storage(claim: Mapping[str, Any] | None) -> Any:
    return (
        (((claim or {}).get("spec") or {}).get("resources") or {})
        .get("requests", {})
        .get("storage")
    )


def claim_resize(
    request: Request, storage_class: Callable[[str], Mapping[str, Any] | None]
) -> None:
    if (
        request.operation != "UPDATE"
        or request.resource != "persistentvolumeclaims"
        or request.subresource
    ):
        return
    new, old = _storage(request.obj), _storage(request.old)
    if new is None or old is None or parse(str(new)).value <= parse(str(old)).value:
        return
    if ((request.old or {}).get("status") or {}).get("phase") != "Bound":
        raise forbidden(
            "",
            request.resource,
            request.name,
            "Only bound persistent volume claims can be expanded",
        )
    old_class = ((request.old or {}).get("spec") or {}).get("storageClassName") or ""
    new_class = (request.obj.get("spec") or {}).get("storageClassName") or ""
    found = storage_class(new_class) if new_class and new_class == old_class else None
    if not found or found.get("allowVolumeExpansion") is not True:
        raise forbidden(
            "",
            request.resource,
            request.name,
            "only dynamically provisioned pvc can be resized and the storageclass that "
            "provisions the pvc must support resize",
        )
