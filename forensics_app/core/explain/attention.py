"""The attention maths, in one place (docs/DESIGN.md, "Attention maths").

Per-frame views work on A[l, h]: the T×T post-softmax attention over frame tokens, CLS row and
column dropped. Rollout and relevancy keep the CLS token (index 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

UNUSUAL_SIGMA = 2.0
MIN_UNUSUAL_DEVIATION = 1.0  # sampled frames: a residual smaller than this is not a lead
# A map is "near uniform" when every weight lies within 10 % of 1/T: its colours would only
# show noise, so the views say so instead of stretching it to the full colour range.
NEAR_UNIFORM = 0.1


def frame_rows(attention: torch.Tensor, min_sum: float = 0.0) -> torch.Tensor:
    """(…, 1+T, 1+T) attention with CLS → (…, T, T) over the frame tokens, rows renormalised
    to 1. Differentiable, so the temporal training's attention losses read the same rows.

    Dropping the CLS column leaves rows summing to less than 1; renormalising keeps each row a
    distribution over frames, which the range and strength formulas assume. A training loss
    passes `min_sum`: a row that puts nearly all its attention on CLS is then divided by at
    most 1/min_sum, whose gradient stays finite (dividing by ~0 turned a run NaN).
    """
    frames = attention[..., 1:, 1:]
    sums = frames.sum(dim=-1, keepdim=True)
    if min_sum > 0:
        return frames / sums.clamp_min(min_sum)
    return frames / torch.where(sums > 0, sums, torch.ones_like(sums))


def frame_attention(attentions: list[torch.Tensor] | np.ndarray) -> np.ndarray:
    """Per-layer (H, 1+T, 1+T) attention with CLS → float32 L×H×T×T (`frame_rows`)."""
    stacked = torch.stack([a.detach().cpu() if torch.is_tensor(a) else torch.as_tensor(a)
                           for a in attentions]).to(torch.float64)
    return frame_rows(stacked).numpy().astype(np.float32)


def average_attention(attention: np.ndarray) -> np.ndarray:
    """Ā = mean over layers and heads of an L×H×T×T array."""
    return attention.mean(axis=(0, 1))


def self_attention_strength(mean_attention: np.ndarray) -> np.ndarray:
    """s_i = Ā[i, i]."""
    return np.diagonal(mean_attention).copy()


def attention_range(mean_attention: np.ndarray) -> np.ndarray:
    """r_i = Σ_j Ā[i, j]·|i − j|, in sampled-frame units."""
    return _range(_as_tensor(mean_attention)).numpy()


def offset_profile(mean_attention: np.ndarray) -> np.ndarray:
    """k(d) = mean of Ā[i, i+d] over every i where i+d exists, for d = −(T−1) … T−1.

    Index d + T − 1 holds k(d): the clip's attention-by-offset profile, what a stationary
    attention (one that depends only on j − i) would give every frame.
    """
    return _offset_profile(_as_tensor(mean_attention)).numpy()


def expected_range(mean_attention: np.ndarray) -> np.ndarray:
    """r̂_i = Σ_j q_i(j)·|i − j| with q_i(j) = k(j − i) / Σ_j' k(j' − i) over the valid j'.

    The range frame i would have if the clip's attention were stationary: near the clip's ends
    only one side exists, so r̂ carries the same edge effect as r, and r − r̂ does not.
    """
    return _expected_range(_as_tensor(mean_attention)).numpy()


def range_residual(mean_attention: torch.Tensor) -> torch.Tensor:
    """e = r − r̂ of one T×T mean attention, differentiable: the quantity the marker rule
    reads, for a training loss that asks real footage to keep it flat."""
    return _range(mean_attention) - _expected_range(mean_attention)


# The range maths once, in torch: the numpy views above and the training loss share it.
def _as_tensor(matrix: np.ndarray) -> torch.Tensor:
    array = np.ascontiguousarray(matrix)
    return torch.from_numpy(array if array.dtype.kind == "f" else array.astype(np.float64))


def _offsets(t: int, device: torch.device) -> torch.Tensor:
    index = torch.arange(t, device=device)
    return index[None, :] - index[:, None]  # j − i


def _range(mean: torch.Tensor) -> torch.Tensor:
    return (mean * _offsets(mean.shape[-1], mean.device).abs().to(mean.dtype)).sum(dim=-1)


def _offset_profile(mean: torch.Tensor) -> torch.Tensor:
    t = mean.shape[-1]
    slot = (_offsets(t, mean.device) + t - 1).reshape(-1)
    sums = mean.new_zeros(2 * t - 1).index_add(0, slot, mean.reshape(-1))
    return sums / mean.new_zeros(2 * t - 1).index_add(0, slot, mean.new_ones(t * t))


def _expected_range(mean: torch.Tensor) -> torch.Tensor:
    t = mean.shape[-1]
    if t == 0:
        return mean.new_zeros(0)
    offsets = _offsets(t, mean.device)
    weights = _offset_profile(mean)[offsets + t - 1]
    sums = weights.sum(dim=1, keepdim=True)
    # Rows of a distribution always give a positive sum; guard a hand-made all-zero input.
    q = weights / torch.where(sums > 0, sums, torch.ones_like(sums))
    return (q * offsets.abs().to(mean.dtype)).sum(dim=1)


def unusual_positions(values: np.ndarray, sigma: float = UNUSUAL_SIGMA,
                      min_deviation: float = 0.0) -> np.ndarray:
    """Positions i with |v_i − mean(v)| > sigma·std(v) (population std) and
    |v_i − mean(v)| ≥ min_deviation; none if std is 0."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return np.zeros(0, np.int64)
    std = values.std()
    if std == 0:
        return np.zeros(0, np.int64)
    deviation = np.abs(values - values.mean())
    return np.flatnonzero((deviation > sigma * std) & (deviation >= min_deviation))


