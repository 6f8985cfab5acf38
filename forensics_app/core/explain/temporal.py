"""Score one identity's frame sequence with the temporal model and explain it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from forensics_app.core.explain.attention import (
    cls_token_map,
    frame_attention,
    normalise_maps,
    transformer_relevancy,
)
from forensics_app.core.models.registry import DetectorModel


@dataclass
class ClipScore:
    logit: float
    p_fake: float
    attention: np.ndarray  # (L, H, T, T) float32 over frame tokens, rows sum to 1
    frame_relevancy: np.ndarray  # (T,) in [0, 1]: how much each frame drove the clip score


def score_clip(model: DetectorModel, embeddings: torch.Tensor) -> ClipScore:
    """embeddings: (T, dim) per-frame face embeddings in time order, T ≤ max_frames."""
    with torch.enable_grad():
        inputs = embeddings.detach().to(model.device).float()[None]
        out = model.temporal(inputs)
        # autograd.grad: gradients of the attention maps only, no .grad left on parameters
        gradients = torch.autograd.grad(out.logit.sum(), out.attentions)
    attentions = [a.detach() for a in out.attentions]
    relevancy = transformer_relevancy(attentions, list(gradients))
    frame_relevancy = normalise_maps(cls_token_map(relevancy))[0]
    logit = out.logit.detach()
    return ClipScore(
        logit=float(logit[0]),
        p_fake=float(model.p_fake_temporal(logit)[0]),
        attention=frame_attention([a[0] for a in attentions]),
        frame_relevancy=frame_relevancy.float().cpu().numpy(),
    )
