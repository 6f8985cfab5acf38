"""Explanations take their gradients with `torch.autograd.grad`: a worker's model lives across
many jobs, and `.backward()` would leave (and pile up) `.grad` on its parameters."""

from __future__ import annotations

import torch

from forensics_app.core.explain.spatial import score_faces
from forensics_app.core.explain.temporal import score_clip
from forensics_app.core.models.registry import load_model


def test_an_explanation_leaves_no_grad_on_any_parameter(tiny_model_dir):
    model = load_model(tiny_model_dir)
    params = [*model.spatial.parameters(), *model.temporal.parameters()]
    trainable = [p for p in params if p.requires_grad]
    assert trainable, "the check means nothing if no parameter could take a gradient"
    crops = torch.randint(0, 255, (3, 3, 96, 96), dtype=torch.uint8)
    for _ in range(2):  # twice: nothing accumulates either
        scores = score_faces(model, crops, explain=True)
        clip = score_clip(model, scores.embeddings)
    holding = [name for name, p in [*model.spatial.named_parameters(),
                                    *model.temporal.named_parameters()] if p.grad is not None]
    assert not holding, f"{len(holding)} parameters hold .grad: {holding[:5]}"
    # the explanations are still there and informative
    assert all(m.shape == (3, 3, 3) for m in scores.maps.values())
    assert scores.maps["gradcam++"].max() > 0 and clip.frame_relevancy.max() > 0
