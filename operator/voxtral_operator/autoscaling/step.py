"""One tick of the operator mode, around the pure `decide`: what the reads of the ready
replicas mean, the scale to write, and what the status says. Pure.

A /metrics that cannot be read counts as missing, not as zero load: with some replicas
unreadable the decision may add replicas but never removes any (their load is unknown); with
none readable there is no decision, and ScalingActive says why. The messages of the status
change only when the situation does (no counts of reads, no durations), so a steady service
costs no status writes.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace

from voxtral_operator.autoscaling.census import Census
from voxtral_operator.autoscaling.config import ScalingConfig
from voxtral_operator.autoscaling.policy import Decision, Fleet, History, decide
from voxtral_operator.autoscaling.signals import ReplicaSignals

Read = ReplicaSignals | str  # a replica's signals, or why they could not be read


@dataclass(frozen=True)
class ScalingState:
    """What the operator-mode autoscaler tells the status (kept in memory per service)."""

    last_decision: str | None = None
    """The last change of replicas and why."""
    last_scale_time: str | None = None
    limited: str | None = None
    """The ScalingLimited message, or None."""
    limited_reason: str = ""
    unreadable: str | None = None
    """Why ScalingActive is False (no ready replica's /metrics could be read), or None."""
    held: int = 0
    """Requests voxtral-gateway holds for the service (no replica ready), as reported."""
    held_since: str | None = None
    """RFC 3339 time the oldest of them was first held."""


@dataclass(frozen=True)
class Tick:
    replicas: int | None
    """The Deployment's new replicas, or None to leave them."""
    history: History
    state: ScalingState
    decision: Decision | None
    summary: str
    """What this tick found, for the operator's debug log."""


def rfc3339(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick(
    now: float,
    census: Census,
    reads: Mapping[str, Read],
    desired: int,
    history: History,
    config: ScalingConfig,
    state: ScalingState,
    held: int = 0,
) -> Tick:
    """Decide from the reads of the ready replicas (by pod name), the Deployment's
    replicas now (`desired`) and the requests voxtral-gateway holds (`held`)."""
    ready = [r.name for r in census.ready]
    signals = [read for name in ready if isinstance(read := reads.get(name), ReplicaSignals)]
    errors = {name: read for name in ready if isinstance(read := reads.get(name, "not read"), str)}
    if ready and not signals:
        name, why = sorted(errors.items())[0]
        message = (
            f"cannot read /metrics of any of the {len(ready)} ready replicas ({name}: {why}): "
            "the operator must reach each pod's http port (a NetworkPolicy?); the replicas "
            "stay as they are until it can"
        )
        return Tick(
            None,
            history,
            replace(state, unreadable=message),
            None,
            f"no decision: {message}",
        )

    fleet = Fleet(
        ready=signals,
        desired=desired,
        starting=census.starting,
        unschedulable=census.unschedulable,
        unschedulable_since=census.unschedulable_since,
        held=held,
        answered={
            name: read.requests
            for name in ready
            if isinstance(read := reads.get(name), ReplicaSignals)
        },
    )
    decision = decide(now, fleet, history, config)
    replicas, new_history, reason = decision.replicas, decision.history, decision.reason
    if errors and replicas < desired:
        replicas = desired
        new_history = replace(new_history, replicas=history.replicas, changed_at=history.changed_at)
        reason = (
            f"{reason}; not removing replicas while {len(errors)} of {len(ready)} replicas' "
            "/metrics are unreadable"
        )

    limited, limited_reason = None, ""
    if decision.limited is not None:
        since = (
            f" since {rfc3339(census.unschedulable_since)}"
            if census.unschedulable_since is not None
            else ""
        )
        said = census.scheduler_message
        gpus = not said or "gpu" in said.lower()
        why = "no node has the free GPUs" if gpus else "no node can take them"
        limited = (
            f"{census.unschedulable} replica(s) Pending unschedulable{since}: {why}"
            + (f' (the scheduler: "{said}")' if said else "")
            + "; no more replicas are ordered until they are scheduled ("
            + ("add GPU nodes" if gpus else "check the pods' scheduling constraints")
            + ", or lower spec.autoscaling.maxReplicas)"
        )
        limited_reason = "GPUsUnavailable" if gpus else "ReplicasUnschedulable"
    elif replicas >= config.max_replicas and decision.need > config.max_replicas:
        limited = (
            f"held at maxReplicas {config.max_replicas} while the load asks for more: raise "
            "spec.autoscaling.maxReplicas if the cluster has the GPUs"
        )
        limited_reason = "TooManyReplicas"

    new_state = replace(state, limited=limited, limited_reason=limited_reason, unreadable=None)
    write = replicas if replicas != desired else None
    if write is not None:
        new_state = replace(
            new_state,
            last_decision=f"{desired} → {replicas} replicas: {reason}",
            last_scale_time=rfc3339(now),
        )
    summary = (
        f"{len(signals)}/{len(ready)} ready replicas read, {census.starting} starting, "
        f"{census.unschedulable} unschedulable, {held} held; need {decision.need}, "
        f"{desired} → {replicas}: {reason}"
    )
    return Tick(write, new_history, new_state, decision, summary)
