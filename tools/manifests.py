"""`make manifests`: regenerate everything derived from `operator/voxtral_operator/api/service.py`,
`operator/voxtral_operator/cluster/rbac.py` and the Helm chart, all of it committed.

    python tools/manifests.py            # write the files
    python tools/manifests.py --check    # exit 1, naming them, when any file is stale

Written:
- `operator/voxtral_operator/api/kubernetes_schemas.json`: the Kubernetes definitions (core/v1
  Affinity and what it refers to) the operator checks users' free-form fields against and
  types them with in the CRD, from kubernetes-validate's schema of Kubernetes 1.37;
- the CRD, twice, byte for byte: `manifests/crds/` and the chart's `crds/` (from api/service.py);
- `charts/voxtral-operator/files/rbac-rules.yaml` (from cluster/rbac.py; the chart's RBAC reads it);
- the VoxtralService spec schema inside the chart's `values.schema.json`, for the example
  service (from api/service.py, unknown keys rejected);
- `manifests/install.yaml`: `helm template` of the chart with its default values in the
  namespace `voxtral-system`, CRDs included, plus that Namespace; and
  `manifests/kustomization.yaml` around it, for `kubectl apply -k manifests/`;
- `manifests/grafana/voxtral-dashboard.json`: the Grafana dashboard of any VoxtralService
  (the builder each service's dashboard ConfigMap comes from, with its variables open);
- `manifests/monitoring/prometheus-adapter-values.yaml`: the prometheus-adapter rules that
  autoscaling mode hpa needs (from the same PromQL as KEDA's triggers and the alerts).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import yaml
from helm import helm_path  # tools/helm.py: beside this script, so on its sys.path

from voxtral_operator.api import kubernetes
from voxtral_operator.api.crd import DEFAULT_PATH as CRD_PATH
from voxtral_operator.api.crd import build_crd, render_crd
from voxtral_operator.api.service import DEFAULT_IMAGE
from voxtral_operator.builders.dashboard import build_dashboard
from voxtral_operator.builders.kserve import build_serving_runtime
from voxtral_operator.builders.promql import POD_DEMAND, POD_KV_CACHE, POD_QUEUE, adapter_rules
from voxtral_operator.cluster import rbac

ROOT: Final = Path(__file__).resolve().parent.parent
CHART: Final = ROOT / "charts" / "voxtral-operator"
CHART_CRD: Final = CHART / "crds" / CRD_PATH.name
RBAC_RULES: Final = CHART / "files" / "rbac-rules.yaml"
VALUES_SCHEMA: Final = CHART / "values.schema.json"
INSTALL: Final = ROOT / "manifests" / "install.yaml"
KUSTOMIZATION: Final = ROOT / "manifests" / "kustomization.yaml"
DASHBOARD: Final = ROOT / "manifests" / "grafana" / "voxtral-dashboard.json"
ADAPTER_VALUES: Final = ROOT / "manifests" / "monitoring" / "prometheus-adapter-values.yaml"
KSERVE_RUNTIME: Final = ROOT / "manifests" / "kserve" / "clusterservingruntime.yaml"
CHART_KSERVE_RUNTIME: Final = CHART / "files" / "kserve-runtime.yaml"
# In the chart's copy, the image is the chart's value (templates/kserve-runtime.yaml).
CHART_IMAGE: Final = "{{ include \"voxtral-operator.kserveImage\" . }}"
K8S_SCHEMAS: Final = ROOT / "operator" / "voxtral_operator" / "api" / kubernetes.SCHEMAS
# What a definition keeps of Kubernetes' OpenAPI schema: enough to check and to type.
SCHEMA_KEYS: Final = (
    "type",
    "format",
    "enum",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)
RELEASE: Final = "voxtral-operator"
NAMESPACE: Final = "voxtral-system"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"


def rbac_rules_text() -> str:
    sections = {name: rbac.policy_rules(grants) for name, grants in rbac.SECTIONS.items()}
    return (
        "# Generated from operator/voxtral_operator/cluster/rbac.py by `make manifests`:\n"
        "# do not edit.\n"
        "# served: in every namespace the operator serves; cluster: when it has a ClusterRole;\n"
        "# namespaceObserver: a ClusterRole serving listed namespaces; peering*: with\n"
        "# peering.enabled (Cluster- when serving every namespace, else Namespaced).\n"
        + yaml.safe_dump(sections, sort_keys=False, width=100)
    )


def _closed(node: Any) -> Any:
    """The CRD's structural schema (OpenAPI 3.0) as JSON Schema draft 7 that rejects unknown
    keys: Kubernetes extensions dropped, `additionalProperties: false` wherever properties are
    listed, boolean exclusive bounds turned into draft 7's numeric ones."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _closed(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(limit)
        elif out.get(bound) is False:
            out.pop(bound)
    if "properties" in node:
        out["properties"] = {k: _closed(v) for k, v in node["properties"].items()}
        if "additionalProperties" not in node:
            out["additionalProperties"] = False
    return out


