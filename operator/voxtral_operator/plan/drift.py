"""Does an observed child still hold what the operator wants? Pure comparisons.

Two tests, both needed:
- the spec-hash annotation: the operator's wish changed since the child was last written
  (this also catches fields the operator stopped setting, which a subset test cannot see);
- `covers`: every field the operator sets is still there with its value (a hand edit).
  Fields the API server or other controllers add (defaults, clusterIP, status) are ignored,
  quantities compare by value ("1000m" is "1"), and a field the operator sets to "", [] or {}
  may be absent: the API server does not store empty optional fields (Go's `omitempty`: an
  env var's value "", a toleration's value "", an empty nodeSelector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.quantity import same_quantity

# Keys whose values are quantities wherever they appear in the operator's manifests.
_QUANTITY_PARENTS: Final = frozenset({"requests", "limits"})
_QUANTITY_KEYS: Final = frozenset({"sizeLimit", "storage"})


def covers(observed: Any, desired: Any, key: str = "", parent: str = "") -> bool:
    """Whether `observed` holds every field of `desired` with an equal value."""
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return False
        return all(
            covers(observed[k], v, str(k), key) if k in observed else _empty(v)
            for k, v in desired.items()
        )
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(observed, Sequence) or isinstance(observed, str):
            return False
        if len(observed) != len(desired):
            return False
        return all(covers(o, d, key, parent) for o, d in zip(observed, desired, strict=True))
    if observed == desired and type(observed) is type(desired):
        return True
    if key in _QUANTITY_KEYS or parent in _QUANTITY_PARENTS:
        return same_quantity(observed, desired)
    return False


def _empty(value: Any) -> bool:
    """A value the API server leaves out of an optional field (omitempty)."""
    return isinstance(value, str | Sequence | Mapping) and len(value) == 0


def observed_hash(observed: Mapping[str, Any]) -> str | None:
    annotations = observed.get("metadata", {}).get("annotations") or {}
    value = annotations.get(names.ANNOTATION_SPEC_HASH)
    return value if isinstance(value, str) else None


def desired_hash(desired: Mapping[str, Any]) -> str:
    return str(desired["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH])


def in_sync(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """No write needed: the same wish, and nobody changed what the operator set."""
    if observed_hash(observed) != desired_hash(desired):
        return False
    return covers(
        {k: v for k, v in observed.items() if k != "status"},
        {k: v for k, v in desired.items() if k != "status"},
    )