def unusual_frames(ranges: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Token positions of the unusual frames (docs/DESIGN.md, "Unusual frames"): the
    residual e = r − r̂ beyond 2σ of its mean and by at least one sampled frame.

    The floor keeps float-level ripples of a stationary attention (std ≈ 0) from being marked.
    """
    residual = np.asarray(ranges, np.float64) - np.asarray(expected, np.float64)
    return unusual_positions(residual, UNUSUAL_SIGMA, MIN_UNUSUAL_DEVIATION)


def normalised_entropy(matrix: np.ndarray) -> float:
    """Mean row entropy of a T×T attention map over log T: 1 = spread evenly, 0 = one frame."""
    t = matrix.shape[-1]
    if t < 2:
        return 1.0
    p = np.clip(np.asarray(matrix, np.float64), 1e-12, 1.0)
    return float((-(p * np.log(p)).sum(axis=-1)).mean() / np.log(t))


def uniform_deviation(maps: np.ndarray) -> float:
    """max |A − 1/T| relative to 1/T over one T×T map or a stack of them; 0 = uniform."""
    t = maps.shape[-1]
    if maps.size == 0:
        return 0.0
    return float(np.abs(np.asarray(maps, np.float64) * t - 1.0).max())


@dataclass(frozen=True)
class ColourScale:
    """The colour limits of one attention map, and whether it is near uniform."""

    low: float
    high: float
    near_uniform: bool
    deviation: float  # max |A − 1/T| relative to 1/T
    entropy: float  # normalised row entropy

    def describe(self) -> str:
        """In words and numbers, for a view's caption."""
        scale = f"colours 0 to {self.high:.3g}"
        if self.near_uniform:
            return (f"near uniform: every weight within ±{self.deviation:.1%} of 1/T "
                    f"(entropy {self.entropy:.3f}); {scale}")
        return (f"{scale}; the weight farthest from 1/T departs from it by "
                f"{self.deviation:.2g}× 1/T, entropy {self.entropy:.3f}")


def colour_scale(matrix: np.ndarray, shared: np.ndarray | None = None) -> ColourScale:
    """Colour limits for `matrix` (T×T): from 0 to its largest weight, or to the largest weight
    of `shared` (all the maps drawn on one scale). A near-uniform map (or shared set) is drawn
    from 0 to 2/T, so uniform is the middle colour and a ±1 % ripple is not stretched into
    stripes."""
    t = matrix.shape[-1]
    pool = matrix if shared is None else shared
    deviation = uniform_deviation(matrix)
    if pool.size == 0:
        high = 1.0
    elif uniform_deviation(pool) < NEAR_UNIFORM:
        high = 2.0 / t
    else:
        high = float(np.max(pool)) or 1.0
    return ColourScale(0.0, high, deviation < NEAR_UNIFORM, deviation,
                       normalised_entropy(matrix))


def attention_rollout(attentions: list[torch.Tensor], discard_ratio: float = 0.0) -> torch.Tensor:
    """Abnar & Zuidema (2020). attentions: per layer (B, H, N, N) → (B, N, N) rollout.

    Â_l = row-normalise(0.5·mean_h A_l + 0.5·I), optionally zeroing the lowest `discard_ratio`
    of each mean map (never the CLS column) before adding I; R = Â_L ⋯ Â_1.
    """
    first = attentions[0]
    n = first.shape[-1]
    eye = torch.eye(n, device=first.device, dtype=first.dtype)
    rollout = eye.expand(first.shape[0], n, n).clone()
    for attn in attentions:
        mean = attn.mean(dim=1)
        if discard_ratio > 0:
            mean = _discard_lowest(mean, discard_ratio)
        step = 0.5 * mean + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        rollout = step @ rollout
    return rollout


def _discard_lowest(mean: torch.Tensor, ratio: float) -> torch.Tensor:
    b, n, _ = mean.shape
    flat = mean.reshape(b, -1).clone()
    k = int(flat.shape[1] * ratio)
    if k == 0:
        return mean
    lowest = flat.topk(k, dim=1, largest=False).indices
    keep_cls = lowest % n != 0  # the CLS column carries the summary; never drop it
    flat.scatter_(1, lowest, flat.gather(1, lowest) * (~keep_cls))
    return flat.reshape(b, n, n)


def transformer_relevancy(
    attentions: list[torch.Tensor], gradients: list[torch.Tensor]
) -> torch.Tensor:
    """Chefer et al. (ICCV 2021), gradient-weighted. Per layer (B, H, N, N) → (B, N, N).

    R = I; for each layer in forward order: Ā_l = mean_h[(∂y/∂A_l ⊙ A_l)⁺]; R ← R + Ā_l·R.
    """
    first = attentions[0]
    n = first.shape[-1]
    relevancy = torch.eye(n, device=first.device, dtype=first.dtype).expand(
        first.shape[0], n, n).clone()
    for attn, grad in zip(attentions, gradients, strict=True):
        weighted = (grad * attn).clamp(min=0).mean(dim=1)
        relevancy = relevancy + weighted @ relevancy
    return relevancy


def cls_token_map(matrix: torch.Tensor) -> torch.Tensor:
    """The CLS row without the CLS column: (B, N, N) → (B, N − 1) token scores."""
    return matrix[:, 0, 1:]


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Scale each map (B, ...) to [0, 1] by its own min and max; flat maps become 0."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    scaled = (flat - low) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.reshape(maps.shape)
