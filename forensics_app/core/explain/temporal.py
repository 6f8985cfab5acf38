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
from forensics_app.core.models.temporal import TemporalModel


@dataclass
class ClipScore:
    logit: float
    p_fake: float
    attention: np.ndarray  # (L, H, T, T) float32 over frame tokens, rows sum to 1
    frame_relevancy: np.ndarray  # (T,) in [0, 1]: how much each frame drove the clip score


def explain_clip(temporal: TemporalModel, embeddings: torch.Tensor
                 ) -> tuple[torch.Tensor, list[torch.Tensor], np.ndarray]:
    """(logit (1,), attentions per layer (1, H, 1+T, 1+T), frame relevancy (T,) in [0, 1]) of
    one sequence: the temporal model's own account (the engine's, and bench/'s)."""
    device = next(temporal.parameters()).device
    with torch.enable_grad():
        out = temporal(embeddings.detach().to(device).float()[None])
        # autograd.grad: gradients of the attention maps only, no .grad left on parameters
        gradients = torch.autograd.grad(out.logit.sum(), out.attentions)
    attentions = [a.detach() for a in out.attentions]
    relevancy = transformer_relevancy(attentions, list(gradients))
    frame_relevancy = normalise_maps(cls_token_map(relevancy))[0]
    return out.logit.detach(), attentions, frame_relevancy.float().cpu().numpy()


def score_clip(model: DetectorModel, embeddings: torch.Tensor) -> ClipScore:
    """embeddings: (T, dim) per-frame face embeddings in time order, T ≤ max_frames."""
    logit, attentions, frame_relevancy = explain_clip(model.temporal, embeddings)
    return ClipScore(
        logit=float(logit[0]),
        p_fake=float(model.p_fake_temporal(logit)[0]),
        attention=frame_attention([a[0] for a in attentions]),
        frame_relevancy=frame_relevancy,
    )
