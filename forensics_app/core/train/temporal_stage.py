"""Temporal stage: windows of real clips' per-frame embeddings against synthetic temporal
fakes, and the temporal transformer trained on them."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from forensics_app.core.analysis.metrics import temporal_metrics
from forensics_app.core.explain.attention import frame_attention, frame_rows, range_residual
from forensics_app.core.explain.temporal import explain_clip
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
from forensics_app.core.train.sbi import quality_probs, sample_params


@dataclass
class Sequences:
    """Per-frame embeddings of clip sequences with labels and, per frame, whether blended."""

    embeddings: list[torch.Tensor] = field(default_factory=list)  # (T, dim) each
    labels: list[float] = field(default_factory=list)
    blended: list[np.ndarray] = field(default_factory=list)  # (T,) bool
    kinds: list[str] = field(default_factory=list)  # one of TEMPORAL_KINDS
    frame_logits: list[np.ndarray] = field(default_factory=list)  # (T,) spatial logits
    cuts: list[np.ndarray] = field(default_factory=list)  # (T,) bool: new footage from here

    def add(self, emb, label, blended, kind, logits, cuts=None) -> None:
        self.embeddings.append(emb)
        self.labels.append(label)
        self.blended.append(blended)
        self.kinds.append(kind)
        self.frame_logits.append(logits)
        self.cuts.append(np.zeros(len(blended), bool) if cuts is None else cuts)

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


def clip_outputs(model: SpatialModel, clips: Sequence[ClipFaces], config: Any, salt: int,
                 probs: dict[str, float] | None = None
                 ) -> dict[str, tuple[np.ndarray, torch.Tensor]]:
    """Per clip, the spatial logits and embeddings of its cached faces (clip row order): of the
    clean crops, or with `probs` (the recipe's quality augmentation probabilities,
    `sbi.quality_probs`) of one label-agnostic augmentation of each."""
    device = torch.device(config.device)
    out = {}
    for c, clip in enumerate(clips):
        images = np.stack([to_input(x, config.input_size) for x in clip.crops])
        if probs is not None:
            images = np.stack([augment(x, item_rng(config.seed + salt, c, i), probs=probs)
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
    probs = quality_probs(config.quality_probs)
    clean = clip_outputs(model, clips, config, salt)
    noisy = clip_outputs(model, clips, config, salt, probs) if augment_data else clean
    identities = [(clip, track) for clip in clips for track in sorted(set(clip.tracks.tolist()))
                  if len(clip.rows_of(track)) >= 8]
    seqs = Sequences()

    def embed(images: np.ndarray, rng: np.random.Generator, aug: bool
              ) -> tuple[np.ndarray, torch.Tensor]:
        images = np.stack([to_input(x, config.input_size) for x in images])
        if aug:
            images = np.stack([augment(x, rng, probs=probs) for x in images])
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
                cuts: list[int] = []  # frames where other footage starts
                if kind in ("flicker", "splice"):
                    if kind == "flicker":
                        mask[:] = True if rng.random() < 0.5 else rng.random(len(win)) < 0.6
                        mask[int(rng.integers(len(win)))] = True  # never an empty flicker
                        amount = float(rng.uniform(0.5, 2.0))
                    else:
                        span = max(2, int(len(win) * rng.uniform(0.15, 0.6)))
                        at = int(rng.integers(0, len(win) - span + 1))
                        mask[at:at + span] = True
                        cuts = [at, at + span]
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
                    cuts = [at + 1, at + span]
                elif kind == "drop":
                    longer = _window(rng, rows, max_frames, min_len=24)
                    cut = max(2, int(len(longer) * rng.uniform(0.2, 0.5)))
                    at = int(rng.integers(4, max(5, len(longer) - cut - 4)))
                    win = np.concatenate([longer[:at], longer[at + cut:]])
                    x, lg = emb[win].clone(), logits[win].copy()
                    mask = np.zeros(len(win), bool)
                    mask[at:at + 2] = True  # the frames after the jump
                    cuts = [at]
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
                    cuts = [at]
                seqs.add(x, float(kind != "real"), mask, kind, lg, cut_mask(len(x), cuts))
        log(f"temporal sequences: {clip.clip}#{track} done ({len(seqs)} so far)")
    return seqs


def cut_mask(length: int, starts: Sequence[int]) -> np.ndarray:
    """(length,) bool, True where other footage starts (a frame 0 or past-the-end start is no
    cut: nothing lies on its other side)."""
    cuts = np.zeros(length, bool)
    for at in starts:
        if 0 < at < length:
            cuts[at] = True
    return cuts


# The attention is supervised beside the clip label, so that the views' fixed maths
# (docs/DESIGN.md, "Unusual frames") reads something the model computed rather than whatever
# the label alone left (uniform, on the first models): within unbroken footage a local
# kernel (stationary, so a real clip gets no marker, and not uniform); a share of every row
# on the frames a fake altered (the attention points at them); and the two frames either
# side of a cut look at the whole window, so their attention range stands out and the marker
# rule flags them. At inference the model must find the altered frames and the cuts itself:
# the maps then show where it did. Simulated on the held-out splice layout, this target
# itself puts a marker within 2.5 frames of a boundary in 99 % of windows and none on real
# ones, with 1.5x the attention on the fakes; the fake share costs precision: 15 % of its
# markers fall elsewhere (real frames far from the fakes, whose range it lengthens). Without
# it: 100 %, but 0.98x. Measured, it does not carry over (train --temporal-from the 0.4.0
# model, weight 1 for 40 epochs and 3 for 120; evaluate --heldout on the held-out clips'
# splices): the attention learns the kernel on training windows but spreads on real movement
# in held-out ones, so every real window gets markers (0.4.0 without the loss: 33 %), 3 % of
# the markers on the splices lie near a boundary (7 %), and relevancy localisation falls to
# 0.78 / 0.84 (0.94). So TrainConfig.temporal_attention_weight is 0 (off); the loss stays
# for experiments with more data or a GPU, and the figures above are what it has to beat.
ATTENTION_TAU = 3.0  # kernel decay, sampled frames
ATTENTION_FAKE_SHARE = 0.4


def attention_target(blended: np.ndarray, cuts: np.ndarray, tau: float = ATTENTION_TAU,
                     fake_share: float = ATTENTION_FAKE_SHARE) -> np.ndarray:
    """The (T, T) row-stochastic mean attention a sequence is trained toward."""
    length = len(blended)
    frames = np.arange(length)
    segment = np.cumsum(cuts)
    target = np.exp(-np.abs(frames[:, None] - frames[None, :]) / tau)
    target *= segment[:, None] == segment[None, :]
    target /= target.sum(axis=1, keepdims=True)
    if blended.any():
        target = (1 - fake_share) * target + fake_share * (blended / blended.sum())[None]
    starts = np.flatnonzero(cuts)
    target[np.r_[starts, starts - 1].astype(int)] = 1.0 / length
    return target.astype(np.float32)


def attention_loss(attentions: Sequence[torch.Tensor], padding: torch.Tensor,
                   targets: torch.Tensor) -> torch.Tensor:
    """KL(target ‖ Ā) per real frame row, averaged: Ā is the views' mean attention (over
    layers and heads of explain.attention.frame_rows). attentions: per layer (B, H, 1+T, 1+T);
    padding (B, T) True = padding; targets (B, T, T), zero on padding."""
    mean = frame_rows(torch.stack(list(attentions))).mean(dim=(0, 2))
    kl = (targets * (targets.clamp_min(1e-12).log() - mean.clamp_min(1e-9).log())).sum(-1)
    valid = (~padding).float()
    return (kl * valid).sum() / valid.sum()


# The marker rule (explain.attention.unusual_frames) flags a frame whose range residual
# e = r − r̂ departs from its mean by > 2σ and ≥ 1 sampled frame. marker_loss asks for that
# directly, with margins either side of the 1-frame floor: every frame of a real window, and
# every frame of a temporal fake farther than NEAR_CUT from where other footage starts, stays
# within MARKER_QUIET of the mean; at each cut, one of the frames within 1.5 of it departs by
# MARKER_LOUD or more. With the rest quiet, one loud frame also clears 2σ for T ≥ 8.
# "flicker" windows (blended frames scattered through the window) ask for neither.
MARKER_QUIET = 0.5  # sampled frames
MARKER_LOUD = 1.5
NEAR_CUT = 2.5  # as evaluate --heldout's "near a splice boundary"
_MIN_FRAME_SHARE = 1e-3  # frame_rows(min_sum): finite gradients when a row looks at CLS


def marker_zones(cuts: np.ndarray, kind: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(quiet, loud) of one window for marker_loss: a (T,) bool of the frames that should get
    no marker, and per cut the positions one of which should."""
    length = len(cuts)
    if kind == "flicker":
        return np.zeros(length, bool), []
    edges = np.flatnonzero(cuts) - 0.5  # between frame c − 1 and the cut's first frame c
    frames = np.arange(length)
    if not len(edges):
        return np.ones(length, bool), []
    distance = np.abs(frames[:, None] - edges[None]).min(axis=1)
    loud = [frames[np.abs(frames - edge) <= 1.5] for edge in edges]
    return distance > NEAR_CUT, loud


