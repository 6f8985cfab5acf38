"""Training mechanics shared by the spatial and temporal stages: seeding, frozen stages,
the optimiser and its schedule, one optimisation step, checkpoint restore, batched
prediction, and the run log."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from forensics_app.core.models.spatial import SpatialModel, SpatialOutput


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def frozen_modules(model: SpatialModel, blocks: int) -> list[nn.Module]:
    b = model.backbone
    if blocks <= 0 or not hasattr(b, "blocks"):
        return []
    return [b.conv_stem, b.bn1, *list(b.blocks[:blocks])]


def freeze(model: SpatialModel, blocks: int) -> list[nn.Module]:
    modules = frozen_modules(model, blocks)
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(False)
    return modules


def set_train_mode(model: SpatialModel, frozen: Sequence[nn.Module]) -> None:
    """Train mode, except the frozen stages' batch norms keep their ImageNet statistics."""
    model.train()
    for module in frozen:
        module.eval()


class RunLog:
    """Progress lines to stdout and OUT/train.log; curves to OUT/history.json."""

    def __init__(self, out: Path, printer: Callable[[str], None] = print) -> None:
        self.out = out
        self.printer = printer
        self.path = out / "train.log"

    def __call__(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.printer(f"[{stamp}] {line}")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"[{stamp}] {line}\n")


def eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def make_optimizer(model: SpatialModel, config: Any) -> torch.optim.Optimizer:
    """AdamW: the backbone's trainable stages at `config.backbone_lr`, the rest at `config.lr`."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    head = [p for p in model.parameters() if id(p) not in backbone_ids]
    return torch.optim.AdamW([{"params": backbone, "lr": config.backbone_lr},
                              {"params": head, "lr": config.lr}],
                             weight_decay=config.weight_decay)


def cosine_schedule(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def predict_spatial(model: SpatialModel, images: torch.Tensor, device: torch.device,
                    batch: int = 64) -> tuple[np.ndarray, torch.Tensor]:
    """(logits, embeddings) of uint8 NCHW images, in eval mode."""
    return _predict(model, images, batch, lambda chunk: model(chunk.to(device)))


@torch.inference_mode()
def _predict(model: SpatialModel, inputs: torch.Tensor, batch: int,
             forward: Callable[[torch.Tensor], SpatialOutput]) -> tuple[np.ndarray, torch.Tensor]:
    was_training = model.training
    model.eval()
    logits, embeddings = [], []
    for begin in range(0, len(inputs), batch):
        out = forward(inputs[begin:begin + batch])
        logits.append(out.logit.float().cpu())
        embeddings.append(out.embedding.float().cpu())
    model.train(was_training)
    if not logits:
        return np.zeros(0, np.float32), torch.zeros(0, model.config.dim)
    return torch.cat(logits).numpy(), torch.cat(embeddings)


# --------------------------------------------------------------------------- temporal stage

def optimisation_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                      logits: torch.Tensor, labels: torch.Tensor,
                      extra: torch.Tensor | None = None) -> float:
    """One binary cross-entropy step (plus `extra`, an auxiliary loss term) with gradient
    clipping; returns the classification loss."""
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    total = loss if extra is None else loss + extra
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    return loss.item()


def restore_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler: Any, fingerprint: str | None = None) -> dict | None:
    """Load model, optimizer and scheduler state from `path`; the checkpoint, or None if absent
    or, with `fingerprint`, saved with another one (made from other inputs: not resumed)."""
    if not path.exists():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if fingerprint is not None and ckpt.get("fingerprint") != fingerprint:
        return None
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt
