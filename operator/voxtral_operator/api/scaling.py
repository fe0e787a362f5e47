"""`spec.autoscaling`, `spec.monitoring` and `status.autoscaling` of a VoxtralService.

Part of the API (`service.py` holds them in the spec and status; the CRD is generated from both).
The autoscaling defaults are the constants of `autoscaling.defaults`, each with its reason,
so the CRD's documented defaults and the policy's agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from voxtral_operator.api.base import Model, StatusModel
from voxtral_operator.autoscaling import defaults
from voxtral_operator.autoscaling.config import ScaleDown, ScaleUp, ScalingConfig, Target

Mode = Literal["operator", "keda", "hpa", "none"]
MODES: Final[tuple[Mode, ...]] = ("operator", "keda", "hpa", "none")
DEFAULT_MODE: Final[Mode] = "operator"
HPA_MAX_WINDOW: Final = 3600
"""The longest stabilization window a HorizontalPodAutoscaler takes (seconds)."""
_LABEL_KEY: Final = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_LABEL_VALUE: Final = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
LabelKey = Annotated[str, Field(max_length=316, pattern=_LABEL_KEY)]
LabelValue = Annotated[str, Field(max_length=63, pattern=_LABEL_VALUE)]


# --- spec.autoscaling --------------------------------------------------------------------


class ScalingTarget(Model):
    """What one ready replica should carry; replicas are added above it and removed below."""

    queue_per_replica: float = Field(
        default=defaults.QUEUE_PER_REPLICA,
        gt=0,
        le=100000,
        description="Requests a replica may hold waiting (the predictor's queue plus vLLM's "
        "waiting sequences) before it counts as saturated.",
    )
    kv_cache_usage: float = Field(
        default=defaults.KV_CACHE_USAGE,
        gt=0,
        le=1,
        description="Fraction of the KV cache (vllm:kv_cache_usage_perc, the fullest engine) "
        "above which a replica is full whatever its request count.",
    )
    concurrency_per_replica: float = Field(
        default=defaults.CONCURRENCY_PER_REPLICA,
        gt=0,
        le=4096,
        description="Requests (engine sequences: a long recording's 30 s chunks count each) "
        "one replica should carry: the fixed point of the formula.",
    )


class ScaleUpSpec(Model):
    """How fast replicas are added."""

    stabilization_seconds: int = Field(
        default=defaults.SCALE_UP_STABILIZATION_SECONDS,
        ge=0,
        le=3600,
        description="A higher need must be seen on every read for this long before replicas "
        "are ordered.",
    )
    max_step: int = Field(
        default=defaults.SCALE_UP_MAX_STEP,
        ge=1,
        le=1000,
        description="Replicas added at most per decision.",
    )


class ScaleDownSpec(Model):
    """How slowly replicas are removed."""

    delay_seconds: int = Field(
        default=defaults.SCALE_DOWN_DELAY_SECONDS,
        ge=0,
        le=86400,
        description="A lower need must hold for this long (at the present size) before "
        "replicas are removed, and again after each removal.",
    )
    max_step: int = Field(
        default=defaults.SCALE_DOWN_MAX_STEP,
        ge=1,
        le=1000,
        description="Replicas removed at most per decision.",
    )
    idle_seconds: int = Field(
        default=defaults.SCALE_TO_ZERO_IDLE_SECONDS,
        ge=1,
        le=604800,
        description="With minReplicas 0 (mode operator): after this long without a request, "
        "the service goes to 0 replicas. voxtral-gateway then holds the next request, "
        "tells the operator at once, and forwards it when a replica is ready.",
    )


class AutoscalingSpec(Model):
    """Replicas that follow the speech load (queue, in-flight requests, KV cache), not CPU.
    While it is on, only the chosen mechanism writes the Deployment's replicas; spec.replicas
    is then just the count a new Deployment starts from (within minReplicas..maxReplicas).
    Absent, or mode none: the Deployment keeps spec.replicas."""

    mode: Mode = Field(
        default=DEFAULT_MODE,
        description="operator: the operator reads each ready replica's /metrics (every 15 s: "
        "VOXTRAL_OPERATOR_AUTOSCALE_SECONDS) and sets the Deployment's scale (needs nothing "
        "else). keda: a KEDA ScaledObject with "
        "Prometheus triggers on the same signals (needs KEDA and Prometheus). hpa: an "
        "autoscaling/v2 HorizontalPodAutoscaler on Pods metrics (needs a metrics adapter "
        "such as prometheus-adapter with the rules of manifests/monitoring/). none: off.",
    )
    min_replicas: int = Field(
        default=defaults.MIN_REPLICAS,
        ge=0,
        le=1000,
        description="Fewest replicas. 0 (scale to zero) in mode operator needs voxtral-gateway "
        "(the chart's gateway.enabled), which holds requests while a replica starts: the "
        "service goes to 0 after scaleDown.idleSeconds without a request. In mode keda, 0 "
        "needs something else that wakes the service (Prometheus triggers see no load "
        "without a replica).",
    )
    max_replicas: int = Field(
        default=defaults.MAX_REPLICAS,
        ge=1,
        le=1000,
        description="Most replicas: a bound on GPUs (maxReplicas x gpusPerReplica).",
    )
    target: ScalingTarget = Field(default_factory=ScalingTarget, description=ScalingTarget.__doc__)
    scale_up: ScaleUpSpec = Field(default_factory=ScaleUpSpec, description=ScaleUpSpec.__doc__)
    scale_down: ScaleDownSpec = Field(
        default_factory=ScaleDownSpec, description=ScaleDownSpec.__doc__
    )
    prometheus_address: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Prometheus that KEDA's triggers query (mode keda), e.g. "
        "http://prometheus-operated.monitoring.svc:9090. Default: the operator's "
        "VOXTRAL_OPERATOR_PROMETHEUS_ADDRESS.",
    )

    cel_rules = (
        (
            "(has(self.minReplicas) ? self.minReplicas : 1) <= "
            "(has(self.maxReplicas) ? self.maxReplicas : 10)",
            "spec.autoscaling.minReplicas must not be greater than maxReplicas",
        ),
        (
            "!has(self.minReplicas) || self.minReplicas >= 1 || "
            "!has(self.mode) || self.mode != 'hpa'",
            "spec.autoscaling.minReplicas 0 needs mode operator (with voxtral-gateway, which "
            "holds requests while a replica starts) or keda: a HorizontalPodAutoscaler reads "
            "the load from running replicas, so it keeps at least one",
        ),
        (
            "!has(self.mode) || !(self.mode in ['keda', 'hpa']) || !has(self.scaleDown) || "
            "!has(self.scaleDown.delaySeconds) || self.scaleDown.delaySeconds <= 3600",
            "spec.autoscaling.scaleDown.delaySeconds over 3600 needs mode operator: a "
            "HorizontalPodAutoscaler (modes keda and hpa) keeps at most 3600 s of "
            "stabilization",
        ),
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(self.cel_rules[0][1])
        if self.min_replicas == 0 and self.mode == "hpa":
            raise ValueError(self.cel_rules[1][1])
        if self.mode in ("keda", "hpa") and self.scale_down.delay_seconds > HPA_MAX_WINDOW:
            raise ValueError(self.cel_rules[2][1])
        return self

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def clamp(self, replicas: int) -> int:
        """A replica count within minReplicas..maxReplicas."""
        return min(max(replicas, self.min_replicas), self.max_replicas)

    def config(self, interval_seconds: float = defaults.INTERVAL_SECONDS) -> ScalingConfig:
        """The policy's view of this spec (operator mode), deciding every interval_seconds."""
        t = self.target
        return ScalingConfig(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            target=Target(t.queue_per_replica, t.kv_cache_usage, t.concurrency_per_replica),
            scale_up=ScaleUp(self.scale_up.stabilization_seconds, self.scale_up.max_step),
            scale_down=ScaleDown(
                self.scale_down.delay_seconds,
                self.scale_down.max_step,
                self.scale_down.idle_seconds,
            ),
            interval_seconds=interval_seconds,
        )


