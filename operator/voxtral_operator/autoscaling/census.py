"""The replicas of a service as the API server shows its pods: ready (with where to read
their /metrics), starting, or Pending because no node has the GPUs. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_PORT: Final = 8080  # the predictor's container port "http" (builders.pod.HTTP_PORT)


@dataclass(frozen=True)
class Replica:
    """A ready replica and the address of its /metrics."""

    name: str
    ip: str
    port: int

    def url(self, port: int | None = None) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{port or self.port}/metrics"


@dataclass(frozen=True)
class Census:
    ready: tuple[Replica, ...] = ()
    starting: int = 0
    """Created, not ready, not unschedulable (pulling, loading the model)."""
    unschedulable: int = 0
    """Pending with PodScheduled=False, reason Unschedulable."""
    unschedulable_since: float | None = None
    """When the oldest of them became unschedulable (seconds since the epoch)."""
    scheduler_message: str = ""
    """Why the scheduler could not place the oldest of them (its PodScheduled message)."""


def parse_time(text: Any) -> float | None:
    """An RFC 3339 time of the API server, as seconds since the epoch."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _http_port(pod: Mapping[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http" and port.get("containerPort"):
                return int(port["containerPort"])
    return DEFAULT_PORT


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def census(pods: Iterable[Mapping[str, Any]]) -> Census:
    """Count the pods of one Deployment. Terminating and finished pods are not replicas."""
    ready: list[Replica] = []
    starting = unschedulable = 0
    since: list[tuple[float, str]] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        scheduled = _condition(status, "PodScheduled") or {}
        if (_condition(status, "Ready") or {}).get("status") == "True" and status.get("podIP"):
            ready.append(Replica(str(meta.get("name")), str(status["podIP"]), _http_port(pod)))
        elif scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            unschedulable += 1
            when = parse_time(scheduled.get("lastTransitionTime"))
            since.append((when or float("inf"), str(scheduled.get("message") or "")))
        else:
            starting += 1
    oldest = min(since) if since else None
    return Census(
        ready=tuple(sorted(ready, key=lambda r: r.name)),
        starting=starting,
        unschedulable=unschedulable,
        unschedulable_since=oldest[0] if oldest and oldest[0] != float("inf") else None,
        scheduler_message=oldest[1] if oldest else "",
    )