def _largest(values: torch.Tensor, where: np.ndarray) -> torch.Tensor:
    return values[torch.as_tensor(where, device=values.device)].max()


def marker_loss(attentions: Sequence[torch.Tensor], padding: torch.Tensor,
                cuts: Sequence[np.ndarray], kinds: Sequence[str]) -> torch.Tensor:
    """Squared hinges on the range residual's deviation d = |e − ē| (the marker rule's input),
    on the largest d where it matters (one marker is a lead): (max d over a window's quiet
    frames − MARKER_QUIET)⁺² and, per cut, (MARKER_LOUD − max d over its frames)⁺²
    (marker_zones), averaged over the batch's windows that have either. attentions: per
    layer (B, H, 1+T, 1+T); padding (B, T) True = padding; cuts (T,) bool and kinds per
    window (Sequences.cuts, .kinds)."""
    rows = frame_rows(torch.stack(list(attentions)), _MIN_FRAME_SHARE).mean(dim=(0, 2))
    losses = []
    for row, (cut, kind) in enumerate(zip(cuts, kinds, strict=True)):
        quiet, loud = marker_zones(cut, kind)
        if not quiet.any() and not loud:
            continue
        t = int((~padding[row]).sum())
        residual = range_residual(rows[row, :t, :t].float())
        deviation = (residual - residual.mean()).abs()
        loss = (F.relu(_largest(deviation, quiet) - MARKER_QUIET).pow(2) if quiet.any()
                else 0.0)
        for frames in loud:
            loss = loss + F.relu(MARKER_LOUD - _largest(deviation, frames)).pow(2)
        losses.append(loss)
    return torch.stack(losses).mean() if losses else rows.new_zeros(())


