"""Spatial stage of the face-folder recipe: the backbone fine-tuned on images made on the fly.

Every batch mixes two kinds of real/fake pair, both cut in the engine's geometry
(`faces.engine_crop`, `data.extract_clip`):

* a real face (LFW, UTKFace, a frame of a training clip) and its self-blended fake
  (`sbi.self_blend`, fresh random parameters every time it is drawn);
* a real DFDC crop and a fake made from the same source video (supervised pairs).

Both images of a pair then go through the same label-agnostic augmentation (`data.augment`:
flip, exposure / colour cast, down-and-up scaling, blur, noise, JPEG or H.264 re-encoding),
each with its own draw. The stem and the first backbone stages stay at their ImageNet weights
(`freeze_blocks`), and the blending traces are learnt by the later stages and the transformer.
Measured (docs/MODEL_EXPERIMENTS.md, "What freezing costs"): in float32 freezing more than
doubles the 2-core training rate (6.3 → 13.7 img/s at 224 px); with bfloat16 autocast and
channels-last weights it saves less (16.0 → 19.5 img/s), and two epochs continuing 0.8.0 with
the whole backbone trained scored lower on validation (DFDC −0.03 AUC, degraded self-blends
−0.03) than the same epochs frozen (`bench/spatial_arms.py`); from ImageNet weights, the
default recipe with them trained ended behind on every validation set (DFDC −0.037, clip
self-blends −0.043) and took 25 % longer ("Freezing measured from scratch").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from forensics_app.core.models.spatial import SpatialModel
from forensics_app.core.train.canvas import apply_canvas, sample_canvas
from forensics_app.core.train.data import ClipFaces, augment, item_rng, to_input, write_json
from forensics_app.core.train.faces import FaceSet
from forensics_app.core.train.fakes import (
    motion_bank,
    motion_warp,
    reenact,
    sample_reenact,
    sample_warp,
)
from forensics_app.core.train.loop import (
    cosine_schedule,
    eta,
    freeze,
    make_optimizer,
    optimisation_step,
    predict_spatial,
    restore_checkpoint,
    set_train_mode,
)
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import (
    BlendParams,
    QualityParams,
    apply_quality,
    sample_params,
    self_blend,
)


def clip_face_set(clips: list[ClipFaces], size: int) -> FaceSet:
    """The cached faces of real clips as a FaceSet at the model's input size."""
    crops, marks, groups = [], [], []
    for clip in clips:
        scale = size / clip.crops.shape[1]
        crops.extend(to_input(c, size) for c in clip.crops)
        marks.append(clip.landmarks * scale)
        groups.extend(f"clip:{clip.clip}#{t}" for t in clip.tracks.tolist())
    n = len(crops)
    return FaceSet(np.asarray(crops, np.uint8).reshape(-1, size, size, 3),
                   np.concatenate(marks).astype(np.float32) if marks
                   else np.zeros((0, 468, 2), np.float32),
                   np.zeros(n, np.int64), np.asarray(groups), np.asarray(["clip"] * n),
                   np.asarray([""] * n))


def dfdc_pairs(faces: FaceSet) -> np.ndarray:
    """(P, 2) rows of (real, fake) made from the same source video."""
    reals: dict[str, int] = {}
    for row in np.flatnonzero(faces.labels == 0):
        reals.setdefault(str(faces.groups[row]), int(row))
    pairs = [(reals[str(faces.groups[row])], int(row))
             for row in np.flatnonzero(faces.labels == 1) if str(faces.groups[row]) in reals]
    return np.asarray(pairs, np.int64).reshape(-1, 2)