# --- spec.monitoring ---------------------------------------------------------------------


class AlertsSpec(Model):
    """The PrometheusRule's alerts (each says what to do in its description)."""

    enabled: bool = Field(default=True, description="Create the PrometheusRule.")
    queue_time_seconds: float = Field(
        default=2,
        gt=0,
        le=3600,
        description="VoxtralQueueTimeHigh fires when the p95 time requests wait in vLLM's "
        "queue stays above this for 10 minutes.",
    )
    error_ratio: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="VoxtralErrorRatioHigh fires when this share of requests is answered "
        "5xx or 429 for 10 minutes.",
    )


class MonitoringSpec(Model):
    """Monitoring that ships with the service: a ServiceMonitor and a PrometheusRule (when
    the Prometheus Operator's CRDs are installed) and a Grafana dashboard ConfigMap."""

    enabled: bool = Field(default=False, description="Create the monitoring objects.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Labels added to the ServiceMonitor and the PrometheusRule: what your "
        "Prometheus selects them by (kube-prometheus-stack: release: <its release name>).",
    )
    scrape_interval: str = Field(
        default="15s",
        pattern=r"^[1-9][0-9]*(s|m)$",
        description="How often Prometheus scrapes each replica's /metrics.",
    )
    dashboard: bool = Field(
        default=True,
        description="A ConfigMap labelled grafana_dashboard=1 holding the Grafana dashboard "
        "(Grafana's dashboard sidecar loads it).",
    )
    alerts: AlertsSpec = Field(default_factory=AlertsSpec, description=AlertsSpec.__doc__)


# --- status.autoscaling -------------------------------------------------------------------


class AutoscalingStatus(StatusModel):
    """What the autoscaler did last (written while spec.autoscaling is on)."""

    mode: str = Field(description="The mechanism that owns the replicas.")
    min_replicas: int
    max_replicas: int
    desired_replicas: int | None = Field(
        default=None, description="Replicas the autoscaler asks for."
    )
    current_replicas: int | None = Field(
        default=None, description="Replicas (pods) the Deployment has."
    )
    last_decision: str | None = Field(
        default=None,
        description="The last change of replicas and why (e.g. 'queue 37 > 3 replicas × 8').",
    )
    last_scale_time: str | None = Field(
        default=None, description="RFC 3339 time of the last change of replicas."
    )
    held_requests: int | None = Field(
        default=None,
        description="Requests voxtral-gateway holds for this service while no replica is "
        "ready (scale from zero), as its replicas last reported them.",
    )


def mode_of(spec: object) -> Mode | None:
    """The autoscaling mode of a raw spec (a mapping), None when autoscaling is absent or off,
    for kopf's filters (which see the object before it is validated)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("autoscaling"), Mapping):
        return None
    mode = spec["autoscaling"].get("mode", DEFAULT_MODE)
    return mode if mode in MODES and mode != "none" else None
