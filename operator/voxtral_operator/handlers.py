"""kopf registrations only: thin glue into `controller.py`.

Run it with `voxtral-operator run` (settings from VOXTRAL_OPERATOR_* env vars). `kopf run
-m voxtral_operator.handlers [-n NAMESPACE | -A]` works too, for development: the
namespaces are then kopf's flags, and VOXTRAL_OPERATOR_NAMESPACES and _OBSERVE_CLUSTER,
which `voxtral-operator run` hands to kopf.run, are not read.
"""

# kopf ships type hints (py.typed); a mypy config that skips following kopf makes its
# decorators untyped, which must not fail the strict check of this glue module.
# mypy: disable-error-code="untyped-decorator"
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Final

import kopf

from voxtral_operator import metrics
from voxtral_operator.api import held, names
from voxtral_operator.api import service as api
from voxtral_operator.api.scaling import mode_of
from voxtral_operator.autoscaler import Autoscaler
from voxtral_operator.autoscaling import scrape
from voxtral_operator.cluster import kinds
from voxtral_operator.cluster.kinds import RESOURCES
from voxtral_operator.cluster.kube import Kube
from voxtral_operator.config import ConfigError, Settings
from voxtral_operator.controller import ApiFailure, Controller, Indexes, owner_of, slim
from voxtral_operator.plan.reconcile import Invalid, Waiting

GROUP, VERSION, PLURAL = api.GROUP, api.VERSION, api.PLURAL
MANAGED: Final = {names.LABEL_MANAGED_BY: names.OPERATOR}
API_RETRY_SECONDS: Final = 10.0
# A daemon exits as soon as kopf stops it (_nap); one busy with a reconcile is cancelled
# at once, and given this long to end before kopf leaves it orphaned.
DAEMON_EXIT_SECONDS: Final = 10.0
CHILDREN: Final = {
    kind: (RESOURCES[kind].group, RESOURCES[kind].version, RESOURCES[kind].plural)
    for kind in kinds.CHILDREN
}
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class _DiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's own, but the gateway's reports of held requests are not part of what a
    VoxtralService asks for: they wake the autoscaler (voxtralservice_event), not the
    reconcile, and kopf writes no diff base for them."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        reports = {k for k in body.metadata.annotations if k.startswith(held.PREFIX)}
        self.remove_annotations(essence, reports)
        self.remove_empty_stanzas(essence)
        return essence


def _kube(memo: kopf.Memo) -> Kube:
    if "kube" not in memo:
        memo["kube"] = Kube(observer=metrics.observe_request)
    kube: Kube = memo["kube"]
    return kube


def _controller(memo: kopf.Memo) -> Controller:
    controller: Controller = memo["controller"]
    return controller


def _autoscaler(memo: kopf.Memo) -> Autoscaler:
    autoscaler: Autoscaler = memo["autoscaler"]
    return autoscaler


# --- operator lifecycle ---------------------------------------------------------------


@kopf.on.login()
async def operator_login(
    memo: kopf.Memo, logger: kopf.Logger, settings: kopf.OperatorSettings, **_: Any
) -> kopf.ConnectionInfo | None:
    """In a cluster: the service account. Elsewhere: the kubernetes client library (it
    understands exec plugins), else kopf's minimal kubeconfig reader."""
    info = kopf.login_with_service_account(settings=settings)
    if info is None:
        try:
            info = kopf.login_via_client(logger=logger, settings=settings)
        except kopf.LoginError:
            info = kopf.login_with_kubeconfig(settings=settings)
    if info is not None:
        await _kube(memo).login(info)
    return info


@kopf.on.startup()
async def operator_startup(
    settings: kopf.OperatorSettings,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    try:
        config: Settings = memo.get("settings") or Settings.from_env(os.environ)
    except ConfigError as exc:
        raise kopf.PermanentError(f"bad operator settings: {exc}") from exc
    # kopf posts only explicit kopf.event() calls unless told to post log messages too: the
    # operator's messages about a VoxtralService (at VOXTRAL_OPERATOR_EVENTS_LEVEL and above)
    # become Events on it, for `kubectl describe`, however the operator is started.
    settings.posting.loggers = True
    settings.posting.level = _LEVELS[config.events_level]
    # Keep kopf's bookkeeping in annotations: the status belongs to the VoxtralService API.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=api.GROUP)
    settings.persistence.diffbase_storage = _DiffBase(
        prefix=api.GROUP, key="last-handled-configuration"
    )
    # Watch only the operator's own children (server-side label selection): not every
    # ConfigMap and Deployment of the cluster.
    for group, version, plural in CHILDREN.values():
        settings.watching.label_selectors[(group, version, plural)] = (
            f"{names.LABEL_MANAGED_BY}={names.OPERATOR}"
        )
    settings.peering.standalone = not config.peering
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.priority = config.priority
    # kopf hands every index to every handler, by its id.
    indexes = Indexes(
        services=kwargs["vxs_services"],
        children={kind: kwargs[f"vxs_{kind.lower()}"] for kind in CHILDREN},
    )
    controller = Controller(config, _kube(memo), indexes)
    memo["controller"] = controller
    memo["autoscaler"] = Autoscaler(controller, scrape.client(config.scrape_timeout))
    if config.metrics_port and not memo.get("metrics_served"):
        metrics.serve(config.metrics_port)
        memo["metrics_served"] = True
    metrics.count_services(controller.census)
    logger.info(
        f"voxtral-operator started: namespaces={list(config.namespaces) or 'all'}, "
        f"resync every {config.resync_seconds:g}s"
    )


@kopf.on.cleanup()
async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    if "autoscaler" in memo:
        await _autoscaler(memo).http.aclose()
    if "kube" in memo:
        await _kube(memo).close()


# --- caches (informer-like indexes) ---------------------------------------------------


@kopf.index(GROUP, VERSION, PLURAL, id="vxs_services")
def vxs_services(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): slim(body)}


