"""The replica's line, with two frontends' Admissions on one shared Tally (as two frontend
processes have it): one count of slots and queue places, and tickets served in the order
they were taken, whichever frontend holds them; clients that leave the line lose nothing
for the others."""

from __future__ import annotations

import asyncio

import pytest

from voxtral_predictor.admission import POLL_SECONDS, Admission, Overloaded
from voxtral_predictor.replica import NEXT_TICKET, QUEUED, RUNNING, SERVED, Tally

SOON = 50 * POLL_SECONDS


def pair(max_concurrency: int, max_queue: int) -> tuple[Admission, Admission, Tally]:
    counts = Tally(shared=True)
    return (
        Admission(max_concurrency, max_queue, counts),
        Admission(max_concurrency, max_queue, counts),
        counts,
    )


async def hold(admission: Admission, order: list[str], name: str, release: asyncio.Event) -> None:
    async with admission.slot():
        order.append(name)
        await release.wait()


async def line_up(
    order: list[str], gates: dict[str, asyncio.Event], *entries: tuple[Admission, str]
) -> list[asyncio.Task[None]]:
    """Each holder of a slot, in this order (each has taken its place before the next)."""
    tasks = []
    for admission, name in entries:
        tasks.append(asyncio.create_task(hold(admission, order, name, gates[name])))
        await asyncio.sleep(0)
    return tasks


def settled(counts: Tally) -> bool:
    return (
        counts.get(RUNNING) == 0
        and counts.get(QUEUED) == 0
        and counts.get(NEXT_TICKET) == counts.get(SERVED)
    )


async def test_the_first_to_wait_is_the_first_served_across_frontends() -> None:
    one, two, counts = pair(max_concurrency=1, max_queue=4)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("a", "b", "c", "d")}
    # b waits on the second frontend, then c and d on the first (the one a runs on)
    a, b, c, d = await line_up(order, gates, (one, "a"), (two, "b"), (one, "c"), (one, "d"))
    await asyncio.sleep(SOON)
    assert order == ["a"] and counts.get(RUNNING) == 1 and counts.get(QUEUED) == 3
    for name in ("a", "b", "c", "d"):
        gates[name].set()
        await asyncio.sleep(SOON)
    await asyncio.gather(a, b, c, d)
    # a's slot went to b on the other frontend, not to c that waited beside it
    assert order == ["a", "b", "c", "d"]
    assert settled(counts) and one.running == two.running == 0


async def test_limits_are_the_replicas() -> None:
    one, two, counts = pair(max_concurrency=2, max_queue=1)
    release = asyncio.Event()
    order: list[str] = []
    held = [asyncio.create_task(hold(one, order, "x", release))]
    held.append(asyncio.create_task(hold(two, order, "y", release)))
    await asyncio.sleep(0)
    held.append(asyncio.create_task(hold(one, order, "z", release)))  # queued
    await asyncio.sleep(SOON)
    with pytest.raises(Overloaded, match="2 requests running and 1 queued"):
        async with two.slot():
            pass
    release.set()
    await asyncio.gather(*held)
    assert sorted(order) == ["x", "y", "z"] and settled(counts)


@pytest.mark.parametrize("shared", [True, False])
async def test_a_client_that_leaves_the_line_loses_nothing_for_the_others(shared: bool) -> None:
    counts = Tally(shared=shared)  # not shared: one frontend, the whole line its own
    one = Admission(1, 4, counts)
    two = Admission(1, 4, counts) if shared else one
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("a", "gone", "c")}
    a, gone, c = await line_up(order, gates, (one, "a"), (two, "gone"), (two, "c"))
    await asyncio.sleep(SOON)
    gone.cancel()  # its client left while it waited
    await asyncio.sleep(SOON)
    assert counts.get(QUEUED) == 1
    gates["a"].set()
    await asyncio.sleep(SOON)
    assert order == ["a", "c"]  # the abandoned ticket's turn was passed on
    gates["c"].set()
    await asyncio.gather(a, c)
    assert gone.cancelled() and settled(counts)


async def test_a_client_that_leaves_as_its_turn_comes_passes_the_slot_on() -> None:
    one, two, counts = pair(max_concurrency=1, max_queue=4)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("a", "late", "c")}
    a, late, c = await line_up(order, gates, (one, "a"), (two, "late"), (one, "c"))
    await asyncio.sleep(SOON)
    gates["a"].set()
    await asyncio.sleep(0)  # a's slot is late's now; its frontend has not woken it yet
    await asyncio.sleep(0)
    late.cancel()
    await asyncio.sleep(SOON)
    gates["c"].set()
    await asyncio.gather(a, c, return_exceptions=True)
    assert order[0] == "a" and order[-1] == "c" and settled(counts)


async def test_clients_that_left_pass_each_turn_on_once() -> None:
    """Two tickets of one frontend abandoned; another frontend's release serves the first:
    both turns are passed on, once each, to the next live ticket; the limit holds."""
    one, two, counts = pair(max_concurrency=1, max_queue=5)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("b", "x", "y", "z", "c")}
    b, x, y, z = await line_up(order, gates, (two, "b"), (one, "x"), (one, "y"), (two, "z"))
    x.cancel()
    y.cancel()
    await asyncio.sleep(SOON)
    gates["b"].set()
    await asyncio.sleep(SOON)
    assert order == ["b", "z"] and counts.get(RUNNING) == 1
    (c,) = await line_up(order, gates, (one, "c"))
    await asyncio.sleep(SOON)
    assert order == ["b", "z"]  # z still holds the only slot
    gates["z"].set()
    gates["c"].set()
    await asyncio.gather(b, z, c)
    assert order == ["b", "z", "c"] and settled(counts)


@pytest.mark.parametrize("shared", [False, True])
async def test_a_client_that_leaves_as_a_slot_frees_costs_nothing(shared: bool) -> None:
    """The waiting client's task is cancelled in the same turn of the loop as the request
    ahead of it finishes: the finishing request is not troubled, nothing stays counted."""
    admission = Admission(1, 4, Tally(shared=shared))
    order: list[str] = []

    async def finishing() -> None:
        async with admission.slot():
            order.append("a")
            await asyncio.sleep(SOON)
            waiting.cancel()  # its client leaves as this one finishes

    first = asyncio.create_task(finishing())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold(admission, order, "b", asyncio.Event()))
    results = await asyncio.gather(first, waiting, return_exceptions=True)
    assert results[0] is None and isinstance(results[1], asyncio.CancelledError)
    assert admission.running == 0 and settled(admission.counts)
    assert await admission.drain(1.0)


async def test_a_draining_frontend_passes_its_abandoned_turns_on_before_it_goes() -> None:
    one, two, counts = pair(max_concurrency=1, max_queue=4)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("b", "x", "z")}
    b, x, z = await line_up(order, gates, (two, "b"), (one, "x"), (two, "z"))
    x.cancel()
    await asyncio.sleep(SOON)
    drained = asyncio.create_task(one.drain(5.0))
    await asyncio.sleep(SOON)
    assert not drained.done()  # ticket 0 is still one's to pass on
    gates["b"].set()
    await asyncio.sleep(SOON)
    assert order == ["b", "z"] and await drained
    gates["z"].set()
    await asyncio.gather(b, z)
    assert settled(counts)
