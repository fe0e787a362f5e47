"""From a VoxtralService to the concrete settings the builders need: the preset's defaults
filled in, names chosen, and the checks the schema cannot express (does the model fit?)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError

from voxtral_operator.api import names
from voxtral_operator.api.presets import (
    DEFAULT_CPU,
    DEFAULT_GPUS_PER_REPLICA,
    DEFAULT_MEMORY,
    PRESETS,
    GiB,
)
from voxtral_operator.api.problems import SpecError, describe
from voxtral_operator.api.quantity import parse_quantity
from voxtral_operator.api.scaling import AutoscalingSpec
from voxtral_operator.api.service import HuggingFaceSource, PvcSource, VoxtralService

MODELS_MOUNT: Final = "/models"
COMPILE_CACHE_DIR: Final = "compile-cache"  # vLLM's compile cache, in the model-cache claim


@dataclass(frozen=True)
class Resolved:
    """A valid VoxtralService with every default decided."""

    service: VoxtralService
    gpus: int
    cpu: str | int
    memory: str | int
    hugging_face: HuggingFaceSource | None
    pvc: PvcSource | None
    claim_name: str
    """The claim mounted at /models: the model cache, or the user's own."""
    model_dir: str
    """Where the predictor finds the checkpoint (VOXTRAL_MODEL)."""
    model_label: str
    api_servers: int | None = None
    """Frontend processes (--api-servers); None: the predictor decides from its CPUs."""
    operator_owns_replicas: bool = True
    """False while an autoscaler owns the Deployment's replicas (spec.autoscaling on): the
    builders then leave `replicas` out and drift in it is not repaired."""
    prometheus_address: str | None = None
    """The Prometheus KEDA's triggers query: the spec's, else the operator's setting."""

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def namespace(self) -> str:
        return self.service.namespace

    @property
    def spec(self) -> Any:
        return self.service.spec

    @property
    def scaling(self) -> AutoscalingSpec | None:
        """spec.autoscaling when it is on."""
        scaling: AutoscalingSpec | None = self.service.spec.scaling
        return scaling

    @property
    def scales_to_zero(self) -> bool:
        """Mode operator with minReplicas 0: voxtral-gateway holds requests at zero."""
        scaling = self.scaling
        return scaling is not None and scaling.mode == "operator" and scaling.min_replicas == 0

    @property
    def replicas_from(self) -> str:
        """Who decides the Deployment's replicas: "spec" or the autoscaling mode."""
        return "spec" if self.scaling is None else self.scaling.mode

    @property
    def start_replicas(self) -> int:
        """spec.replicas, kept within the autoscaling bounds while autoscaling is on."""
        replicas: int = self.service.spec.replicas
        return replicas if self.scaling is None else self.scaling.clamp(replicas)


def parse(body: Mapping[str, Any]) -> VoxtralService:
    """Validate a VoxtralService as the API server would (schema and CEL rules). The
    status is the operator's own output, not the user's input: left out, so that a status
    written by another version of the operator never makes a valid spec invalid."""
    try:
        return VoxtralService.model_validate({k: v for k, v in body.items() if k != "status"})
    except ValidationError as exc:
        raise SpecError("; ".join(describe(exc, VoxtralService))) from None


def _hf_dir(source: HuggingFaceSource) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", source.revision)
    return f"{MODELS_MOUNT}/hf/{source.repo.replace('/', '--')}/{safe}"


def resolve(
    service: VoxtralService, prometheus_address: str = "", gateway: bool = True
) -> Resolved:
    """Fill in the preset's defaults and check that the model fits the GPUs.
    `prometheus_address` is the operator's default for KEDA's triggers; `gateway` says
    whether voxtral-gateway is installed (scale to zero in mode operator needs it)."""
    spec = service.spec
    scaling = spec.scaling
    if spec.runtime == "kserve":
        _check_kserve(service)
    to_zero = scaling is not None and scaling.mode == "operator" and scaling.min_replicas == 0
    if to_zero and not gateway and spec.runtime == "deployment":
        raise SpecError(
            "spec.autoscaling.minReplicas 0 in mode operator needs voxtral-gateway, which "
            "holds a service's requests while its first replica starts: install the chart "
            "with gateway.enabled=true (the operator then runs with "
            "VOXTRAL_OPERATOR_GATEWAY=true), or set minReplicas to 1"
        )
    preset = PRESETS[spec.model.preset] if spec.model.preset else None
    gpus = spec.gpus_per_replica or (
        preset.gpus_per_replica if preset else DEFAULT_GPUS_PER_REPLICA
    )
    source = spec.model.source
    hf: HuggingFaceSource | None
    pvc: PvcSource | None
    if source is not None:
        hf, pvc = source.hugging_face, source.pvc
    else:
        assert preset is not None  # the API's validators demand a preset or a source
        hf, pvc = HuggingFaceSource(repo=preset.repo), None

    if pvc is not None:
        claim = pvc.claim_name
        model_dir = f"{MODELS_MOUNT}/{pvc.path}".rstrip("/")
        label = f"pvc:{pvc.claim_name}/{pvc.path}".rstrip("/")
    else:
        assert hf is not None
        claim = names.cache_claim(service.name)
        model_dir = _hf_dir(hf)
        label = hf.repo if hf.revision == "main" else f"{hf.repo}@{hf.revision}"
    if spec.model.preset and source is not None:
        label = f"{spec.model.preset} ({label})"
    elif spec.model.preset:
        label = spec.model.preset

    resolved = Resolved(
        service=service,
        gpus=gpus,
        cpu=spec.resources.cpu or (preset.cpu if preset else DEFAULT_CPU),
        memory=spec.resources.memory or (preset.memory if preset else DEFAULT_MEMORY),
        hugging_face=hf,
        pvc=pvc,
        claim_name=claim,
        model_dir=model_dir,
        model_label=label,
        api_servers=spec.engine.api_servers or (preset.api_servers if preset else None),
        operator_owns_replicas=spec.scaling is None,
        prometheus_address=(
            (spec.autoscaling.prometheus_address if spec.autoscaling else None)
            or prometheus_address
            or None
        ),
    )
    check_fit(resolved)
    return resolved