def _targets(seqs: Sequences, idx: list[int], longest: int) -> torch.Tensor:
    out = torch.zeros(len(idx), longest, longest)
    for row, i in enumerate(idx):
        t = len(seqs.blended[i])
        out[row, :t, :t] = torch.from_numpy(attention_target(seqs.blended[i], seqs.cuts[i]))
    return out


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
def predict_temporal(model: TemporalModel, seqs: Sequences, device: torch.device,
                     attention: list[float] | None = None) -> np.ndarray:
    """Clip logits, one sequence at a time (exactly how the engine scores a clip); with
    `attention`, each sequence's attention loss is appended to it."""
    model.eval()
    logits = []
    for i, emb in enumerate(seqs.embeddings):
        out = model(emb[None].to(device))
        logits.append(float(out.logit[0]))
        if attention is not None:
            none = torch.zeros(1, len(emb), dtype=torch.bool, device=device)
            attention.append(float(attention_loss(out.attentions, none,
                                                  _targets(seqs, [i], len(emb)).to(device))))
    return np.asarray(logits, np.float64)


def validation_localisation(model: TemporalModel, seqs: Sequences) -> float:
    """Mean relevancy localisation AUC (explain_clip's frame relevancy against the blended
    frames) over the sequences that splice a blended stretch into real ones; NaN if none."""
    return validation_views(model, seqs)["localisation"]


def markers_near_cut(marked: np.ndarray, blended: np.ndarray, within: float = 2.5
                     ) -> np.ndarray:
    """Per marked position, whether it lies within `within` sampled frames of a boundary of
    the blended stretch (the held-out evaluation's "near a splice boundary")."""
    marked = np.asarray(marked, float)
    edges = np.flatnonzero(np.diff(np.asarray(blended).astype(int))) + 0.5
    if not len(marked) or not len(edges):
        return np.zeros(len(marked), bool)
    return np.abs(marked[:, None] - edges[None]).min(axis=1) <= within


