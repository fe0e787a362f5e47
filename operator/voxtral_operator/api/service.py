"""The VoxtralService API (voxtral.dev/v1alpha1): the single source of truth.

The CRD's openAPIV3Schema is generated from these models (`python -m voxtral_operator.api.crd`),
and each `x-kubernetes-validations` rule in it has a twin validator here, so the operator
rejects what the API server rejects, with the same message, even where the CRD is old or
absent (`voxtral-operator render`). Defaults live here, not in the CRD: an operator upgrade
moves every service to the new defaults (a new predictor image, for example).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from voxtral_operator import __version__
from voxtral_operator.api import kubernetes
from voxtral_operator.api.base import Model, StatusModel
from voxtral_operator.api.presets import PresetName
from voxtral_operator.api.quantity import QUANTITY_PATTERN, parse_quantity
from voxtral_operator.api.scaling import (
    AutoscalingSpec,
    AutoscalingStatus,
    LabelKey,
    LabelValue,
    MonitoringSpec,
)

GROUP: Final = "voxtral.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "VoxtralService"
PLURAL: Final = "voxtralservices"
SINGULAR: Final = "voxtralservice"
SHORT_NAMES: Final = ("vxs",)

DEFAULT_IMAGE: Final = f"ghcr.io/voxtral-operator/voxtral-predictor:{__version__}"
DEFAULT_ALLOW_PATTERNS: Final = ("*.json", "consolidated*.safetensors")
# Child names add at most 18 characters ("-download-" + 8 hex digits) to the service's
# name, and a Job's name must fit a 63-character label value.
MAX_NAME_LENGTH: Final = 45
NAME_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
RESERVED_ENV_PREFIX: Final = "VOXTRAL_"


def _check_positive_quantity(value: str | int) -> str | int:
    # parse_quantity raises a ValueError with a message a person can act on
    if parse_quantity(value) <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return value


def _to_str_if_float(value: Any) -> Any:
    return str(value) if isinstance(value, float) else value


_QUANTITY_SCHEMA: Final[dict[str, Any]] = {
    "x-kubernetes-int-or-string": True,
    "pattern": QUANTITY_PATTERN,
}
Quantity = Annotated[
    str | int,
    BeforeValidator(_to_str_if_float),
    AfterValidator(_check_positive_quantity),
    Field(json_schema_extra=_QUANTITY_SCHEMA),
]
IntOrPercent = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": r"^\d+%?$"}),
]
Port = Annotated[int, Field(ge=1, le=65535)]
DnsName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]


def _check_int_or_percent(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} must not be negative")
        return value
    if not re.fullmatch(r"\d+%?", value):
        raise ValueError(f"{value!r} must be a whole number or a percentage such as 25%")
    return int(value) if value.isdigit() else value


# --- spec.model -----------------------------------------------------------------------


class TokenSecretRef(Model):
    """A key of a Secret in the service's namespace that holds a Hugging Face token."""

    name: DnsName = Field(description="Name of the Secret.")
    key: str = Field(default="token", min_length=1, description="Key in the Secret's data.")


class HuggingFaceSource(Model):
    """Weights on the Hugging Face Hub, downloaded once into the model-cache PVC by a Job."""

    repo: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=200,
        description="Repository id, owner/name (e.g. mistralai/Voxtral-Mini-3B-2507).",
    )
    revision: str = Field(
        default="main",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._/-]+$",
        description="Branch, tag or commit to download. Pin a commit for reproducible rollouts.",
    )
    token_secret_ref: TokenSecretRef | None = Field(
        default=None,
        description="Token for gated or private repositories (env HF_TOKEN of the Job).",
    )
    allow_patterns: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_ALLOW_PATTERNS),
        max_length=32,
        description="Files to download (glob patterns). The default takes the Mistral-format "
        "checkpoint the predictor loads (params.json, tekken.json, consolidated.safetensors).",
    )


