"""Gather, plan, execute: one reconcile of one VoxtralService.

Observed state comes from kopf indexes of the children (watch-fed caches, like informers),
so a reconcile of a settled service makes no API call at all. Reconciles of one service
never overlap (a lock per service); any number of services reconcile at once.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from voxtral_operator import metrics
from voxtral_operator.api import names
from voxtral_operator.api import service as api
from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.resolve import Resolved, parse, resolve
from voxtral_operator.autoscaling.step import ScalingState
from voxtral_operator.cluster import optional_apis
from voxtral_operator.cluster.discovery import Discovery
from voxtral_operator.cluster.kube import Kube, KubeError
from voxtral_operator.config import Settings
from voxtral_operator.plan.expectations import Expectations, Owner
from voxtral_operator.plan.reconcile import (
    Apply,
    ChildKey,
    Context,
    Delete,
    Invalid,
    Lookups,
    Plan,
    Scale,
    Waiting,
    needs,
    plan,
)
from voxtral_operator.status.conditions import selector
from voxtral_operator.status.merge import COND_READY, condition
from voxtral_operator.status.refusals import Refusal

# The longest wait between two looks at a waiting service, in wait periods (30 s: 4 min).
RECHECK_BACKOFF: Final = 8
# The label the Job controller puts on a Job's pods (batch/v1, Kubernetes 1.27 and later).
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
# The read side of a kopf.Index: key -> a store (an iterable) of values.
IndexLike = Mapping[Any, Iterable[Any]]


@dataclass(frozen=True)
class Indexes:
    services: IndexLike
    children: Mapping[str, IndexLike]  # kind -> index keyed by (namespace, instance)


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """A cached copy of an object without its bulky managedFields."""
    data = copy.deepcopy(dict(body))
    data.get("metadata", {}).pop("managedFields", None)
    return data


class ApiFailure(Exception):
    """The API server failed us; worth retrying (kopf.TemporaryError)."""


class Controller:
    def __init__(self, settings: Settings, kube: Kube, indexes: Indexes) -> None:
        self.settings = settings
        self.kube = kube
        self.indexes = indexes
        self._locks: dict[Owner, asyncio.Lock] = {}
        self._expect = Expectations()  # the children
        self.discovery = Discovery(kube)
        # What the operator-mode autoscaler last found, per service (autoscaler.py writes it).
        self.scaling: dict[Owner, ScalingState] = {}
        # Services this replica serves: their resync daemons run (kopf pauses them on a
        # peering standby). When each was last reconciled, and those to look at again soon.
        self.active: dict[Owner, str] = {}  # -> the uid of the object served
        self._last: dict[Owner, float] = {}
        # Services to look at again, and after how long: the wait period, doubled at each
        # look that finds nothing new (a download of an hour is not looked at every 30 s).
        self._recheck: dict[Owner, float] = {}
        # Whether each served service was Ready at its last reconcile (the gauge reads it
        # from the metrics server's thread: plain values, written on the event loop only).
        self._ready: dict[Owner, bool] = {}
        # The uid of the object each (namespace, name) is: a service deleted and created
        # again under its name starts with nothing remembered of the old one.
        self._uids: dict[Owner, str] = {}
        # The last status written, per service. The operator is the only writer of status,
        # so this is the status as it is, even while the services' cache lags behind a
        # write (kopf's own annotation patches interleave with the status writes).
        self._written: dict[Owner, dict[str, Any]] = {}

    # --- observed state --------------------------------------------------------------

    def children(self, owner: Owner) -> dict[ChildKey, Any]:
        found: dict[ChildKey, Any] = {}
        for kind, index in self.indexes.children.items():
            for body in index.get(owner) or ():
                found[(kind, body["metadata"]["name"])] = body
        return self._expect.overlay(owner, found)

    def service(self, owner: Owner) -> Mapping[str, Any] | None:
        for body in self.indexes.services.get(owner) or ():
            return dict(body)
        return None

    def owners(self) -> list[Owner]:
        return sorted(self.indexes.services)

    def lock(self, owner: Owner) -> asyncio.Lock:
        """Held while a service's children are planned and written (reconciles, scaling)."""
        return self._locks.setdefault(owner, asyncio.Lock())

    def resolve(self, body: Mapping[str, Any]) -> Resolved:
        """parse() and resolve() with the operator's defaults (raises SpecError)."""
        return resolve(parse(body), self.settings.prometheus_address, self.settings.gateway)

    # --- the reconcile --------------------------------------------------------------

    async def reconcile(
        self,
        body: Mapping[str, Any],
        trigger: str,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> Plan:
        meta = body.get("metadata") or {}
        owner: Owner = (str(meta.get("namespace") or "default"), str(meta["name"]))
        lock = self.lock(owner)
        started = time.perf_counter()
        result = "error"
        try:
            async with lock:
                uid = str(meta.get("uid") or "")
                if uid and self._uids.get(owner, uid) != uid:
                    self._drop(owner)  # a new object under an old name
                if uid:
                    self._uids[owner] = uid
                written = self._written.get(owner)
                parent = {**body, "status": written} if written is not None else body
                try:
                    done = await self._reconcile(owner, parent, logger)
                finally:
                    self._last[owner] = time.monotonic()
            if done.recheck:
                self._recheck[owner] = self._next_look(owner, done.status_patch is not None)
            else:
                self._recheck.pop(owner, None)
            result = (
                "invalid"
                if isinstance(done.problem, Invalid)
                else "waiting"
                if isinstance(done.problem, Waiting)
                else "ok"
            )
            return done
        except ApiFailure:
            metrics.ERRORS.labels("api").inc()
            self._recheck[owner] = self.settings.wait_seconds  # soon, not at the resync
            raise
        except Exception:
            metrics.ERRORS.labels("internal").inc()
            raise
        finally:
            metrics.RECONCILES.labels(trigger, result).inc()
            metrics.RECONCILE_SECONDS.labels(trigger).observe(time.perf_counter() - started)

    async def _reconcile(
        self,
        owner: Owner,
        body: Mapping[str, Any],
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> Plan:
        resolved: Resolved | SpecError
        try:
            resolved = self.resolve(body)
        except SpecError as exc:
            resolved = exc
            metrics.ERRORS.labels("spec").inc()
        children = self.children(owner)
        lookups = Lookups()
        if isinstance(resolved, Resolved):
            lookups = await self._lookups(resolved, children)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx = Context(
            now=now,
            cluster_domain=self.settings.cluster_domain,
            wait_seconds=self.settings.wait_seconds,
        )
        result = plan(body, resolved, children, lookups, ctx)
        if isinstance(resolved, Resolved) and await self._confirm_absent(owner, result):
            # The caches had not shown some children yet (a cold start): plan again.
            children = self.children(owner)
            lookups = await self._lookups(resolved, children)
            result = plan(body, resolved, children, lookups, ctx)
        refused, failure, unwritten = await self._execute(owner, result.actions, children, logger)
        if unwritten:
            # The status names what the API server refused, and describes the children as
            # they are: what failed was not written.
            again = replace(lookups, refused=refused, unwritten=frozenset(unwritten))
            result = replace(plan(body, resolved, children, again, ctx), actions=[])
        await self._write_status(owner, body, result, logger)
        if owner in self.active:
            ready = condition(result.status, COND_READY) or {}
            self._ready[owner] = ready.get("status") == "True"
        if failure is not None:
            raise ApiFailure(str(failure)) from failure
        return result

    async def _confirm_absent(self, owner: Owner, result: Plan) -> bool:
        """Read each child the plan would create: a watch cache can lag (kopf may run a
        handler before every index is filled), and a read is cheaper than a needless write.
        True if some of them exist after all (they are then laid over the cache)."""
        found = False
        for action in result.actions:
            if isinstance(action, Apply) and action.create:
                kind, name = action.key
                try:
                    body = await self.kube.get(kind, owner[0], name)
                except KubeError as exc:
                    raise ApiFailure(str(exc)) from exc
                if body is not None:
                    self._expect.wrote(owner, action.key, None, slim(body))
                    found = True
        return found

    async def _lookups(self, resolved: Resolved, children: Mapping[ChildKey, Any]) -> Lookups:
        wanted = needs(
            resolved, children, datetime.datetime.now(datetime.UTC), self.settings.wait_seconds
        )
        ns = resolved.namespace
        secret: Literal["ok", "missing", "no-key"] | None = None
        claim = None
        events: list[dict[str, Any]] = []
        job_pods: list[dict[str, Any]] = []
        job_events: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        try:
            if wanted.secret is not None:
                name, key = wanted.secret
                found = await self.kube.get("Secret", ns, name)
                secret = (
                    "missing"
                    if found is None
                    else "ok"
                    if key in (found.get("data") or {}) or key in (found.get("stringData") or {})
                    else "no-key"
                )
            if wanted.claim is not None:
                claim = await self.kube.get("PersistentVolumeClaim", ns, wanted.claim)
            unbound = claim is not None and (claim.get("status") or {}).get("phase") != "Bound"
            if wanted.claim_events is not None and (wanted.claim is None or unbound):
                events = await self.kube.events(ns, "PersistentVolumeClaim", wanted.claim_events)
            if wanted.job_pods is not None:
                job_pods = await self.kube.list("Pod", ns, f"{JOB_NAME_LABEL}={wanted.job_pods}")
                if not job_pods:  # no pod at all: the Job's Events say why
                    job_events = await self.kube.events(ns, "Job", wanted.job_pods)
            if wanted.pods:
                pods = await self.kube.list("Pod", ns, selector(resolved.name))
            served = await self.discovery.lookup(wanted.apis)
        except KubeError as exc:
            raise ApiFailure(str(exc)) from exc
        owner = (resolved.namespace, resolved.name)
        return Lookups(
            secret=secret,
            claim=claim,
            claim_checked=wanted.claim is not None,
            apis=served,
            scaling=self.scaling.get(owner) if resolved.scaling else None,
            claim_events=events,
            job_pods=job_pods,
            job_events=job_events,
            pods=pods,
        )

    async def _execute(
        self,
        owner: Owner,
        actions: Iterable[Apply | Delete | Scale],
        children: Mapping[ChildKey, Any],
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> tuple[dict[ChildKey, Refusal], KubeError | None, set[ChildKey]]:
        """Do every action that can be done. A refused one is reported (and the actions on
        the same child after it are skipped: a Deployment is never applied without its
        replicas after their hand-over failed); a failed one (the API server unreachable,
        5xx) is returned, the first of them, for a retry; and the children not written."""
        latest = dict(children)
        refused: dict[ChildKey, Refusal] = {}
        failure: KubeError | None = None
        failed: set[ChildKey] = set()
        for action in actions:
            key, verb = _target(action)
            if key in failed:
                continue
            try:
                latest[key] = await self._do(owner, action, latest, children, logger)
            except KubeError as exc:
                failed.add(key)
                api_ = optional_apis.BY_KIND.get(key[0])
                if exc.status == 404 and api_ is not None:
                    self.discovery.forget(api_.key)  # its CRD went away since
                if not exc.refused:
                    failure = failure or exc
                    continue
                refusal = Refusal(key[0], key[1], verb, exc.status, exc.message)
                refused[key] = refusal
                metrics.ERRORS.labels("refused").inc()
                logger.warning(f"the API server refused {refusal.describe()}")
        return refused, failure, failed

    async def _do(
        self,
        owner: Owner,
        action: Apply | Delete | Scale,
        latest: Mapping[ChildKey, Any],
        children: Mapping[ChildKey, Any],
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> Any:
        """One action; the child as it is after it (None: gone)."""
        if isinstance(action, Apply):
            kind, name = action.key
            after = slim(await self.kube.apply(action.manifest))
            self._expect.wrote(owner, action.key, latest.get(action.key), after)
            metrics.WRITES.labels("apply", kind).inc()
            logger.info(f"{'created' if action.create else 'updated'} {kind} {name}")
            return after
        if isinstance(action, Scale):
            key = ("Deployment", action.name)
            scaled = await self.write_scale(owner, latest.get(key), action.replicas)
            logger.info(f"scaled Deployment {action.name} to {action.replicas}: {action.why}")
            return scaled
        key = (action.kind, action.name)
        left = await self.kube.delete(action.kind, owner[0], action.name)
        left = slim(left) if left is not None else None  # still there: finalizers
        self._expect.wrote(owner, key, children.get(key), left)
        metrics.WRITES.labels("delete", action.kind).inc()
        logger.info(f"deleted {action.kind} {action.name}")
        return left

    async def write_scale(
        self, owner: Owner, deployment: Mapping[str, Any] | None, replicas: int
    ) -> dict[str, Any] | None:
        """Set a Deployment's replicas (its scale subresource, the autoscaler's field
        manager); the cached Deployment is overlaid with the new count until its watch
        shows the write. Returns that overlay."""
        name = names.deployment(owner[1])
        scale = await self.kube.scale(owner[0], name, replicas)
        metrics.WRITES.labels("scale", "Deployment").inc()
        if scale is None or deployment is None:
            return None
        after = copy.deepcopy(dict(deployment))
        after.setdefault("spec", {})["replicas"] = replicas
        version = (scale.get("metadata") or {}).get("resourceVersion")
        if version is not None:
            after.setdefault("metadata", {})["resourceVersion"] = version
        self._expect.wrote(owner, ("Deployment", name), deployment, after)
        return after

    async def _write_status(
        self,
        owner: Owner,
        body: Mapping[str, Any],
        result: Plan,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        if result.status_patch is None:
            return
        try:
            after = await self.kube.patch_status(owner[0], owner[1], result.status_patch)
        except KubeError as exc:
            raise ApiFailure(str(exc)) from exc
        if after is not None:
            self._written[owner] = result.status
            metrics.WRITES.labels("status", api.KIND).inc()
            ready = condition(result.status, COND_READY) or {}
            logger.debug(f"status: Ready={ready.get('status')} ({ready.get('reason')})")

    # --- other triggers ---------------------------------------------------------------

    async def reconcile_owner(
        self, owner: Owner, trigger: str, logger: logging.Logger | logging.LoggerAdapter[Any]
    ) -> None:
        """Reconcile a service by name (a child changed, or the resync): errors are logged,
        kopf's handler of the service itself does the retrying."""
        body = self.service(owner)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return
        try:
            await self.reconcile(body, trigger, logger)
        except ApiFailure as exc:
            logger.warning(f"reconcile of {owner[0]}/{owner[1]} failed, will retry: {exc}")

    @property
    def tick_seconds(self) -> float:
        """How often a service's resync daemon looks whether a re-check is due."""
        resync = self.settings.resync_seconds or float("inf")
        return min(self.settings.wait_seconds, resync)

    def due(self, owner: Owner) -> bool:
        """A re-check is due: none since this replica serves the service, the resync period
        has passed since the last reconcile, or the wait period while the last one waits on
        something only a look shows."""
        last = self._last.get(owner)
        if last is None:
            return True  # served again after a pause: kopf runs no handler, catch up now
        since = time.monotonic() - last
        resync = self.settings.resync_seconds
        return bool(resync and since >= resync) or (
            owner in self._recheck and since >= self._recheck[owner]
        )

    def serve(self, owner: Owner, uid: str) -> None:
        """This replica serves the service (its resync daemon runs)."""
        cond = condition((self.service(owner) or {}).get("status"), COND_READY) or {}
        self._ready[owner] = cond.get("status") == "True"
        self.active[owner] = uid

    def suspend(self, owner: Owner, uid: str) -> None:
        """This replica stops serving the service (paused, or the service is gone): what it
        remembers of it may be stale by the time it serves it again. A no-op when another
        object of the same name is served by now."""
        if self.active.get(owner, uid) != uid:
            return
        self.active.pop(owner, None)
        self._ready.pop(owner, None)
        self._drop(owner)

    def _drop(self, owner: Owner) -> None:
        self._expect.forget(owner)
        self._last.pop(owner, None)
        self._recheck.pop(owner, None)
        self._written.pop(owner, None)
        self.scaling.pop(owner, None)

    def _next_look(self, owner: Owner, changed: bool) -> float:
        wait = self.settings.wait_seconds
        before = self._recheck.get(owner)
        if changed or before is None:
            return wait
        return min(before * 2, wait * RECHECK_BACKOFF)

    def census(self) -> tuple[int, int]:
        """(ready, not ready) among the services this replica serves. Called from the
        metrics server's thread: it reads only values the event loop replaces whole."""
        served = list(self.active)
        ready = sum(1 for owner in served if self._ready.get(owner))
        return ready, len(served) - ready

    def forget(self, owner: Owner, uid: str | None) -> None:
        """The service was deleted. A DELETED event of an old object may come after the
        first reconcile of a new one of the same name: then it is not forgotten."""
        if uid and self._uids.get(owner, uid) != uid:
            return
        self._drop(owner)
        self._uids.pop(owner, None)


def _target(action: Apply | Delete | Scale) -> tuple[ChildKey, str]:
    """The child an action writes, and what it does to it."""
    if isinstance(action, Apply):
        return action.key, "create" if action.create else "update"
    if isinstance(action, Scale):
        return ("Deployment", action.name), "scale"
    return (action.kind, action.name), "delete"


def owner_of(body: Mapping[str, Any]) -> Owner | None:
    """The VoxtralService a child belongs to: its instance label (set by the builders)."""
    meta = body.get("metadata") or {}
    instance = (meta.get("labels") or {}).get(names.LABEL_INSTANCE)
    if not instance:
        return None
    return (str(meta.get("namespace") or "default"), str(instance))
