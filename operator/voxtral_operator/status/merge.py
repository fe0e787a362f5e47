"""Status helpers: conditions that keep their transition times, and the status a
VoxtralService shows. Pure: the time comes in as an argument."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

COND_MODEL_READY: Final = "ModelReady"
COND_AVAILABLE: Final = "Available"
COND_READY: Final = "Ready"
COND_SCALING_ACTIVE: Final = "ScalingActive"
COND_SCALING_LIMITED: Final = "ScalingLimited"
COND_MONITORING_READY: Final = "MonitoringReady"
COND_SCALED_TO_ZERO: Final = "ScaledToZero"
COND_INFERENCE_POOL_READY: Final = "InferencePoolReady"
COND_SYNCED: Final = "Synced"
CONDITION_ORDER: Final = (
    COND_MODEL_READY,
    COND_AVAILABLE,
    COND_READY,
    COND_SYNCED,
    COND_SCALING_ACTIVE,
    COND_SCALING_LIMITED,
    COND_MONITORING_READY,
    COND_SCALED_TO_ZERO,
    COND_INFERENCE_POOL_READY,
)

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Cond:
    """A condition as decided by the planner, before it gets its transition time."""

    type: str
    status: Status
    reason: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "True"


def _previous(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    for cond in conditions:
        if cond.get("type") == type_:
            return cond
    return None


def merge_conditions(
    previous: Sequence[Mapping[str, Any]],
    decided: Sequence[Cond],
    generation: int | None,
    now: str,
    drop: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The new conditions list: decided ones replace their type; a condition's
    lastTransitionTime moves only when its status changes; undecided types are kept, but
    for those in `drop` (conditions of a feature that is off)."""
    by_type: dict[str, dict[str, Any]] = {
        str(c.get("type")): dict(c) for c in previous if c.get("type") and c.get("type") not in drop
    }
    for cond in decided:
        before = _previous(previous, cond.type)
        since = (
            str(before["lastTransitionTime"])
            if before and before.get("status") == cond.status and before.get("lastTransitionTime")
            else now
        )
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": since,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[cond.type] = entry
    ordered = [by_type.pop(t) for t in CONDITION_ORDER if t in by_type]
    return ordered + [by_type[t] for t in sorted(by_type)]


def condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    """A condition of an object's status, for readers (tests, the CLI)."""
    return _previous((status or {}).get("conditions") or [], type_)


def status_patch(
    observed: Mapping[str, Any] | None, desired: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A merge patch turning the observed status into the desired one; None when equal.
    Keys the operator no longer sets are removed (null), nested ones too: a JSON merge patch
    merges nested maps (RFC 7386), so a key left out of `status.autoscaling` would stay."""
    observed = dict(observed or {})
    if observed == dict(desired):
        return None
    return _with_removals(observed, desired)


def _with_removals(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = dict(desired)
    for key, before in observed.items():
        if key not in desired:
            patch[key] = None
        elif isinstance(before, Mapping) and isinstance(desired[key], Mapping):
            patch[key] = _with_removals(before, desired[key])
    return patch
