"""A model of kube-apiserver for the operator's tests, over real HTTP: kmock's
KubernetesEmulator (discovery, list, watch, routing) with the API server's behaviour that
kmock 0.8 lacks written here. Each behaviour below is the one kube-apiserver has, read in the
upstream source named beside it (k8s.io/kubernetes, and the staging repositories k8s.io/
apiserver, k8s.io/apimachinery, k8s.io/api), and each has a test in
tests/operator/test_emulator.py that names it. What is not listed is not modelled.

Objects and versions
- metadata.uid, creationTimestamp, generation 1 on create; resourceVersion from one
  cluster-wide counter; generation bumped when anything but metadata and status changes
  (the kinds' strategies, PrepareForUpdate). A write that changes nothing is not stored: no
  new resourceVersion, no watch event (storage/etcd3 GuaranteedUpdate compares the bytes).
- A list carries its resourceVersion; a watch from it sends only later changes. A DELETED
  event carries the deletion's own resourceVersion (storage/etcd3/watcher.go transform).
- Label selectors (=, ==, !=, exists, !exists) on lists and watches; field selectors on
  lists (metadata.name/namespace everywhere; core/v1 Events' involvedObject.*, reason, type,
  source, reportingComponent; 400 "field label not supported" otherwise): selectors.py.

Writes (apply.py, schema.py)
- JSON merge patch (RFC 7386: nested maps merge, null removes; patch.go MergePatchType), JSON
  patch (a failed test op is 422), server-side apply (create or update; a field a manager stops
  applying is removed unless another manager applies it; force wins). A Deployment's replicas
  applied through /scale belong to that manager.
- A server-side apply body is typed against the server's schema first
  (managedfields/internal/structuredmerge.go): an unknown field or a duplicate list-map key is
  answered 500 "failed to create typed patch object (ns/name; apps/v1, Kind=Deployment):
  .spec...: field not declared in schema" (kubernetes/kubernetes#122480). The schema is the
  server version's (`serve_version("1.30.0")`: a field added since is unknown there).
- Apply to a subresource never creates: 404 (pkg/registry/apps/deployment/storage ScaleREST,
  status REST: forceAllowCreate false).
- The status subresource: writes to /status change only status, other writes never do;
  create ignores status. The scale subresource of Deployments (get, merge patch, apply).
- What is stored (schema.py): defaults (replicas 1, a Service's clusterIP and
  sessionAffinity, a pod's dnsPolicy and restartPolicy, terminationMessagePath;
  pkg/apis/*/v1/defaults.go), every Quantity in canonical form (quantity.py: "0.5" ->
  "500m", "1000m" -> "1", "12.5" -> "12500m", "65536Mi" -> "64Gi"), optional empty lists and
  maps and "" in plain-string fields left out (encoding/json omitempty; k8s.io/api json
  tags), fields the Go type does not declare dropped (decoding).
- Deletion honours finalizers (deletionTimestamp first) and garbage collection deletes the
  dependents whose ownerReferences name a deleted object's uid (background propagation).

Authorization (authz.py): off until `bind()` loads the chart's RBAC for the operator's
ServiceAccount (User-Agent kopf/... or voxtral-operator/...); every other client is an admin.
- RBAC's rule matching (resource/subresource, "*", resourceNames) and the filter's 403 text.
- A server-side apply that creates is authorized as `create` as well as `patch`
  (handlers/patch.go createAuthorizerAttributes; checked after the typed check and the
  defaults, before validating admission); an apply to an existing object only as `patch`.
- Every check is recorded (`api_calls`, `checks`), allowed or not, enforcing or not.

Admission (admission.py), in the API server's order, after authorization:
- DefaultStorageClass: a claim without a class gets the default StorageClass's (mutating).
- OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs `update` on the owner's
  finalizers, a changed ownerReference on update needs `delete` of the object (403).
- PersistentVolumeClaimResize: growing a claim needs it Bound and its class to allow
  expansion (403).
- Validating webhooks a test installs (`refuse()`): 403 "admission webhook ... denied the
  request: ..." (statuserror.go ToStatusErr; controller-runtime Denied). Admission sees a
  no-op update too.

Errors (errors.py) are Status objects as the server writes them: code, reason (left out when
unknown, as for the 500 of a typed patch), message, details.

Not modelled: conflicts between field managers (force is always given), strategy validation
(422) of built-in kinds, structural pruning and validation of custom resources, quotas,
the controllers (the tests play the Job, Deployment and ReplicaSet controllers, the kubelet
and the scheduler by writing status).
"""

from kube_emulator.server import VoxtralEmulator

__all__ = ["VoxtralEmulator"]
