"""The held-out evaluation of a trained model, rebuilt from its card's split:

* held-out people's self-blends (LFW identities, UTKFace images, never trained on): frame AUC,
  clean and after an H.264 round trip at CRF 35 of a 0.5× downscaled face (the drop);
* held-out DFDC source videos (real crop + the fakes made from it): frame AUC;
* calibration of the spatial probability on those sets: ECE and a reliability diagram;
* synthetic splices of the held-out real clips (a contiguous blended stretch inside a real
  window, and the second half blended): the temporal relevancy's localisation AUC (frames
  blended vs not), whether a red marker (unusual frame) lies within 2 sampled frames of a
  splice boundary, and how far the attention on real windows is from uniform.

Every figure here is measured on data the model never trained on; the splits are the same
functions training used (`faces.split_by_group` with the card's seed and fractions), so the
same people and source videos are held out. `forensics-app evaluate --heldout` runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from forensics_app.core.models.registry import DetectorModel
from forensics_app.core.train.calibration import expected_calibration_error
from forensics_app.core.train.data import ClipFaces, blend_sequence, item_rng, to_input
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import QualityParams, sample_params

if TYPE_CHECKING:
    from forensics_app.core.train.faces import FaceSet

DEGRADED = QualityParams(downscale=0.5, h264_crf=35)
SBI_SEED_OFFSET = 101  # the held-out self-blends' seed, after the split's


def _split_settings(model: DetectorModel) -> dict:
    from forensics_app.core.train.config import TrainConfig

    defaults = TrainConfig(real="", out="")
    training = model.card.training or {}
    return {key: training.get(key, getattr(defaults, key)) for key in (
        "seed", "face_val_fraction", "dfdc_val_fraction", "val_clips", "margin",
        "frames_per_clip", "cache_size")}


def spatial_p(model: DetectorModel, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Calibrated p_fake of uint8 NHWC face crops (the engine's scoring path)."""
    from forensics_app.core.explain.spatial import score_faces

    out = []
    size = model.input_size
    for begin in range(0, len(images), batch):
        chunk = np.stack([to_input(x, size) for x in images[begin:begin + batch]])
        tensor = torch.from_numpy(chunk).permute(0, 3, 1, 2).contiguous()
        out.append(np.asarray(score_faces(model, tensor, explain=False).p_fake, np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def real_faces(model: DetectorModel, data_root: Path, cache: Path,
               log: Callable[[str], None], held_out: bool = True) -> FaceSet:
    """The real face-folder people (LFW, UTKFace) of the model's split: its held-out people,
    or with `held_out=False` the people it was trained on (the training run's cache)."""
    from forensics_app.core.train.faces import prepare_faces, read_face_folder, split_by_group

    s = _split_settings(model)
    side = 1 if held_out else 0
    records = [record for source in ("lfw", "utkface") for record in split_by_group(
        read_face_folder(data_root, source), s["face_val_fraction"], s["seed"])[side]]
    return prepare_faces(records, cache, model.input_size, s["margin"], 2, data_root, log)


def face_sets(model: DetectorModel, data_root: Path, cache: Path, log: Callable[[str], None],
              limit: int = 1200) -> dict:
    """The held-out face-folder validation sets, as uint8 images + labels."""
    from forensics_app.core.train.faces import prepare_faces, read_face_folder, split_by_group
    from forensics_app.core.train.finetune import dfdc_val_set, sbi_val_set

    s = _split_settings(model)
    dfdc_val = split_by_group(read_face_folder(data_root, "dfdc_crops"), s["dfdc_val_fraction"],
                              s["seed"])[1]
    real = real_faces(model, data_root, cache, log)
    dfdc = prepare_faces(dfdc_val, cache, model.input_size, s["margin"], 2, data_root, log)
    # Other seeds than the per-epoch validation's: other blends of the same held-out people.
    sbi = sbi_val_set(real, limit, s["seed"] + SBI_SEED_OFFSET, "faces_sbi")
    return {"faces_sbi": sbi, "dfdc": dfdc_val_set(dfdc, limit, s["seed"] + 102),
            "real_faces": real, "sbi_seed": s["seed"] + SBI_SEED_OFFSET, "limit": limit,
            "groups": {"faces_sbi": len(set(real.groups.tolist())),
                       "dfdc": len(set(dfdc.groups.tolist()))}}


def reliability_png(probs: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    from forensics_app.core.train.evaluate import _pyplot
    from forensics_app.core.train.trainer import reliability_table

    plt = _pyplot()
    rows = reliability_table(probs, labels)
    centres = [r["mean_p"] for r in rows]
    rates = [r["fake_rate"] for r in rows]
    counts = [r["count"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
    ax.plot(centres, rates, marker="o", label="model")
    for x, y, n in zip(centres, rates, counts, strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("predicted p_fake (bin mean)")
    ax.set_ylabel("observed fake rate")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def splice_windows(clip: ClipFaces, track: int, count: int, seed: int, size: int,
                   max_frames: int = 100) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(crop rows, faces at the model's size, blended mask) per window: the first half of
    the windows blend a stretch of 20-50 % somewhere inside, the rest blend the second half."""
    rows = clip.rows_of(track)
    out = []
    for k in range(count):
        rng = item_rng(seed, track, k)
        stride = max(1, len(rows) // max_frames)
        win = rows[int(rng.integers(stride))::stride][:max_frames]
        n = len(win)
        mask = np.zeros(n, bool)
        if k % 2 == 0:
            span = max(2, int(n * rng.uniform(0.2, 0.5)))
            at = int(rng.integers(max(1, n // 10), max(2, n - span - n // 10)))
            mask[at:at + span] = True
        else:
            mask[n // 2:] = True
        faces = np.stack([to_input(x, size) for x in clip.crops[win]])
        picked = win[mask]
        faces[mask] = blend_sequence(clip.crops[picked], clip.landmarks[picked],
                                     sample_params(rng, clip.crops.shape[1]), rng, size,
                                     float(rng.uniform(0.3, 1.0)))
        out.append((win, faces, mask))
    return out


def splice_metrics(model: DetectorModel, clips: list[ClipFaces], seed: int,
                   windows_per_identity: int = 6) -> dict:
    """Temporal localisation on synthetic splices of held-out real clips."""
    from forensics_app.core.analysis.metrics import temporal_metrics
    from forensics_app.core.explain.attention import normalised_entropy
    from forensics_app.core.explain.spatial import score_faces
    from forensics_app.core.explain.temporal import score_clip
    from forensics_app.core.train.temporal_stage import markers_near_cut

    loc_aucs, near_marker, clip_p, frame_mean_p = [], [], [], []
    real_entropy, real_clip_p, real_frame_p, attention_on_fake = [], [], [], []
    markers_near, markers_total, real_marked = 0, 0, []
    def scored(images: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        scores = score_faces(model, tensor, explain=False)
        return np.asarray(scores.p_fake), scores.embeddings.detach().float().cpu().clone()

    for clip in clips:
        # every real face scored once; a splice re-scores only the frames it blended
        clean_p, clean_emb = scored(np.stack([to_input(x, model.input_size)
                                              for x in clip.crops]))
        for track in sorted(set(clip.tracks.tolist())):
            if len(clip.rows_of(track)) < 16:
                continue
            for win, faces, mask in splice_windows(clip, track, windows_per_identity, seed,
                                                   model.input_size):
                for spliced in (False, True):
                    p_fake, emb = clean_p[win].copy(), clean_emb[win].clone()
                    if spliced:
                        p_fake[mask], emb[torch.from_numpy(mask)] = scored(faces[mask])
                    clip_score = score_clip(model, emb)
                    views = temporal_metrics(clip_score.attention)
                    mean_p = float(np.mean(p_fake))
                    if not spliced:
                        real_marked.append(bool(len(views.unusual)))
                        real_entropy.append(normalised_entropy(views.mean_attention))
                        real_clip_p.append(clip_score.p_fake)
                        real_frame_p.append(mean_p)
                        continue
                    loc_aucs.append(binary_metrics(mask.astype(int),
                                                   clip_score.frame_relevancy)["auc"])
                    marked = np.asarray(views.unusual, float)
                    near = markers_near_cut(marked, mask)
                    near_marker.append(bool(near.any()))
                    markers_near += int(near.sum())
                    markers_total += len(marked)
                    received = views.mean_attention.mean(axis=0)  # attention each frame receives
                    attention_on_fake.append(float(received[mask].sum() / mask.mean()
                                                   / received.sum()))
                    clip_p.append(clip_score.p_fake)
                    frame_mean_p.append(mean_p)
    labels = np.r_[np.zeros(len(real_clip_p)), np.ones(len(clip_p))]
    return {
        "windows": len(loc_aucs),
        "relevancy_localisation_auc_mean": float(np.nanmean(loc_aucs)) if loc_aucs else None,
        "relevancy_localisation_auc_median": float(np.nanmedian(loc_aucs)) if loc_aucs else None,
        "marker_near_boundary_share": float(np.mean(near_marker)) if near_marker else None,
        # of all markers on the splices, the share near a boundary (the rest point elsewhere)
        "marker_precision": markers_near / markers_total if markers_total else None,
        "real_windows_with_a_marker_share": float(np.mean(real_marked)) if real_marked
        else None,
        "attention_on_faked_frames_ratio": float(np.mean(attention_on_fake))
        if attention_on_fake else None,
        "real_windows_mean_attention_row_entropy": float(np.mean(real_entropy))
        if real_entropy else None,
        "clip_auc_temporal": binary_metrics(labels, np.r_[real_clip_p, clip_p])["auc"],
        "clip_auc_mean_frame": binary_metrics(labels, np.r_[real_frame_p, frame_mean_p])["auc"],
    }



def evaluate_heldout(model: DetectorModel, data_root: Path, real_dir: Path, out: Path,
                     cache: Path, log: Callable[[str], None] = print) -> dict:
    from forensics_app.core.train.data import extract_clip, list_videos

    out.mkdir(parents=True, exist_ok=True)
    s = _split_settings(model)
    results: dict = {"model": {"name": model.card.name, "version": model.card.version,
                               "sha256": model.card.sha256}}
    if (Path(data_root) / "faces").is_dir():
        sets = face_sets(model, Path(data_root), cache, log)
        pooled_p, pooled_y = [], []
        for name in ("faces_sbi", "dfdc"):
            val = sets[name]
            p = spatial_p(model, val.images)
            metrics = binary_metrics(val.labels, p, 0.5)
            entry = {"images": len(p), "groups": sets["groups"][name], "auc": metrics["auc"],
                     "accuracy_at_0.5": metrics["accuracy"], "ece": expected_calibration_error(
                         p, val.labels)}
            if name == "faces_sbi":
                worse = spatial_p(model, val.degraded(DEGRADED, "degraded").images)
                entry["auc_h264_crf35_downscale_0.5"] = binary_metrics(val.labels, worse)["auc"]
                entry["auc_drop"] = entry["auc"] - entry["auc_h264_crf35_downscale_0.5"]
            results[f"heldout_{name}"] = entry
            log(f"held-out {name}: {json.dumps(entry)}")
            pooled_p.append(p)
            pooled_y.append(val.labels)
        p, y = np.concatenate(pooled_p), np.concatenate(pooled_y).astype(float)
        results["calibration"] = {"ece": expected_calibration_error(p, y), "images": len(p)}
        reliability_png(p, y, out / "reliability.png",
                        f"held-out faces (self-blends + DFDC), ECE "
                        f"{results['calibration']['ece']:.3f}")
    videos = {v.stem: v for v in list_videos(Path(real_dir))}
    clips = [extract_clip(videos[name], cache, s["frames_per_clip"], s["cache_size"],
                          s["margin"], log=log) for name in s["val_clips"] if name in videos]
    results["splices"] = splice_metrics(model, clips, s["seed"] + 103)
    log(f"splices of held-out clips: {json.dumps(results['splices'])}")
    from forensics_app.core.train.evaluate import _clean

    (out / "heldout.json").write_text(json.dumps(_clean(results), indent=2) + "\n",
                                      encoding="utf-8")
    return results
