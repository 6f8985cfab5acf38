"""The attention maths, in one place (DESIGN.md, "Attention maths (fixed)").

Per-frame views work on A[l, h]: the T×T post-softmax attention over frame tokens, CLS row and
column dropped. Rollout and relevancy keep the CLS token (index 0).
"""

from __future__ import annotations

import numpy as np
import torch

UNUSUAL_SIGMA = 2.0


def frame_attention(attentions: list[torch.Tensor] | np.ndarray) -> np.ndarray:
    """Per-layer (H, 1+T, 1+T) attention with CLS → float32 L×H×T×T, rows renormalised to 1.

    Dropping the CLS column leaves rows summing to less than 1; renormalising keeps each row a
    distribution over frames, which the range and strength formulas assume.
    """
    stacked = np.stack([np.asarray(a.detach().cpu() if torch.is_tensor(a) else a)
                        for a in attentions]).astype(np.float64)
    frames = stacked[..., 1:, 1:]
    sums = frames.sum(axis=-1, keepdims=True)
    return (frames / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def average_attention(attention: np.ndarray) -> np.ndarray:
    """Ā = mean over layers and heads of an L×H×T×T array."""
    return attention.mean(axis=(0, 1))


def self_attention_strength(mean_attention: np.ndarray) -> np.ndarray:
    """s_i = Ā[i, i]."""
    return np.diagonal(mean_attention).copy()


def attention_range(mean_attention: np.ndarray) -> np.ndarray:
    """r_i = Σ_j Ā[i, j]·|i − j|, in sampled-frame units."""
    t = mean_attention.shape[0]
    distance = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :])
    return (mean_attention * distance).sum(axis=1)


def unusual_positions(values: np.ndarray, sigma: float = UNUSUAL_SIGMA) -> np.ndarray:
    """Positions i with |v_i − mean(v)| > sigma·std(v) (population std); none if std is 0."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return np.zeros(0, np.int64)
    std = values.std()
    if std == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.abs(values - values.mean()) > sigma * std)


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
