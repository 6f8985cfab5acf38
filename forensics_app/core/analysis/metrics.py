"""Temporal metrics and the indicator table, computed from the L×H×T×T frame attention.

The metrics follow docs/DESIGN.md ("Attention maths") exactly (they come from
core.explain.attention). The indicators are heuristics over those metrics and the per-frame
scores; each states its threshold, and none is proof of manipulation on its own. An
indicator is shown as a finding only where the model card's measured trigger rates
(bench/indicator_rates.py) say it separates real from fake validation clips; otherwise it is
"reference only". """

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from forensics_app.core.analysis.results import Indicator
from forensics_app.core.explain.attention import (
    MIN_UNUSUAL_DEVIATION,
    UNUSUAL_SIGMA,
    attention_range,
    average_attention,
    expected_range,
    normalised_entropy,
    self_attention_strength,
    unusual_frames,
)

# Thresholds, written down once. A stationary attention marks no frame at all (the revised
# rule), so any real excess of range outliers counts.
UNUSUAL_FRACTION = 0.05
LOW_ENTROPY = 0.5  # normalised row entropy of Ā; 1 = uniform attention, 0 = one frame
DIAGONAL_DOMINANCE = 0.5  # mean self-attention: frames that ignore their neighbours
CONCENTRATION = 0.3  # share of all attention received by the top 5 % of frames
ABOVE_THRESHOLD = 0.5  # share of frames whose face alone scores p_fake ≥ the threshold
SCORE_SPREAD = 0.2  # std of per-frame p_fake: flicker between real- and fake-looking frames
# Two sampled frames whose pictures differ by less than this (faces.shots.picture_difference,
# of 255) are one picture repeated: consecutive distinct frames of the held-out real clips
# (T = 32, re-encoded) differ by 0.67-4.4 at the least, the frozen copies of
# bench/indicator_rates.py by 0.05-0.08 at the most.
REPEAT_DIFFERENCE = 0.25
# Real footage repeats pictures too (frame-rate conversion, a still moment coded with skipped
# blocks): over every frame of the 25 shared clips the longest run of repeats is 10 frames
# (`liveportrait_d19`, 0.33 s; bench/repeated_faces.py --pictures), at T = 100 two sampled
# pairs. A picture held this long
# (seconds, from the sampled frames' timestamps) is a frozen stretch, not a coding accident.
FROZEN_SECONDS = 1.0
# An indicator counts as a finding only when it triggers on at least this much larger a share
# of the fake validation clips than of the real ones (bench/indicator_rates.py measures it).
SEPARATION = 0.2
INDICATOR_NAMES = ("unusual_frame_share", "attention_entropy", "diagonal_dominance",
                   "attention_concentration", "frames_above_threshold", "score_spread",
                   "frozen_stretch")
# The indicators whose value and limit have a unit; the others are ratios or shares.
INDICATOR_UNITS = {"frozen_stretch": "s"}


def indicator_label(name: str) -> str:
    """An indicator's name as read (and wrapped) in the views and the report."""
    return name.replace("_", " ")


def indicator_number(name: str, value: float | None, digits: str = ".3g") -> str:
    """A value or limit of indicator `name`, with its unit ("1.5 s", not "1.500")."""
    if value is None or value != value:  # None or NaN: no number to show
        return "—"
    unit = INDICATOR_UNITS.get(name)
    return f"{value:{digits}}" + (f" {unit}" if unit else "")


@dataclass
class TemporalMetrics:
    mean_attention: np.ndarray  # (T, T)
    self_attention: np.ndarray  # (T,)
    attention_range: np.ndarray  # (T,)
    expected_range: np.ndarray  # (T,) r̂: the range under a stationary attention
    unusual: np.ndarray  # positions (token indices) of unusual frames


def temporal_metrics(attention: np.ndarray) -> TemporalMetrics:
    if attention.size == 0:
        empty = np.zeros(0, np.float32)
        return TemporalMetrics(np.zeros((0, 0), np.float32), empty, empty, empty,
                               np.zeros(0, np.int64))
    mean = average_attention(attention.astype(np.float64))
    ranges = attention_range(mean)
    expected = expected_range(mean)
    return TemporalMetrics(mean, self_attention_strength(mean), ranges, expected,
                           unusual_frames(ranges, expected))


def separates(rate_real: float | None, rate_fake: float | None) -> bool:
    """Whether measured trigger rates make an indicator worth showing as a finding."""
    if rate_real is None or rate_fake is None:
        return False
    return rate_fake - rate_real >= SEPARATION


