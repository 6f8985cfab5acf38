"""Temporal stage: windows of real clips' per-frame embeddings against synthetic temporal
fakes, and the temporal transformer trained on them."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from forensics_app.core.models.spatial import SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel
from forensics_app.core.train.data import ClipFaces, augment, blend_sequence, item_rng, to_input
from forensics_app.core.train.loop import (
    RunLog,
    cosine_schedule,
    optimisation_step,
    predict_spatial,
    restore_checkpoint,
)
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import sample_params


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
    """Frame rows of a random window: stride 1-4 over the cached frames (which sample the
    clip uniformly, as the engine does), 16-100 long."""
    stride = int(rng.integers(1, min(4, max(1, len(rows) // min_len)) + 1))
    strided = rows[int(rng.integers(stride)):: stride]
    length = int(rng.integers(min(min_len, len(strided)), min(max_frames, len(strided)) + 1))
    start = int(rng.integers(len(strided) - length + 1))
    return strided[start:start + length]


def clip_outputs(model: SpatialModel, clips: Sequence[ClipFaces], config: Any,
                 augmented: bool, salt: int) -> dict[str, tuple[np.ndarray, torch.Tensor]]:
    """Per clip, the spatial logits and embeddings of its cached faces (clip row order), of the
    clean crops or of one label-agnostic augmentation of each."""
    device = torch.device(config.device)
    out = {}
    for c, clip in enumerate(clips):
        images = np.stack([to_input(x, config.input_size) for x in clip.crops])
        if augmented:
            images = np.stack([augment(x, item_rng(config.seed + salt, c, i))
                               for i, x in enumerate(images)])
        out[clip.clip] = predict_spatial(model, torch.from_numpy(images).permute(0, 3, 1, 2)
                                         .contiguous(), device)
    return out


TEMPORAL_KINDS = ("real", "flicker", "splice", "freeze", "drop", "identity")
# One real window before each fake kind: the classes balance.
_SEQUENCE_PLAN = tuple(k for fake in TEMPORAL_KINDS[1:] for k in ("real", fake))


def build_sequences(model: SpatialModel, clips: Sequence[ClipFaces], config: Any,
                    salt: int, augment_data: bool, log: RunLog) -> Sequences:
    """Per identity, windows of its frames (uniformly sampled, as the engine samples, at
    stride 1-4 over the cached frames) of every kind in TEMPORAL_KINDS:

    real      the window as it is;
    flicker   every frame (or a random ~60 % of them) self-blended, the blend's parameters
              jittering frame to frame: an unstable face swap;
    splice    a contiguous stretch of 15-60 % blended, the rest real (a faked stretch);
    freeze    a run of 3-10 frames repeating one frame (duplicated frames);
    drop      a jump: 20-50 % of the window's frames cut out of its middle (dropped frames);
    identity  the window's later part taken from another identity (an identity change).

    Each window is embedded clean or, with `augment_data`, at random from the clean or the
    augmented faces (fakes are augmented with the same chance), so quality never tells the
    label. `blended` marks the frames each fake altered.
    """
    device = torch.device(config.device)
    max_frames = TemporalConfig(**config.temporal).max_frames
    clean = clip_outputs(model, clips, config, False, salt)
    noisy = clip_outputs(model, clips, config, True, salt) if augment_data else clean
    identities = [(clip, track) for clip in clips for track in sorted(set(clip.tracks.tolist()))
                  if len(clip.rows_of(track)) >= 8]
    seqs = Sequences()

    def embed(images: np.ndarray, rng: np.random.Generator, aug: bool
              ) -> tuple[np.ndarray, torch.Tensor]:
        images = np.stack([to_input(x, config.input_size) for x in images])
        if aug:
            images = np.stack([augment(x, rng) for x in images])
        return predict_spatial(model, torch.from_numpy(images).permute(0, 3, 1, 2)
                               .contiguous(), device)

    for n, (clip, track) in enumerate(identities):
        rows = clip.rows_of(track)  # clip rows in frame order
        for k in range(config.temporal_sequences):
            rng = item_rng(config.seed + salt, n, k)
            for kind in _SEQUENCE_PLAN:
                aug = augment_data and bool(rng.random() < 0.5)
                logits, emb = (noisy if aug else clean)[clip.clip]
                win = _window(rng, rows, max_frames)
                x, lg = emb[win].clone(), logits[win].copy()
                mask = np.zeros(len(win), bool)
                if kind in ("flicker", "splice"):
                    if kind == "flicker":
                        mask[:] = True if rng.random() < 0.5 else rng.random(len(win)) < 0.6
                        mask[int(rng.integers(len(win)))] = True  # never an empty flicker
                        amount = float(rng.uniform(0.5, 2.0))
                    else:
                        span = max(2, int(len(win) * rng.uniform(0.15, 0.6)))
                        at = int(rng.integers(0, len(win) - span + 1))
                        mask[at:at + span] = True
                        amount = float(rng.uniform(0.3, 1.0))
                    picked = win[mask]
                    fakes = blend_sequence(clip.crops[picked], clip.landmarks[picked],
                                           sample_params(rng, clip.crops.shape[1]), rng,
                                           clip.crops.shape[1], amount)
                    f_logits, f_emb = embed(fakes, rng, aug)
                    x[torch.from_numpy(mask)] = f_emb
                    lg[mask] = f_logits
                elif kind == "freeze":
                    span = int(rng.integers(3, 11))
                    at = int(rng.integers(0, max(1, len(win) - span)))
                    x[at:at + span] = x[at]
                    lg[at:at + span] = lg[at]
                    mask[at + 1:at + span] = True
                elif kind == "drop":
                    longer = _window(rng, rows, max_frames, min_len=24)
                    cut = max(2, int(len(longer) * rng.uniform(0.2, 0.5)))
                    at = int(rng.integers(4, max(5, len(longer) - cut - 4)))
                    win = np.concatenate([longer[:at], longer[at + cut:]])
                    x, lg = emb[win].clone(), logits[win].copy()
                    mask = np.zeros(len(win), bool)
                    mask[at:at + 2] = True  # the frames after the jump
                elif kind == "identity":
                    other_clip, other_track = identities[(n + 1 + int(rng.integers(
                        len(identities) - 1 if len(identities) > 1 else 1))) % len(identities)]
                    if other_clip is clip and other_track == track:
                        continue
                    o_logits, o_emb = (noisy if aug else clean)[other_clip.clip]
                    o_win = _window(rng, other_clip.rows_of(other_track), max_frames)
                    at = int(len(win) * rng.uniform(0.3, 0.8))
                    take = min(len(win) - at, len(o_win))
                    x[at:at + take] = o_emb[o_win[:take]]
                    lg[at:at + take] = o_logits[o_win[:take]]
                    x, lg = x[:at + take], lg[:at + take]
                    mask = np.zeros(at + take, bool)
                    mask[at:] = True
                seqs.add(x, float(kind != "real"), mask, kind, lg)
        log(f"temporal sequences: {clip.clip}#{track} done ({len(seqs)} so far)")
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


def spatial_fingerprint(spatial: torch.nn.Module) -> str:
    """SHA-256 of the spatial weights whose embeddings a temporal model is trained on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(spatial.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_temporal(model: TemporalModel, train: Sequences, val: Sequences,
                   config: Any, out: Path, log: RunLog, resume: bool = False,
                   fingerprint: str = "") -> tuple[TemporalModel, list[dict]]:
    """Train on the sequences' embeddings; `fingerprint` (spatial_fingerprint of the model
    that made them) ties a checkpoint to them: one made on other embeddings is not resumed."""
    device = torch.device(config.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.temporal_lr,
                                  weight_decay=config.weight_decay)
    steps = math.ceil(len(train) / config.temporal_batch)
    scheduler = cosine_schedule(optimizer, min(20, steps), steps * config.temporal_epochs)
    history: list[dict] = []
    start, best_loss, best_state = 0, float("inf"), None
    ckpt_path = out / "temporal_checkpoint.pt"
    ckpt = (restore_checkpoint(ckpt_path, model, optimizer, scheduler, fingerprint)
            if resume else None)
    if resume and ckpt is None and ckpt_path.exists():  # the spatial model trained on since
        log("temporal checkpoint made on other spatial weights: temporal stage afresh")
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
                    "history": history, "best_loss": best_loss, "best_state": best_state,
                    "fingerprint": fingerprint}, ckpt_path)
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