class PvcSource(Model):
    """Weights already on a PersistentVolumeClaim in the service's namespace, mounted read-only."""

    claim_name: DnsName = Field(description="Name of the PersistentVolumeClaim.")
    path: str = Field(
        default="",
        max_length=512,
        pattern=r"^([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$",
        description="Directory of the checkpoint inside the claim, relative (empty: its root).",
    )

    cel_rules = (
        (
            "!has(self.path) || !self.path.matches('(^|/)[.][.](/|$)')",
            "spec.model.source.pvc.path must stay inside the claim: remove '..'",
        ),
    )

    @model_validator(mode="after")
    def _inside_claim(self) -> PvcSource:
        if re.search(r"(^|/)[.][.](/|$)", self.path):
            raise ValueError(self.cel_rules[0][1])
        return self


class ModelSource(Model):
    """Where the weights come from: exactly one of `huggingFace` or `pvc`."""

    hugging_face: HuggingFaceSource | None = Field(
        default=None, description=HuggingFaceSource.__doc__
    )
    pvc: PvcSource | None = Field(default=None, description=PvcSource.__doc__)

    cel_rules = (
        (
            "(has(self.huggingFace) ? 1 : 0) + (has(self.pvc) ? 1 : 0) == 1",
            "spec.model.source needs exactly one of huggingFace or pvc",
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        if (self.hugging_face is None) == (self.pvc is None):
            raise ValueError(self.cel_rules[0][1])
        return self


class ModelSpec(Model):
    """Which Voxtral to serve: a preset, a source, or both (the source overrides the
    preset's Hugging Face repository; the preset still sizes GPUs and memory)."""

    preset: PresetName | None = Field(
        default=None,
        description="voxtral-small-24b (mistralai/Voxtral-Small-24B-2507, 2 GPUs) or "
        "voxtral-mini-3b (mistralai/Voxtral-Mini-3B-2507, 1 GPU). Fills in the source, "
        "gpusPerReplica and resources that the spec leaves out.",
    )
    source: ModelSource | None = Field(default=None, description=ModelSource.__doc__)
    served_name: str = Field(
        default="voxtral",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Name clients put in the `model` field of requests.",
    )

    cel_rules = (
        (
            "has(self.preset) || has(self.source)",
            "spec.model needs a preset or a source: set spec.model.preset to "
            "voxtral-small-24b or voxtral-mini-3b, or give spec.model.source",
        ),
    )

    @model_validator(mode="after")
    def _preset_or_source(self) -> ModelSpec:
        if self.preset is None and self.source is None:
            raise ValueError(self.cel_rules[0][1])
        return self


# --- spec.engine ------------------------------------------------------------------------

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class EngineSpec(Model):
    """Options of the predictor and its vLLM engine."""

    max_model_len: int = Field(
        default=32768,
        ge=1024,
        le=131072,
        description="Context length in tokens (30 min of audio is 22,500 tokens).",
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=0.99, description="Share of each GPU's memory the engine may take."
    )
    max_audio_seconds: float = Field(
        default=1800,
        gt=0,
        le=7200,
        description="Longest audio accepted for transcription and translation.",
    )
    max_chat_audio_seconds: float = Field(
        default=2400, gt=0, le=7200, description="Longest total audio in one chat request."
    )
    max_upload_mb: float = Field(
        default=384, gt=0, le=4096, alias="maxUploadMB", description="Largest audio upload in MiB."
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Requests one replica serves at once; more wait in its queue (default: "
        "the engine's batch size, vLLM's max_num_seqs: 1024 on an H100/H200).",
    )
    max_queue: int | None = Field(
        default=None,
        ge=0,
        le=100000,
        description="Requests one replica queues before answering 429 (default: the predictor's).",
    )
    max_num_seqs: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Sequences the engine batches at once (default: vLLM's).",
    )
    api_servers: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="Frontend processes of a replica on its one engine core, sharing its "
        "ports (each parses, decodes and streams requests): default the preset's (4), "
        "without a preset the predictor's choice from its CPUs. Give the pod about 4 CPUs "
        "for the engine core and 1 per frontend.",
    )
    drain_timeout_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="On shutdown, how long a replica finishes in-flight "
        "requests; the pod's grace period is 30 s longer.",
    )
    startup_timeout_seconds: int = Field(
        default=1800,
        ge=1800,
        le=14400,
        description="How long a replica may take to load the model "
        "before the kubelet restarts it (startup probe budget).",
    )
    extra_args: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Extra vLLM engine flags, e.g. "
        "[--max-num-batched-tokens, '8192']; they come last and win.",
    )
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(
        default_factory=dict,
        max_length=64,
        description="Extra environment variables of the predictor "
        "container (e.g. VLLM_* settings). Names starting with VOXTRAL_ are reserved.",
    )

    cel_rules = (
        (
            "!has(self.env) || self.env.all(k, !k.startsWith('VOXTRAL_'))",
            "spec.engine.env must not set VOXTRAL_* variables: use the matching spec.engine "
            "field instead",
        ),
    )

    @model_validator(mode="after")
    def _no_reserved_env(self) -> EngineSpec:
        if any(name.startswith(RESERVED_ENV_PREFIX) for name in self.env):
            raise ValueError(self.cel_rules[0][1])
        return self


