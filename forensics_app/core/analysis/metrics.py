"""Temporal metrics and the indicator table, computed from the L×H×T×T frame attention.

The metrics follow DESIGN.md exactly (they come from core.explain.attention). The indicators
are heuristics over those metrics and the per-frame scores; each states its threshold, and
none is proof of manipulation on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forensics_app.core.analysis.results import Indicator
from forensics_app.core.explain.attention import (
    UNUSUAL_SIGMA,
    attention_range,
    average_attention,
    self_attention_strength,
    unusual_positions,
)

# Thresholds, written down once. Under a normal distribution about 4.6 % of frames lie beyond
# 2σ, so only an excess of range outliers counts.
UNUSUAL_FRACTION = 0.05
LOW_ENTROPY = 0.5  # normalised row entropy of Ā; 1 = uniform attention, 0 = one frame
DIAGONAL_DOMINANCE = 0.5  # mean self-attention: frames that ignore their neighbours
CONCENTRATION = 0.3  # share of all attention received by the top 5 % of frames
SCORE_SPREAD = 0.2  # std of per-frame p_fake: flicker between real- and fake-looking frames


@dataclass
class TemporalMetrics:
    mean_attention: np.ndarray  # (T, T)
    self_attention: np.ndarray  # (T,)
    attention_range: np.ndarray  # (T,)
    unusual: np.ndarray  # positions (token indices) of unusual frames


def temporal_metrics(attention: np.ndarray) -> TemporalMetrics:
    if attention.size == 0:
        empty = np.zeros(0, np.float32)
        return TemporalMetrics(np.zeros((0, 0), np.float32), empty, empty,
                               np.zeros(0, np.int64))
    mean = average_attention(attention.astype(np.float64))
    ranges = attention_range(mean)
    return TemporalMetrics(mean, self_attention_strength(mean), ranges, unusual_positions(ranges))


def indicators(metrics: TemporalMetrics, token_frames: list[int], frame_scores: np.ndarray,
               score_frames: list[int], threshold: float) -> list[Indicator]:
    """The indicator table. token_frames: video frame of each attention token; frame_scores:
    per-frame p_fake of the deciding identity at video frames `score_frames`."""
    rows = []
    if metrics.self_attention.size:
        rows += _attention_indicators(metrics, token_frames)
    rows += _score_indicators(frame_scores, score_frames, threshold)
    return rows


def _attention_indicators(metrics: TemporalMetrics, frames: list[int]) -> list[Indicator]:
    t = metrics.self_attention.size
    mean = metrics.mean_attention
    unusual_frames = [frames[i] for i in metrics.unusual]
    unusual_share = len(unusual_frames) / t
    entropy = _normalised_entropy(mean)
    diagonal = float(metrics.self_attention.mean())
    received = mean.sum(axis=0) / t
    top = np.argsort(received)[::-1][: max(1, int(np.ceil(0.05 * t)))]
    concentration = float(received[top].sum())
    return [
        Indicator("unusual_frame_share", unusual_share, UNUSUAL_FRACTION,
                  unusual_share > UNUSUAL_FRACTION, unusual_frames,
                  f"share of frames whose attention range is more than {UNUSUAL_SIGMA:g}σ from "
                  "the mean; above ~5 % is more than chance would give"),
        Indicator("attention_entropy", entropy, LOW_ENTROPY, entropy < LOW_ENTROPY, [],
                  "mean entropy of each frame's attention, 1 = spread evenly, 0 = on one "
                  "frame; low values mean the model fixed on few frames"),
        Indicator("diagonal_dominance", diagonal, DIAGONAL_DOMINANCE,
                  diagonal > DIAGONAL_DOMINANCE, [],
                  "mean self-attention; high values mean frames were judged in isolation, "
                  "as when neighbouring frames disagree"),
        Indicator("attention_concentration", concentration, CONCENTRATION,
                  concentration > CONCENTRATION, sorted(frames[i] for i in top),
                  "share of all attention received by the top 5 % of frames"),
        # Reference only: it is 1 − diagonal dominance, so it gets no threshold of its own.
        Indicator("off_diagonal_mass", 1.0 - diagonal, None, False, [],
                  "attention paid to other frames (1 − diagonal dominance), for reference"),
    ]


def _score_indicators(scores: np.ndarray, frames: list[int], threshold: float
                      ) -> list[Indicator]:
    if scores.size == 0:
        return []
    above = [f for f, s in zip(frames, scores, strict=True) if s >= threshold]
    share = len(above) / scores.size
    spread = float(scores.std())
    return [
        Indicator("frames_above_threshold", share, 0.5, share >= 0.5, above,
                  f"share of frames whose face scores p_fake ≥ {threshold:.2f} on its own"),
        Indicator("score_spread", spread, SCORE_SPREAD, spread > SCORE_SPREAD, [],
                  "standard deviation of the per-frame p_fake: flicker between real- and "
                  "fake-looking frames"),
    ]


def _normalised_entropy(mean: np.ndarray) -> float:
    t = mean.shape[0]
    if t < 2:
        return 1.0
    p = np.clip(mean, 1e-12, 1.0)
    row_entropy = -(p * np.log(p)).sum(axis=1)
    return float(row_entropy.mean() / np.log(t))
