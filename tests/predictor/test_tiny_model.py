"""The tiny model generator: deterministic, Mistral format, shapes vLLM expects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors import safe_open

from voxtral_predictor.tiny_model import PRESETS, tensor_shapes, write_checkpoint


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = write_checkpoint(tmp_path / "a", seed=7)
    b = write_checkpoint(tmp_path / "b", seed=7)
    c = write_checkpoint(tmp_path / "c", seed=8)
    for name in ("consolidated.safetensors", "params.json", "tekken.json"):
        assert digest(a / name) == digest(b / name)
    assert digest(a / "consolidated.safetensors") != digest(c / "consolidated.safetensors")


def test_mistral_format_files(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "m")
    params = json.loads((out / "params.json").read_text())
    assert params["multimodal"]["whisper_model_args"]["downsample_args"]["downsample_factor"] == 4
    tekken = json.loads((out / "tekken.json").read_text())
    assert tekken["audio"]["sampling_rate"] == 16_000 and tekken["audio"]["frame_rate"] == 12.5
    specials = {t["token_str"] for t in tekken["special_tokens"]}
    assert {"[AUDIO]", "[BEGIN_AUDIO]", "[TRANSCRIBE]"} <= specials
    with safe_open(str(out / "consolidated.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    assert shapes == tensor_shapes(PRESETS["tiny"])
    assert (out / "consolidated.safetensors").stat().st_size < 2 << 20


def test_real_presets_have_real_sizes() -> None:
    def params(preset: str) -> int:
        total = 0
        for dims in tensor_shapes(PRESETS[preset]).values():
            n = 1
            for d in dims:
                n *= d
            total += n
        return total

    assert 4.5e9 < params("mini") < 4.8e9  # Voxtral-Mini-3B-2507: 4.67 B with the encoder
    assert 24.0e9 < params("small") < 24.5e9  # Voxtral-Small-24B-2507: 24.3 B
