"""The attention maths against hand-computed values and independent re-implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forensics_app.core.explain.attention import (
    attention_range,
    attention_rollout,
    average_attention,
    cls_token_map,
    frame_attention,
    normalise_maps,
    self_attention_strength,
    transformer_relevancy,
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
