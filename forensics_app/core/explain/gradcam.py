"""Grad-CAM++ (Chattopadhay et al., WACV 2018) on the backbone's last feature map."""

from __future__ import annotations

import torch


def gradcam_plus_plus(features: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """features, gradients: (B, C, h, w) activations and ∂y/∂activations → (B, h, w) maps.

    With the exponential of the score as target, the higher-order derivatives reduce to powers
    of the first gradient (the paper's eq. 19): α = g² / (2g² + Σ_ab A·g³).
    """
    grad2 = gradients.pow(2)
    grad3 = gradients.pow(3)
    activation_sum = features.sum(dim=(2, 3), keepdim=True)
    denominator = 2 * grad2 + activation_sum * grad3
    denominator = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
    alpha = grad2 / denominator
    weights = (alpha * gradients.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (weights * features).sum(dim=1).clamp(min=0)
