"""Write a random-weight Voxtral checkpoint in Mistral format.

The ``tiny`` preset is the project's embedded default model: a few hundred kilobytes
that the real vLLM engine loads on a CPU in seconds. The ``mini`` and ``small`` presets
carry the real architecture shapes of Voxtral-Mini-3B-2507 and Voxtral-Small-24B-2507
(for GPU benchmarks). Every preset has random weights: the text it produces is
meaningless. Only structure, status codes and token counts can be checked with it.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000
FRAME_RATE = 12.5
NUM_MEL_BINS = 128
HOP_LENGTH = 160
WINDOW_SIZE = 400
CHUNK_LENGTH_S = 30.0
DOWNSAMPLE_FACTOR = 4

# Special tokens a Voxtral tokenizer needs, in rank order (ranks 0..len-1).
SPECIAL_TOKENS = (
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]",
    "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]",
    "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]", "[ARGS]", "[CALL_ID]",
    "[AUDIO]", "[BEGIN_AUDIO]", "[TRANSCRIBE]",
)  # fmt: skip

# The tekken split pattern of Mistral's v7 tokenizers.
TEKKEN_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|"
    r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class Shape:
    """Architecture sizes of one Voxtral variant."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_dim: int
    vocab_size: int
    num_special_tokens: int
    tied_embeddings: bool
    enc_dim: int
    enc_layers: int
    enc_heads: int
    enc_hidden_dim: int
    max_seq_len: int


PRESETS: dict[str, Shape] = {
    "tiny": Shape(
        dim=64, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=32, hidden_dim=128,
        vocab_size=256 + 32, num_special_tokens=32, tied_embeddings=False,
        enc_dim=64, enc_layers=2, enc_heads=2, enc_hidden_dim=128, max_seq_len=32768,
    ),
    "mini": Shape(
        dim=3072, n_layers=30, n_heads=32, n_kv_heads=8, head_dim=128, hidden_dim=8192,
        vocab_size=131072, num_special_tokens=1000, tied_embeddings=False,
        enc_dim=1280, enc_layers=32, enc_heads=20, enc_hidden_dim=5120, max_seq_len=32768,
    ),
    "small": Shape(
        dim=5120, n_layers=40, n_heads=32, n_kv_heads=8, head_dim=128, hidden_dim=32768,
        vocab_size=131072, num_special_tokens=1000, tied_embeddings=False,
        enc_dim=1280, enc_layers=32, enc_heads=20, enc_hidden_dim=5120, max_seq_len=32768,
    ),
}  # fmt: skip


def params_json(shape: Shape) -> dict[str, Any]:
    """The ``params.json`` vLLM reads with ``--config-format mistral``."""
    return {
        "dim": shape.dim,
        "n_layers": shape.n_layers,
        "head_dim": shape.head_dim,
        "hidden_dim": shape.hidden_dim,
        "n_heads": shape.n_heads,
        "n_kv_heads": shape.n_kv_heads,
        "rope_theta": 100_000_000.0,
        "norm_eps": 1e-5,
        "vocab_size": shape.vocab_size,
        "tied_embeddings": shape.tied_embeddings,
        "max_seq_len": shape.max_seq_len,
        "max_position_embeddings": shape.max_seq_len,
        "multimodal": {
            "whisper_model_args": {
                "encoder_args": {
                    "audio_encoding_args": {
                        "sampling_rate": SAMPLE_RATE,
                        "frame_rate": FRAME_RATE,
                        "num_mel_bins": NUM_MEL_BINS,
                        "hop_length": HOP_LENGTH,
                        "window_size": WINDOW_SIZE,
                        "chunk_length_s": CHUNK_LENGTH_S,
                    },
                    "dim": shape.enc_dim,
                    "n_layers": shape.enc_layers,
                    "head_dim": shape.enc_dim // shape.enc_heads,
                    "hidden_dim": shape.enc_hidden_dim,
                    "n_heads": shape.enc_heads,
                    "vocab_size": 51866,
                    "max_source_positions": 1500,
                },
                "downsample_args": {"downsample_factor": DOWNSAMPLE_FACTOR},
            }
        },
    }


def tekken_json(shape: Shape, seed: int) -> dict[str, Any]:
    """A v7 tekken tokenizer with an audio section: 256 byte tokens, then random
    multi-byte tokens up to the preset's vocabulary size."""
    import random

    rng = random.Random(seed)
    n_regular = shape.vocab_size - shape.num_special_tokens
    tokens: list[bytes] = [bytes([i]) for i in range(256)]
    seen = set(tokens)
    while len(tokens) < n_regular:
        candidate = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(2, 8)))
        if candidate not in seen:
            seen.add(candidate)
            tokens.append(candidate)
    vocab = [
        {"rank": i, "token_bytes": base64.b64encode(t).decode(), "token_str": None}
        for i, t in enumerate(tokens)
    ]
    specials = [
        {"rank": i, "token_str": s, "is_control": True} for i, s in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "config": {
            "pattern": TEKKEN_PATTERN,
            "num_vocab_tokens": n_regular,
            "default_vocab_size": shape.vocab_size,
            "default_num_special_tokens": shape.num_special_tokens,
            "version": "v7",
        },
        "vocab": vocab,
        "special_tokens": specials,
        "audio": {
            "sampling_rate": SAMPLE_RATE,
            "frame_rate": FRAME_RATE,
            "chunk_length_s": CHUNK_LENGTH_S,
            "audio_encoding_config": {
                "num_mel_bins": NUM_MEL_BINS,
                "hop_length": HOP_LENGTH,
                "window_size": WINDOW_SIZE,
            },
        },
    }


