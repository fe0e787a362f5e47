"""Helpers of the install tests: run the real helm on the chart, load what it renders, and
validate objects the way the API server would (built-in kinds with kubernetes-validate's
bundled schemas, custom resources with their CRD's schema)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema
import kubernetes_validate
import yaml
from custom_resources import custom_problems
from helm import helm_path
from kserve_models import kserve_problems
from operator_samples import cel_errors, schema_errors

ROOT: Final = Path(__file__).resolve().parents[2]
CHART: Final = ROOT / "charts" / "voxtral-operator"
HERE: Final = Path(__file__).resolve().parent
EVERYTHING: Final = HERE / "values-everything.yaml"
KUBE_VERSIONS: Final = ("1.30.0", "1.37.0")
RELEASE: Final = "vx"
NAMESPACE: Final = "voxtral-system"

# Custom resources kubernetes-validate has no schema for, and where theirs comes from. Any
# other kind it cannot find is an error (a misspelt apiVersion of a built-in kind).
CUSTOM_KINDS: Final = {
    ("voxtral.dev/v1alpha1", "VoxtralService"): "crds/voxtral.dev_voxtralservices.yaml",
    ("kopf.dev/v1", "ClusterKopfPeering"): "crds/kopf.dev_peerings.yaml",
    ("kopf.dev/v1", "KopfPeering"): "crds/kopf.dev_peerings.yaml",
    # The Prometheus Operator's CRD is not in the chart: checked against the models generated
    # from it (tests/operator/custom_resources.py), as the operator's own ServiceMonitors.
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "custom_resources",
    # KServe's kinds: against the kserve package's generated models (kserve_models.py).
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): "kserve_models",
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve_models",
    # kustomize's own file format, not an API object.
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): "",
}


@dataclass
class Helm:
    returncode: int
    stdout: str
    stderr: str

    @property
    def docs(self) -> list[dict[str, Any]]:
        assert self.returncode == 0, self.stderr
        return [d for d in yaml.safe_load_all(self.stdout) if d]


def helm(*args: str) -> Helm:
    """Run helm offline: its caches under .tools/, no kubeconfig (nothing may reach a cluster)."""
    home = ROOT / ".tools" / "helm-home"
    env = os.environ | {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "no-kubeconfig"),
    }
    result = subprocess.run(
        [str(helm_path()), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )
    return Helm(result.returncode, result.stdout, result.stderr)


def template(*args: str, crds: bool = True) -> Helm:
    """`helm template` of the chart as release `vx` in `voxtral-system`."""
    extra = ("--include-crds",) if crds else ()
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra, *args)


def render(*args: str) -> list[dict[str, Any]]:
    return template(*args).docs


def component(doc: dict[str, Any]) -> str:
    return str((doc["metadata"].get("labels") or {}).get("app.kubernetes.io/component", ""))


def find(
    docs: list[dict[str, Any]], kind: str, name: str | None = None, of: str = "operator"
) -> dict[str, Any]:
    """The one object of ``kind`` (and ``name``) the chart renders for the component ``of``
    (the operator's by default; "gateway" for the gateway's)."""
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (component(d) != "gateway") == (of != "gateway")
    ]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[d['kind'] for d in docs]}"
    return found[0]


def kinds(docs: list[dict[str, Any]], of: str = "operator") -> list[str]:
    """The kinds the chart renders for the component ``of`` (see find)."""
    return sorted(d["kind"] for d in docs if (component(d) != "gateway") == (of != "gateway"))


@cache
def crd_schemas(path: str) -> dict[str, dict[str, Any]]:
    """kind -> openAPIV3Schema of the CRDs in one file of the chart."""
    schemas = {}
    for crd in yaml.safe_load_all((CHART / path).read_text()):
        version = crd["spec"]["versions"][0]
        schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


def problems(doc: dict[str, Any]) -> list[str]:
    """Everything wrong with one object, for both Kubernetes versions: [] when none. A custom
    resource is checked against its CRD where the chart has it, a ServiceMonitor against the
    Prometheus Operator's models, a Kustomization only for its identity."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CUSTOM_KINDS:
        source = CUSTOM_KINDS[key]
        if not source:
            return (
                []
                if doc.get("metadata", {}).get("name") or key[1] == "Kustomization"
                else [f"{key[1]} without a name"]
            )
        if key[1] == "VoxtralService":  # strict field validation and the CEL rules
            return schema_errors(doc) + cel_errors(doc)
        if source == "custom_resources":
            return custom_problems(doc)
        if source == "kserve_models":
            return kserve_problems(doc)
        schema = crd_schemas(source)[str(key[1])]
        validator = jsonschema.Draft4Validator(schema)
        return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
    found = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{version} {key} {doc['metadata'].get('name')}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{version}: no schema for {key}: not a built-in kind")
    return found
