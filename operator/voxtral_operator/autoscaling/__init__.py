"""GPU autoscaling on Voxtral's own load signals: parse a replica's /metrics, decide the
replicas. Pure functions only; reading the metrics and writing the scale live elsewhere."""

from voxtral_operator.autoscaling.config import ScaleDown, ScaleUp, ScalingConfig, Target
from voxtral_operator.autoscaling.policy import Decision, Fleet, History, decide
from voxtral_operator.autoscaling.signals import MetricsError, ReplicaSignals, parse_signals

__all__ = [
    "Decision",
    "Fleet",
    "History",
    "MetricsError",
    "ReplicaSignals",
    "ScaleDown",
    "ScaleUp",
    "ScalingConfig",
    "Target",
    "decide",
    "parse_signals",
]
