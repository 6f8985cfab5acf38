"""The held-out evaluation of a trained model, rebuilt from its card's split:

* held-out people's self-blends (LFW identities, UTKFace images, never trained on): frame AUC,
  clean and after an H.264 round trip at CRF 35 of a 0.5× downscaled face (the drop);
* held-out DFDC source videos (real crop + the fakes made from it): frame AUC;
* calibration of the spatial probability on those sets: ECE and a reliability diagram;
* synthetic splices of the held-out real clips (a contiguous blended stretch inside a real
  window, and the second half blended): the temporal relevancy's localisation AUC (frames
  blended vs not), whether a red marker (unusual frame) lies within 2.5 sampled frames of a
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
from forensics_app.core.train.canvas import CanvasParams, apply_canvas
from forensics_app.core.train.data import ClipFaces, blend_sequence, item_rng, to_input
from forensics_app.core.train.metrics import binary_metrics
from forensics_app.core.train.sbi import QualityParams, sample_params

if TYPE_CHECKING:
    from forensics_app.core.train.faces import FaceSet

DEGRADED = QualityParams(downscale=0.5, h264_crf=35)
# Footage as investigators receive it: the frame halved and re-encoded at CRF 40, the face cut
# from it and enlarged by the engine; emulated on the face (compressed at the halved size,
# so its blocks are enlarged with it, `QualityParams.compress_small`).
FRAME_DEGRADED = QualityParams(downscale=0.5, h264_crf=40, compress_small=True)
# The crop pipelines the invariance figure presents real faces in (`canvas.apply_canvas`):
# a tight crop on black, grey and blurred canvases, letterboxed, and inset in another picture.
CANVAS_PRESENTATIONS = {
    "tight_black": CanvasParams("tight", 0.08, 0.08, 0.08, 0.08, "black"),
    "tight_grey": CanvasParams("tight", 0.12, 0.05, 0.1, 0.06, "grey", 0.5),
    "tight_blur": CanvasParams("tight", 0.05, 0.1, 0.12, 0.04, "blur"),
    "letterbox": CanvasParams("letterbox", 0.0, 0.1, 0.0, 0.1, "black"),
    "inset": CanvasParams("pip", 0.1, 0.1, 0.06, 0.14, "black", 0.2, 7),
}
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



def canvas_invariance(model: DetectorModel, reals: np.ndarray) -> tuple[dict, np.ndarray]:
    """How much presenting real faces as other crop pipelines do moves their p_fake: per
    presentation the mean shift and mean absolute shift against the face as the engine cut
    it, and how many of them are then called fake "very confident" (p_fake ≥ 0.9).
    Returns the figures and every presented face's p_fake."""
    clean = spatial_p(model, reals)
    out: dict = {"faces": len(reals), "clean_very_confident_fake": int((clean >= 0.9).sum())}
    shifts = []
    for name, params in CANVAS_PRESENTATIONS.items():
        p = spatial_p(model, np.stack([apply_canvas(x, params) for x in reals]))
        shifts.append(p - clean)
        out[name] = {"mean_shift": float(np.mean(p - clean)),
                     "mean_abs_shift": float(np.mean(np.abs(p - clean))),
                     "very_confident_fake": int((p >= 0.9).sum())}
    pooled = np.concatenate(shifts)
    out["mean_shift"] = float(np.mean(pooled))
    out["mean_abs_shift"] = float(np.mean(np.abs(pooled)))
    out["very_confident_fake"] = int(sum(out[n]["very_confident_fake"]
                                         for n in CANVAS_PRESENTATIONS))
    return out, clean[None].repeat(len(shifts), 0).reshape(-1) + pooled


def band_precision(p_fake: np.ndarray, labels: np.ndarray) -> dict:
    """Per confidence band (`verdict.confidence_band`), how often the label it states is
    right: the stated label is fake where p_fake ≥ 0.5, its probability max(p, 1 − p)."""
    from forensics_app.core.analysis.verdict import BANDS, confidence_band

    p_fake, labels = np.asarray(p_fake, float), np.asarray(labels, int)
    stated = (p_fake >= 0.5).astype(int)
    bands = np.asarray([confidence_band(c) for c in np.maximum(p_fake, 1 - p_fake)])
    out = {}
    for _, name in BANDS[:3]:  # "low" never occurs: the stated label has p ≥ 0.5
        sel = bands == name
        out[name] = {"count": int(sel.sum()),
                     "right": float(np.mean(stated[sel] == labels[sel])) if sel.any() else None}
    return out