class MixedPairs(Dataset):
    """`length` pairs per epoch, each a (2, 3, S, S) uint8 real/fake pair with labels [0, 1].

    Item i of epoch e is a pure function of (seed, e, i): which kind (a fake made from a
    real face with probability `sbi_share`, else a DFDC pair), which face, every
    augmentation parameter. A made fake is a self-blend, or with the probabilities of
    `made_shares` ({"reenact": p, "warp": p}, `fakes.py`) a reenactment of the lower face or
    a motion-warped portrait (its motion drawn from `motions`, a `fakes.motion_bank`).
    With `canvas_prob` > 0 a pair is shown, with that probability, as another crop pipeline
    delivers faces (`canvas.apply_canvas`), the real and the fake with the *same* draw.
    A recipe without the new kinds and canvases draws the same numbers as before they
    existed: every pair, real and fake, is what it was.
    """

    def __init__(self, sbi: FaceSet, dfdc: FaceSet, length: int, seed: int = 0,
                 sbi_share: float = 0.5, augment_data: bool = True,
                 quality_probs: Mapping[str, float] | None = None,
                 made_shares: Mapping[str, float] | None = None,
                 motions: np.ndarray | None = None, canvas_prob: float = 0.0) -> None:
        usable = sbi.has_landmarks()
        self.sbi = sbi if usable.all() else sbi.select(np.flatnonzero(usable))  # no copy if all
        self.dfdc = dfdc
        self.pairs = dfdc_pairs(dfdc)
        if len(self.sbi) == 0:
            raise ValueError("no real face with landmarks for self-blending")
        self.sbi_share = sbi_share if len(self.pairs) else 1.0
        self.made_shares = check_made_shares(made_shares or {})
        if self.made_shares.get("warp", 0.0) > 0 and (motions is None or not len(motions)):
            raise ValueError("motion-warped fakes need a motion bank (no tracked clip faces)")
        self.motions = motions
        self.canvas_prob = float(canvas_prob)
        self.frames_of = clip_frames(self.sbi.groups) if self.made_shares else {}
        self.length = length
        self.seed = seed
        self.epoch = 0
        self.augment_data = augment_data
        self.quality_probs = quality_probs

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def made_kind(self, rng: np.random.Generator) -> str:
        """Which fake is made from a real face: drawn only when the new kinds are on."""
        if not self.made_shares:
            return "sbi"
        u = rng.random()
        for kind, share in self.made_shares.items():
            if u < share:
                return kind
            u -= share
        return "sbi"

    def make_fake(self, row: int, kind: str, rng: np.random.Generator) -> np.ndarray:
        real, points = self.sbi.crops[row], self.sbi.landmarks[row]
        size = real.shape[0]
        if kind == "reenact":
            params = sample_reenact(rng, size)
            others = self.frames_of.get(str(self.sbi.groups[row]))
            use_frame = rng.random() < 0.5  # drawn always: the stream stays the same
            if use_frame and others is not None and len(others) > 1:
                donor = int(others[int(rng.integers(len(others)))])
                if donor != row:
                    return reenact(real, points, params, self.sbi.crops[donor],
                                   self.sbi.landmarks[donor])[0]
            return reenact(real, points, params)[0]
        if kind == "warp":
            params = sample_warp(rng, len(self.motions), size)
            return motion_warp(real, points, self.motions[params.motion], params)[0]
        return self_blend(real, points, sample_params(rng, size))[0]

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        rng = item_rng(self.seed, self.epoch, index)
        if rng.random() < self.sbi_share:
            row = int(rng.integers(len(self.sbi)))
            kind = self.made_kind(rng)
            real, fake = self.sbi.crops[row], self.make_fake(row, kind, rng)
        else:
            r, f = self.pairs[int(rng.integers(len(self.pairs)))]
            real, fake, kind = self.dfdc.crops[r], self.dfdc.crops[f], "dfdc"
        if self.canvas_prob > 0:
            params = sample_canvas(rng, self.canvas_prob)
            real, fake = apply_canvas(real, params), apply_canvas(fake, params)
        if self.augment_data:
            probs = self.quality_probs
            real, fake = augment(real, rng, probs=probs), augment(fake, rng, probs=probs)
        return real, fake, kind

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        real, fake, _ = self.pair(index)
        images = torch.from_numpy(np.stack([real, fake])).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor([0.0, 1.0])


MADE_KINDS = ("reenact", "warp")


def check_made_shares(shares: Mapping[str, float]) -> dict[str, float]:
    """The made-fake kinds' shares, zero shares dropped; an unknown kind, a share outside
    [0, 1] or shares adding up past 1 (nothing left for self-blends) is a ValueError."""
    out = {}
    for kind, share in shares.items():
        if kind not in MADE_KINDS:
            raise ValueError(f"unknown fake kind {kind!r}: one of {', '.join(MADE_KINDS)}")
        if not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"{kind} share {share} not in [0, 1]")
        if share > 0:
            out[kind] = float(share)
    if sum(out.values()) > 1.0:
        raise ValueError("the reenactment and motion-warp shares add up to more than 1")
    return out


