"""Tiny random-weight models for tests: real architecture, small sizes, fast on a CPU."""

from __future__ import annotations

from pathlib import Path

import torch

from forensics_app.core.models.registry import ModelCard, load_model, save_model
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel

TINY_SPATIAL = SpatialConfig(backbone="mobilenetv3_small_050", input_size=96, dim=32, depth=2,
                             heads=4, dropout=0.0)
TINY_TEMPORAL = TemporalConfig(input_dim=32, dim=32, depth=4, heads=8, dropout=0.0)


def make_tiny_model(folder: Path, seed: int = 0, placeholder: bool = False) -> Path:
    torch.manual_seed(seed)
    card = ModelCard(name="tiny-test", version="0.0.1", spatial={}, temporal={},
                     placeholder=placeholder, description="random weights for tests")
    return save_model(SpatialModel(TINY_SPATIAL), TemporalModel(TINY_TEMPORAL), card, folder)


def load_tiny(folder: Path):
    return load_model(folder, "cpu")
