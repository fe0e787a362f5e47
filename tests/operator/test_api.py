"""The VoxtralService API: what the operator accepts and rejects (with which message), and
that the generated CRD — schema and CEL rules — agrees with it on every sample."""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest
from operator_samples import (
    CRD_PATH,
    INVALID,
    VALID,
    cel_errors,
    load_crd,
    schema_errors,
    vxs,
)

from voxtral_operator.api.crd import render_crd
from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.resolve import parse, resolve


def test_committed_crd_is_what_the_models_generate() -> None:
    assert CRD_PATH.read_text() == render_crd(), (
        "manifests/crds/voxtral.dev_voxtralservices.yaml is stale: run "
        "`python -m voxtral_operator.api.crd` (make manifests)"
    )


def test_crd_check_command_fails_on_a_stale_file(tmp_path) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text(render_crd().replace("maxLength: 200", "maxLength: 201"))
    cmd = [sys.executable, "-m", "voxtral_operator.api.crd", "--check", "-o", str(stale)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1 and "out of date" in result.stderr
    stale.write_text(render_crd())
    assert subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_crd_is_a_valid_custom_resource_definition(version: str) -> None:
    kubernetes_validate.validate(load_crd(), version, strict=True)


def test_crd_schema_is_structural() -> None:
    """No $ref, no additionalProperties: false, a type (or int-or-string) on every node."""
    problems: list[str] = []

    def walk(node: object, where: str) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node or "$defs" in node:
            problems.append(f"{where}: $ref")
        if node.get("additionalProperties") is False:
            problems.append(f"{where}: additionalProperties false")
        if (
            "type" not in node
            and not node.get("x-kubernetes-int-or-string")
            and where.count(".") > 0
            and "anyOf" not in where
        ):
            problems.append(f"{where}: no type")
        for key, child in (node.get("properties") or {}).items():
            walk(child, f"{where}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{where}[{key}]")

    walk(load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "root")
    assert problems == []


def test_crd_has_status_scale_and_columns() -> None:
    version = load_crd()["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert set(columns) >= {"Model", "Replicas", "GPUs", "Ready", "Age"}
    assert load_crd()["spec"]["names"]["shortNames"] == ["vxs"]


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_samples_pass_everywhere(name: str) -> None:
    sample = VALID[name]
    assert schema_errors(sample) == []
    assert cel_errors(sample) == []
    resolve(parse(sample))  # the operator's own validation, the fit check included


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_samples_fail_with_a_precise_message(name: str) -> None:
    sample, fragment, by_cel = INVALID[name]
    with pytest.raises(SpecError) as caught:
        parse(sample)
    assert fragment in caught.value.message
    # The API server rejects it too: by a CEL rule with the same message, or by the schema.
    if by_cel:
        assert fragment in " ".join(cel_errors(sample))
        assert schema_errors(sample) == []
    else:
        assert schema_errors(sample) != []


def test_every_cel_rule_is_exercised_by_an_invalid_sample() -> None:
    rules: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            rules.extend(r["message"] for r in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_crd())
    caught = " ".join(" ".join(cel_errors(sample)) for sample, _, _ in INVALID.values())
    assert rules and all(message in caught for message in rules)


def test_a_preset_that_does_not_fit_says_how_many_gpus_it_needs() -> None:
    sample = VALID["small-preset"] | {
        "spec": {"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 1, "gpuMemory": "48Gi"}
    }
    with pytest.raises(SpecError) as caught:
        resolve(parse(sample))
    assert caught.value.reason == "ModelDoesNotFit"
    assert "set spec.gpusPerReplica to 2 or more" in caught.value.message


def test_defaults_follow_the_preset() -> None:
    small = resolve(parse(VALID["small-preset"]))
    assert (small.gpus, small.cpu, small.memory, small.api_servers) == (2, "10", "72Gi", 4)
    assert small.hugging_face is not None
    assert small.hugging_face.repo == "mistralai/Voxtral-Small-24B-2507"
    mini = resolve(parse(VALID["mini-preset"]))
    assert (mini.gpus, mini.cpu, mini.memory) == (1, "8", "32Gi")
    custom = resolve(parse(VALID["hf-private"]))
    assert (custom.gpus, custom.model_label) == (4, "acme/voxtral-finetune@a1b2c3d")
    pvc = resolve(parse(VALID["pvc"]))
    assert pvc.model_dir == "/models/voxtral/mini" and pvc.claim_name == "models"


def test_autoscaling_defaults_are_the_policys() -> None:
    """spec.autoscaling's defaults are the constants of autoscaling.defaults, and the spec
    becomes the policy's ScalingConfig field by field."""
    from voxtral_operator.api.scaling import AutoscalingSpec, mode_of
    from voxtral_operator.autoscaling.config import ScalingConfig

    assert AutoscalingSpec().config() == ScalingConfig()
    spec = AutoscalingSpec.model_validate(VALID["everything"]["spec"]["autoscaling"])
    config = spec.config(interval_seconds=5)
    assert (config.min_replicas, config.max_replicas, config.interval_seconds) == (2, 12, 5)
    assert config.target.concurrency_per_replica == 48 and config.scale_down.delay_seconds == 600
    assert (spec.clamp(0), spec.clamp(7), spec.clamp(99)) == (2, 7, 12)
    assert mode_of({"autoscaling": {}}) == "operator"
    assert mode_of({"autoscaling": {"mode": "keda"}}) == "keda"
    assert mode_of({"autoscaling": {"mode": "none"}}) is None
    assert mode_of({"replicas": 2}) is None


def test_a_status_the_schema_would_not_take_never_makes_the_spec_invalid() -> None:
    """The status is the operator's output: one written by another version (a condition
    without a reason, a key this version does not know) leaves the spec valid."""
    sample = VALID["small-preset"] | {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "endpoints": {"http": "http://x", "websocket": "ws://x"},
        }
    }
    assert parse(sample).spec == parse(VALID["small-preset"]).spec
    with pytest.raises(SpecError, match="spec"):
        parse(sample | {"spec": {"model": {"preset": "voxtral-small-24b"}, "replica": 2}})


def test_node_selector_and_annotation_keys_are_label_keys() -> None:
    """The API server refuses a pod whose nodeSelector key is not a label key (422): caught
    before anything is applied, naming the field."""
    for spec in (
        {"scheduling": {"nodeSelector": {"bad key": "x"}}},
        {"scheduling": {"nodeSelector": {"gpu": "not a value!"}}},
        {"service": {"annotations": {"no spaces please": "x"}}},
    ):
        with pytest.raises(SpecError) as caught:
            parse(vxs({"model": {"preset": "voxtral-mini-3b"}, **spec}))
        assert "spec.scheduling.nodeSelector" in caught.value.message or (
            "spec.service.annotations" in caught.value.message
        )


def test_the_affinity_schema_is_kubernetes_own_and_typed_in_the_crd() -> None:
    """The CRD types spec.scheduling.affinity with core/v1 Affinity (make manifests takes it
    from Kubernetes' OpenAPI schema): the API server checks it too, under kubectl's strict
    field validation."""
    scheduling = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["scheduling"]["properties"]
    affinity = scheduling["affinity"]
    assert "x-kubernetes-preserve-unknown-fields" not in affinity
    term = affinity["properties"]["podAntiAffinity"]["properties"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["items"]
    assert term["required"] == ["topologyKey"]
    assert "matchLabelKeys" in term["properties"]
    assert scheduling["runtimeClassName"]["type"] == "string"


def test_scale_to_zero_in_mode_operator_needs_the_gateway() -> None:
    """minReplicas 0 in mode operator is valid for the API server (no CEL rule can know
    whether voxtral-gateway runs) and refused by the operator when it runs without one."""
    sample = VALID["mini-preset"] | {
        "spec": {
            "model": {"preset": "voxtral-mini-3b"},
            "autoscaling": {"minReplicas": 0, "scaleDown": {"idleSeconds": 1200}},
        }
    }
    assert not cel_errors(sample)
    with pytest.raises(SpecError) as caught:
        resolve(parse(sample), gateway=False)
    assert caught.value.message == (
        "spec.autoscaling.minReplicas 0 in mode operator needs voxtral-gateway, which holds a "
        "service's requests while its first replica starts: install the chart with "
        "gateway.enabled=true (the operator then runs with VOXTRAL_OPERATOR_GATEWAY=true), or "
        "set minReplicas to 1"
    )
    resolved = resolve(parse(sample), gateway=True)
    assert resolved.scales_to_zero
    assert resolved.scaling is not None
    assert resolved.scaling.config().scale_down.idle_seconds == 1200
    assert resolved.start_replicas == 1  # a new Deployment starts with one replica
