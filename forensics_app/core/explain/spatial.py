"""Score a batch of face crops and explain each score three ways in one forward/backward pass.

The backbone runs without gradients; the gradient of the fake logit flows back only through
the transformer head to the feature map. That gives the attention gradients (relevancy) and
the feature-map gradients (Grad-CAM++) at a fraction of a full backward pass's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from forensics_app.core.explain.attention import (
    attention_rollout,
    cls_token_map,
    normalise_maps,
    transformer_relevancy,
)
from forensics_app.core.explain.gradcam import gradcam_plus_plus
from forensics_app.core.models.registry import DetectorModel


@dataclass
class FaceScores:
    logits: np.ndarray  # (B,) raw fake logits
    p_fake: np.ndarray  # (B,) calibrated
    embeddings: torch.Tensor  # (B, dim) on the model's device, for the temporal model
    maps: dict[str, np.ndarray]  # method → (B, h, w) float32 in [0, 1]


def score_faces(model: DetectorModel, crops: torch.Tensor, explain: bool = True) -> FaceScores:
    """crops: (B, 3, S, S) uint8 RGB at the model's input size."""
    crops = crops.to(model.device, non_blocking=True)
    with torch.inference_mode():
        features = model.spatial.forward_features(crops)
    if not explain:
        with torch.inference_mode():
            out = model.spatial.forward_head(features)
        return _scores(model, out.logit, out.embedding, {})
    # inference_mode tensors cannot enter autograd: clone into a normal tensor first.
    features = features.clone().requires_grad_(True)
    with torch.enable_grad():
        out = model.spatial.forward_head(features)
        # autograd.grad, not .backward(): only these inputs get gradients, and none is left
        # accumulating in the parameters' .grad of a model that lives across many jobs.
        # Samples are independent: one gradient of the summed logit serves the batch.
        *gradients, feature_grad = torch.autograd.grad(
            out.logit.sum(), [*out.attentions, features])
    grid = features.shape[-1]
    attentions = [a.detach() for a in out.attentions]
    maps = {
        "relevancy": cls_token_map(transformer_relevancy(attentions, gradients)),
        "rollout": cls_token_map(attention_rollout(attentions)),
        "gradcam++": gradcam_plus_plus(features.detach(), feature_grad),
    }
    maps = {k: _as_grid(normalise_maps(v), grid) for k, v in maps.items()}
    return _scores(model, out.logit.detach(), out.embedding.detach(), maps)


def _as_grid(maps: torch.Tensor, grid: int) -> np.ndarray:
    return maps.reshape(maps.shape[0], grid, grid).float().cpu().numpy()


def _scores(model: DetectorModel, logits: torch.Tensor, embeddings: torch.Tensor,
            maps: dict[str, np.ndarray]) -> FaceScores:
    return FaceScores(
        logits=logits.float().cpu().numpy(),
        p_fake=model.p_fake_spatial(logits).float().cpu().numpy(),
        embeddings=embeddings,
        maps=maps,
    )
