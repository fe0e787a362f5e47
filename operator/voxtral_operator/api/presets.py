"""The model presets: what `spec.model.preset` fills in when the spec leaves it out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

PresetName = Literal["voxtral-small-24b", "voxtral-mini-3b"]

GiB: Final = 1 << 30


@dataclass(frozen=True)
class Preset:
    """Defaults and sizing facts for one Voxtral checkpoint."""

    repo: str
    gpus_per_replica: int
    cpu: str
    memory: str
    weights_bytes: int
    """Size of the bf16 weights: what the GPUs of one replica hold between them."""
    min_free_bytes_per_gpu: int = 4 * GiB
    """Room each GPU needs beside its share of the weights: activations, CUDA graphs and a
    KV cache big enough for a few 30-minute recordings."""
    api_servers: int = 4
    """Frontend processes beside the engine core (the predictor's --api-servers): the
    engine core takes about 4-5 CPUs under load, each frontend up to 1 (BENCHMARKS.md)."""


PRESETS: Final[dict[str, Preset]] = {
    # 24.3 B parameters: 48.5 GB of bf16 weights (the model card says ~55 GB of GPU memory
    # with the engine's own needs). Two GPUs leave a large KV cache even on 48 GB cards.
    "voxtral-small-24b": Preset(
        repo="mistralai/Voxtral-Small-24B-2507",
        gpus_per_replica=2,
        cpu="10",
        memory="72Gi",
        weights_bytes=48_500_000_000,
    ),
    # 4.7 B parameters: 8.8 GB of bf16 weights; one GPU is plenty.
    "voxtral-mini-3b": Preset(
        repo="mistralai/Voxtral-Mini-3B-2507",
        gpus_per_replica=1,
        cpu="8",
        memory="32Gi",
        weights_bytes=9_500_000_000,
    ),
}

# Without a preset (a custom checkpoint), the operator assumes one GPU and these resources.
DEFAULT_GPUS_PER_REPLICA: Final = 1
DEFAULT_CPU: Final = "4"
DEFAULT_MEMORY: Final = "32Gi"
