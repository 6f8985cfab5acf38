"""Clip-level model: a transformer over up to 100 per-frame face embeddings (+ CLS)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from forensics_app.core.models.transformer import Encoder


@dataclass
class TemporalConfig:
    input_dim: int = 192
    dim: int = 128
    depth: int = 4
    heads: int = 8
    max_frames: int = 100
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    # A fixed per-head penalty on the distance between two frame tokens, added to the scores
    # before the softmax (ALiBi, Press et al. 2022): head h scores frame j from frame i lower
    # by DISTANCE_SLOPE_BASE**h * |i - j|. It makes each frame's attention a local kernel
    # unless the content outweighs it, which is stationary over unbroken footage: the views'
    # marker rule (docs/DESIGN.md, "Unusual frames") then has little to flag on real clips,
    # and the head maps are not uniform. The CLS row and column carry no penalty: the clip
    # score still reads every frame. False (no penalty): every model before 0.7.0.
    distance_bias: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> TemporalConfig:
        return TemporalConfig(**data)


@dataclass
class TemporalOutput:
    logit: torch.Tensor  # (B,)
    attentions: list[torch.Tensor]  # per layer (B, heads, 1 + T, 1 + T), CLS first


DISTANCE_SLOPE_BASE = 2 ** -0.5  # slopes 1 ... 0.09 over 8 heads: kernels of ~1 to ~11 frames


def distance_bias(heads: int, frames: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, heads, 1 + frames, 1 + frames) additive scores: -slope_h * |i - j| between frame
    tokens, 0 in the CLS row and column (TemporalConfig.distance_bias)."""
    slopes = DISTANCE_SLOPE_BASE ** torch.arange(heads, dtype=torch.float32, device=device)
    index = torch.arange(frames, dtype=torch.float32, device=device)
    distance = (index[:, None] - index[None]).abs()
    bias = torch.zeros(1, heads, 1 + frames, 1 + frames, device=device)
    bias[0, :, 1:, 1:] = -slopes[:, None, None] * distance
    return bias


class TemporalModel(nn.Module):
    def __init__(self, config: TemporalConfig | None = None) -> None:
        super().__init__()
        self.config = config or TemporalConfig()
        cfg = self.config
        self.input = nn.Sequential(nn.LayerNorm(cfg.input_dim), nn.Linear(cfg.input_dim, cfg.dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.max_frames, cfg.dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.encoder = Encoder(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.head = nn.Linear(cfg.dim, 1)

    def forward(
        self, embeddings: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> TemporalOutput:
        """embeddings: (B, T, input_dim), T ≤ max_frames; padding_mask: (B, T) True = padding."""
        b, t, _ = embeddings.shape
        if t > self.config.max_frames:
            raise ValueError(f"{t} frames exceed the model's {self.config.max_frames}")
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), self.input(embeddings)], dim=1)
        tokens = tokens + self.pos_embed[:, : t + 1]
        mask = None
        if padding_mask is not None:
            cls_valid = torch.zeros(b, 1, dtype=torch.bool, device=padding_mask.device)
            mask = torch.cat([cls_valid, padding_mask], dim=1)
        bias = (distance_bias(self.config.heads, t, embeddings.device)
                if self.config.distance_bias else None)
        encoded, attentions = self.encoder(tokens, mask, bias)
        return TemporalOutput(self.head(encoded[:, 0]).squeeze(-1), attentions)
