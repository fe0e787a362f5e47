"""The pure planner: from a VoxtralService and what exists to the writes and the status.

The "cluster" here is a dict that the plans are applied to, the way the API server would
(plus a few defaults a real server adds), so a sequence of reconciles can be followed."""

from __future__ import annotations

import copy
from typing import Any

from kube_emulator.apply import merge
from operator_samples import VALID, vxs

from voxtral_operator.api.problems import SpecError
from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.autoscaling.step import ScalingState
from voxtral_operator.plan.drift import covers, in_sync
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
from voxtral_operator.status.merge import condition
from voxtral_operator.status.refusals import Refusal

CTX = Context(now="2026-01-01T00:00:00Z")
LATER = Context(now="2026-01-01T01:00:00Z")


class World:
    """A VoxtralService and its children, as the API server would hold them."""

    def __init__(self, sample: dict[str, Any]) -> None:
        self.body = copy.deepcopy(sample)
        self.body["metadata"].update(uid="uid-1", generation=1)
        self.children: dict[ChildKey, dict[str, Any]] = {}
        self.writes = 0
        self.scales: list[Scale] = []

    def reconcile(
        self,
        lookups: Lookups | None = None,
        ctx: Context = CTX,
        apis: dict[str, bool] | None = None,
    ) -> Plan:
        try:
            resolved: Any = resolve(parse(self.body))
        except SpecError as exc:
            resolved = exc
        if lookups is None and not isinstance(resolved, SpecError):
            wanted = needs(resolved, self.children)
            lookups = Lookups(
                secret="ok" if wanted.secret else None,
                claim={"status": {"phase": "Bound"}} if wanted.claim else None,
                claim_checked=wanted.claim is not None,
                apis=apis or {},
            )
        result = plan(self.body, resolved, self.children, lookups or Lookups(), ctx)
        for action in result.actions:
            self.writes += 1
            if isinstance(action, Apply):
                stored = copy.deepcopy(action.manifest)
                old = self.children.get(action.key)
                if old and "status" in old:
                    stored["status"] = old["status"]
                if stored["kind"] == "Service":
                    stored["spec"]["clusterIP"] = "10.0.0.1"  # a server default
                if stored["kind"] == "Deployment" and "replicas" not in stored["spec"]:
                    # Kept while another field manager owns it (Scale), else the default.
                    stored["spec"]["replicas"] = (old or {}).get("spec", {}).get("replicas", 1)
                self.children[action.key] = stored
            elif isinstance(action, Scale):
                self.scales.append(action)
                self.children[("Deployment", action.name)]["spec"]["replicas"] = action.replicas
            else:
                del self.children[(action.kind, action.name)]
        if result.status_patch is not None:
            self.writes += 1  # a JSON merge patch, as the API server applies it (RFC 7386)
            self.body["status"] = merge(self.body.get("status") or {}, result.status_patch)
        return result

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.children}

    def job(self) -> tuple[ChildKey, dict[str, Any]]:
        return next((k, v) for k, v in self.children.items() if k[0] == "Job")

    def complete_job(self) -> None:
        self.job()[1]["status"] = {
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        }

    def available(self, ready: int = 1) -> None:
        self.children[("Deployment", "voxtral")]["status"] = {
            "replicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }

    def cond(self, type_: str) -> dict[str, Any]:
        found = condition(self.body.get("status"), type_)
        assert found is not None
        return dict(found)


def test_a_new_service_gets_storage_download_and_service_but_no_deployment_yet() -> None:
    world = World(VALID["mini-preset"])
    result = world.reconcile()
    kinds = [a.manifest["kind"] for a in result.actions if isinstance(a, Apply)]
    assert kinds == ["PersistentVolumeClaim", "Job", "Service"]
    assert all(isinstance(a, Apply) and a.create for a in result.actions)
    assert world.cond("ModelReady")["reason"] == "Downloading"
    assert world.cond("Ready")["status"] == "False"
    assert result.problem is None


def test_the_deployment_follows_the_download_then_ready_when_available() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    assert "Deployment" in world.kinds()
    assert world.cond("Available")["reason"] == "Loading"
    assert world.reconcile().status_patch is None  # the Deployment's event: nothing new
    world.available()
    world.reconcile()
    assert world.cond("Ready")["status"] == "True"
    status = world.body["status"]
    assert status["endpoints"]["openai"] == "http://voxtral.default.svc.cluster.local:8080/v1"
    assert status["replicaSummary"] == "1/1" and status["observedGeneration"] == 1


def test_nothing_changed_means_no_writes() -> None:
    world = World(VALID["everything"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    world.available(3)
    world.reconcile()
    before = world.writes
    again = world.reconcile(ctx=LATER)
    assert again.actions == [] and again.status_patch is None
    assert world.writes == before


def test_a_hand_edit_is_repaired_and_server_defaults_are_not_drift() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    deployment = world.children[("Deployment", "voxtral")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"  # server default: fine
    container["resources"]["requests"]["cpu"] = "8000m"  # same quantity, another form
    assert world.reconcile().actions == []
    container["image"] = "evil:latest"
    result = world.reconcile()
    assert [(type(a), a.key) for a in result.actions] == [(Apply, ("Deployment", "voxtral"))]
    assert not result.actions[0].create  # type: ignore[union-attr]


def test_a_spec_change_updates_and_a_dropped_field_is_noticed() -> None:
    world = World(VALID["everything"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    world.body["spec"]["scheduling"] = {}  # no nodeSelector any more: covers() cannot see it
    world.body["metadata"]["generation"] = 2
    result = world.reconcile()
    updated = {a.key for a in result.actions if isinstance(a, Apply)}
    assert ("Deployment", "voxtral") in updated
    assert world.body["status"]["observedGeneration"] == 2


def test_scaling_down_to_one_deletes_the_pdb() -> None:
    world = World(VALID["small-preset"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    assert "PodDisruptionBudget" in world.kinds()
    world.body["spec"]["replicas"] = 1
    result = world.reconcile()
    assert Delete("policy/v1", "PodDisruptionBudget", "voxtral") in result.actions
    assert "PodDisruptionBudget" not in world.kinds()


def test_a_new_revision_downloads_first_and_keeps_the_old_deployment_meanwhile() -> None:
    world = World(VALID["hf-private"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    old_job, _ = world.job()
    old_deployment = copy.deepcopy(world.children[("Deployment", "voxtral")])
    world.body["spec"]["model"]["source"]["huggingFace"]["revision"] = "b2c3d4e"
    result = world.reconcile()
    assert Delete("batch/v1", "Job", old_job[1]) in result.actions
    assert world.children[("Deployment", "voxtral")] == old_deployment  # still serving
    assert world.cond("ModelReady")["reason"] == "Downloading"
    world.complete_job()
    world.reconcile()
    env = world.children[("Deployment", "voxtral")]["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert {"name": "VOXTRAL_MODEL", "value": "/models/hf/acme--voxtral-finetune/b2c3d4e"} in env


def test_a_missing_secret_is_waited_for_without_building_anything() -> None:
    world = World(VALID["hf-private"])
    resolved = resolve(parse(world.body))
    assert needs(resolved, {}).secret == ("hf-token", "token")
    result = world.reconcile(Lookups(secret="missing"))
    assert isinstance(result.problem, Waiting) and result.actions == []
    assert world.children == {}
    ready = world.cond("Ready")
    assert ready["reason"] == "WaitingForSecret"
    assert "kubectl create secret generic hf-token --from-literal=token=" in ready["message"]
    assert "no key" not in ready["message"]
    world.reconcile(Lookups(secret="no-key"))
    assert "key 'token' in Secret hf-token" in world.cond("Ready")["message"]
    world.reconcile(Lookups(secret="ok"))
    assert "Job" in world.kinds()


def test_the_secret_is_not_read_once_the_download_is_done() -> None:
    world = World(VALID["hf-private"])
    world.reconcile()
    world.complete_job()
    assert needs(resolve(parse(world.body)), world.children).secret is None


def test_a_pvc_source_waits_for_its_claim_to_be_bound() -> None:
    world = World(VALID["pvc"])
    result = world.reconcile(Lookups(claim=None, claim_checked=True))
    assert isinstance(result.problem, Waiting) and world.children == {}
    assert "PersistentVolumeClaim models" in world.cond("Ready")["message"]
    world.reconcile(Lookups(claim={"status": {"phase": "Pending"}}, claim_checked=True))
    assert "to be Bound (it is Pending)" in world.cond("ModelReady")["message"]
    world.reconcile(Lookups(claim={"status": {"phase": "Bound"}}, claim_checked=True))
    assert world.kinds() == {"Deployment", "Service"}
    assert needs(resolve(parse(world.body)), world.children).claim is None  # no more reads


def test_an_invalid_spec_builds_nothing_and_says_why() -> None:
    world = World(
        vxs({"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 1, "gpuMemory": "40Gi"})
    )
    result = world.reconcile()
    assert isinstance(result.problem, Invalid) and result.actions == []
    ready = world.cond("Ready")
    assert ready["reason"] == "ModelDoesNotFit"
    assert "set spec.gpusPerReplica to 2 or more" in ready["message"]
    assert world.reconcile().status_patch is None  # and says it once


def test_an_invalid_update_leaves_the_running_children_alone() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    before = copy.deepcopy(world.children)
    world.body["spec"]["replicas"] = "three"
    result = world.reconcile()
    assert result.actions == [] and world.children == before
    assert "left as they were" in world.cond("Ready")["message"]


def test_a_failed_download_is_reported_with_what_to_do() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    key, job = world.job()
    job["status"] = {
        "failed": 5,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    }
    result = world.reconcile()
    model = world.cond("ModelReady")
    assert model["reason"] == "DownloadFailed"
    assert f"kubectl logs job/{key[1]}" in model["message"] and "delete the Job" in model["message"]
    assert result.problem is None and "Deployment" not in world.kinds()


def test_a_stuck_rollout_points_at_the_pods() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    world.complete_job()
    world.reconcile()
    world.children[("Deployment", "voxtral")]["status"] = {
        "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    }
    world.reconcile()
    available = world.cond("Available")
    assert available["reason"] == "RolloutStuck"
    assert "kubectl get pods -l app.kubernetes.io/component=predictor" in available["message"]


def test_transition_times_move_only_with_the_status() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile(ctx=CTX)
    first = world.cond("ModelReady")["lastTransitionTime"]
    world.reconcile(ctx=LATER)
    assert world.cond("ModelReady")["lastTransitionTime"] == first
    world.complete_job()
    world.reconcile(ctx=LATER)
    assert world.cond("ModelReady")["lastTransitionTime"] == LATER.now


def test_the_cache_claim_keeps_immutable_fields_and_only_grows() -> None:
    world = World(VALID["everything"])
    world.reconcile()
    claim_key = ("PersistentVolumeClaim", "voxtral-model-cache")
    world.body["spec"]["cache"] = {"storageClassName": "other", "size": "50Gi"}
    result = world.reconcile()
    claim = world.children[claim_key]
    assert claim["spec"]["storageClassName"] == "fast-rwx"  # immutable: kept
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"  # never shrinks
    again = world.reconcile()
    assert not any(isinstance(a, Apply) and a.key == claim_key for a in again.actions)
    assert any(isinstance(a, Apply) and a.key == claim_key for a in result.actions) is False
    world.body["spec"]["cache"] = {"storageClassName": "fast-rwx", "size": "300Gi"}
    grown = world.reconcile()
    assert any(isinstance(a, Apply) and a.key == claim_key for a in grown.actions)
    assert world.children[claim_key]["spec"]["resources"]["requests"]["storage"] == "300Gi"


def test_children_of_another_owner_are_never_deleted() -> None:
    world = World(VALID["mini-preset"])
    world.children[("Job", "voxtral-download-deadbeef")] = {
        "metadata": {
            "name": "voxtral-download-deadbeef",
            "ownerReferences": [{"uid": "someone-else", "controller": True}],
        }
    }
    result = world.reconcile()
    assert not any(isinstance(a, Delete) for a in result.actions)


def test_covers_is_a_subset_check_with_quantities() -> None:
    assert covers({"a": 1, "b": [{"c": 2, "d": 3}]}, {"b": [{"c": 2}]})
    assert not covers({"b": [{"c": 2}]}, {"b": [{"c": 2}, {"c": 3}]})
    assert covers({"limits": {"memory": "1Gi"}}, {"limits": {"memory": "1024Mi"}})
    assert not covers({"image": "1Gi"}, {"image": "1024Mi"})  # not a quantity field
    assert not covers({"x": True}, {"x": 1})
    manifest = {"metadata": {"annotations": {"voxtral.dev/spec-hash": "h"}}, "spec": {"a": 1}}
    observed = copy.deepcopy(manifest) | {"status": {"ready": 1}}
    assert in_sync(observed, manifest)
    observed["metadata"]["annotations"]["voxtral.dev/spec-hash"] = "old"
    assert not in_sync(observed, manifest)


# --- autoscaling and monitoring -------------------------------------------------------------

ALL_APIS = {
    "keda.sh/v1alpha1/scaledobjects": True,
    "monitoring.coreos.com/v1/servicemonitors": True,
    "monitoring.coreos.com/v1/prometheusrules": True,
    "custom.metrics.k8s.io": True,
}


def serving(sample: dict[str, Any], apis: dict[str, bool] | None = None) -> World:
    world = World(sample)
    world.reconcile(apis=apis)
    world.complete_job()
    world.reconcile(apis=apis)
    world.available()
    world.reconcile(apis=apis)
    return world


def kinds_of(result: Plan) -> list[str]:
    return [a.manifest["kind"] for a in result.actions if isinstance(a, Apply)]


def test_an_autoscaled_deployment_starts_within_bounds_and_leaves_replicas_out() -> None:
    world = World(VALID["hpa"])  # replicas 3, bounds 2..6
    world.reconcile()
    world.complete_job()
    result = world.reconcile()
    deployment = next(
        a for a in result.actions if isinstance(a, Apply) and a.key[0] == "Deployment"
    )
    assert "replicas" not in deployment.manifest["spec"]
    assert world.scales == [Scale("voxtral", 3, world.scales[0].why)]
    assert result.actions.index(deployment) < result.actions.index(world.scales[0])
    assert world.children[("Deployment", "voxtral")]["spec"]["replicas"] == 3
    assert "HorizontalPodAutoscaler" in world.kinds()
    assert world.cond("ScalingActive")["reason"] == "MetricsAdapterMissing"
    world.reconcile(apis=ALL_APIS)
    assert world.cond("ScalingActive")["reason"] == "HorizontalPodAutoscaler"
    auto = world.body["status"]["autoscaling"]
    assert auto == {
        "mode": "hpa",
        "minReplicas": 2,
        "maxReplicas": 6,
        "desiredReplicas": 3,
        "currentReplicas": 0,  # no pod yet
    }


def test_turning_autoscaling_on_hands_the_replicas_over_before_the_apply() -> None:
    world = serving(VALID["small-preset"])  # spec.replicas 2, applied by the operator
    world.body["spec"]["autoscaling"] = {"minReplicas": 3, "maxReplicas": 5}
    world.body["metadata"]["generation"] = 2
    result = world.reconcile()
    scale = next(a for a in result.actions if isinstance(a, Scale))
    apply = next(a for a in result.actions if isinstance(a, Apply) and a.key[0] == "Deployment")
    assert result.actions.index(scale) < result.actions.index(apply)
    assert (scale.replicas, "handed" in scale.why) == (3, True)  # clamped into 3..5
    assert "replicas" not in apply.manifest["spec"]
    assert world.reconcile().actions == []  # handed over once
    # Off again: spec.replicas applies, no hand-over needed (the operator's apply wins).
    del world.body["spec"]["autoscaling"]
    result = world.reconcile()
    assert not any(isinstance(a, Scale) for a in result.actions)
    assert world.children[("Deployment", "voxtral")]["spec"]["replicas"] == 2
    assert "autoscaling" not in world.body["status"]
    assert {c["type"] for c in world.body["status"]["conditions"]} == {
        "ModelReady",
        "Available",
        "Ready",
    }


def test_custom_resources_only_where_their_crds_are_installed() -> None:
    world = serving(VALID["keda"])
    assert "ScaledObject" not in world.kinds() and "ServiceMonitor" not in world.kinds()
    assert "ConfigMap" in world.kinds()  # the dashboard needs only the core API
    assert world.cond("ScalingActive")["reason"] == "KedaMissing"
    assert world.cond("MonitoringReady")["reason"] == "PrometheusOperatorMissing"
    assert "ScalingLimited" not in {c["type"] for c in world.body["status"]["conditions"]}
    result = world.reconcile(apis=ALL_APIS)
    assert sorted(kinds_of(result)) == ["PrometheusRule", "ScaledObject", "ServiceMonitor"]
    assert world.cond("ScalingActive")["reason"] == "KedaScaling"
    assert world.cond("MonitoringReady")["reason"] == "Monitored"
    assert world.reconcile(apis=ALL_APIS).actions == []
    # keda -> hpa: the ScaledObject goes first, the HPA comes once it is gone (issue 13: two
    # autoscalers never scale one Deployment, and KEDA's webhook refuses the reverse order).
    world.body["spec"]["autoscaling"]["mode"] = "hpa"
    world.body["spec"]["autoscaling"]["minReplicas"] = 1
    result = world.reconcile(apis=ALL_APIS)
    assert [a.kind for a in result.actions if isinstance(a, Delete)] == ["ScaledObject"]
    assert isinstance(result.actions[0], Delete)
    assert "HorizontalPodAutoscaler" not in kinds_of(result)
    result = world.reconcile(apis=ALL_APIS)
    assert "HorizontalPodAutoscaler" in kinds_of(result)


def test_the_operator_modes_decisions_reach_the_status_and_survive_a_restart() -> None:
    world = serving(VALID["autoscaled"])
    assert world.cond("ScalingActive")["reason"] == "OperatorScaling"
    assert world.cond("ScalingLimited")["status"] == "False"
    wanted = needs(resolve(parse(world.body)), world.children)
    state = ScalingState(
        last_decision="1 → 2 replicas: load 200 per replica",
        last_scale_time="2026-01-01T00:30:00Z",
        limited="1 replica(s) Pending unschedulable since 2026-01-01T00:31:00Z: no node ...",
        limited_reason="GPUsUnavailable",
    )
    world.reconcile(Lookups(apis={}, scaling=state))
    assert wanted.apis == ()
    auto = world.body["status"]["autoscaling"]
    assert auto["lastDecision"] == state.last_decision
    assert auto["lastScaleTime"] == state.last_scale_time
    assert world.cond("ScalingLimited")["reason"] == "GPUsUnavailable"
    # An operator restart: no state in memory; what the status said stays until the
    # autoscaler's first tick (no write, no flapping condition).
    assert world.reconcile(Lookups(apis={}, scaling=None)).status_patch is None
    assert world.body["status"]["autoscaling"]["lastDecision"] == state.last_decision
    assert world.cond("ScalingLimited")["reason"] == "GPUsUnavailable"
    world.reconcile(Lookups(apis={}, scaling=ScalingState()))  # the first tick: no limit
    assert world.cond("ScalingLimited")["status"] == "False"


def test_the_hpas_own_conditions_are_mirrored() -> None:
    world = serving(VALID["hpa"], apis=ALL_APIS)
    world.children[("HorizontalPodAutoscaler", "voxtral")]["status"] = {
        "lastScaleTime": "2026-01-01T00:10:00Z",
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
             "message": "the HPA controller was able to update the target scale to 6"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
             "message": "the HPA was able to compute the replica count"},
            {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas",
             "message": "the desired replica count is more than the maximum replica count"},
        ],
    }  # fmt: skip
    world.reconcile(apis=ALL_APIS)
    assert world.cond("ScalingLimited")["reason"] == "TooManyReplicas"
    assert world.cond("ScalingActive")["reason"] == "ValidMetricFound"
    auto = world.body["status"]["autoscaling"]
    assert auto["lastScaleTime"] == "2026-01-01T00:10:00Z"
    assert "update the target scale to 6" in auto["lastDecision"]


def test_monitoring_turned_off_deletes_its_objects_and_condition() -> None:
    world = serving(VALID["keda"], apis=ALL_APIS)
    del world.body["spec"]["monitoring"]
    result = world.reconcile(apis=ALL_APIS)
    assert sorted(a.kind for a in result.actions if isinstance(a, Delete)) == [
        "ConfigMap",
        "PrometheusRule",
        "ServiceMonitor",
    ]
    assert "MonitoringReady" not in {c["type"] for c in world.body["status"]["conditions"]}


# --- issue 13: refusals, nested status keys ---------------------------------------------------


def test_status_keys_that_go_away_are_removed_by_the_merge_patch() -> None:
    """A JSON merge patch merges nested maps: keys of status.autoscaling from operator mode
    must be sent as null when mode hpa no longer has them, or they stay forever (and every
    reconcile writes the status again)."""
    world = serving(VALID["autoscaled"], apis=ALL_APIS)
    state = ScalingState(
        last_decision="1 → 2 replicas: load", last_scale_time="2026-01-01T00:30:00Z"
    )
    world.reconcile(Lookups(apis=ALL_APIS, scaling=state))
    assert world.body["status"]["autoscaling"]["lastDecision"] == "1 → 2 replicas: load"
    world.body["spec"]["autoscaling"]["mode"] = "hpa"
    result = world.reconcile(apis=ALL_APIS)
    assert result.status_patch is not None
    assert result.status_patch["autoscaling"]["lastDecision"] is None
    assert result.status_patch["autoscaling"]["lastScaleTime"] is None
    auto = world.body["status"]["autoscaling"]
    assert auto["mode"] == "hpa" and "lastDecision" not in auto and "lastScaleTime" not in auto
    assert world.reconcile(apis=ALL_APIS).status_patch is None  # settled: no more writes


def test_a_refused_child_is_named_and_the_rest_still_reported() -> None:
    world = serving(VALID["mini-preset"])
    claim = ("PersistentVolumeClaim", "voxtral-model-cache")
    refusal = Refusal(
        *claim,
        "update",
        403,
        'persistentvolumeclaims "voxtral-model-cache" is forbidden: only dynamically provisioned pvc can be resized',
    )
    world.reconcile(Lookups(refused={claim: refusal}))
    synced = world.cond("Synced")
    assert (synced["status"], synced["reason"]) == ("False", "ChildForbidden")
    assert (
        "PersistentVolumeClaim voxtral-model-cache (update) refused with 403" in synced["message"]
    )
    assert "forbids it" in synced["message"]
    assert world.cond("Ready")["status"] == "True"  # a refused resize: still serving
    # The serving Deployment refused: Ready says so, with the server's words.
    deployment = ("Deployment", "voxtral")
    bad = Refusal(
        *deployment,
        "update",
        500,
        "failed to create typed patch object (default/voxtral; apps/v1, Kind=Deployment): .spec.x: field not declared in schema",
    )
    world.reconcile(Lookups(refused={deployment: bad}))
    ready = world.cond("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ChildRejected")
    assert ".spec.x: field not declared in schema" in ready["message"]
    assert "fix the VoxtralService spec" in ready["message"]
    # Nothing refused any more: the condition goes.
    world.reconcile()
    assert condition(world.body["status"], "Synced") is None
    assert world.cond("Ready")["status"] == "True"


def test_a_refused_download_job_is_the_model_condition() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    (job,) = [name for kind, name in world.children if kind == "Job"]
    del world.children[("Job", job)]
    refusal = Refusal(
        "Job", job, "create", 403, 'jobs.batch "x" is forbidden: exceeded quota: jobs'
    )
    world.reconcile(Lookups(refused={("Job", job): refusal}))
    model = world.cond("ModelReady")
    assert (model["status"], model["reason"]) == ("False", "ChildForbidden")
    assert world.cond("Ready")["reason"] == "ChildForbidden"


def test_what_explains_a_wait_is_read_only_while_waiting() -> None:
    """A steady state costs no reads (fix 7): the claim's events while it is not Bound, the
    download's pods while it runs or failed, the replicas' pods while none is available."""
    world = World(VALID["mini-preset"])
    world.reconcile()
    (job,) = [name for kind, name in world.children if kind == "Job"]
    wanted = needs(resolve(parse(world.body)), world.children)
    assert wanted.claim_events == "voxtral-model-cache" and wanted.job_pods == job
    assert not wanted.pods
    world.complete_job()
    world.reconcile()
    wanted = needs(resolve(parse(world.body)), world.children)
    assert (wanted.claim_events, wanted.job_pods, wanted.pods) == (None, None, True)
    world.available()
    wanted = needs(resolve(parse(world.body)), world.children)
    assert (wanted.claim_events, wanted.job_pods, wanted.pods) == (None, None, False)
    plan_ = world.reconcile()
    assert not plan_.recheck  # serving: nothing to look at again


def test_a_failed_download_quotes_its_last_words() -> None:
    world = World(VALID["mini-preset"])
    world.reconcile()
    (job,) = [name for kind, name in world.children if kind == "Job"]
    world.children[("Job", job)]["status"] = {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit"}]}  # fmt: skip
    said = "huggingface_hub.errors.GatedRepoError: 401 Client Error. Access to model is restricted"
    pod_ = {"metadata": {"name": f"{job}-abcde"}, "status": {"containerStatuses": [
        {"name": "download", "state": {"terminated": {"exitCode": 1, "message": said}}}]}}  # fmt: skip
    result = world.reconcile(Lookups(job_pods=[pod_]))
    model = world.cond("ModelReady")
    assert model["reason"] == "DownloadFailed" and said in model["message"]
    assert not result.recheck  # the user's move: delete the Job after fixing the cause


def test_a_refused_new_deployment_is_not_looked_at_again_and_again() -> None:
    """No retry storm (fix 2): a refusal waits for a change, not for the next wait period."""
    world = World(VALID["mini-preset"])
    world.reconcile()
    world.complete_job()
    deployment = ("Deployment", "voxtral")
    bad = Refusal(*deployment, "create", 500, "failed to create typed patch object (...)")
    result = world.reconcile(Lookups(refused={deployment: bad}))
    assert world.cond("Ready")["reason"] == "ChildRejected"
    assert not result.recheck


def test_an_old_autoscaler_that_never_goes_is_named() -> None:
    """KEDA uninstalled: its ScaledObject keeps KEDA's finalizer, so the HPA that replaces it
    waits; ScalingActive says why and how to let it go."""
    world = serving(VALID["keda"], apis=ALL_APIS)
    key = ("ScaledObject", "voxtral")
    assert key in world.children
    world.body["spec"]["autoscaling"]["mode"] = "hpa"
    world.body["spec"]["autoscaling"]["minReplicas"] = 1
    world.children[key]["metadata"] |= {
        "deletionTimestamp": "2026-01-01T00:00:00Z",
        "finalizers": ["finalizer.keda.sh"],
    }
    result = world.reconcile(apis=ALL_APIS)
    assert not [a for a in result.actions if isinstance(a, Delete)]  # asked once is enough
    assert "HorizontalPodAutoscaler" not in kinds_of(result)
    active = world.cond("ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "WaitingForOldAutoscaler")
    assert "finalizer.keda.sh" in active["message"] and "kubectl patch" in active["message"]
