"""The Helm chart, checked by the real helm (v4, from the PyPI wheel): lint, render with the
default values and with every option on, refuse bad values with a message, and each template
renders what it should."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from install_chart import (
    CHART,
    EVERYTHING,
    NAMESPACE,
    RELEASE,
    component,
    find,
    helm,
    kinds,
    render,
    template,
)

from voxtral_operator import __version__
from voxtral_operator.api import service as api

PREDICTOR_IMAGE = api.DEFAULT_IMAGE


def env_of(deployment: dict[str, object]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {
        e["name"]: e["value"] if "value" in e else str(e["valueFrom"]) for e in container["env"]
    }


@pytest.mark.parametrize("values", [[], ["-f", str(EVERYTHING)]], ids=["defaults", "everything"])
def test_helm_lint_strict_passes(values: list[str]) -> None:
    result = helm("lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_kubernetes_older_than_1_30_is_refused() -> None:
    assert template("--kube-version", "1.30.0").returncode == 0
    old = template("--kube-version", "1.29.9")
    assert old.returncode != 0 and "kubeVersion" in old.stderr


def test_the_rendered_environment_is_valid_operator_configuration() -> None:
    """What the chart sets in VOXTRAL_OPERATOR_* is what the operator reads (config.py)."""
    from voxtral_operator.config import Settings

    cases = [
        ([], {"clusterwide": True, "observe_cluster": True, "peering": ""}),
        (["-f", str(EVERYTHING)], {"namespaces": ("team-a", "team-b"), "log_format": "plain",
                                   "peering": "voxtral-peering", "metrics_port": 9000,
                                   "wait_seconds": 5.5, "cluster_domain": "corp.example",
                                   "autoscale_seconds": 30, "scrape_timeout": 1.5,
                                   "prometheus_address": "http://prometheus-operated.monitoring.svc:9090"}),
        (["--set", "rbac.scope=namespace"], {"namespaces": (NAMESPACE,), "observe_cluster": False}),
    ]  # fmt: skip
    for args, expected in cases:
        settings = Settings.from_env(env_of(find(render(*args), "Deployment")))
        for field, value in expected.items():
            assert getattr(settings, field) == value, (args, field)
        assert settings.health_endpoint.startswith("http://0.0.0.0:")
    peered = Settings.from_env(env_of(find(render("-f", str(EVERYTHING)), "Deployment")))
    again = Settings.from_env(env_of(find(render("-f", str(EVERYTHING)), "Deployment")))
    assert peered.priority != again.priority  # each replica draws its own


def test_the_settings_the_chart_relies_on_check_themselves() -> None:
    from voxtral_operator.config import RANDOM_PRIORITY_MAX, ConfigError, Settings

    draws = {Settings.from_env({"VOXTRAL_OPERATOR_PRIORITY": "random"}).priority for _ in range(20)}
    assert len(draws) == 20 and all(1 <= p <= RANDOM_PRIORITY_MAX for p in draws)
    assert Settings.from_env({"VOXTRAL_OPERATOR_PRIORITY": "7"}).priority == 7
    with pytest.raises(ConfigError, match="need VOXTRAL_OPERATOR_OBSERVE_CLUSTER=true"):
        Settings.from_env(
            {"VOXTRAL_OPERATOR_NAMESPACES": "team-*", "VOXTRAL_OPERATOR_OBSERVE_CLUSTER": "false"}
        )
    with pytest.raises(ConfigError, match="use one of true, false"):
        Settings.from_env({"VOXTRAL_OPERATOR_OBSERVE_CLUSTER": "no"})


def test_the_chart_and_app_versions_are_the_operator_version() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["appVersion"] == __version__ == meta["version"]
    # The operator image follows the predictor image's registry and naming.
    assert f"ghcr.io/voxtral-operator/voxtral-predictor:{__version__}" == PREDICTOR_IMAGE


def test_defaults_render_a_standalone_cluster_wide_operator() -> None:
    docs = render()
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    deployment = find(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(deployment)
    assert env["VOXTRAL_OPERATOR_NAMESPACES"] == ""  # every namespace
    assert "VOXTRAL_OPERATOR_PEERING" not in env and "VOXTRAL_OPERATOR_PRIORITY" not in env
    pod = deployment["spec"]["template"]["spec"]
    assert (
        pod["containers"][0]["image"] == f"ghcr.io/voxtral-operator/voxtral-operator:{__version__}"
    )


def test_the_operator_pod_is_locked_down_and_probed_on_its_health_endpoint() -> None:
    for docs in (render(), render("-f", str(EVERYTHING))):
        deployment = find(docs, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert (
            container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        )
        assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
        # The probes ask kopf's liveness endpoint, at the URL the operator is told to serve.
        env = env_of(deployment)
        endpoint = re.fullmatch(
            r"http://0\.0\.0\.0:(\d+)(/\S+)", env["VOXTRAL_OPERATOR_HEALTH_ENDPOINT"]
        )
        assert endpoint is not None
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == int(endpoint[1])
        assert ports["metrics"] == int(env["VOXTRAL_OPERATOR_METRICS_PORT"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": endpoint[2], "port": "health"}
        assert container["args"] == ["run"]
        assert pod["serviceAccountName"] == find(docs, "ServiceAccount")["metadata"]["name"]


def test_everything_renders_every_optional_object() -> None:
    docs = render("-f", str(EVERYTHING))
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterServingRuntime",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "KopfPeering",
        "KopfPeering",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "VoxtralService",
    ]
    deployment = find(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["affinity"]["podAntiAffinity"]
    env = env_of(deployment)
    assert env["VOXTRAL_OPERATOR_NAMESPACES"] == "team-a,team-b"
    assert env["VOXTRAL_OPERATOR_PEERING"] == "voxtral-peering"
    assert env["VOXTRAL_OPERATOR_PRIORITY"] == "random"
    assert env["VOXTRAL_OPERATOR_LOG_LEVEL"] == "debug"
    assert env["VOXTRAL_OPERATOR_WAIT_SECONDS"] == "5.5"
    assert env["VOXTRAL_OPERATOR_CLUSTER_DOMAIN"] == "corp.example"
    peerings = [d for d in docs if d["kind"] == "KopfPeering"]
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert {p["metadata"]["name"] for p in peerings} == {"voxtral-peering"}
    monitor = find(docs, "ServiceMonitor")
    service = find(docs, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    pdb = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    example = find(docs, "VoxtralService")
    assert example["metadata"]["namespace"] == "team-a"
    assert example["spec"]["model"]["preset"] == "voxtral-small-24b"
    # the gateway's metrics, which the services' dashboards read
    gateway_monitor = find(docs, "ServiceMonitor", of="gateway")
    gateway_service = find(docs, "Service", of="gateway")
    selected = gateway_monitor["spec"]["selector"]["matchLabels"].items()
    assert selected <= gateway_service["metadata"]["labels"].items()
    assert (
        selected
        <= find(docs, "Deployment", of="gateway")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert gateway_monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s"}
    ]
    assert gateway_monitor["metadata"]["labels"]["release"] == "prometheus"
    assert "ServiceMonitor" not in kinds(render(), of="gateway")


def test_the_metrics_service_selects_the_operator_pods() -> None:
    docs = render()
    service = find(docs, "Service")
    pod_labels = find(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8000, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_a_cluster_wide_peered_operator_meets_in_a_cluster_kopf_peering() -> None:
    docs = render("--set", "replicaCount=3", "--set", "peering.enabled=true")
    peering = find(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == f"{RELEASE}-voxtral-operator"
    assert (
        env_of(find(docs, "Deployment"))["VOXTRAL_OPERATOR_PEERING"] == peering["metadata"]["name"]
    )
    assert find(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def operator_docs(*args: str) -> list[dict[str, Any]]:
    return [d for d in render(*args) if component(d) != "gateway"]


def test_namespace_scope_grants_roles_only_where_it_serves() -> None:
    assert not [
        d for d in render("--set", "rbac.scope=namespace") if d["kind"].startswith("Cluster")
    ]
    docs = operator_docs("--set", "rbac.scope=namespace")
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert env_of(find(docs, "Deployment"))["VOXTRAL_OPERATOR_NAMESPACES"] == NAMESPACE
    docs = operator_docs("--set", "rbac.scope=namespace", "--set", "watch.namespaces={a,b}")
    assert sorted(d["metadata"]["namespace"] for d in docs if d["kind"] == "Role") == ["a", "b"]
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": f"{RELEASE}-voxtral-operator",
                "namespace": NAMESPACE,
            }
        ]


def test_without_rbac_or_service_account_the_chart_uses_the_named_one() -> None:
    docs = render(
        "--set", "rbac.create=false", "--set", "serviceAccount.create=false",
        "--set", "serviceAccount.name=mine", "--set", "gateway.serviceAccountName=mine-too",
    )  # fmt: skip
    assert not [d for d in docs if "Role" in d["kind"] or d["kind"] == "ServiceAccount"]
    assert find(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "mine"
    gateway = find(docs, "Deployment", of="gateway")["spec"]["template"]["spec"]
    assert gateway["serviceAccountName"] == "mine-too"
    failed = template("--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine")
    assert failed.returncode != 0
    assert "gateway.serviceAccountName: name the existing ServiceAccount" in failed.stderr


def test_every_object_carries_the_standard_labels_from_one_helper() -> None:
    for docs in (render(), render("-f", str(EVERYTHING))):
        for doc in docs:
            if doc["kind"] == "CustomResourceDefinition":
                continue  # crds/ are plain files, never templated
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "Helm", doc["kind"]
            assert labels["app.kubernetes.io/part-of"] == "voxtral-operator"
            assert labels["app.kubernetes.io/version"] == __version__
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["helm.sh/chart"] == f"voxtral-operator-{__version__}"
            assert labels["app.kubernetes.io/component"]
    templates = CHART / "templates"
    for path in templates.glob("*.yaml"):
        text = path.read_text()
        assert "app.kubernetes.io/" not in text.replace(
            "app.kubernetes.io/component: metrics", ""
        ), f"{path.name} writes labels itself: use voxtral-operator.labels"


def test_no_template_is_untested() -> None:
    """Each template renders in one of the cases above (habit 10: a test per template)."""
    rendered = set()
    for args in ([], ["-f", str(EVERYTHING)], ["--set", "replicaCount=2,peering.enabled=true"],
                 ["--set", "rbac.scope=namespace"]):  # fmt: skip
        out = template(*args, crds=False).stdout
        rendered |= set(re.findall(r"^# Source: voxtral-operator/templates/(\S+)$", out, re.M))
    # NOTES.txt is no object: helm install prints it (test_notes_tell_how_to_...).
    assert rendered == {p.name for p in (CHART / "templates").glob("*.yaml")}


def test_notes_tell_how_to_create_a_first_voxtralservice() -> None:
    out = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client")
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "kind: VoxtralService" in notes and "preset: voxtral-mini-3b" in notes
    assert "kubectl apply -n voxtral-system -f -" in notes
    assert (
        f"http://voxtral-mini.{NAMESPACE}.svc.cluster.local:8080/v1/audio/transcriptions" in notes
    )
    # The VoxtralService in the notes is valid: pull it out and check it against the CRD.
    block = re.search(r"<<'YAML'\n(.*?)\n\s*YAML\n", notes, re.S)
    assert block is not None
    from operator_samples import cel_errors, schema_errors

    doc = yaml.safe_load("\n".join(line[2:] for line in block[1].splitlines()))
    assert schema_errors(doc) == [] and cel_errors(doc) == []


BAD_VALUES = [
    (["--set", "replcaCount=2"], "additional properties 'replcaCount' not allowed"),
    (["--set", "image.tga=1"], "additional properties 'tga' not allowed"),
    (
        ["--set", "metrics.serviceMonitor.enabeld=true"],
        "additional properties 'enabeld' not allowed",
    ),
    (["--set", "rbac.scope=namespaced"], "value must be one of 'cluster', 'namespace'"),
    (["--set", "operator.resyncSeconds=soon"], "got string, want number"),
    (["--set", "operator.prometheusAddress=prometheus:9090"], "prometheusAddress"),
    (["--set", "replicaCount=0"], "minimum"),
    (["--set", "exampleService.spec.replcas=2"], "additional properties 'replcas' not allowed"),
    (["--set", "exampleService.spec.model.preset=voxtral-large"], "value must be one of"),
    (["--set", "image.tag=latest"], "image.tag=latest: pin a version"),
    (["--set", "replicaCount=2"], "replicaCount > 1 needs peering.enabled=true"),
    (["--set", "metrics.port=8080"], "metrics.port and health.port are both 8080"),
    (
        ["--set", "rbac.scope=namespace", "--set", "watch.namespaces={team-*}"],
        '"team-*" is a pattern; rbac.scope=namespace grants Roles in named namespaces only',
    ),
    (
        ["--set", "peering.enabled=true", "--set", "watch.namespaces={team-*}"],
        "kopf needs a KopfPeering in each served namespace",
    ),
    (
        ["--set", "metrics.service.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"],
        "metrics.serviceMonitor.enabled needs metrics.service.enabled",
    ),
    (
        ["--set", "serviceAccount.create=false"],
        "serviceAccount.name: name the existing ServiceAccount",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_values_fail_with_a_message(args: list[str], message: str) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    # helm install checks the same way before it touches a cluster.
    install = helm("install", RELEASE, str(CHART), "--dry-run=client", *args)
    assert install.returncode != 0 and message in install.stderr


def test_the_values_schema_checks_the_defaults_and_the_everything_file() -> None:
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    for path in (CHART / "values.yaml", EVERYTHING):
        jsonschema.Draft7Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_the_gateway_is_installed_by_default_with_what_it_calls_and_nothing_more() -> None:
    """Two replicas (a PodDisruptionBudget keeps one), its own ServiceAccount with list and
    watch of Services and EndpointSlices and patch of VoxtralServices (its reports of held
    requests; cluster-wide, or a Role in each served namespace), its pod's name for those
    reports, a Service with HTTP and gRPC; the operator told the gateway is there;
    `gateway.enabled=false` renders none of it."""
    docs = render()
    assert kinds(docs, of="gateway") == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service",
        "ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ]  # fmt: skip
    deployment = find(docs, "Deployment", of="gateway")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/voxtral-operator/voxtral-gateway:{__version__}"
    assert env_of(deployment)["VOXTRAL_GATEWAY_NAMESPACES"] == ""  # every namespace
    assert (
        pod["serviceAccountName"] == find(docs, "ServiceAccount", of="gateway")["metadata"]["name"]
    )
    rules = find(docs, "ClusterRole", of="gateway")["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": ["voxtral.dev"], "resources": ["voxtralservices"], "verbs": ["patch"]},
    ]
    pod_name = next(e for e in container["env"] if e["name"] == "VOXTRAL_GATEWAY_POD_NAME")
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env_of(find(docs, "Deployment"))["VOXTRAL_OPERATOR_GATEWAY"] == "true"
    service = find(docs, "Service", of="gateway")
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [
        ("http", 8080),
        ("grpc", 8081),
    ]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert find(docs, "Deployment")["spec"]["selector"] != deployment["spec"]["selector"]

    scoped = render("--set", "rbac.scope=namespace", "--set", "watch.namespaces={team-a,team-b}")
    roles = [d for d in scoped if d["kind"] == "Role" and component(d) == "gateway"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert env_of(find(scoped, "Deployment", of="gateway"))["VOXTRAL_GATEWAY_NAMESPACES"] == (
        "team-a team-b"
    )
    without = render("--set", "gateway.enabled=false")
    assert kinds(without, of="gateway") == []
    assert env_of(find(without, "Deployment"))["VOXTRAL_OPERATOR_GATEWAY"] == "false"


def test_the_gateways_api_keys_come_from_a_secret_volume() -> None:
    docs = render("--set", "gateway.apiKeys.secretName=voxtral-keys")
    pod = find(docs, "Deployment", of="gateway")["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "api-keys", "secret": {"secretName": "voxtral-keys"}}]
    (container,) = pod["containers"]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/voxtral-gateway/keys"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VOXTRAL_GATEWAY_API_KEYS_FILE"] == "/etc/voxtral-gateway/keys/keys.json"
    plain = find(render(), "Deployment", of="gateway")["spec"]["template"]["spec"]
    assert "volumes" not in plain


def test_the_kserve_runtime_is_the_operators_own_with_the_chosen_image() -> None:
    """kserve.servingRuntime.enabled: the ClusterServingRuntime the operator's builder makes
    (manifests/kserve/clusterservingruntime.yaml), KServe's {{.Name}} kept, the image from
    the values; not rendered by default."""
    from voxtral_operator.builders.kserve import build_serving_runtime

    runtime = find(render("-f", str(EVERYTHING)), "ClusterServingRuntime")
    assert runtime["metadata"]["labels"]["app.kubernetes.io/component"] == "kserve-runtime"
    expected = build_serving_runtime("registry.example/voxtral-predictor:1.2.3")
    del runtime["metadata"]["labels"]
    assert runtime == expected
    assert runtime["spec"]["containers"][0]["args"][0] == "--model_name={{.Name}}"
    assert "ClusterServingRuntime" not in kinds(render())
    default = find(render("--set", "kserve.servingRuntime.enabled=true"), "ClusterServingRuntime")
    image = default["spec"]["containers"][0]["image"]
    assert image == f"ghcr.io/voxtral-operator/voxtral-predictor:{__version__}"


def test_the_gateway_may_patch_only_its_reports_of_held_requests() -> None:
    """RBAC grants the gateway patch on whole VoxtralServices; the chart's
    ValidatingAdmissionPolicy, for the gateway's ServiceAccount only, lets through what
    report.py writes and refuses any other change. Its CEL evaluated here on both."""
    import cel

    docs = render()
    policy = find(docs, "ValidatingAdmissionPolicy", of="gateway")
    binding = find(docs, "ValidatingAdmissionPolicyBinding", of="gateway")
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    account = find(docs, "ServiceAccount", of="gateway")["metadata"]
    (condition,) = policy["spec"]["matchConditions"]
    assert cel.evaluate(
        condition["expression"],
        {
            "request": {
                "userInfo": {
                    "username": f"system:serviceaccount:{account['namespace']}:{account['name']}"
                }
            }
        },
    )
    assert not cel.evaluate(
        condition["expression"],
        {
            "request": {
                "userInfo": {"username": "system:serviceaccount:voxtral-system:voxtral-operator"}
            }
        },
    )
    old = {
        "metadata": {"name": "v", "annotations": {"voxtral.dev/x": "1"}, "labels": {"a": "b"}},
        "spec": {"model": {"preset": "voxtral-mini-3b"}},
    }

    def refused(new: dict[str, object]) -> list[str]:
        return [
            v["message"]
            for v in policy["spec"]["validations"]
            if not cel.evaluate(v["expression"], {"object": new, "oldObject": old})
        ]

    report = '{"held": 1, "since": "2026-11-30T10:00:00.000Z", "at": "2026-11-30T10:00:00.000Z"}'
    reported = copy.deepcopy(old)
    reported["metadata"]["annotations"]["held.gateway.voxtral.dev/gateway-7d9f-x"] = report
    assert refused(reported) == []
    withdrawn = copy.deepcopy(old)  # and from a report back to none
    assert refused(withdrawn) == []
    edited = copy.deepcopy(reported)
    edited["spec"]["image"] = "evil:1"
    assert refused(edited) == [
        "voxtral-gateway may only report held requests (held.gateway.voxtral.dev/ "
        "annotations): it changed spec"
    ]
    other = copy.deepcopy(old)
    other["metadata"]["annotations"]["voxtral.dev/x"] = "2"
    assert "another annotation" in refused(other)[0]
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {}
    assert "labels, finalizers or owners" in refused(relabelled)[0]
