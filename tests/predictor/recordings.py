"""Synthetic recordings with silences at known times: tone bursts (the "speech") and
gaps of silence between them, at irregular positions."""

from __future__ import annotations

import numpy as np

from voxtral_predictor.audio import SAMPLE_RATE, Pcm, to_pcm


def bursts(spans: list[tuple[float, float]], total: float, noise: float = 0.0) -> Pcm:
    """``total`` seconds of silence (or faint noise) with a tone over each (start, end)."""
    out = np.zeros(int(total * SAMPLE_RATE), dtype=np.float32)
    if noise:
        out += np.random.default_rng(0).normal(0, noise, out.size).astype(np.float32)
    for i, (start, end) in enumerate(spans):
        a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
        t = np.arange(b - a, dtype=np.float32) / SAMPLE_RATE
        out[a:b] += 0.3 * np.sin(2 * np.pi * (300.0 + 40 * (i % 7)) * t)
    return to_pcm(out)


def speech_like(total: float, seed: int = 1) -> tuple[Pcm, list[tuple[float, float]]]:
    """Bursts of 2-4.5 s separated by 0.5-1.5 s gaps, irregularly; returns the PCM and the
    gaps (start, end) in seconds."""
    rng = np.random.default_rng(seed)
    spans, gaps, t = [], [(0.0, 0.4)], 0.4
    while t < total - 1:
        end = min(t + float(rng.uniform(2.0, 4.5)), total - 0.3)
        spans.append((t, end))
        gap = float(rng.uniform(0.5, 1.5))
        gaps.append((end, min(end + gap, total)))
        t = end + gap
    return bursts(spans, total), gaps