# --- infrastructure --------------------------------------------------------------------


class CacheSpec(Model):
    """The model-cache PVC a Hugging Face source is downloaded into, once, and that every
    replica mounts read-only. Unused for a `pvc` source."""

    storage_class_name: str | None = Field(
        default=None,
        max_length=253,
        description="StorageClass of the claim (default: the cluster's).",
    )
    size: Quantity = Field(
        default="100Gi", description="Capacity requested (the weights plus room)."
    )
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"] = Field(
        default="ReadWriteMany",
        description="ReadWriteMany lets replicas on different nodes share the cache; "
        "ReadWriteOnce works for replicas on one node.",
    )
    fix_permissions: bool = Field(
        default=False,
        description="Give the cache to the download's user (uid/gid 1000) with an init step "
        "that runs as root (CHOWN and FOWNER only), for volume drivers that ignore the pod's "
        "fsGroup (NFS and other ReadWriteMany drivers). Needs a namespace whose Pod Security "
        "level allows it; an export with root_squash refuses it.",
    )


class Toleration(Model):
    """A Kubernetes toleration (core/v1 Toleration), with the API server's own checks
    (pkg/apis/core/validation ValidateTolerations)."""

    key: str | None = Field(default=None, max_length=316)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    cel_rules = (
        (
            "(has(self.key) && self.key != '') || "
            "(has(self.operator) && self.operator == 'Exists')",
            "spec.scheduling.tolerations: a toleration without a key matches every taint and "
            "needs operator Exists",
        ),
        (
            "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || "
            "self.value == ''",
            "spec.scheduling.tolerations: operator Exists takes no value: remove the value",
        ),
        (
            "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
            "spec.scheduling.tolerations: tolerationSeconds needs effect NoExecute",
        ),
    )

    @model_validator(mode="after")
    def _as_the_api_server_checks(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError(self.cel_rules[0][1])
        if self.operator == "Exists" and self.value:
            raise ValueError(self.cel_rules[1][1])
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(self.cel_rules[2][1])
        return self


class SchedulingSpec(Model):
    """Where replicas (and the download Job) run."""

    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=64,
        description="Node labels required (e.g. a GPU product label).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Added to a toleration of the GPU "
        "resource's NoSchedule taint, which is always there.",
    )
    affinity: dict[str, Any] | None = Field(
        default=None,
        description="A core/v1 Affinity (node affinity, pod affinity and anti-affinity), "
        "checked against Kubernetes' own schema.",
        json_schema_extra={"x-voxtral-kubernetes-type": kubernetes.AFFINITY},
    )
    priority_class_name: str | None = Field(default=None, max_length=253)
    runtime_class_name: DnsName | None = Field(
        default=None,
        description="RuntimeClass of the predictor pods, for clusters whose GPU runtime is not "
        "the default one (k3s, RKE2 and some GPU Operator set-ups: nvidia).",
    )

    @field_validator("affinity")
    @classmethod
    def _kubernetes_affinity(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            found = kubernetes.problems(kubernetes.AFFINITY, value, "spec.scheduling.affinity")
            if found:
                raise ValueError("; ".join(found))
        return value


_PORTS: Final = (
    "[has(self.httpPort) ? self.httpPort : 8080, has(self.grpcPort) ? self.grpcPort : 8081,"
    " has(self.metricsPort) ? self.metricsPort : 9090]"
)


class ServiceSpec(Model):
    """The Service in front of the replicas."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(default="ClusterIP")
    http_port: Port = Field(default=8080, description="OpenAI, KServe REST, health and metrics.")
    grpc_port: Port = Field(default=8081, description="KServe v2 gRPC.")
    metrics_port: Port = Field(
        default=9090, description="/metrics again, under a port named metrics for ServiceMonitors."
    )
    annotations: dict[LabelKey, str] = Field(
        default_factory=dict,
        max_length=64,
        description="Annotations of the Service (load-balancer settings, for example).",
    )

    cel_rules = (
        (
            f"{_PORTS}.all(p, {_PORTS}.filter(q, q == p).size() == 1)",
            "spec.service ports must differ: httpPort, grpcPort and metricsPort each need "
            "their own number",
        ),
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServiceSpec:
        ports = [self.http_port, self.grpc_port, self.metrics_port]
        if len(set(ports)) != len(ports):
            raise ValueError(self.cel_rules[0][1])
        return self


class EndpointPickerSpec(Model):
    """The Gateway API Inference Extension's endpoint picker (EPP) that a Gateway asks which
    pod of the pool gets each request (its InferencePool's endpointPickerRef)."""

    service_name: DnsName = Field(
        description="The Service of the endpoint picker, in the VoxtralService's namespace "
        "(e.g. the one the inferencepool Helm chart installs, started with --pool-name set "
        "to this service's name).",
    )
    port: Port = Field(default=9002, description="Its gRPC ext-proc port.")
    failure_mode: Literal["FailClose", "FailOpen"] = Field(
        default="FailClose",
        description="When the picker does not answer: FailClose drops the request, FailOpen "
        "lets the Gateway pick a pod itself.",
    )


class RoutingSpec(Model):
    """How requests reach the replicas besides the Service and voxtral-gateway."""

    inference_pool: bool = Field(
        default=False,
        description="Create an InferencePool (inference.networking.k8s.io/v1, the Gateway "
        "API Inference Extension) selecting the predictor pods on the HTTP port, for "
        "Gateway API users whose Gateway routes through an endpoint picker (endpointPicker, "
        "required); the pods export the vllm: queue, running and KV-cache gauges it reads. "
        "Created once the InferencePool CRD is served (the InferencePoolReady condition "
        "says otherwise).",
    )
    endpoint_picker: EndpointPickerSpec | None = Field(
        default=None, description=EndpointPickerSpec.__doc__
    )

    cel_rules = (
        (
            "!has(self.inferencePool) || !self.inferencePool || has(self.endpointPicker)",
            "spec.routing.inferencePool needs spec.routing.endpointPicker: an InferencePool "
            "names the endpoint picker its Gateway asks (required by the InferencePool CRD "
            "of the Inference Extension v1.0 to v1.5)",
        ),
    )

    @model_validator(mode="after")
    def _picker_with_pool(self) -> RoutingSpec:
        if self.inference_pool and self.endpoint_picker is None:
            raise ValueError(self.cel_rules[0][1])
        return self


class ResourcesSpec(Model):
    """CPU and memory of one replica (requests; memory is also the limit). GPUs come
    from gpusPerReplica."""

    cpu: Quantity | None = Field(
        default=None, description="Default: the preset's (8 for voxtral-small-24b, 4 otherwise)."
    )
    memory: Quantity | None = Field(
        default=None,
        description="Default: the preset's (64Gi for "
        "voxtral-small-24b, 24Gi for voxtral-mini-3b, 32Gi "
        "otherwise).",
    )


class RolloutSpec(Model):
    """The Deployment's rolling update. The default replaces one replica at a time without
    asking for spare GPUs (maxSurge 0); set maxSurge 1 when the cluster has a spare GPU
    node and you want no capacity dip."""

    max_surge: Annotated[IntOrPercent, AfterValidator(_check_int_or_percent)] = Field(default=0)
    max_unavailable: Annotated[IntOrPercent, AfterValidator(_check_int_or_percent)] = Field(
        default=1
    )

    cel_rules = (
        (
            "!has(self.maxSurge) || !has(self.maxUnavailable) || "
            "!(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",
            "spec.rollout: maxSurge and maxUnavailable cannot both be 0 (a rollout could "
            "never start)",
        ),
    )

    @model_validator(mode="after")
    def _can_progress(self) -> RolloutSpec:
        if str(self.max_surge) in ("0", "0%") and str(self.max_unavailable) in ("0", "0%"):
            raise ValueError(self.cel_rules[0][1])
        return self


class VoxtralServiceSpec(Model):
    """The desired state of a Voxtral service. Everything but `model` has a default."""

    model: ModelSpec = Field(description=ModelSpec.__doc__)
    runtime: Literal["deployment", "kserve"] = Field(
        default="deployment",
        description="deployment: the operator runs the predictor in a Deployment of its own, "
        "with a Service, a model cache and the autoscaling and monitoring of this spec. "
        "kserve: the service becomes one KServe InferenceService on the `voxtral` "
        "ClusterServingRuntime (manifests/kserve/; the chart's kserve.servingRuntime.enabled), "
        "which KServe runs: RawDeployment, or Serverless (Knative) in autoscaling mode "
        "operator or with minReplicas 0. Cannot change once the service exists.",
    )
    gpus_per_replica: Literal[1, 2, 4, 8] | None = Field(
        default=None,
        description="GPUs of one replica, which is also vLLM's tensor-parallel size. "
        "Default: the preset's (2 for voxtral-small-24b), else 1.",
    )
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description="Extended resource name of a GPU.",
    )
    gpu_memory: Quantity = Field(
        default="80Gi",
        description="Memory of one GPU, to check that the model fits (80Gi: "
        "H100/A100-80GB; 40Gi, 48Gi, 141Gi...).",
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Replicas of the predictor. With spec.autoscaling on: the count a new "
        "Deployment starts from (within minReplicas..maxReplicas); the autoscaler decides "
        "after that.",
    )
    engine: EngineSpec = Field(default_factory=EngineSpec, description=EngineSpec.__doc__)
    cache: CacheSpec = Field(default_factory=CacheSpec, description=CacheSpec.__doc__)
    image: str = Field(
        default=DEFAULT_IMAGE,
        min_length=1,
        max_length=512,
        pattern=r"^\S+$",
        description="The predictor image; pin a tag or digest.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(default="IfNotPresent")
    image_pull_secrets: list[DnsName] = Field(
        default_factory=list,
        max_length=16,
        description="Names of registry Secrets, each once.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("image_pull_secrets")
    @classmethod
    def _each_secret_once(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(
                f"names {', '.join(twice)} more than once: list each Secret once (the "
                "API server refuses a pod with a duplicate imagePullSecrets name)"
            )
        return value

    scheduling: SchedulingSpec = Field(
        default_factory=SchedulingSpec, description=SchedulingSpec.__doc__
    )
    service: ServiceSpec = Field(default_factory=ServiceSpec, description=ServiceSpec.__doc__)
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, description=ResourcesSpec.__doc__
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description=RolloutSpec.__doc__)
    autoscaling: AutoscalingSpec | None = Field(default=None, description=AutoscalingSpec.__doc__)
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description=MonitoringSpec.__doc__
    )
    routing: RoutingSpec = Field(default_factory=RoutingSpec, description=RoutingSpec.__doc__)

    @property
    def scaling(self) -> AutoscalingSpec | None:
        """spec.autoscaling when it is on (not absent, not mode none)."""
        return (
            self.autoscaling if self.autoscaling is not None and self.autoscaling.active else None
        )


# --- status -------------------------------------------------------------------------------


class Condition(StatusModel):
    """A standard condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str = Field(description="RFC 3339 time of the last status change.")
    observed_generation: int | None = None


class Endpoints(Model):
    """Where clients reach the service, as cluster DNS names."""

    http: str = Field(description="Base URL of the HTTP port (KServe REST, health, metrics).")
    openai: str = Field(description="Base URL for OpenAI clients (…/v1).")
    grpc: str | None = Field(
        default=None,
        description="host:port of the KServe v2 gRPC server (none under KServe Serverless: "
        "Knative serves one port).",
    )


class VoxtralServiceStatus(StatusModel):
    """The observed state, written by the operator."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="ModelReady (weights in place), Available "
        "(replicas serving), Ready (both, and the spec is valid); with spec.autoscaling "
        "ScalingActive (the autoscaler works) and ScalingLimited (it may not add replicas: "
        "no free GPUs, or maxReplicas); with spec.monitoring MonitoringReady.",
    )
    replicas: int | None = Field(default=None, description="Replicas the Deployment has.")
    ready_replicas: int | None = Field(default=None, description="Replicas ready to serve.")
    replica_summary: str | None = Field(
        default=None, description="Ready/desired replicas, for kubectl get."
    )
    observed_generation: int | None = Field(
        default=None, description="The spec generation this status describes."
    )
    endpoints: Endpoints | None = None
    url: str | None = Field(
        default=None,
        description="spec.runtime kserve: the InferenceService's URL, as KServe reports it.",
    )
    message: str | None = Field(default=None, description="What is going on, or what to do.")
    selector: str | None = Field(
        default=None,
        description="Label selector of the replicas' pods (for the scale subresource).",
    )
    model: str | None = Field(default=None, description="The model served (preset or source).")
    gpus_per_replica: int | None = Field(default=None, description="GPUs of one replica, resolved.")
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description=AutoscalingStatus.__doc__
    )


# --- the object ----------------------------------------------------------------------------


class ObjectMeta(BaseModel):
    """The part of metadata the operator reads; the rest is kept as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    cel_rules: ClassVar[tuple[tuple[str, str], ...]] = (
        (
            f"size(self.metadata.name) <= {MAX_NAME_LENGTH} && "
            f"self.metadata.name.matches('{NAME_PATTERN}')",
            f"metadata.name must be at most {MAX_NAME_LENGTH} characters of a-z, 0-9 and '-', "
            "starting with a letter (it names the Service and the other children)",
        ),
    )

    @model_validator(mode="after")
    def _dns_label(self) -> ObjectMeta:
        if len(self.name) > MAX_NAME_LENGTH or not re.fullmatch(NAME_PATTERN, self.name):
            raise ValueError(self.cel_rules[0][1])
        return self


class VoxtralService(Model):
    """A Voxtral speech model served on GPUs: a Deployment of the predictor, its Service,
    and the weights in place."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    api_version: Literal["voxtral.dev/v1alpha1"] = "voxtral.dev/v1alpha1"
    kind: Literal["VoxtralService"] = KIND
    metadata: ObjectMeta
    spec: VoxtralServiceSpec
    status: VoxtralServiceStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"