HOUR: Final = 3600


def _check_kserve(service: VoxtralService) -> None:
    """What spec.runtime kserve cannot do: KServe's HPA scales on CPU or memory only, and
    its storage initializer does not take the token of spec.model...tokenSecretRef."""
    spec = service.spec
    if spec.scaling is not None and spec.scaling.mode == "hpa":
        raise SpecError(
            "spec.autoscaling.mode hpa with spec.runtime kserve: KServe's HorizontalPodAutoscaler "
            "scales on CPU or memory only, which says nothing of a GPU's speech load; use mode "
            "operator (Knative's KPA on request concurrency) or keda (Prometheus)",
            reason="UnsupportedWithKServe",
        )
    scaling = spec.scaling
    if scaling is not None and scaling.mode == "keda" and scaling.min_replicas == 0:
        raise SpecError(
            "spec.autoscaling.minReplicas 0 in mode keda with spec.runtime kserve: KServe's "
            "KEDA autoscaler in RawDeployment has nothing to wake the service; use mode "
            "operator, which runs it on Knative (its activator holds requests at zero)",
            reason="UnsupportedWithKServe",
        )
    serverless = scaling is not None and (scaling.mode == "operator" or scaling.min_replicas == 0)
    if serverless and scaling is not None and scaling.scale_down.delay_seconds > HOUR:
        raise SpecError(
            "spec.autoscaling.scaleDown.delaySeconds over 3600 with spec.runtime kserve: "
            "Knative's scale-down-delay is at most an hour",
            reason="UnsupportedWithKServe",
        )
    unused: list[str] = [n for n in ("cache", "service", "rollout") if n in spec.model_fields_set]
    unused += ["monitoring"] if spec.monitoring.enabled else []
    unused += ["routing"] if spec.routing.inference_pool else []
    if unused:
        fields = ", ".join(f"spec.{name}" for name in unused)
        raise SpecError(
            f"{fields} with spec.runtime kserve: KServe owns the pods' storage, Service, "
            "rollout and metrics, so these would do nothing; remove them (KServe's own "
            "InferenceService settings cover them), or use spec.runtime deployment",
            reason="UnsupportedWithKServe",
        )
    source = spec.model.source
    if source is not None and source.hugging_face and source.hugging_face.token_secret_ref:
        raise SpecError(
            "spec.model.source.huggingFace.tokenSecretRef with spec.runtime kserve: KServe's "
            "storage initializer reads the Hugging Face token from its own configuration "
            "(an HF_TOKEN in the storage secret KServe is set up with), not from this Secret; "
            "remove tokenSecretRef and give KServe the token, or use spec.runtime deployment",
            reason="UnsupportedWithKServe",
        )


def check_fit(resolved: Resolved) -> None:
    """A preset's weights, split over gpusPerReplica GPUs, must leave each GPU room to run."""
    spec = resolved.service.spec
    if not spec.model.preset:
        return  # a custom checkpoint: its size is unknown here
    preset = PRESETS[spec.model.preset]
    usable = parse_quantity(spec.gpu_memory) * Decimal(str(spec.engine.gpu_memory_utilization))
    needed = Decimal(preset.weights_bytes) / resolved.gpus + preset.min_free_bytes_per_gpu
    if needed <= usable:
        return
    fits = [
        n
        for n in (1, 2, 4, 8)
        if Decimal(preset.weights_bytes) / n + preset.min_free_bytes_per_gpu <= usable
    ]
    advice = (
        f"set spec.gpusPerReplica to {fits[0]} or more"
        if fits
        else "use GPUs with more memory (spec.gpuMemory) or a smaller preset"
    )
    raise SpecError(
        f"preset {spec.model.preset} needs about {needed / GiB:.0f} GiB on each GPU with "
        f"gpusPerReplica={resolved.gpus}, but a GPU offers {usable / GiB:.0f} GiB "
        f"(gpuMemory {spec.gpu_memory} x gpuMemoryUtilization "
        f"{spec.engine.gpu_memory_utilization}): {advice}",
        reason="ModelDoesNotFit",
    )
