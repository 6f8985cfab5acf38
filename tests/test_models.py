"""Model shapes, attention exposure, registry round trip and its refusals."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from forensics_app.core.analysis.metrics import temporal_metrics
from forensics_app.core.errors import ModelError
from forensics_app.core.explain.attention import frame_attention, normalised_entropy
from forensics_app.core.explain.spatial import score_faces
from forensics_app.core.explain.temporal import score_clip
from forensics_app.core.models.registry import CARD_FILE, WEIGHTS_FILE, list_models, load_model
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import (
    DISTANCE_SLOPE_BASE,
    TemporalConfig,
    TemporalModel,
)


def test_default_architecture_shapes():
    spatial = SpatialModel(SpatialConfig()).eval()
    with torch.inference_mode():
        out = spatial(torch.zeros(2, 3, 224, 224, dtype=torch.uint8))
    assert out.features.shape[-2:] == (7, 7)  # one token per feature-map position
    assert [a.shape for a in out.attentions] == [(2, 8, 50, 50)] * 4
    temporal = TemporalModel(TemporalConfig()).eval()
    with torch.inference_mode():
        clip = temporal(torch.zeros(1, 100, 192))
    assert len(clip.attentions) == 4
    assert clip.attentions[0].shape == (1, 8, 101, 101)
    assert torch.allclose(clip.attentions[0].sum(-1), torch.ones(1, 8, 101), atol=1e-5)
    with pytest.raises(ValueError):
        temporal(torch.zeros(1, 101, 192))


def test_the_channels_last_backbone_gives_the_default_layouts_features():
    torch.manual_seed(0)
    model = SpatialModel(SpatialConfig(input_size=64, dim=32, depth=1, heads=2)).eval()
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    with torch.inference_mode():
        fast = model.forward_features(images)
        plain = model.backbone.forward_features(model.normalize(images).contiguous())
    assert torch.allclose(fast, plain, atol=1e-5)


def test_a_model_resized_to_another_input_size_keeps_its_weights_and_its_cls_embedding():
    from forensics_app.core.models.spatial import resized_position_embeddings

    torch.manual_seed(0)
    model = SpatialModel(SpatialConfig(input_size=64, dim=32, depth=1, heads=2)).eval()
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    larger = model.at_input_size(96)
    assert not larger.training  # the mode is the original's
    with torch.no_grad():
        same = model.at_input_size(64)(images).logit
        assert torch.equal(same, model(images).logit)  # the same size: the same model
        out = larger(torch.zeros(2, 3, 96, 96, dtype=torch.uint8))
    assert out.features.shape[-2:] == (3, 3) and larger.config.input_size == 96
    assert torch.equal(larger.pos_embed[:, 0], model.pos_embed[:, 0])
    for key, value in model.state_dict().items():
        if key != "pos_embed":
            assert torch.equal(larger.state_dict()[key], value), key
    with pytest.raises(ValueError, match="96 px"), torch.no_grad():
        larger(images)  # 64 px faces no longer fit
    with pytest.raises(ValueError, match="multiple of 32"):
        model.at_input_size(100)
    # a grid that varies linearly keeps its values along its edges when resized
    ramp = torch.linspace(0, 1, 2).view(1, 2, 1, 1).expand(1, 2, 2, 4).reshape(1, 4, 4)
    resized = resized_position_embeddings(torch.cat([torch.ones(1, 1, 4), ramp], 1), 4)
    grid = resized[0, 1:].reshape(4, 4, 4)
    assert resized.shape == (1, 17, 4) and torch.equal(resized[0, 0], torch.ones(4))
    assert torch.all(grid[0] < grid[-1]) and torch.allclose(grid[:, 0], grid[:, 3])


def test_padding_mask_keeps_scores_of_valid_frames():
    torch.manual_seed(0)
    temporal = TemporalModel(TemporalConfig(input_dim=8, dim=16)).eval()
    x = torch.randn(1, 5, 8)
    padded = torch.cat([x, torch.randn(1, 3, 8)], dim=1)
    mask = torch.tensor([[False] * 5 + [True] * 3])
    with torch.inference_mode():
        plain = temporal(x).logit
        masked = temporal(padded, mask)
    assert torch.allclose(plain, masked.logit, atol=1e-5)
    assert torch.all(masked.attentions[0][0, :, :, 6:] == 0)


def _content_free(model: TemporalModel) -> TemporalModel:
    """Zero query and key weights: every score is the distance bias alone."""
    with torch.no_grad():
        for block in model.encoder.blocks:
            dim = block.attn.proj.in_features
            block.attn.qkv.weight[:2 * dim] = 0
            block.attn.qkv.bias[:2 * dim] = 0
    return model.eval()


def test_the_distance_bias_makes_each_frames_attention_a_local_kernel():
    torch.manual_seed(0)
    model = _content_free(TemporalModel(TemporalConfig(input_dim=8, dim=16, heads=4,
                                                       distance_bias=True)))
    with torch.inference_mode():
        attn = model(torch.randn(1, 12, 8)).attentions[0][0]  # (heads, 13, 13)
    slopes = DISTANCE_SLOPE_BASE ** torch.arange(4.0)
    frames = torch.arange(12.0)
    expected = torch.exp(-slopes[:, None, None] * (frames[:, None] - frames[None]).abs())
    frame_to_frame = attn[:, 1:, 1:] / attn[:, 1:, 1:].diagonal(dim1=1, dim2=2)[..., None]
    assert torch.allclose(frame_to_frame, expected, atol=1e-5)
    assert torch.allclose(attn[:, 0], torch.full((4, 13), 1 / 13), atol=1e-6)  # CLS: no bias
    assert torch.allclose(attn[:, 1:, 0] / attn[:, 1:, 1:].diagonal(dim1=1, dim2=2),
                          torch.ones(4, 12), atol=1e-5)  # nor toward it


def test_a_distance_biased_model_gives_stationary_unmarked_non_uniform_views():
    torch.manual_seed(0)
    model = _content_free(TemporalModel(TemporalConfig(input_dim=8, dim=16,
                                                       distance_bias=True)))
    plain = _content_free(TemporalModel(TemporalConfig(input_dim=8, dim=16)))
    x = torch.randn(1, 60, 8)
    with torch.inference_mode():
        biased = frame_attention([a[0] for a in model(x).attentions])
        uniform = frame_attention([a[0] for a in plain(x).attentions])
    assert np.allclose(uniform, 1 / 60, atol=1e-6)  # without it, content-free = uniform
    views = temporal_metrics(biased)
    assert len(views.unusual) == 0  # stationary: the ends included, nothing marked
    assert normalised_entropy(views.mean_attention) < 0.8
    assert views.attention_range[30] < 8  # local: a few frames, not T/4 as uniform gives


def test_the_distance_bias_keeps_padding_out_and_round_trips_in_the_config():
    torch.manual_seed(0)
    config = TemporalConfig(input_dim=8, dim=16, distance_bias=True)
    assert TemporalConfig.from_dict(config.to_dict()) == config
    assert not TemporalConfig.from_dict({"input_dim": 8}).distance_bias  # older cards
    model = TemporalModel(config).eval()
    x = torch.randn(1, 5, 8)
    padded = torch.cat([x, torch.randn(1, 3, 8)], dim=1)
    mask = torch.tensor([[False] * 5 + [True] * 3])
    with torch.inference_mode():
        assert torch.allclose(model(x).logit, model(padded, mask).logit, atol=1e-5)


def test_registry_round_trip_and_hash(tiny_model_dir):
    model = load_model(tiny_model_dir)
    card = json.loads((tiny_model_dir / CARD_FILE).read_text())
    assert model.card.sha256 == card["sha256"] and len(card["sha256"]) == 64
    assert model.card.name == "tiny-test"
    assert not model.spatial.training and not model.temporal.training
    scores = score_faces(model, torch.randint(0, 255, (3, 3, 96, 96), dtype=torch.uint8))
    assert scores.p_fake.shape == (3,) and ((scores.p_fake > 0) & (scores.p_fake < 1)).all()
    assert set(scores.maps) == {"relevancy", "rollout", "gradcam++"}
    for maps in scores.maps.values():
        assert maps.shape == (3, 3, 3) and maps.min() >= 0 and maps.max() <= 1
    clip = score_clip(model, scores.embeddings)
    assert clip.attention.shape == (4, 8, 3, 3)
    assert 0 < clip.p_fake < 1


def test_explanation_does_not_change_the_score(tiny_model_dir):
    model = load_model(tiny_model_dir)
    crops = torch.randint(0, 255, (4, 3, 96, 96), dtype=torch.uint8)
    explained = score_faces(model, crops, explain=True)
    plain = score_faces(model, crops, explain=False)
    assert torch.allclose(torch.from_numpy(explained.p_fake), torch.from_numpy(plain.p_fake))


def test_tampered_weights_are_refused(tiny_model_dir, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(tiny_model_dir, copy)
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[-10] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match"):
        load_model(copy)


def test_corrupt_and_missing_weights(tiny_model_dir, tmp_path):
    copy = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, copy)
    (copy / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    card = json.loads((copy / CARD_FILE).read_text())
    card["sha256"] = ""  # an empty hash would switch the weights check off: refused
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="invalid model card: sha256"):
        load_model(copy)
    # the recorded hash matches the damaged bytes: the parse itself must fail cleanly
    card["sha256"] = hashlib.sha256(b"not a safetensors file").hexdigest()
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="corrupt weights"):
        load_model(copy)
    (copy / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="weights file missing"):
        load_model(copy)
    with pytest.raises(ModelError, match="no model"):
        load_model(tmp_path / "nowhere")


def test_list_models(tiny_model_dir):
    cards = list_models(tiny_model_dir.parent)
    assert [c.name for c in cards] == ["tiny-test"]
