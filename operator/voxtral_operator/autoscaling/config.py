"""``spec.autoscaling`` as the policy reads it: targets, step limits, bounds.

Plain frozen dataclasses with the defaults of `defaults`; the API's pydantic models
(``api/scaling.py``) validate a user's spec and convert it to these."""

from __future__ import annotations

from dataclasses import dataclass, field

from voxtral_operator.autoscaling import defaults


@dataclass(frozen=True)
class Target:
    """What one ready replica should carry."""

    queue_per_replica: float = defaults.QUEUE_PER_REPLICA
    kv_cache_usage: float = defaults.KV_CACHE_USAGE
    concurrency_per_replica: float = defaults.CONCURRENCY_PER_REPLICA


@dataclass(frozen=True)
class ScaleUp:
    stabilization_seconds: float = defaults.SCALE_UP_STABILIZATION_SECONDS
    max_step: int = defaults.SCALE_UP_MAX_STEP


@dataclass(frozen=True)
class ScaleDown:
    delay_seconds: float = defaults.SCALE_DOWN_DELAY_SECONDS
    max_step: int = defaults.SCALE_DOWN_MAX_STEP
    idle_seconds: float = defaults.SCALE_TO_ZERO_IDLE_SECONDS
    """With minReplicas 0: no request for this long and the service goes to 0 replicas."""


@dataclass(frozen=True)
class ScalingConfig:
    min_replicas: int = defaults.MIN_REPLICAS
    max_replicas: int = defaults.MAX_REPLICAS
    target: Target = field(default_factory=Target)
    scale_up: ScaleUp = field(default_factory=ScaleUp)
    scale_down: ScaleDown = field(default_factory=ScaleDown)
    interval_seconds: float = defaults.INTERVAL_SECONDS
    """How often the caller decides: the slack of the windows is half of it (the operator
    passes its own period; tests decide faster)."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                f"autoscaling needs 0 <= minReplicas ({self.min_replicas}) <= maxReplicas "
                f"({self.max_replicas}) and maxReplicas >= 1"
            )
        t = self.target
        if min(t.queue_per_replica, t.kv_cache_usage, t.concurrency_per_replica) <= 0:
            raise ValueError(
                "autoscaling targets (queuePerReplica, kvCacheUsage, concurrencyPerReplica) "
                "must be greater than zero"
            )
        if t.kv_cache_usage > 1:
            raise ValueError(f"target.kvCacheUsage is a fraction: {t.kv_cache_usage} > 1")
        if self.scale_up.max_step < 1 or self.scale_down.max_step < 1:
            raise ValueError("scaleUp.maxStep and scaleDown.maxStep must be at least 1")
        if self.interval_seconds <= 0:
            raise ValueError("the decision interval must be greater than zero")
        if self.scale_down.idle_seconds <= 0:
            raise ValueError("scaleDown.idleSeconds must be greater than zero")
        if self.scale_up.stabilization_seconds < 0 or self.scale_down.delay_seconds < 0:
            raise ValueError("scaleUp.stabilizationSeconds and scaleDown.delaySeconds must be >= 0")