def validation_views(model: TemporalModel, seqs: Sequences) -> dict[str, float]:
    """What the views would show on the validation sequences, as the engine computes them:
    "localisation" (validation_localisation), "marker_near_boundary" (share of the splices
    with a red marker within 2.5 frames of a boundary) and "real_marked" (share of the real
    windows with any red marker: a false lead). NaN where a kind is absent."""
    model.eval()
    aucs, near, real_marked = [], [], []
    for emb, blended, kind in zip(seqs.embeddings, seqs.blended, seqs.kinds, strict=True):
        splice = kind == "splice" and blended.any() and not blended.all()
        if not splice and kind != "real":
            continue
        if splice:  # relevancy needs the gradients; a real window only its attention
            _, attentions, relevancy = explain_clip(model, emb)
            aucs.append(binary_metrics(blended.astype(int), relevancy)["auc"])
        else:
            with torch.inference_mode():
                attentions = model(emb[None].to(next(model.parameters()).device).float()).attentions
        unusual = temporal_metrics(frame_attention([a[0] for a in attentions])).unusual
        if splice:
            near.append(bool(markers_near_cut(unusual, blended).any()))
        else:
            real_marked.append(bool(len(unusual)))

    def mean(values: list) -> float:
        return float(np.nanmean(values)) if values else float("nan")
    return {"localisation": mean(aucs), "marker_near_boundary": mean(near),
            "real_marked": mean(real_marked)}


def keep_score(config: Any, val_objective: float, views: dict[str, float]) -> float:
    """Lower is kept. "localisation": the validation splices' relevancy localisation;
    "views": that, plus the splices with a marker near a boundary, less the real windows
    with a marker (each a share in [0, 1], weighted alike: a false marker on a real clip
    costs as much as a found splice gains); otherwise the validation objective."""
    if config.temporal_keep == "localisation":
        return -views["localisation"]
    if config.temporal_keep == "views":
        return -(views["localisation"] + np.nan_to_num(views["marker_near_boundary"])
                 - np.nan_to_num(views["real_marked"]))
    return val_objective


def spatial_fingerprint(spatial: torch.nn.Module) -> str:
    """SHA-256 of the spatial weights whose embeddings a temporal model is trained on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(spatial.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def temporal_checkpoint_path(out: Path, restart: int = 0) -> Path:
    """Where training `restart` of the temporal stage keeps its checkpoint (restart 0 where
    runs before restarts kept theirs)."""
    return out / ("temporal_checkpoint.pt" if restart == 0
                  else f"temporal_checkpoint_r{restart}.pt")


def entry_score(config: Any, entry: dict) -> float:
    """`keep_score` of one recorded temporal epoch (a history entry); lower is better. The
    objective counts both terms: the label loss alone bottoms out before the attention has
    learned its target (epoch 5 of 40 on the first run with the attention loss)."""
    objective = entry["val_loss"] + config.temporal_attention_weight * (
        entry.get("val_attention_loss") or 0.0)
    views = {"localisation": entry["val_localisation_auc"],
             "marker_near_boundary": entry["val_marker_near_boundary"],
             "real_marked": entry["val_real_windows_marked"]}
    return keep_score(config, objective, views)


def pick_restart(trainings: list[tuple[TemporalModel, list[dict]]], config: Any,
                 log: RunLog) -> tuple[TemporalModel, list[dict]]:
    """The training whose kept epoch scores best on the validation windows by the keep rule
    ("last" and "best" compare the validation objective); its history carries every
    training's epochs, each marked with its restart, the kept one flagged."""
    rule = config.temporal_keep if config.temporal_keep in ("localisation", "views") else "best"
    by_rule = replace(config, temporal_keep=rule)
    scores = [entry_score(by_rule, next(e for e in history if e["kept"]))
              for _, history in trainings]
    chosen = int(np.argmin(scores))
    history = []
    for restart, (_, entries) in enumerate(trainings):
        for entry in entries:
            history.append({**entry, "restart": restart,
                            "kept": entry["kept"] and restart == chosen})
    if len(trainings) > 1:
        log(f"temporal trainings: kept {chosen + 1} of {len(trainings)} (validation "
            f"{rule} scores, lower is better: {', '.join(f'{x:.3f}' for x in scores)})")
    return trainings[chosen][0], history


