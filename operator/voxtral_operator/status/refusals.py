"""What the API server refused, and what the status says about it. Pure.

A write the API server refuses (cluster.kube.KubeError.refused: 400, 403, 422, or the 500
of a server-side apply whose body does not fit its schema) would be refused again as it is.
The controller goes on with the other writes and hands each refusal here; the status names
every refused child with the server's message and what to do, and no retry is scheduled
(the next spec change, a child's event or the periodic resync tries again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from voxtral_operator.status.merge import COND_SYNCED, Cond

ChildKey = tuple[str, str]  # (kind, name)
REASON_REJECTED: Final = "ChildRejected"
REASON_FORBIDDEN: Final = "ChildForbidden"


@dataclass(frozen=True)
class Refusal:
    kind: str
    name: str
    verb: str  # create, update, delete, scale
    status: int
    message: str

    @property
    def reason(self) -> str:
        return REASON_FORBIDDEN if self.status == 403 else REASON_REJECTED

    @property
    def advice(self) -> str:
        if self.status == 403:
            return (
                "the cluster's RBAC, an admission plugin or a policy webhook forbids it: change "
                "the VoxtralService so that it is allowed, or ask the cluster's administrators"
            )
        return "the API server rejects what the spec asks for: fix the VoxtralService spec"

    def describe(self) -> str:
        return f"{self.kind} {self.name} ({self.verb}) refused with {self.status}: {self.message}"


def refusal_summary(refusals: Mapping[ChildKey, Refusal]) -> tuple[str, str] | None:
    """(reason, message) naming every refusal, or None."""
    if not refusals:
        return None
    items = [refusals[key] for key in sorted(refusals)]
    reason = REASON_FORBIDDEN if all(r.status == 403 for r in items) else REASON_REJECTED
    advice = sorted({r.advice for r in items})
    return reason, "; ".join([r.describe() for r in items] + advice)


def synced_condition(refusals: Mapping[ChildKey, Refusal]) -> Cond | None:
    """Synced=False while the API server refuses a child; absent otherwise."""
    summary = refusal_summary(refusals)
    if summary is None:
        return None
    return Cond(COND_SYNCED, "False", *summary)


def refused_among(
    refusals: Mapping[ChildKey, Refusal], keys: set[ChildKey]
) -> Mapping[ChildKey, Refusal]:
    return {key: r for key, r in refusals.items() if key in keys}