def clip_frames(groups: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of each tracked clip face ("clip:NAME#TRACK"): other frames of one person,
    the donors of reenactment from another frame."""
    out: dict[str, list[int]] = {}
    for row, group in enumerate(groups.tolist()):
        if str(group).startswith("clip:"):
            out.setdefault(str(group), []).append(row)
    return {group: np.asarray(rows, np.int64) for group, rows in out.items()}


def _worker_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


@dataclass
class ValSet:
    """Fixed validation images: uint8 (N, S, S, 3) with labels."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def degraded(self, params: QualityParams, name: str) -> ValSet:
        return ValSet(np.stack([apply_quality(x, params) for x in self.images]), self.labels,
                      name)


def sbi_val_blends(faces: FaceSet, limit: int, seed: int) -> list[tuple[int, BlendParams]]:
    """The rows of `sbi_val_set`'s real faces, in its order, and each one's blend parameters."""
    rows = np.flatnonzero(faces.has_landmarks())
    if len(rows) > limit:
        rows = rows[np.random.default_rng(seed).permutation(len(rows))[:limit]]
    return [(row, sample_params(item_rng(seed, 0, row), faces.crops[row].shape[0]))
            for row in sorted(rows.tolist())]


def sbi_val_set(faces: FaceSet, limit: int, seed: int, name: str = "sbi") -> ValSet:
    """Each held-out real face (at most `limit`) and one fixed self-blend of it."""
    images, labels = [], []
    for row, params in sbi_val_blends(faces, limit, seed):
        real = faces.crops[row]
        fake, _ = self_blend(real, faces.landmarks[row], params)
        images += [real, fake]
        labels += [0, 1]
    return ValSet(np.asarray(images, np.uint8), np.asarray(labels, np.int64), name)


def made_val_set(faces: FaceSet, kind: str, limit: int, seed: int,
                 motions: np.ndarray | None = None, name: str | None = None) -> ValSet:
    """Each held-out real face (at most `limit`, the rows `sbi_val_set` takes) and one fixed
    fake of `kind` ("reenact": the lower face warped to another expression; "warp": the face
    moved by a motion of `motions`) made from it."""
    if kind not in MADE_KINDS:
        raise ValueError(f"unknown fake kind {kind!r}: one of {', '.join(MADE_KINDS)}")
    images, labels = [], []
    for row, _ in sbi_val_blends(faces, limit, seed):
        real, points = faces.crops[row], faces.landmarks[row]
        rng = item_rng(seed, 1, row)
        if kind == "reenact":
            fake, _ = reenact(real, points, sample_reenact(rng, real.shape[0]))
        else:
            params = sample_warp(rng, len(motions), real.shape[0])
            fake, _ = motion_warp(real, points, motions[params.motion], params)
        images += [real, fake]
        labels += [0, 1]
    return ValSet(np.asarray(images, np.uint8).reshape(-1, *faces.crops.shape[1:]),
                  np.asarray(labels, np.int64), name or f"faces_{kind}")


def clip_motions(clips: list[ClipFaces], pairs: int = 2000, seed: int = 0) -> np.ndarray:
    """The landmark motions of the clips' tracked faces (`fakes.motion_bank`), every
    (clip, track) its own face."""
    if not clips:
        return np.zeros((0, 468, 2), np.float32)
    marks = np.concatenate([c.landmarks for c in clips])
    tracks = np.concatenate([np.full(len(c), k * 10_000, np.int64) + c.tracks
                             for k, c in enumerate(clips)])
    return motion_bank(marks, tracks, pairs, seed)


def dfdc_val_set(faces: FaceSet, limit: int, seed: int) -> ValSet:
    pairs = dfdc_pairs(faces)
    if len(pairs) > limit:
        pairs = pairs[np.sort(np.random.default_rng(seed).permutation(len(pairs))[:limit])]
    rows = pairs.reshape(-1)
    return ValSet(faces.crops[rows], faces.labels[rows], "dfdc")


def predict_images(model: SpatialModel, images: np.ndarray, device: torch.device,
                   batch: int = 64) -> tuple[np.ndarray, torch.Tensor]:
    """(logits, embeddings) of uint8 NHWC images, in eval mode."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return predict_spatial(model, tensor, device, batch)


def validate(model: SpatialModel, sets: list[ValSet], device: torch.device) -> dict:
    out = {}
    for val in sets:
        logits, _ = predict_images(model, val.images, device)
        metrics = binary_metrics(val.labels, 1 / (1 + np.exp(-logits)))
        loss = float(F.binary_cross_entropy_with_logits(
            torch.from_numpy(logits).float(), torch.from_numpy(val.labels).float()))
        out[val.name] = {"auc": metrics["auc"], "accuracy": metrics["accuracy"], "loss": loss}
    return out


def train_on_images(model: SpatialModel, data: MixedPairs, val_sets: list[ValSet], config,
                    out: Path, log: Callable[[str], None], resume: bool = False,
                    first_data_epoch: int = 0) -> tuple[SpatialModel, list[dict]]:
    """Fine-tune; keep the epoch with the best mean validation AUC. Checkpoints
    OUT/checkpoint.pt after every epoch (model, optimiser, schedule, history, best).

    Epoch k draws the training images of data epoch `first_data_epoch` + k (a continued
    model sees new blends). Weights in channels-last layout, like the model's inputs: the
    same arithmetic, twice the training speed on this CPU (10.7 vs 20.6 img/s, batch 32)."""
    device = torch.device(config.device)
    model.to(device, memory_format=torch.channels_last)
    frozen = freeze(model, config.freeze_blocks)
    steps = len(data) // config.batch_pairs
    optimizer = make_optimizer(model, config)
    scheduler = cosine_schedule(optimizer, config.warmup_steps, steps * config.epochs)
    history: list[dict] = []
    start_epoch, best_score, best_state = 0, -1.0, None
    ckpt_path = out / "checkpoint.pt"
    ckpt = restore_checkpoint(ckpt_path, model, optimizer, scheduler) if resume else None
    if ckpt is not None:
        history, start_epoch = ckpt["history"], ckpt["epoch"] + 1
        best_score, best_state = ckpt["best_score"], ckpt["best_state"]
        torch.set_rng_state(ckpt["torch_rng"])
        log(f"resumed spatial training after epoch {start_epoch}")
    log(f"spatial: {steps} steps/epoch × {config.epochs} epochs, {2 * config.batch_pairs} "
        f"images a step ({data.sbi_share:.0%} self-blend pairs from {len(data.sbi)} real "
        f"faces, the rest from {len(data.pairs)} DFDC pairs); frozen: stem + "
        f"{config.freeze_blocks} stages; validation "
        + ", ".join(f"{v.name} {len(v.labels)}" for v in val_sets))
    workers = config.loader_workers
    stage_start = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        data.set_epoch(first_data_epoch + epoch)
        loader = DataLoader(data, batch_size=config.batch_pairs, shuffle=False,
                            num_workers=workers, worker_init_fn=_worker_init if workers else None,
                            collate_fn=_collate, prefetch_factor=4 if workers else None)
        set_train_mode(model, frozen)
        losses, seen, tick = [], 0, time.perf_counter()
        for step, (images, labels) in enumerate(loader, 1):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                out_ = model(images.to(device))
            losses.append(optimisation_step(model, optimizer, scheduler, out_.logit.float(),
                                            labels.to(device)))
            seen += len(labels)
            if step % config.log_every == 0 or step == steps:
                rate = seen / (time.perf_counter() - tick)
                left = ((steps - step) + (config.epochs - epoch - 1) * steps) \
                    * 2 * config.batch_pairs / rate
                log(f"epoch {epoch + 1}/{config.epochs} step {step}/{steps} loss "
                    f"{np.mean(losses[-config.log_every:]):.4f} {rate:.1f} img/s "
                    f"ETA {eta(left)}")
        val = validate(model, val_sets, device)
        score = float(np.mean([v["auc"] for v in val.values()]))
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                  "val": val, "val_auc": score, "val_loss": float(np.mean(
                      [v["loss"] for v in val.values()])),
                  "train_img_per_s": seen / (time.perf_counter() - tick),
                  "lr": scheduler.get_last_lr()[-1],
                  "seconds": time.perf_counter() - epoch_start}
        history.append(record)
        log(f"epoch {epoch + 1} done: train loss {record['train_loss']:.4f}; validation "
            + ", ".join(f"{k} AUC {v['auc']:.4f} loss {v['loss']:.3f}" for k, v in val.items())
            + f"; {record['seconds']:.0f} s")
        if best_state is None or score > best_score:
            best_score = score
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            log(f"epoch {epoch + 1} is the best so far (mean validation AUC {score:.4f})")
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "history": history, "best_score": best_score, "best_state": best_state,
                    "torch_rng": torch.get_rng_state(), "config": asdict(config)}, ckpt_path)
        write_json(out / "history.json", {"spatial": history})
    log(f"spatial stage: {(time.perf_counter() - stage_start) / 60:.1f} min")
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.to(memory_format=torch.contiguous_format).eval(), history


def _collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([b[0] for b in batch]), torch.cat([b[1] for b in batch])