def train_temporal(model: TemporalModel, train: Sequences, val: Sequences,
                   config: Any, out: Path, log: RunLog, resume: bool = False,
                   fingerprint: str = "", restart: int = 0) -> tuple[TemporalModel, list[dict]]:
    """Train on the sequences' embeddings; `fingerprint` (spatial_fingerprint of the model
    that made them) ties a checkpoint to them: one made on other embeddings, or with another
    temporal architecture, keep rule or loss weight, is not resumed. `restart` > 0 is another
    independent training (its own batch order and checkpoint file)."""
    device = torch.device(config.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.temporal_lr,
                                  weight_decay=config.weight_decay)
    steps = math.ceil(len(train) / config.temporal_batch)
    scheduler = cosine_schedule(optimizer, min(20, steps), steps * config.temporal_epochs)
    history: list[dict] = []
    start, best_loss, best_state, best_epoch = 0, float("inf"), None, 0
    ckpt_path = temporal_checkpoint_path(out, restart)
    # A checkpoint is resumed only with the embeddings and the recipe it was made with: a
    # model with another architecture (e.g. the distance bias) would load the same weights.
    fingerprint = fingerprint + ":" + json.dumps(
        {"temporal": model.config.to_dict(), "keep": config.temporal_keep,
         "attention_weight": config.temporal_attention_weight,
         "marker_weight": config.temporal_marker_weight}, sort_keys=True)
    ckpt = (restore_checkpoint(ckpt_path, model, optimizer, scheduler, fingerprint)
            if resume else None)
    if resume and ckpt is None and ckpt_path.exists():  # trained on since, or other flags
        log("temporal checkpoint made on other spatial weights or with another temporal "
            "recipe: temporal stage afresh")
    if ckpt is not None:
        history, start = ckpt["history"], ckpt["epoch"] + 1
        best_loss, best_state = ckpt["best_loss"], ckpt["best_state"]
        best_epoch = ckpt.get("best_epoch", 0)
    labels = torch.tensor(train.labels)
    val_labels = np.asarray(val.labels)
    for epoch in range(start, config.temporal_epochs):
        model.train()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
            config.seed * 1000 + 500 + epoch + 100_000 * restart)).tolist()
        losses, attention_losses = [], []
        for begin in range(0, len(order), config.temporal_batch):
            idx = order[begin:begin + config.temporal_batch]
            x, mask = _pad([train.embeddings[i] for i in idx])
            out = model(x.to(device), mask.to(device))
            extra = None
            if config.temporal_attention_weight:
                attention = attention_loss(out.attentions, mask.to(device),
                                           _targets(train, idx, x.shape[1]).to(device))
                attention_losses.append(attention.item())
                extra = config.temporal_attention_weight * attention
            if config.temporal_marker_weight:
                marked = config.temporal_marker_weight * marker_loss(
                    out.attentions, mask.to(device), [train.cuts[i] for i in idx],
                    [train.kinds[i] for i in idx])
                extra = marked if extra is None else extra + marked
            losses.append(optimisation_step(model, optimizer, scheduler, out.logit,
                                            labels[idx].to(device), extra))
        val_attention: list[float] = []
        val_logits = predict_temporal(model, val, device, val_attention
                                      if config.temporal_attention_weight else None)
        val_loss = float(F.binary_cross_entropy_with_logits(
            torch.from_numpy(val_logits), torch.from_numpy(val_labels)))
        val_attention_mean = float(np.mean(val_attention)) if val_attention else 0.0
        auc = binary_metrics(val_labels, val_logits, 0.0)["auc"]
        views = validation_views(model, val)
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "train_attention_loss": float(np.mean(attention_losses))
                        if attention_losses else None,
                        "val_loss": val_loss,
                        "val_attention_loss": val_attention_mean if val_attention else None,
                        "val_auc": auc, "val_localisation_auc": views["localisation"],
                        "val_marker_near_boundary": views["marker_near_boundary"],
                        "val_real_windows_marked": views["real_marked"]})
        if (epoch + 1) % 5 == 0 or epoch + 1 == config.temporal_epochs:
            train_attention = history[-1]["train_attention_loss"] or 0.0
            log(f"temporal epoch {epoch + 1}/{config.temporal_epochs}: train loss "
                f"{np.mean(losses):.4f} (attention {train_attention:.4f}), "
                f"val loss {val_loss:.4f} (attention {val_attention_mean:.4f}), "
                f"val AUC {auc:.4f}")
        # "localisation" keeps the epoch whose relevancy best finds the validation splices
        # (it tracks the held-out splices' at r = 0.91; the loss does not:
        # docs/MODEL_EXPERIMENTS.md)
        score = entry_score(config, history[-1])  # what pick_restart compares, too
        if score < best_loss:
            best_loss = score
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best_epoch = epoch + 1
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "history": history, "best_loss": best_loss, "best_state": best_state,
                    "best_epoch": best_epoch, "fingerprint": fingerprint}, ckpt_path)
    kept = len(history)
    if config.temporal_keep in ("best", "localisation", "views") and best_state is not None:
        model.load_state_dict(best_state)
        kept = best_epoch
    for entry in history:
        entry["kept"] = entry["epoch"] == kept
    log(f"temporal epoch kept: {kept} of {len(history)} ({config.temporal_keep})"
        + (f", training {restart + 1}" if restart else ""))
    return model.eval(), history