def rates_text(indicator: Indicator) -> str:
    """Its trigger rates on validation clips, in words, for the views and the report."""
    if indicator.rate_real is None or indicator.rate_fake is None:
        return "trigger rates not measured for this model: reference only"
    return (f"triggers on {indicator.rate_real:.0%} of real and {indicator.rate_fake:.0%} of "
            "fake validation clips" + (": reference only" if indicator.reference_only else ""))


def indicators(metrics: TemporalMetrics, token_frames: list[int], frame_scores: np.ndarray,
               score_frames: list[int], threshold: float,
               rates: dict[str, Any] | None = None,
               picture_changes: list[tuple[int, float, float]] | None = None
               ) -> list[Indicator]:
    """The indicator table. token_frames: video frame of each attention token; frame_scores:
    per-frame p_fake of the deciding identity at video frames `score_frames`; rates: the model
    card's `indicator_rates` ({name: {"real": share, "fake": share, ...}}), which decide what
    is only for reference; picture_changes: (video frame, its time in seconds,
    faces.shots.picture_difference from the frame sampled before it) in frame order."""
    rows = []
    if metrics.self_attention.size:
        rows += _attention_indicators(metrics, token_frames)
    rows += _score_indicators(frame_scores, score_frames, threshold)
    if picture_changes is not None:
        rows += frozen_stretch_rows(picture_changes)
    for row in rows:
        measured = (rates or {}).get(row.name) or {}
        row.rate_real, row.rate_fake = measured.get("real"), measured.get("fake")
        row.reference_only = not separates(row.rate_real, row.rate_fake)
    return rows


def _attention_indicators(metrics: TemporalMetrics, frames: list[int]) -> list[Indicator]:
    t = metrics.self_attention.size
    mean = metrics.mean_attention
    unusual = [frames[i] for i in metrics.unusual]
    unusual_share = len(unusual) / t
    entropy = normalised_entropy(mean)
    diagonal = float(metrics.self_attention.mean())
    received = mean.sum(axis=0) / t
    top = np.argsort(received)[::-1][: max(1, int(np.ceil(0.05 * t)))]
    concentration = float(received[top].sum())
    return [
        Indicator("unusual_frame_share", unusual_share, UNUSUAL_FRACTION,
                  unusual_share > UNUSUAL_FRACTION, unusual,
                  "share of frames whose attention range departs from the range expected at "
                  f"their position by more than {UNUSUAL_SIGMA:g}σ and at least "
                  f"{MIN_UNUSUAL_DEVIATION:g} sampled frame"),
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
    ]


def _score_indicators(scores: np.ndarray, frames: list[int], threshold: float
                      ) -> list[Indicator]:
    if scores.size == 0:
        return []
    above = [f for f, s in zip(frames, scores, strict=True) if s >= threshold]
    share = len(above) / scores.size
    spread = float(scores.std())
    return [
        Indicator("frames_above_threshold", share, ABOVE_THRESHOLD, share >= ABOVE_THRESHOLD,
                  above, f"share of frames whose face scores p_fake ≥ {threshold:.2f} on its "
                  "own"),
        Indicator("score_spread", spread, SCORE_SPREAD, spread > SCORE_SPREAD, [],
                  "standard deviation of the per-frame p_fake: flicker between real- and "
                  "fake-looking frames"),
    ]


def frozen_stretch_rows(changes: list[tuple[int, float, float]]) -> list[Indicator]:
    """Frozen frames, read from the pixels (the temporal model does not see them: validation
    AUC about 0.5): the longest stretch over which consecutive sampled frames, at different
    video frames, show one picture."""
    if len({frame for frame, _, _ in changes}) < 2:
        return []
    held, held_frames = 0.0, []  # the longest hold: seconds, and its repeating frames
    start, repeating = 0.0, []  # the current run: its first picture's time, its repeats
    for (before, before_time, _), (frame, time, change) in pairwise(changes):
        if frame == before:
            continue
        if not change < REPEAT_DIFFERENCE:  # NaN (nothing before) is no repeat either
            repeating = []
            continue
        if not repeating:
            start = before_time
        repeating.append(frame)
        if not held_frames or time - start > held:
            held, held_frames = time - start, list(repeating)
    return [Indicator("frozen_stretch", held, FROZEN_SECONDS, held >= FROZEN_SECONDS,
                      held_frames,
                      "the longest time (s) over which consecutive sampled frames show one "
                      f"picture (pixels differ by < {REPEAT_DIFFERENCE:g} of 255 on average): "
                      "frozen frames or a still image; real footage repeats a frame now and "
                      "then (frame-rate conversion), for well under a second")]
