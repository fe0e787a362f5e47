"""Merge patches and server-side apply, as kube-apiserver does them to a stored object.

- JSON merge patch (RFC 7386; k8s.io/apiserver pkg/endpoints/handlers/patch.go uses
  jsonpatch.MergePatch): maps merge recursively, null removes a key, anything else (lists
  included) replaces.
- Server-side apply (structured-merge-diff), simplified: one applied configuration is kept
  per (object, field manager; an apply to /scale is the manager's configuration of
  spec.replicas); lists are applied whole; a field a manager stops applying is removed unless
  another manager's applied configuration still holds it; `force` always wins (conflicts are
  not modelled). A Deployment's replicas removed that way come back as the default, 1.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any


def merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def unapply(current: Any, before: Any, after: Any, others: Iterable[Any] = ()) -> Any:
    """Remove from current the fields `before` set that `after` no longer sets, but for
    those another manager's applied configuration (`others`) still sets."""
    if not isinstance(current, dict) or not isinstance(before, dict):
        return current
    others = [o for o in others if isinstance(o, dict)]
    result = dict(current)
    for key, value in before.items():
        owned = [o[key] for o in others if key in o]
        if not isinstance(after, dict) or key not in after:
            if not owned:
                result.pop(key, None)
            elif isinstance(value, dict) and key in result:
                result[key] = unapply(result[key], value, {}, owned)
        elif isinstance(value, dict) and isinstance(after[key], dict) and key in result:
            result[key] = unapply(result[key], value, after[key], owned)
    return result
