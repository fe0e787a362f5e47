"""The operator tests' API emulator with two more things a real API server has:

- RBAC: the operator's requests (User-Agent kopf/... or voxtral-operator/...) are authorized
  against the Roles, ClusterRoles and bindings the chart renders for its ServiceAccount, the
  way the RBAC authorizer does (ClusterRoleBinding: everywhere, cluster-scoped resources
  included; RoleBinding: in its namespace only); a request no rule allows gets 403 and is
  remembered in `denied`. The test's own requests (a cluster admin) are not checked.
- kopf's peering resources (kopf.dev/v1 ClusterKopfPeering and KopfPeering), whose CRDs the
  chart ships;
- KEDA's ScaledObject and the Prometheus Operator's ServiceMonitor and PrometheusRule, as if
  their CRDs were installed (the operator creates those only where they are).
"""

from __future__ import annotations

from typing import Any

import aiohttp.web
import kmock
from kmock._internal import rendering
from operator_emulator import VoxtralEmulator, _verb

OPERATOR_AGENTS = ("kopf/", "voxtral-operator/")
VERBS = {"create", "delete", "get", "list", "patch", "update", "watch"}
Call = tuple[str, str, str, str | None]  # verb, group, resource[/sub], namespace (None: all)


def _forbidden(call: Call) -> aiohttp.web.Response:
    verb, group, resource, namespace = call
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "reason": "Forbidden",
            "code": 403,
            "message": f'cannot {verb} resource "{resource}" in API group "{group}" {where}',
        },
        status=403,
    )


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
        ):
            self.resources[resource] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=True, verbs=VERBS
            )
        self.enforcing = False
        # namespace (None: every namespace and the cluster scope) -> PolicyRules
        self.rules: dict[str | None, list[dict[str, Any]]] = {}
        self.denied: list[Call] = []
        self.allowed: list[Call] = []

    def grant(self, docs: list[dict[str, Any]], namespace: str, service_account: str) -> None:
        """Authorize the operator with the RBAC objects among `docs` bound to this account."""
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
            rules = roles[(ref["kind"], role_ns, ref["name"])]
            self.rules.setdefault(scope, []).extend(rules)
        self.enforcing = True

    def allows(self, call: Call) -> bool:
        verb, group, resource, namespace = call

        def match(rule: dict[str, Any]) -> bool:
            return (
                group in rule.get("apiGroups", [])
                and resource in rule.get("resources", [])
                and verb in rule.get("verbs", [])
            )

        if any(match(r) for r in self.rules.get(None, [])):
            return True
        return namespace is not None and any(match(r) for r in self.rules.get(namespace, []))

    def _check(self, call: Call, agent: str) -> aiohttp.web.Response | None:
        if not self.enforcing or not agent.startswith(OPERATOR_AGENTS):
            return None
        if self.allows(call):
            self.allowed.append(call)
            return None
        self.denied.append(call)
        return _forbidden(call)

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # The base class answers namespace lists outside kmock's routing: authorize them here.
        if raw.path.rstrip("/") == "/api/v1/namespaces":
            verb = "watch" if raw.query.get("watch") in ("true", "1") else "list"
            refused = self._check((verb, "", "namespaces", None), raw.headers.get("User-Agent", ""))
            if refused is not None:
                return refused
        result: aiohttp.web.StreamResponse = await super().__call__(raw)
        return result

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and request.resource.plural:
            resource = request.resource.plural
            if request.subresource:
                resource += f"/{request.subresource}"
            call = (_verb(request), request.resource.group or "", resource, request.namespace)
            refused = self._check(call, str(request.headers.get("User-Agent", "")))
            if refused is not None:
                return refused
        result: aiohttp.web.StreamResponse = await super()._handle(request)
        return result
