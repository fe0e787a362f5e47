"""Requests voxtral-gateway holds for a VoxtralService that has no ready replica (scaled to
zero): the gateway's half of the contract, read by the operator's autoscaler.

Each gateway replica reports its own count in an annotation of the VoxtralService,
``held.gateway.voxtral.dev/<gateway pod>``, whose value is JSON
``{"held": N, "since": RFC 3339, "at": RFC 3339}`` (N requests held, the oldest since
``since``, reported at ``at``). It writes it (a JSON merge patch) as soon as a request is
held, when its count changes, and every 10 s while N > 0; it removes it at 0.
A report older than `FRESH_SECONDS` is from a gateway replica that went away, and counts
for nothing. One key per gateway replica: two replicas never overwrite each other's count.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "held.gateway.voxtral.dev/"
FRESH_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Held:
    count: int = 0
    since: float | None = None
    """When the oldest held request arrived (seconds since the epoch)."""


def _time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def held(annotations: Mapping[str, str], now: float) -> Held:
    """The requests held for the service by every gateway replica whose report is fresh;
    reports that do not parse count for nothing."""
    count, since = 0, None
    for key, value in annotations.items():
        if not key.startswith(PREFIX):
            continue
        try:
            report = json.loads(value)
        except ValueError:
            continue
        if not isinstance(report, dict):
            continue
        n, at, first = report.get("held"), _time(report.get("at")), _time(report.get("since"))
        if not isinstance(n, int) or n <= 0 or at is None or now - at > FRESH_SECONDS:
            continue
        count += n
        if first is not None:
            since = first if since is None else min(since, first)
    return Held(count, since)
