"""Tells the operator, at once, about requests held for a service with no ready replica
(scale from zero): this gateway replica's count goes into an annotation of the service's
VoxtralService, ``held.gateway.voxtral.dev/<this pod>`` = JSON ``{"held": N, "since":
RFC 3339, "at": RFC 3339}``, by a JSON merge patch; the operator's autoscaler reads it (its
api/held.py holds the other half of this contract) and orders a replica.

Written when a request is first held, when the count changes (at most every `MIN_GAP`
seconds), and every `REFRESH_SECONDS` while requests are held, so that a report that stops
being refreshed (this pod went away) goes stale for the operator after 30 s; removed when
the count is back at 0. One key per gateway replica: replicas never overwrite each other."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import re
import time
from collections.abc import Callable

import httpx

from .kube import Kube

log = logging.getLogger(__name__)
PREFIX = "held.gateway.voxtral.dev/"
REFRESH_SECONDS = 10.0
MIN_GAP = 0.5
PATH = "/apis/voxtral.dev/v1alpha1/namespaces/{namespace}/voxtralservices/{name}"
MERGE = {"Content-Type": "application/merge-patch+json"}

Owner = Callable[[str], tuple[str, str] | None]  # served name -> (namespace, VoxtralService)


def annotation_key(pod: str) -> str:
    """The annotation this pod reports under: a qualified name's part is at most 63
    characters of [A-Za-z0-9_.-], alphanumeric at both ends."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", pod)[:63].strip("-_.") or "gateway"
    return PREFIX + name


def rfc3339(moment: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class Reporter:
    def __init__(self, kube: Kube, owner: Owner, pod: str):
        self.kube = kube
        self.owner = owner
        self.key = annotation_key(pod)
        self.counts: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self._sent: dict[str, tuple[int, float]] = {}  # service -> (count, when) last written
        self._dirty = asyncio.Event()
        self._warned: set[int] = set()
        self._unowned: set[str] = set()

    def held(self, service: str, count: int) -> None:
        """Hold's observer: ``count`` requests of ``service`` wait now."""
        if count and not self.counts.get(service):
            self.since[service] = time.time()
        self.counts[service] = count
        self._dirty.set()

    def _next_refresh(self) -> float:
        """Seconds until a report of held requests is due again (REFRESH_SECONDS at most)."""
        due = [sent + REFRESH_SECONDS for service, (n, sent) in self._sent.items() if n]
        wait = min(due, default=time.monotonic() + REFRESH_SECONDS) - time.monotonic()
        return max(MIN_GAP, wait)

    async def run(self) -> None:
        async with self.kube.client() as client:
            try:
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._dirty.wait(), self._next_refresh())
                    self._dirty.clear()
                    for service in list(self.counts):
                        await self._report(client, service)
                    await asyncio.sleep(MIN_GAP)
            finally:  # stopping: withdraw what this pod reported (best effort)
                for service in list(self._sent):
                    self.counts[service] = 0
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._report(client, service))

    async def _report(self, client: httpx.AsyncClient, service: str) -> None:
        count = self.counts[service]
        sent = self._sent.get(service)
        now = time.monotonic()
        if count == 0 and sent is None:
            self.counts.pop(service, None)
            return
        if sent is not None and sent[0] == count and now - sent[1] < REFRESH_SECONDS:
            return
        owner = self.owner(service)
        if owner is None:  # not (or not unambiguously) a VoxtralService: nobody to tell
            if service not in self._unowned:
                self._unowned.add(service)
                log.warning(
                    "requests held for %r, but no single VoxtralService serves that name "
                    "(unknown, or served in several namespaces): no replica is ordered for "
                    "them",
                    service,
                )
            return
        value = (
            json.dumps(
                {"held": count, "since": rfc3339(self.since[service]), "at": rfc3339(time.time())}
            )
            if count
            else None
        )
        body = {"metadata": {"annotations": {self.key: value}}}
        path = PATH.format(namespace=owner[0], name=owner[1])
        try:
            response = await client.patch(path, json=body, headers={**MERGE, **self.kube.headers()})
        except httpx.HTTPError as exc:
            log.warning("cannot report held requests of %s to %s: %s", service, path, exc)
            return
        if response.status_code >= 400:
            if response.status_code not in self._warned:
                self._warned.add(response.status_code)
                log.warning(
                    "reporting held requests of %s: %s answered %d%s: %s",
                    service,
                    path,
                    response.status_code,
                    " (grant this gateway patch on voxtralservices)"
                    if response.status_code == 403
                    else "",
                    response.text[:300],
                )
            if response.status_code != 404:
                return
        if count:
            self._sent[service] = (count, now)
        else:
            self._sent.pop(service, None)
            if not self.counts.get(service):  # a request held during the PATCH stays
                self.counts.pop(service, None)