def tensor_shapes(shape: Shape) -> dict[str, tuple[int, ...]]:
    """Every tensor of the Mistral-format checkpoint, by name."""
    out: dict[str, tuple[int, ...]] = {
        "tok_embeddings.weight": (shape.vocab_size, shape.dim),
        "norm.weight": (shape.dim,),
    }
    if not shape.tied_embeddings:
        out["output.weight"] = (shape.vocab_size, shape.dim)
    q, kv = shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim
    for i in range(shape.n_layers):
        p = f"layers.{i}."
        out |= {
            p + "attention_norm.weight": (shape.dim,),
            p + "ffn_norm.weight": (shape.dim,),
            p + "attention.wq.weight": (q, shape.dim),
            p + "attention.wk.weight": (kv, shape.dim),
            p + "attention.wv.weight": (kv, shape.dim),
            p + "attention.wo.weight": (shape.dim, q),
            p + "feed_forward.w1.weight": (shape.hidden_dim, shape.dim),
            p + "feed_forward.w2.weight": (shape.dim, shape.hidden_dim),
            p + "feed_forward.w3.weight": (shape.hidden_dim, shape.dim),
        }
    e, eh = shape.enc_dim, shape.enc_hidden_dim
    enc = "mm_whisper_embeddings.whisper_encoder."
    out |= {
        enc + "conv_layers.0.weight": (e, NUM_MEL_BINS, 3),
        enc + "conv_layers.0.bias": (e,),
        enc + "conv_layers.1.weight": (e, e, 3),
        enc + "conv_layers.1.bias": (e,),
        enc + "transformer.norm.weight": (e,),
        enc + "transformer.norm.bias": (e,),
    }
    for i in range(shape.enc_layers):
        p = f"{enc}transformer.layers.{i}."
        out |= {
            p + "attention.wq.weight": (e, e),
            p + "attention.wq.bias": (e,),
            p + "attention.wk.weight": (e, e),
            p + "attention.wv.weight": (e, e),
            p + "attention.wv.bias": (e,),
            p + "attention.wo.weight": (e, e),
            p + "attention.wo.bias": (e,),
            p + "attention_norm.weight": (e,),
            p + "attention_norm.bias": (e,),
            p + "feed_forward.w1.weight": (eh, e),
            p + "feed_forward.w1.bias": (eh,),
            p + "feed_forward.w2.weight": (e, eh),
            p + "feed_forward.w2.bias": (e,),
            p + "ffn_norm.weight": (e,),
            p + "ffn_norm.bias": (e,),
        }
    proj = "mm_whisper_embeddings.audio_language_projection."
    out[proj + "0.weight"] = (shape.dim, e * DOWNSAMPLE_FACTOR)
    out[proj + "2.weight"] = (shape.dim, shape.dim)
    return out


def write_checkpoint(
    directory: Path, preset: str = "tiny", seed: int = 0, device: str = "cpu"
) -> Path:
    """Write params.json, tekken.json and consolidated.safetensors into ``directory``.

    Deterministic for a given preset and seed. Returns the directory.
    """
    import torch
    from safetensors.torch import save_file

    shape = PRESETS[preset]
    dtype = torch.bfloat16
    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator(device=device).manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, dims in tensor_shapes(shape).items():
        if name.endswith("norm.weight"):
            t = torch.ones(dims, dtype=dtype, device=device)
        elif name.endswith("bias") or (len(dims) == 1):
            t = torch.zeros(dims, dtype=dtype, device=device)
        else:
            std = 1.0 / math.sqrt(dims[-1] * (dims[-2] if len(dims) == 3 else 1))
            t = torch.empty(dims, dtype=dtype, device=device)
            t.normal_(0.0, std, generator=generator)
        tensors[name] = t.cpu().contiguous()
    save_file(tensors, str(directory / "consolidated.safetensors"))
    (directory / "params.json").write_text(json.dumps(params_json(shape), indent=2))
    (directory / "tekken.json").write_text(json.dumps(tekken_json(shape, seed)))
    return directory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="voxtral-tiny-model",
        description=(
            "Write a random-weight Voxtral checkpoint in Mistral format (params.json, "
            "consolidated.safetensors, tekken.json with an audio section). The default "
            "'tiny' preset loads in vLLM on a CPU in seconds. The weights are random, so "
            "the TEXT IT PRODUCES IS MEANINGLESS: use it to exercise the serving stack, "
            "never to judge transcription quality."
        ),
    )
    parser.add_argument("directory", type=Path, help="where to write the checkpoint")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="tiny",
        help="tiny (default, ~0.5 MB), mini (Voxtral-Mini-3B shapes, ~9 GB), "
        "small (Voxtral-Small-24B shapes, ~48 GB)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--device", default="cpu", help="torch device to draw the weights on (default cpu)"
    )
    args = parser.parse_args(argv)
    path = write_checkpoint(args.directory, args.preset, args.seed, args.device)
    print(f"wrote a random-weight Voxtral ({args.preset}) to {path}")


if __name__ == "__main__":
    main()
