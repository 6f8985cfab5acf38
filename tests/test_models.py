"""Model shapes, attention exposure, registry round trip and its refusals."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from forensics_app.core.errors import ModelError
from forensics_app.core.explain.spatial import score_faces
from forensics_app.core.explain.temporal import score_clip
from forensics_app.core.models.registry import CARD_FILE, WEIGHTS_FILE, list_models, load_model
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel


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