def spec_schema() -> dict[str, Any]:
    crd = build_crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema: dict[str, Any] = _closed(copy.deepcopy(spec))
    return schema


def values_schema_text() -> str:
    schema = json.loads(VALUES_SCHEMA.read_text())
    schema["properties"]["exampleService"]["properties"]["spec"] = spec_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def helm_template(*args: str, chart: Path = CHART) -> str:
    """`helm template` of the chart; raises with helm's message when it fails."""
    result = subprocess.run(
        [str(helm_path()), "template", RELEASE, str(chart), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm template {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _relabel(node: Any) -> None:
    """Plain manifests are applied by kubectl, not managed by Helm: say so in the labels."""
    if isinstance(node, dict):
        labels = node.get("labels")
        if isinstance(labels, dict) and labels.get(MANAGED_BY) == "Helm":
            labels[MANAGED_BY] = "kubectl"
        for value in node.values():
            _relabel(value)
    elif isinstance(node, list):
        for item in node:
            _relabel(item)


def install_text(rendered: str) -> str:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                "app.kubernetes.io/part-of": "voxtral-operator",
                # The operator itself passes the restricted Pod Security Standard.
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
    docs = [namespace] + [d for d in yaml.safe_load_all(rendered) if d]
    for doc in docs:
        _relabel(doc)
    header = (
        "# Generated by `make manifests` (tools/manifests.py): `helm template` of\n"
        "# charts/voxtral-operator with its default values, in the namespace voxtral-system.\n"
        "# Do not edit: change the chart, or operator/voxtral_operator/api/service.py and\n"
        "# operator/voxtral_operator/cluster/rbac.py.\n"
        "#   kubectl apply --server-side -f manifests/install.yaml   (or -k manifests/)\n"
    )
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    return header + body


KUSTOMIZATION_TEXT: Final = (
    "# Generated by `make manifests`: the operator, its CRDs and RBAC (manifests/install.yaml).\n"
    "#   kubectl apply --server-side -k manifests/\n"
    + yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["install.yaml"],
        },
        sort_keys=False,
    )
)


def dashboard_text() -> str:
    return json.dumps(build_dashboard(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def kserve_runtime_text(image: str = DEFAULT_IMAGE, chart: bool = False) -> str:
    header = (
        "# Generated by `make manifests` from operator/voxtral_operator/builders/kserve.py: do "
        "not edit.\n"
    )
    if not chart:
        header += (
            "# The voxtral ClusterServingRuntime: kubectl apply -f this file on a cluster that\n"
            "# runs KServe, then an InferenceService with modelFormat voxtral (samples beside).\n"
        )
    text = yaml.safe_dump(build_serving_runtime(image), sort_keys=False, width=100)
    if chart:  # KServe's own template actions pass through the chart's tpl as text
        text = text.replace("{{.Name}}", '{{ "{{.Name}}" }}')
    return header + text


def adapter_values_text() -> str:
    header = f"""\
# Generated by `make manifests` from operator/voxtral_operator/builders/promql.py: do not edit.
# The prometheus-adapter rules that a VoxtralService in autoscaling mode hpa needs: they serve
# {POD_DEMAND}, {POD_QUEUE} and {POD_KV_CACHE} per pod on the custom metrics API
# (custom.metrics.k8s.io), the Pods metrics of the HorizontalPodAutoscaler the operator
# creates. Values of the prometheus-community/prometheus-adapter Helm chart:
#   helm upgrade --install prometheus-adapter prometheus-community/prometheus-adapter \\
#     -n monitoring -f manifests/monitoring/prometheus-adapter-values.yaml \\
#     --set prometheus.url=http://prometheus-operated.monitoring.svc --set prometheus.port=9090
# With another adapter set-up (kube-prometheus's adapter-config ConfigMap), add the rules
# under `rules:` of its config.yaml. Prometheus must scrape the predictor pods with the
# labels namespace and pod (spec.monitoring's ServiceMonitor does).
"""
    body = {"rules": {"default": True, "custom": adapter_rules()}}
    return header + yaml.safe_dump(body, sort_keys=False, width=1000)


def kubernetes_schemas_text() -> str:
    """The Kubernetes definitions the operator checks users' free-form fields against
    (api/kubernetes.py): the closure of core/v1 Affinity, from kubernetes-validate's bundled
    OpenAPI schema of Kubernetes 1.37, without descriptions."""
    import kubernetes_validate.utils  # a test dependency: `make manifests` runs in .venv

    folder = Path(kubernetes_validate.utils.__file__).parent / "kubernetes-json-schema"
    version = f"v{kubernetes.KUBERNETES_VERSION}.0-local-strict"
    source = json.loads((folder / version / "_definitions.json").read_text())["$defs"]

    def reduce(node: Any) -> Any:
        if isinstance(node, list):
            return [reduce(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return {"$ref": "#/definitions/" + node["$ref"].rsplit("/", 1)[-1]}
        out: dict[str, Any] = {}
        for key in SCHEMA_KEYS:
            if key not in node:
                continue
            value = node[key]
            if key == "type" and isinstance(value, list):
                value = next(v for v in value if v != "null")
            elif key == "properties":
                value = {k: reduce(v) for k, v in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                value = reduce(value)
            elif key == "additionalProperties" and value is False:
                continue  # closed by `properties` (kubernetes.problems; CRDs prune)
            out[key] = value
        return out

    wanted, found = [kubernetes.AFFINITY], {}
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found[name] = reduce(source[name])
        wanted += [r.rsplit("/", 1)[-1] for r in _refs(found[name])]
    header = (
        f"Generated by `make manifests` (tools/manifests.py) from kubernetes-validate's OpenAPI "
        f"schema of Kubernetes {kubernetes.KUBERNETES_VERSION}: do not edit."
    )
    doc = {"$comment": header, "definitions": dict(sorted(found.items()))}
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def generated() -> dict[Path, str]:
    """Every generated file and what it must contain, in the order they are derived (the
    chart's inputs before `helm template` reads them)."""
    files = {
        K8S_SCHEMAS: kubernetes_schemas_text(),
        ROOT / CRD_PATH: render_crd(),
        CHART_CRD: render_crd(),
        RBAC_RULES: rbac_rules_text(),
        VALUES_SCHEMA: values_schema_text(),
        DASHBOARD: dashboard_text(),
        ADAPTER_VALUES: adapter_values_text(),
        KSERVE_RUNTIME: kserve_runtime_text(),
        CHART_KSERVE_RUNTIME: kserve_runtime_text(CHART_IMAGE, chart=True),
    }
    return files


def stale() -> list[Path]:
    """The generated files whose content is not what `make manifests` would write."""
    files = generated()
    files[INSTALL] = install_text(helm_template("--include-crds"))
    files[KUSTOMIZATION] = KUSTOMIZATION_TEXT
    return [p for p, text in files.items() if not p.exists() or p.read_text() != text]


def write() -> list[Path]:
    written = []
    schemas = kubernetes_schemas_text()  # read by the CRD's rendering: written first
    if not K8S_SCHEMAS.exists() or K8S_SCHEMAS.read_text() != schemas:
        K8S_SCHEMAS.write_text(schemas)
        kubernetes.definitions.cache_clear()
    for path, text in generated().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    # The chart is up to date now: render it.
    for path, text in (
        (INSTALL, install_text(helm_template("--include-crds"))),
        (KUSTOMIZATION, KUSTOMIZATION_TEXT),
    ):
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/manifests.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any file is stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{path.relative_to(ROOT)} is stale: run `make manifests`", file=sys.stderr)
        return 1 if old else 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
