"""The operator mode's autoscaler: one tick for one service.

Each tick lists the service's pods (through kube.py), reads the ready ones' /metrics
(`autoscaling.scrape`: plain HTTP to the pods, no credentials), decides
(`autoscaling.step` around the pure policy), writes the Deployment's scale when the decision
changes it (its scale subresource, by the autoscaler's own field manager), and hands what
it found to the status, which the controller writes only when it changes.

A kopf daemon per service in operator mode calls `tick` every VOXTRAL_OPERATOR_AUTOSCALE_SECONDS
(handlers.py): kopf starts it with the service, stops it when the mode changes or the service
goes, and pauses it while another operator replica serves (peering), so two replicas never
scale one service. The policy's History is kept here, in memory: an operator restart starts
it afresh, which the policy makes safe (nothing is removed before a full scale-down delay),
and the last decision shown stays the one the status already holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from voxtral_operator import metrics
from voxtral_operator.api import names
from voxtral_operator.api.held import held as held_requests
from voxtral_operator.api.problems import SpecError
from voxtral_operator.autoscaling import scrape
from voxtral_operator.autoscaling.census import census
from voxtral_operator.autoscaling.policy import History
from voxtral_operator.autoscaling.step import ScalingState, Tick, rfc3339, tick
from voxtral_operator.cluster.kube import KubeError
from voxtral_operator.controller import ApiFailure, Controller
from voxtral_operator.plan.expectations import Owner
from voxtral_operator.status.conditions import selector

Logger = logging.Logger | logging.LoggerAdapter[Any]
Notify = Callable[[str, str], None]  # (reason, message): an Event on the VoxtralService


class Autoscaler:
    def __init__(
        self,
        controller: Controller,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.controller = controller
        self.http = http
        self.clock = clock
        self._history: dict[Owner, History] = {}
        self._wake: dict[Owner, asyncio.Event] = {}

    @property
    def interval(self) -> float:
        return self.controller.settings.autoscale_seconds

    def forget(self, owner: Owner) -> None:
        self._history.pop(owner, None)
        self._wake.pop(owner, None)

    def woken(self, owner: Owner) -> asyncio.Event:
        """Set when the service should be looked at before the next period: voxtral-gateway
        reported requests it holds (scale from zero)."""
        return self._wake.setdefault(owner, asyncio.Event())

    def wake(self, owner: Owner) -> None:
        self.woken(owner).set()

    def reported(self, owner: Owner, annotations: Mapping[str, str]) -> bool:
        """Whether a change of the service is worth a tick now: a gateway holds requests
        for it (a fresh report), or it held some at the last tick (they are answered)."""
        if held_requests(annotations, self.clock()).count > 0:
            return True
        state = self.controller.scaling.get(owner)
        return state is not None and state.held > 0

    async def tick(self, owner: Owner, logger: Logger, notify: Notify | None = None) -> Tick | None:
        """One read-decide-write of one service; None when it is not (or no longer) in
        operator mode, or has no Deployment yet. Failures are logged, not raised: the next
        tick tries again."""
        self.woken(owner).clear()  # this tick answers any wake-up so far
        try:
            return await self._tick(owner, logger, notify)
        except (ApiFailure, KubeError) as exc:
            metrics.AUTOSCALER_TICKS.labels("error").inc()
            logger.warning(f"autoscaler of {owner[0]}/{owner[1]}: API call failed: {exc}")
        except Exception:
            # A bug must not end the service's autoscaling: say so, try again next tick.
            metrics.AUTOSCALER_TICKS.labels("error").inc()
            metrics.ERRORS.labels("internal").inc()
            logger.exception(f"autoscaler of {owner[0]}/{owner[1]} failed")
        return None

    async def _tick(self, owner: Owner, logger: Logger, notify: Notify | None) -> Tick | None:
        controller = self.controller
        settings = controller.settings
        body = controller.service(owner)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return None
        try:
            scaling = controller.resolve(body).scaling
        except SpecError:
            return None  # the reconcile reports it; the replicas stay
        deployment_key = ("Deployment", names.deployment(owner[1]))
        if scaling is None or scaling.mode != "operator":
            return None
        if deployment_key not in controller.children(owner):
            return None  # the model is not in place yet
        now = self.clock()
        held = held_requests((body.get("metadata") or {}).get("annotations") or {}, now)
        pods = await controller.kube.list("Pod", owner[0], selector(owner[1]))
        found = census(pods)
        reads = await scrape.read_all(self.http, found.ready, settings.replica_metrics_port or None)
        for read in reads.values():
            metrics.AUTOSCALER_READS.labels("error" if isinstance(read, str) else "ok").inc()

        previous = controller.scaling.get(owner, ScalingState())
        async with controller.lock(owner):
            deployment = controller.children(owner).get(deployment_key)
            if deployment is None:
                return None
            desired = int((deployment.get("spec") or {}).get("replicas", 1))
            result = tick(
                now,
                found,
                reads,
                desired,
                self._history.get(owner, History()),
                scaling.config(settings.autoscale_seconds),
                previous,
                held.count,
            )
            since = rfc3339(held.since) if held.since is not None else None
            result = replace(result, state=replace(result.state, held=held.count, held_since=since))
            self._history[owner] = result.history
            if result.replicas is not None:
                await controller.write_scale(owner, deployment, result.replicas)
        metrics.AUTOSCALER_TICKS.labels("ok").inc()
        logger.debug(f"autoscaler: {result.summary}")
        if result.replicas is not None:
            message = result.state.last_decision or f"scaled to {result.replicas}"
            metrics.SCALES.labels("up" if result.replicas > desired else "down").inc()
            logger.info(f"scaled Deployment {deployment_key[1]}: {message}")
            if notify is not None:
                notify("Scaled", message)
        if result.state != previous:
            controller.scaling[owner] = result.state
            await controller.reconcile_owner(owner, "autoscaler", logger)
        return result
