"""Authorization as kube-apiserver's RBAC authorizer decides it, and the 403 it answers.

- Rules (k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go, plugin/pkg/auth/authorizer/
  rbac/rbac.go): a rule allows a request when its apiGroups, resources and verbs each hold the
  request's value or "*"; the resource is "resource/subresource" for a subresource
  ("deployments" does not cover "deployments/scale"; "*/scale" covers every scale); a rule
  with resourceNames matches only requests that name one of them (never a list or a POST).
  A ClusterRoleBinding grants everywhere, cluster scope included; a RoleBinding only in its
  namespace (a ClusterRole bound by a RoleBinding, too).
- The filter's 403 (k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go
  forbiddenMessage, then apierrors.NewForbidden): `deployments.apps "x" is forbidden: User
  "system:serviceaccount:ns:sa" cannot patch resource "deployments/scale" in API group "apps"
  in the namespace "default"` (no quoted name without one; "at the cluster scope" without a
  namespace).
- Checks made after the filter (a server-side apply that creates, the admission plugins)
  answer NewForbidden with the authorizer's reason, which RBAC leaves empty:
  `deployments.apps "x" is forbidden: ` (handlers/update.go withAuthorization).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kube_emulator.errors import ApiError


@dataclass(frozen=True)
class Attributes:
    """What is asked of the authorizer (k8s.io/apiserver pkg/authorization/authorizer)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str | None = None
    name: str = ""

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _matches(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    def holds(values: Iterable[str], value: str) -> bool:
        return "*" in values or value in values

    resources = rule.get("resources") or []
    resource_ok = (
        "*" in resources
        or attrs.full_resource in resources
        or (attrs.subresource != "" and f"*/{attrs.subresource}" in resources)
    )
    names = rule.get("resourceNames") or []
    return (
        holds(rule.get("apiGroups") or [], attrs.group)
        and resource_ok
        and holds(rule.get("verbs") or [], attrs.verb)
        and (not names or attrs.name in names)
    )


class Authorizer:
    """RBAC for one subject (the operator's ServiceAccount); everyone else is an admin."""

    def __init__(self) -> None:
        self.user = ""
        # namespace (None: a ClusterRoleBinding, everywhere) -> PolicyRules
        self.rules: dict[str | None, list[dict[str, Any]]] = {}

    @property
    def enforcing(self) -> bool:
        return bool(self.user)

    def bind(self, docs: list[dict[str, Any]], namespace: str, service_account: str) -> None:
        """The RBAC objects among `docs` (Roles, ClusterRoles, bindings) that bind this
        ServiceAccount: from now on they are all it may do."""
        roles = {
            (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d.get("rules", [])
            for d in docs
            if d["kind"] in ("Role", "ClusterRole")
        }
        subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
        for doc in docs:
            if doc["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            if subject not in doc.get("subjects", []):
                continue
            ref = doc["roleRef"]
            scope = doc["metadata"].get("namespace") if doc["kind"] == "RoleBinding" else None
            role_ns = scope if ref["kind"] == "Role" else None
            self.rules.setdefault(scope, []).extend(roles[(ref["kind"], role_ns, ref["name"])])
        self.user = f"system:serviceaccount:{namespace}:{service_account}"

    def allows(self, attrs: Attributes) -> bool:
        if any(_matches(r, attrs) for r in self.rules.get(None, [])):
            return True
        return attrs.namespace is not None and any(
            _matches(r, attrs) for r in self.rules.get(attrs.namespace, [])
        )

    def filter_denial(self, attrs: Attributes) -> ApiError:
        """The authorization filter's 403."""
        where = (
            f'in the namespace "{attrs.namespace}"'
            if attrs.namespace is not None
            else "at the cluster scope"
        )
        reason = (
            f'User "{self.user}" cannot {attrs.verb} resource "{attrs.full_resource}" in API '
            f'group "{attrs.group}" {where}'
        )
        return forbidden(attrs.group, attrs.resource, attrs.name, reason)


def forbidden(group: str, resource: str, name: str, reason: str) -> ApiError:
    """apierrors.NewForbidden: `<resource>.<group> "<name>" is forbidden: <reason>`."""
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{name}"' if name else qualified
    return ApiError(
        403,
        "Forbidden",
        f"{subject} is forbidden: {reason}",
        details={"name": name, "group": group, "kind": resource}
        if name
        else {"group": group, "kind": resource},
    )
