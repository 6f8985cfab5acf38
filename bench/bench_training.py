"""Training and inference throughput of the default architecture (img/s), CPU and GPU.

Measures, at the model card's input size and freeze depth (default 224 px, 2 frozen stages):
  sbi            self-blended images made per second (one CPU core, numpy/OpenCV)
  augment        label-agnostic augmentations per second (one core; H.264 round trips included)
  train_frozen   training images/s with the stem + N stages frozen (the default recipe)
  train_full     training images/s end to end through the whole backbone (for comparison)
                 (both as the trainer steps: channels-last weights, and with --bf16 its
                 bfloat16 autocast forward pass)
  infer          inference images/s, full model, no explanation
  infer_explain  images/s with the three explanations (what the analysis engine does)
Run: `python bench/bench_training.py [--device cuda] [--bf16] [--freeze-blocks N]
[--input-size N] [--backbone NAME] [--out bench.json]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.devices import describe_device, resolve_device  # noqa: E402
from forensics_app.core.explain.spatial import score_faces  # noqa: E402
from forensics_app.core.models.registry import (  # noqa: E402
    DEFAULT_MODEL,
    ModelCard,
    assemble_model,
    build_models,
    models_dir,
    read_card,
)
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel  # noqa: E402
from forensics_app.core.train.data import augment  # noqa: E402
from forensics_app.core.train.loop import freeze, set_train_mode  # noqa: E402
from forensics_app.core.train.sbi import sample_params, self_blend  # noqa: E402


def _rate(fn, count: int, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count * repeats / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--backbone", default=None,
                        help="another timm backbone than the default model's "
                             "(e.g. tf_efficientnet_lite2, as `train --backbone`)")
    parser.add_argument("--freeze-blocks", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--bf16", action="store_true",
                        help="bfloat16 autocast forward passes, as `train --bf16`")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    try:
        card = read_card(models_dir() / DEFAULT_MODEL)
        spatial_cfg = SpatialConfig.from_dict(card.spatial)
        freeze_blocks = card.training.get("freeze_blocks", 2)
    except Exception:  # no default model yet: the architecture's defaults
        card = None
        spatial_cfg = SpatialConfig(input_size=224)
        freeze_blocks = 2
    if args.input_size:
        spatial_cfg.input_size = args.input_size
    if args.backbone:
        spatial_cfg.backbone = args.backbone
    if args.freeze_blocks is not None:
        freeze_blocks = args.freeze_blocks
    size, batch = spatial_cfg.input_size, args.batch
    results: dict = {"device": describe_device(device), "backbone": spatial_cfg.backbone,
                     "input_size": size, "freeze_blocks": freeze_blocks, "batch": batch,
                     "training_precision": "bfloat16 autocast" if args.bf16 else "float32",
                     "torch": torch.__version__, "python": platform.python_version(),
                     "threads": torch.get_num_threads()}

    # Self-blended images (CPU, single process), made at the cache's 256 px.
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    angles = np.linspace(0, 2 * np.pi, 468)
    marks = np.stack([128 + 70 * np.cos(angles), 128 + 85 * np.sin(angles)], 1)
    start = time.perf_counter()
    for _ in range(50):
        self_blend(face, marks, sample_params(rng, 256))
    results["sbi_img_per_s"] = round(50 / (time.perf_counter() - start), 1)

    start = time.perf_counter()
    for _ in range(50):
        augment(face[:size, :size], rng)
    results["augment_img_per_s"] = round(50 / (time.perf_counter() - start), 1)

    images = torch.randint(0, 255, (batch, 3, size, size), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 2, (batch,), device=device).float()
    model = SpatialModel(spatial_cfg).to(device, memory_format=torch.channels_last)
    frozen = freeze(model, freeze_blocks)

    def step_loss(net: SpatialModel) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = net(images).logit
        return F.binary_cross_entropy_with_logits(logits.float(), labels)

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-4)

    def frozen_step() -> None:
        set_train_mode(model, frozen)
        loss = step_loss(model)
        opt.zero_grad()
        loss.backward()
        opt.step()

    results["train_frozen_img_per_s"] = round(_rate(frozen_step, batch, args.repeats, device), 1)
    full = SpatialModel(spatial_cfg).to(device, memory_format=torch.channels_last).train()
    opt_full = torch.optim.AdamW(full.parameters(), 1e-4)

    def full_step() -> None:
        loss = step_loss(full)
        opt_full.zero_grad()
        loss.backward()
        opt_full.step()

    results["train_full_img_per_s"] = round(_rate(full_step, batch, max(1, args.repeats - 1),
                                                  device), 1)
    bench_card = card or ModelCard("bench", "0", spatial_cfg.to_dict(), {})
    bench_card.spatial = spatial_cfg.to_dict()
    spatial, temporal = build_models(bench_card)
    state = {**{f"spatial.{k}": v for k, v in spatial.state_dict().items()},
             **{f"temporal.{k}": v for k, v in temporal.state_dict().items()}}
    detector = assemble_model(bench_card, state, None, device)
    results["infer_img_per_s"] = round(_rate(
        lambda: score_faces(detector, images, explain=False), batch, args.repeats, device), 1)
    results["infer_explain_img_per_s"] = round(_rate(
        lambda: score_faces(detector, images, explain=True), batch, args.repeats, device), 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