def _index_child(body: kopf.Body, **_: Any) -> dict[Any, Any] | None:
    owner = owner_of(body)
    return {owner: slim(body)} if owner else None


for _kind, (_group, _version, _plural) in CHILDREN.items():
    kopf.index(_group, _version, _plural, labels=MANAGED, id=f"vxs_{_kind.lower()}")(_index_child)


# --- the reconcile ------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def voxtralservice_reconcile(
    body: kopf.Body, reason: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    try:
        plan = await _controller(memo).reconcile(body, str(reason), logger)
    except ApiFailure as exc:
        raise kopf.TemporaryError(f"API call failed: {exc}", delay=API_RETRY_SECONDS) from exc
    if isinstance(plan.problem, Invalid):
        raise kopf.PermanentError(plan.problem.message)
    if isinstance(plan.problem, Waiting):
        raise kopf.TemporaryError(plan.problem.message, delay=plan.problem.delay)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def voxtralservice_event(
    type: str,
    namespace: str | None,
    name: str,
    uid: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    if "controller" not in memo or not namespace:
        return
    if type == "DELETED":
        _controller(memo).forget((namespace, name), uid)
        _autoscaler(memo).forget((namespace, name))
    elif _autoscaler(memo).reported((namespace, name), body.metadata.annotations):
        # voxtral-gateway holds requests for it: decide now, not at the next period
        _autoscaler(memo).wake((namespace, name))


@kopf.daemon(GROUP, VERSION, PLURAL, id="resync", cancellation_timeout=DAEMON_EXIT_SECONDS)
async def voxtralservice_resync(
    namespace: str | None,
    name: str,
    uid: str | None,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """While this operator replica serves the service: count it in the services gauge, and
    re-check it every VOXTRAL_OPERATOR_RESYNC_SECONDS, and every _WAIT_SECONDS while it waits
    on something only a look shows (a claim that does not bind, a pod that does not start).
    kopf stops this daemon when the service goes and pauses it while another replica serves
    (peering), so a standby never applies what its paused caches hold."""
    controller = _controller(memo)
    owner = (namespace or "default", name)
    controller.serve(owner, uid or "")
    try:
        while not stopped:
            await _nap(stopped, controller.tick_seconds)
            if not stopped and controller.due(owner):
                await controller.reconcile_owner(owner, "resync", logger)
    finally:
        controller.suspend(owner, uid or "")


async def _nap(
    stopped: kopf.DaemonStopped, seconds: float, woken: asyncio.Event | None = None
) -> None:
    """Sleep, or less when kopf stops the daemon (pause, deletion, exit) or `woken` is set.
    Not stopped.wait(seconds): kopf 1.45 runs a time-limited wait in a helper task whose
    timeout can fire as the daemon is cancelled, and its TimeoutError then fails the
    operator's exit."""
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stopped.wait())}  # no limit
    if woken is not None:
        waiters.add(asyncio.ensure_future(woken.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _scaled_by_operator(spec: kopf.Spec, **_: Any) -> bool:
    """Mode operator, on the operator's own Deployment (KServe scales its own)."""
    return mode_of(spec) == "operator" and spec.get("runtime", "deployment") == "deployment"


@kopf.daemon(
    GROUP,
    VERSION,
    PLURAL,
    id="autoscaler",
    when=_scaled_by_operator,
    cancellation_timeout=DAEMON_EXIT_SECONDS,
)
async def voxtralservice_autoscale(
    namespace: str | None,
    name: str,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Operator mode: read, decide and scale every VOXTRAL_OPERATOR_AUTOSCALE_SECONDS, while
    the service is in that mode (kopf stops this when it leaves it, or pauses it under
    peering). Scale changes are posted as Events on the service."""
    autoscaler = _autoscaler(memo)

    def notify(reason: str, message: str) -> None:
        kopf.info(body, reason=reason, message=message)

    owner = (namespace or "default", name)
    while not stopped:
        await autoscaler.tick(owner, logger, notify)
        await _nap(stopped, autoscaler.interval, autoscaler.woken(owner))


async def child_event(
    type: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """A child changed or went away: re-check its VoxtralService (restores hand edits)."""
    owner = owner_of(body)
    if type is None or owner is None or "controller" not in memo:
        return  # the initial listing: the resume handlers cover it
    await _controller(memo).reconcile_owner(owner, "child", logger)


for _kind, (_group, _version, _plural) in CHILDREN.items():
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"{_kind.lower()}_event")(
        child_event
    )
