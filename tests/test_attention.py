"""The attention maths against hand-computed values and independent re-implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forensics_app.core.explain.attention import (
    NEAR_UNIFORM,
    attention_range,
    attention_rollout,
    average_attention,
    cls_token_map,
    colour_scale,
    expected_range,
    frame_attention,
    normalise_maps,
    normalised_entropy,
    offset_profile,
    self_attention_strength,
    transformer_relevancy,
    uniform_deviation,
    unusual_frames,
    unusual_positions,
)
from forensics_app.core.explain.gradcam import gradcam_plus_plus


def _random_attention(shape, seed=0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=shape)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def test_average_strength_and_range_by_hand():
    # Two layers, one head, three frames: values chosen so the mean is easy to write down.
    a = np.zeros((2, 1, 3, 3))
    a[0, 0] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    a[1, 0] = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    mean = average_attention(a)
    assert np.allclose(mean, [[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]])
    assert np.allclose(self_attention_strength(mean), [0.5, 0.5, 0.5])
    # r_0 = 0.5·0 + 0.5·1; r_1 = 0.5·0 + 0.5·1; r_2 = 0.5·2 + 0.5·0
    assert np.allclose(attention_range(mean), [0.5, 0.5, 1.0])


def test_unusual_positions_two_sigma():
    values = np.array([1.0] * 20 + [10.0])
    assert unusual_positions(values).tolist() == [20]
    assert unusual_positions(np.ones(10)).size == 0  # zero spread: nothing is unusual
    assert unusual_positions(np.array([3.0])).size == 0


def test_frame_attention_drops_cls_and_renormalises():
    raw = _random_attention((4, 8, 11, 11))
    frames = frame_attention(list(torch.from_numpy(raw)))
    assert frames.shape == (4, 8, 10, 10) and frames.dtype == np.float32
    assert np.allclose(frames.sum(axis=-1), 1.0, atol=1e-5)
    expected = raw[..., 1:, 1:] / raw[..., 1:, 1:].sum(-1, keepdims=True)
    assert np.allclose(frames, expected, atol=1e-6)


def _rollout_reference(attn: np.ndarray) -> np.ndarray:
    """Straight from the paper, one sample, plain loops."""
    n = attn.shape[-1]
    result = np.eye(n)
    for layer in attn:
        a = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(n)
        a = a / a.sum(axis=1, keepdims=True)
        result = a @ result
    return result


def test_rollout_matches_reference_and_rows_sum_to_one():
    attn = _random_attention((3, 4, 6, 6), seed=1)
    got = attention_rollout([torch.from_numpy(a[None]) for a in attn])[0].numpy()
    assert np.allclose(got, _rollout_reference(attn))
    assert np.allclose(got.sum(axis=1), 1.0)


def test_relevancy_matches_reference():
    rng = np.random.default_rng(2)
    attn = _random_attention((2, 3, 5, 5), seed=3)
    grads = rng.normal(size=attn.shape)
    r = np.eye(5)
    for a, g in zip(attn, grads, strict=True):
        r = r + np.clip(a * g, 0, None).mean(axis=0) @ r
    got = transformer_relevancy([torch.from_numpy(a[None]) for a in attn],
                                [torch.from_numpy(g[None]) for g in grads])[0].numpy()
    assert np.allclose(got, r)
    assert cls_token_map(torch.from_numpy(r[None])).shape == (1, 4)


def test_relevancy_without_positive_gradient_is_identity():
    attn = [torch.from_numpy(_random_attention((1, 2, 4, 4)))]
    zero = [torch.zeros_like(attn[0])]
    assert torch.allclose(transformer_relevancy(attn, zero)[0], torch.eye(4, dtype=attn[0].dtype))


def test_gradcam_pp_highlights_the_active_position():
    features = torch.zeros(1, 2, 3, 3)
    features[0, 0, 1, 2] = 5.0
    gradients = torch.zeros(1, 2, 3, 3)
    gradients[0, 0] = 1.0  # channel 0 raises the score, channel 1 does nothing
    cam = gradcam_plus_plus(features, gradients)[0]
    assert cam.argmax().item() == 1 * 3 + 2
    assert cam[0, 0] == 0


def test_normalise_maps_range():
    maps = torch.tensor([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    out = normalise_maps(maps)
    assert torch.allclose(out[0], torch.tensor([0.0, 1.0, 0.5]))
    assert torch.all(out[1] == 0)


@pytest.mark.parametrize("t", [1, 2, 100])
def test_range_bounds(t):
    mean = average_attention(_random_attention((4, 8, t, t), seed=t))
    r = attention_range(mean)
    assert r.shape == (t,) and np.all(r >= 0) and np.all(r <= t - 1)


# -- unusual frames, revised (DESIGN.md): the range against the position-expected range -------
def _stationary(t: int, kernel) -> np.ndarray:
    """Ā[i, j] ∝ kernel(j − i), each row renormalised over the frames that exist."""
    offsets = np.arange(t)[None, :] - np.arange(t)[:, None]
    a = kernel(offsets).astype(np.float64)
    return a / a.sum(axis=1, keepdims=True)


KERNELS = {
    "uniform": lambda d: np.ones(d.shape),
    "banded": lambda d: (np.abs(d) <= 3) * 1.0,
    "gaussian": lambda d: np.exp(-(d ** 2) / 50.0),
    "exponential": lambda d: np.exp(-np.abs(d) / 5.0),
    "looks ahead": lambda d: np.exp(-np.abs(d - 2) / 3.0),
    "causal": lambda d: np.exp(np.minimum(d, 0) / 3.0) * (d <= 0),
    "self plus even": lambda d: (d == 0) * 5.0 + 1.0,
    "far frames": lambda d: np.abs(d) + 0.01,
}


@pytest.mark.parametrize("t", [8, 32, 100])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_stationary_attention_marks_no_frame_ends_included(kernel, t):
    mean = _stationary(t, KERNELS[kernel])
    ranges, expected = attention_range(mean), expected_range(mean)
    assert unusual_frames(ranges, expected).size == 0
    if kernel == "uniform":
        assert np.allclose(ranges, expected)  # exact: the profile is the attention itself
        if t >= 32:  # the raw range's 2σ rule, which this replaces, marked the clip's ends
            marked_before = unusual_positions(ranges).tolist()
            assert marked_before and {0, t - 1} <= set(marked_before)


def test_expected_range_by_hand():
    # T = 3, uniform: k(d) = 1/3 for every d, so q_i is uniform over the row.
    mean = np.full((3, 3), 1 / 3)
    assert np.allclose(offset_profile(mean), np.full(5, 1 / 3))
    assert np.allclose(expected_range(mean), [1.0, 2 / 3, 1.0])
    # Every frame attends to the next one (the last to itself): k(1) = 1, k(0) = 1/3.
    nxt = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 1.0]])
    k = offset_profile(nxt)  # d = −2 … 2
    assert np.allclose(k, [0, 0, 1 / 3, 1, 0])
    # rows 0 and 1: q = (1/3, 1) / (4/3) on d = 0, 1, so r̂ = 3/4; row 2 has no frame at
    # d = 1, so q_2 is all on d = 0: r̂_2 = 0
    assert np.allclose(expected_range(nxt), [0.75, 0.75, 0.0])


def _plain_expected_range(mean: np.ndarray) -> list[float]:
    """Straight from DESIGN.md with plain loops."""
    t = len(mean)
    k = {d: np.mean([mean[i][i + d] for i in range(t) if 0 <= i + d < t])
         for d in range(-(t - 1), t)}
    out = []
    for i in range(t):
        total = sum(k[j - i] for j in range(t))
        out.append(sum(k[j - i] / total * abs(i - j) for j in range(t)))
    return out


def test_expected_range_matches_plain_loops():
    mean = average_attention(_random_attention((2, 3, 9, 9), seed=5))
    assert np.allclose(expected_range(mean), _plain_expected_range(mean))


@pytest.mark.parametrize("kernel", ["banded", "exponential", "uniform"])
def test_anomaly_in_the_middle_rows_is_marked(kernel):
    t = 32
    mean = _stationary(t, KERNELS[kernel])
    mean[15:17] = 0.0
    mean[15:17, 0] = 1.0  # two middle frames look only at the first frame: far, and alone
    marked = unusual_frames(attention_range(mean), expected_range(mean)).tolist()
    assert marked == [15, 16]


def test_small_residuals_are_not_marked():
    # A residual spike far beyond 2σ but under one sampled frame is not a lead.
    residual = np.zeros(30)
    residual[10] = 0.9
    assert unusual_frames(residual, np.zeros(30)).size == 0
    residual[10] = 1.5
    assert unusual_frames(residual, np.zeros(30)).tolist() == [10]


# -- colour scales and the near-uniform criterion ----------------------------------------------
def test_uniform_deviation_and_near_uniform_scale():
    t = 20
    rng = np.random.default_rng(0)
    ripple = np.full((t, t), 1 / t) * (1 + rng.uniform(-0.01, 0.01, (t, t)))  # ±1 %
    assert uniform_deviation(ripple) == pytest.approx(np.abs(ripple * t - 1).max())
    assert uniform_deviation(ripple) < 0.0101
    scale = colour_scale(ripple)
    assert scale.near_uniform and (scale.low, scale.high) == (0.0, pytest.approx(2 / t))
    assert "near uniform" in scale.describe() and "1.0%" in scale.describe()
    assert normalised_entropy(ripple) > 0.99 and scale.entropy == normalised_entropy(ripple)


def test_colour_scale_per_map_and_shared():
    t = 10
    peaked = np.full((t, t), 0.5 / (t - 1))
    np.fill_diagonal(peaked, 0.5)
    even = np.full((t, t), 1 / t)
    own = colour_scale(peaked)
    assert not own.near_uniform and (own.low, own.high) == (0.0, 0.5)
    assert own.deviation == pytest.approx(0.5 * t - 1)
    assert uniform_deviation(peaked) >= NEAR_UNIFORM
    # shared with a peaked map, an even map keeps the shared limits but still says it is even
    shared = colour_scale(even, shared=np.stack([peaked, even]))
    assert shared.high == 0.5 and shared.near_uniform
    assert colour_scale(peaked, shared=np.stack([peaked, even])).high == 0.5
