"""Run coroutines together: all results, or the first error with the rest cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def all_or_nothing(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Like gather, but a failure cancels the others (so their engine requests are
    aborted) and surfaces as itself, not as an ExceptionGroup."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [t.result() for t in tasks]
