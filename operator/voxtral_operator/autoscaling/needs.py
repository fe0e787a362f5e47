"""The pieces of the formula: how many replicas the measured load asks for.

Each function takes the samples (oldest first, the present last) and the config and
returns a need with the sentence that explains it; `policy.decide` picks among them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from voxtral_operator.autoscaling import defaults
from voxtral_operator.autoscaling.config import ScalingConfig
from voxtral_operator.autoscaling.signals import ReplicaSignals


@dataclass(frozen=True)
class Sample:
    """The ready replicas' load at one decision, kept for the windows."""

    time: float
    ready: int
    demand: float
    """Requests admitted or queued, summed over the ready replicas."""
    queue: float
    """Of which waiting (predictor queue plus engine waiting)."""
    kv_cache_usage: float
    """Mean over the ready replicas."""
    need: int = 0
    """What this decision found the fleet needs (filled in by `decide`)."""


@dataclass(frozen=True)
class Need:
    replicas: int
    reason: str
    settled: bool = False
    """Already held for the scale-up window (a surge): no further stabilization."""


def measure(now: float, ready: Sequence[ReplicaSignals]) -> Sample:
    n = len(ready)
    kv = sum(s.kv_cache_usage for s in ready) / n if n else 0.0
    return Sample(now, n, sum(s.demand for s in ready), sum(s.queue for s in ready), kv)


def ceil(x: float) -> int:
    return math.ceil(x - 1e-9)  # 3 * (64 / 64) ** 0.5 is 3, not 4


def scaled(replicas: int, ratio: float) -> int:
    """Replicas for `replicas` that carry `ratio` times their target: the square-root
    step (`defaults.STEP_EXPONENT`), in both directions."""
    return ceil(replicas * ratio**defaults.STEP_EXPONENT)


def saturated(s: Sample, config: ScalingConfig) -> bool:
    return s.ready > 0 and s.queue > config.target.queue_per_replica * s.ready


def level(samples: Sequence[Sample], config: ScalingConfig) -> Need:
    """From the load per ready replica, averaged over the demand window back to the last
    change in the number of ready replicas (load measured on another fleet is stale),
    leaving out saturated reads (their load is a backlog, not a rate) unless all are."""
    t = config.target
    now = samples[-1]
    window: list[Sample] = []
    for s in reversed(samples):
        if s.ready != now.ready or s.time <= now.time - defaults.DEMAND_WINDOW_SECONDS:
            break
        window.append(s)
    window = [s for s in window if not saturated(s, config)] or window
    per_replica = sum(s.demand / s.ready for s in window) / len(window)
    need = Need(
        scaled(now.ready, per_replica / t.concurrency_per_replica),
        f"load {per_replica:.0f} per replica (mean of {len(window)} reads) against a target "
        f"of {t.concurrency_per_replica:g} on {now.ready} replicas",
    )
    kv = sum(s.kv_cache_usage for s in window) / len(window)
    if kv > t.kv_cache_usage and ceil(now.ready * kv / t.kv_cache_usage) > need.replicas:
        return Need(
            ceil(now.ready * kv / t.kv_cache_usage),
            f"KV cache {kv:.0%} > {t.kv_cache_usage:.0%} on {now.ready} replicas",
        )
    return need


def _window(samples: Sequence[Sample], config: ScalingConfig) -> list[Sample]:
    """The reads of the scale-up window, the present one last (half a tick of slack)."""
    since = samples[-1].time - config.scale_up.stabilization_seconds
    return [s for s in samples if s.time >= since - config.interval_seconds / 2]


def growing(samples: Sequence[Sample], config: ScalingConfig) -> bool:
    """The demand now is above every earlier read of the scale-up window."""
    *before, now = _window(samples, config)
    return all(s.demand < now.demand for s in before)


def falling(samples: Sequence[Sample], config: ScalingConfig) -> bool:
    """The demand now is below every earlier read of the scale-up window (and there is
    one): whatever the level says, adding replicas now would be late."""
    *before, now = _window(samples, config)
    return bool(before) and all(s.demand > now.demand for s in before)


def surge(samples: Sequence[Sample], config: ScalingConfig) -> Need | None:
    """When the ready replicas were saturated on every read of a full scale-up window
    (at least two reads): sized on the latest read, not the mean. (`decide` holds instead
    when the demand is not at a new high: the backlog is being worked off.)"""
    now = samples[-1]
    window = _window(samples, config)
    seen = now.time - window[0].time + config.interval_seconds / 2
    if len(window) < 2 or seen < config.scale_up.stabilization_seconds:
        return None
    if not all(saturated(s, config) for s in window):
        return None
    t = config.target
    return Need(
        scaled(now.ready, now.demand / (now.ready * t.concurrency_per_replica)),
        f"queue {now.queue:.0f} > {now.ready} replicas × {t.queue_per_replica:g} and growing "
        f"(demand {now.demand:.0f})",
        settled=True,
    )