def made_fake_sets(model: DetectorModel, real: FaceSet, motions: np.ndarray, limit: int,
                   seed: int) -> list:
    """Held-out people's reenactments and motion-warped portraits (`finetune.made_val_set`,
    other seeds than any validation's; motions from the held-out clips)."""
    from forensics_app.core.train.finetune import made_val_set

    sets = [made_val_set(real, "reenact", limit, seed, name="faces_reenact")]
    if len(motions):
        sets.append(made_val_set(real, "warp", limit, seed + 1, motions, name="faces_warp"))
    return sets


def evaluate_heldout(model: DetectorModel, data_root: Path, real_dir: Path, out: Path,
                     cache: Path, log: Callable[[str], None] = print) -> dict:
    from forensics_app.core.train.data import extract_clip, list_videos

    out.mkdir(parents=True, exist_ok=True)
    s = _split_settings(model)
    results: dict = {"model": {"name": model.card.name, "version": model.card.version,
                               "sha256": model.card.sha256}}
    videos = {v.stem: v for v in list_videos(Path(real_dir))}
    clips = [extract_clip(videos[name], cache, s["frames_per_clip"], s["cache_size"],
                          s["margin"], log=log) for name in s["val_clips"] if name in videos]
    if (Path(data_root) / "faces").is_dir():
        results.update(face_figures(model, Path(data_root), cache, clips, s["seed"], out, log))
    results["splices"] = splice_metrics(model, clips, s["seed"] + 103)
    log(f"splices of held-out clips: {json.dumps(results['splices'])}")
    from forensics_app.core.train.evaluate import _clean

    (out / "heldout.json").write_text(json.dumps(_clean(results), indent=2) + "\n",
                                      encoding="utf-8")
    return results


def face_figures(model: DetectorModel, data_root: Path, cache: Path, clips: list[ClipFaces],
                 seed: int, out: Path, log: Callable[[str], None]) -> dict:
    """The held-out face figures: self-blends (clean, degraded), DFDC, reenactments and
    motion warps, crop-pipeline invariance, calibration and band precision over them all."""
    from forensics_app.core.train.finetune import clip_motions

    results: dict = {}
    sets = face_sets(model, data_root, cache, log)
    made = made_fake_sets(model, sets["real_faces"], clip_motions(clips, seed=seed + 104),
                          sets["limit"] // 2, seed + 105)
    clean_p, clean_y, all_p, all_y = [], [], [], []  # calibration; band precision
    for val in [sets["faces_sbi"], sets["dfdc"], *made]:
        p = spatial_p(model, val.images)
        metrics = binary_metrics(val.labels, p, 0.5)
        groups = sets["groups"].get(val.name, sets["groups"]["faces_sbi"])
        entry = {"images": len(p), "groups": groups, "auc": metrics["auc"],
                 "accuracy_at_0.5": metrics["accuracy"],
                 "ece": expected_calibration_error(p, val.labels)}
        if val.name == "faces_sbi":
            worse = spatial_p(model, val.degraded(DEGRADED, "degraded").images)
            entry["auc_h264_crf35_downscale_0.5"] = binary_metrics(val.labels, worse)["auc"]
            entry["auc_drop"] = entry["auc"] - entry["auc_h264_crf35_downscale_0.5"]
            frame = spatial_p(model, val.degraded(FRAME_DEGRADED, "frame").images)
            entry["auc_frame_crf40_downscale_0.5"] = binary_metrics(val.labels, frame)["auc"]
            entry["auc_drop_frame_crf40"] = entry["auc"] - entry["auc_frame_crf40_downscale_0.5"]
            all_p += [worse, frame]
            all_y += [val.labels, val.labels]
        if val.name in ("faces_sbi", "dfdc"):
            clean_p.append(p)
            clean_y.append(val.labels)
        results[f"heldout_{val.name}"] = entry
        log(f"held-out {val.name}: {json.dumps(entry)}")
        all_p.append(p)
        all_y.append(val.labels)
    reals = sets["faces_sbi"].images[sets["faces_sbi"].labels == 0]
    results["canvas_invariance"], canvas_p = canvas_invariance(model, reals)
    log(f"crop-pipeline invariance: {json.dumps(results['canvas_invariance'])}")
    results["band_precision"] = band_precision(np.concatenate([*all_p, canvas_p]),
                                               np.concatenate([*all_y, 0 * canvas_p]))
    log(f"band precision over every held-out face set: {json.dumps(results['band_precision'])}")
    p, y = np.concatenate(clean_p), np.concatenate(clean_y).astype(float)
    results["calibration"] = {"ece": expected_calibration_error(p, y), "images": len(p)}
    reliability_png(p, y, out / "reliability.png",
                    f"held-out faces (self-blends + DFDC), ECE "
                    f"{results['calibration']['ece']:.3f}")
    return results
