"""The `voxtral-operator` command (render, crd) and the operator's settings, run as a user
runs them: as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import kubernetes_validate
import pytest
import yaml
from custom_resources import validate
from operator_samples import VALID, cel_errors, schema_errors

from voxtral_operator import metrics
from voxtral_operator.config import ConfigError, Settings
from voxtral_operator.render import RenderError, render_documents

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxtral_operator", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_render_prints_every_object_as_valid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(
        yaml.safe_dump_all([VALID["small-preset"], VALID["pvc"] | {"metadata": {"name": "mini"}}])
    )
    result = cli("render", "-f", str(path))
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds[:5] == [
        ("PersistentVolumeClaim", "voxtral-model-cache"),
        ("Job", kinds[1][1]),
        ("Deployment", "voxtral"),
        ("Service", "voxtral"),
        ("PodDisruptionBudget", "voxtral"),
    ]
    assert kinds[5:] == [("Deployment", "mini"), ("Service", "mini")]
    assert objects[5]["metadata"]["namespace"] == "default"
    for obj in objects:
        assert "ownerReferences" not in obj["metadata"]
        kubernetes_validate.validate(obj, "1.37.0", strict=True)


def test_render_reads_stdin_and_takes_a_namespace() -> None:
    doc = VALID["mini-preset"] | {"metadata": {"name": "asr"}}
    result = cli("render", "-f", "-", "-n", "speech", stdin=yaml.safe_dump(doc))
    assert result.returncode == 0, result.stderr
    assert {o["metadata"]["namespace"] for o in yaml.safe_load_all(result.stdout)} == {"speech"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            yaml.safe_dump(
                {
                    "apiVersion": "voxtral.dev/v1alpha1",
                    "kind": "VoxtralService",
                    "metadata": {"name": "x"},
                    "spec": {"modle": {}},
                }
            ),
            "spec.modle: unknown field 'modle': did you mean 'model'?",
        ),
        (
            yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            "document 1: v1/ConfigMap is not a voxtral.dev/v1alpha1 VoxtralService",
        ),
        ("spec: [unclosed", "not valid YAML"),
        ("", "no VoxtralService found"),
    ],
)
def test_render_rejects_bad_input_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = cli("render", "-f", str(path))
    assert result.returncode == 1
    assert message in result.stderr and result.stdout == ""


def test_render_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = cli("render", "-f", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_render_documents_names_the_failing_document() -> None:
    bad = VALID["mini-preset"] | {
        "spec": {"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 1, "gpuMemory": "24Gi"}
    }
    with pytest.raises(RenderError, match=r"document 2 \('voxtral'\): preset voxtral-small-24b"):
        render_documents([VALID["mini-preset"], bad])


def test_crd_subcommand_prints_the_crd() -> None:
    result = cli("crd")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == "voxtralservices.voxtral.dev"


def test_run_refuses_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voxtral_operator", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VOXTRAL_OPERATOR_LOG_FORMAT": "xml", "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert "VOXTRAL_OPERATOR_LOG_FORMAT='xml': use one of plain, full, json" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["-n", "Team_A"], {}, "'Team_A' is not a namespace name or glob"),
        (
            ["-n", "team-*"],
            {"VOXTRAL_OPERATOR_OBSERVE_CLUSTER": "false"},
            "NAMESPACES has patterns, which need VOXTRAL_OPERATOR_OBSERVE_CLUSTER=true",
        ),
    ],
)
def test_run_checks_namespaces_given_with_n(
    args: list[str], env: dict[str, str], message: str
) -> None:
    """-n is the setting VOXTRAL_OPERATOR_NAMESPACES given on the command line, and is
    refused for the same reasons, before anything starts."""
    result = subprocess.run(
        [sys.executable, "-m", "voxtral_operator", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin", **env},
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "VOXTRAL_OPERATOR_NAMESPACES": "speech, ml-*",
            "VOXTRAL_OPERATOR_LOG_FORMAT": "JSON",
            "VOXTRAL_OPERATOR_PEERING": "voxtral",
            "VOXTRAL_OPERATOR_RESYNC_SECONDS": "60",
            "VOXTRAL_OPERATOR_METRICS_PORT": "0",
            "VOXTRAL_OPERATOR_AUTOSCALE_SECONDS": "30",
            "VOXTRAL_OPERATOR_SCRAPE_TIMEOUT": "1",
            "VOXTRAL_OPERATOR_REPLICA_METRICS_PORT": "18080",
            "VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS": "http://prometheus.monitoring.svc:9090",
        }
    )
    assert (settings.autoscale_seconds, settings.scrape_timeout) == (30, 1)
    assert settings.replica_metrics_port == 18080
    assert settings.prometheus_address == "http://prometheus.monitoring.svc:9090"
    assert settings.namespaces == ("speech", "ml-*") and not settings.clusterwide
    assert settings.log_format == "json" and settings.peering == "voxtral"
    assert settings.resync_seconds == 60 and settings.metrics_port == 0
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VOXTRAL_OPERATOR_RESYNC_SECONDS": "soon"}, "is not a number"),
        ({"VOXTRAL_OPERATOR_METRICS_PORT": "70000"}, "must be between 0 and 65535"),
        ({"VOXTRAL_OPERATOR_NAMESPACES": "Bad_NS"}, "is not a namespace name"),
        ({"VOXTRAL_OPERATOR_LOG_LEVEL": "loud"}, "use one of debug, info, warning"),
        ({"VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS": "prometheus:9090"}, "is not an http"),
        ({"VOXTRAL_OPERATOR_AUTOSCALE_SECONDS": "0"}, "must be between"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_metrics_are_served_over_http() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(port)
    metrics.RECONCILES.labels("test", "ok").inc()
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'voxtral_operator_reconciles_total{result="ok",trigger="test"}' in text


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_samples_are_valid_and_render(sample: Path) -> None:
    doc = yaml.safe_load(sample.read_text())
    assert schema_errors(doc) == [] and cel_errors(doc) == []
    result = cli("render", "-f", str(sample))
    assert result.returncode == 0, result.stderr
    for obj in yaml.safe_load_all(result.stdout):
        validate(obj, "1.30.0")


def test_render_says_on_stderr_what_it_cannot_show(tmp_path: Path) -> None:
    """Issue 13, fix 10: mode keda without a Prometheus address has no ScaledObject to print;
    render says so, prints the rest and exits 0."""
    keda = VALID["mini-preset"] | {"spec": {"model": {"preset": "voxtral-mini-3b"},
                                            "autoscaling": {"mode": "keda"}}}  # fmt: skip
    path = tmp_path / "keda.yaml"
    path.write_text(yaml.safe_dump(keda))
    result = cli("render", "-f", str(path))
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert "Deployment" in kinds and "ScaledObject" not in kinds
    assert "no ScaledObject" in result.stderr
    assert "spec.autoscaling.prometheusAddress" in result.stderr
    with_address = keda | {"spec": keda["spec"] | {"autoscaling": {
        "mode": "keda", "prometheusAddress": "http://prometheus:9090"}}}  # fmt: skip
    path.write_text(yaml.safe_dump(with_address))
    result = cli("render", "-f", str(path))
    assert result.returncode == 0 and result.stderr == ""
    assert "ScaledObject" in [d["kind"] for d in yaml.safe_load_all(result.stdout)]
