"""What the operator just wrote and its watch caches have not shown yet.

The children indexes are fed by watch streams, so right after a write they can be a moment
behind. Without this memory, a reconcile triggered in that moment (by another child's event)
would write the same thing again. An expectation lasts while the index shows a
version known to be older than the operator's last write (the one it had before that write,
or before an earlier write still pending); any other version means the cache caught up or
someone else wrote since (kopf may coalesce events, so "our version" itself might never be
seen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Owner = tuple[str, str]  # (namespace, VoxtralService name)
Key = tuple[str, str]  # (kind, name)


def resource_version(body: Mapping[str, Any] | None) -> str | None:
    if body is None:
        return None
    value = (body.get("metadata") or {}).get("resourceVersion")
    return str(value) if value is not None else None


@dataclass(frozen=True)
class _Pending:
    older: frozenset[str | None]  # versions older than the write (None: absent)
    after: Mapping[str, Any] | None  # what the write produced (None: deleted)


class Expectations:
    def __init__(self) -> None:
        self._pending: dict[Owner, dict[Key, _Pending]] = {}

    def wrote(
        self,
        owner: Owner,
        key: Key,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        pending = self._pending.setdefault(owner, {})
        older = {resource_version(before)}
        if key in pending:
            older |= pending[key].older | {resource_version(pending[key].after)}
        pending[key] = _Pending(frozenset(older), after)

    def overlay(self, owner: Owner, cached: Mapping[Key, Mapping[str, Any]]) -> dict[Key, Any]:
        """The cached objects, with the operator's own unseen writes laid over them."""
        result = dict(cached)
        pending = self._pending.get(owner)
        if not pending:
            return result
        for key, item in list(pending.items()):
            if resource_version(cached.get(key)) not in item.older:
                del pending[key]  # the cache moved on: trust it again
            elif item.after is None:
                result.pop(key, None)
            else:
                result[key] = item.after
        if not pending:
            del self._pending[owner]
        return result

    def forget(self, owner: Owner) -> None:
        self._pending.pop(owner, None)
