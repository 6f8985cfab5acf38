"""Evaluate a model on any folder described by a labels CSV (path,label[,kind,...]).

Videos go through the analysis engine itself (`run_analysis`: detection, tracking, spatial and
temporal scoring, fusion, verdict), so the figures are those a user would get; each video's
results folder is kept under OUT/videos/. Still images and face crops are scored frame-level
through the same spatial scoring path (`score_faces`). Writes OUT/metrics.json and ROC,
confusion-matrix and training-curve PNGs (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from forensics_app.core.models.registry import DetectorModel
from forensics_app.core.train.metrics import binary_metrics, roc_curve

VIDEO_KINDS = {"video"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}


@dataclass
class LabelledItem:
    path: Path
    label: int  # 1 fake, 0 real
    kind: str  # video, face, image

    @property
    def is_video(self) -> bool:
        return self.kind in VIDEO_KINDS


@dataclass
class ItemScore:
    path: str
    label: int
    kind: str
    p_fake: float | None  # video: the engine's verdict score; image: max over faces
    frame_scores: list[float] = field(default_factory=list)
    prediction: str = ""
    note: str = ""


def read_labels(csv_path: Path, root: Path | None = None) -> list[LabelledItem]:
    """Rows of path,label[,kind]; paths relative to `root` (default: the CSV's folder)."""
    root = Path(root) if root else Path(csv_path).parent
    items = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = LABELS.get(str(row["label"]).strip().lower())
            if label is None:
                raise ValueError(f"unknown label {row['label']!r} in {csv_path}")
            path = root / row["path"]
            kind = (row.get("kind") or "").strip() or (
                "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video")
            items.append(LabelledItem(path, label, kind))
    return items


def score_image(model: DetectorModel, rgb: np.ndarray, detector) -> tuple[list[float], str]:
    """p_fake of every face in a still image or face crop.

    A face crop fills its image, which the detector (trained on scenes) often misses, so the
    image is first padded with black on every side; with no detection at all the whole image
    is scored as one face crop, and the note says so.
    """
    from forensics_app.core.explain.spatial import score_faces
    from forensics_app.core.faces import crop_face

    h, w = rgb.shape[:2]
    pad = max(h, w) // 2
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    detections = detector.detect(padded)
    size = model.input_size
    note = ""
    if detections:
        crops = [crop_face(padded, d.box, size, 0.3)[0] for d in detections]
    else:
        crops = [cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)]
        note = "no face detected: whole image scored"
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    scores = score_faces(model, batch, explain=False)
    return [float(p) for p in scores.p_fake], note


def evaluate(items: list[LabelledItem], model: DetectorModel, out: Path, frames: int = 100,
             log: Callable[[str], None] = print) -> dict:
    """Score every item, compute frame- and video-level metrics, write metrics.json + plots."""
    from forensics_app.core.analysis.drive import run_to_end
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
    from forensics_app.core.faces import FaceDetector

    out.mkdir(parents=True, exist_ok=True)
    threshold = model.card.threshold
    scored: list[ItemScore] = []
    start = time.perf_counter()
    detector = None
    try:
        for n, item in enumerate(items, start=1):
            tick = time.perf_counter()
            if item.is_video:
                settings = AnalysisSettings(frames=frames, device=str(model.device))
                results = run_to_end(run_analysis(item.path, out / "videos" / item.path.stem,
                                                  settings, model)).results
                frame_scores = [s for s in results.frame_scores if s is not None]
                pred = results.prediction
                scored.append(ItemScore(str(item.path), item.label, item.kind, pred.p_fake,
                                        frame_scores, pred.label,
                                        "" if pred.p_fake is not None else pred.reason))
            else:
                if detector is None:
                    detector = FaceDetector("short", 0.5)
                bgr = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
                if bgr is None:
                    scored.append(ItemScore(str(item.path), item.label, item.kind, None,
                                            note="unreadable image"))
                    continue
                faces, note = score_image(model, np.ascontiguousarray(bgr[..., ::-1]), detector)
                p = max(faces)
                scored.append(ItemScore(str(item.path), item.label, item.kind, p, faces,
                                        "fake" if p >= threshold else "real", note))
            last = scored[-1]
            shown = "n/a" if last.p_fake is None else f"{last.p_fake:.3f}"
            log(f"[{n}/{len(items)}] {item.path.name} ({item.kind}, "
                f"{'fake' if item.label else 'real'}): p_fake {shown} "
                f"({time.perf_counter() - tick:.1f} s)")
    finally:
        if detector is not None:
            detector.close()
    metrics = summarise(scored, threshold)
    metrics["model"] = {"name": model.card.name, "version": model.card.version,
                        "sha256": model.card.sha256, "folder": str(model.folder),
                        "temperature_spatial": model.card.temperature_spatial,
                        "temperature_temporal": model.card.temperature_temporal,
                        "fusion": model.card.fusion}
    metrics["frames_per_video"] = frames
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    (out / "metrics.json").write_text(json.dumps(_clean(metrics), indent=2) + "\n",
                                      encoding="utf-8")
    plot_roc(metrics, scored, out / "roc.png")
    plot_confusion(metrics, out / "confusion.png")
    if model.folder is not None:
        plot_history(model.folder / "history.json", out / "training_curves.png")
    return metrics


def summarise(scored: list[ItemScore], threshold: float) -> dict:
    """Frame-level (every scored video frame and image face, labelled by its file) and
    video-level (one score per video: the engine's verdict p_fake) metrics."""
    frame_labels, frame_scores, frame_kinds = [], [], []
    for s in scored:
        for p in s.frame_scores:
            frame_labels.append(s.label)
            frame_scores.append(p)
            frame_kinds.append("video_frame" if s.kind in VIDEO_KINDS else s.kind)
    videos = [s for s in scored if s.kind in VIDEO_KINDS and s.p_fake is not None]
    result = {
        "threshold": threshold,
        "frame": binary_metrics(frame_labels, frame_scores, threshold),
        "frame_by_kind": {},
        "video": binary_metrics([s.label for s in videos], [s.p_fake for s in videos],
                                threshold),
        "unscored": [s.path for s in scored if s.p_fake is None],
        "items": [vars(s) for s in scored],
    }
    kinds = np.asarray(frame_kinds)
    for kind in sorted(set(frame_kinds)):
        sel = kinds == kind
        result["frame_by_kind"][kind] = binary_metrics(np.asarray(frame_labels)[sel],
                                                       np.asarray(frame_scores)[sel], threshold)
    return result


def _clean(value):
    """JSON-safe: NaN → null, numpy scalars → Python, floats rounded."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


# --------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(metrics: dict, scored: list[ItemScore], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    frame_l = [s.label for s in scored for _ in s.frame_scores]
    frame_s = [p for s in scored for p in s.frame_scores]
    videos = [s for s in scored if s.kind in VIDEO_KINDS and s.p_fake is not None]
    for name, labels, scores in (("frames", frame_l, frame_s),
                                 ("videos", [s.label for s in videos],
                                  [s.p_fake for s in videos])):
        if len(set(labels)) < 2:
            continue
        fpr, tpr, _ = roc_curve(np.asarray(labels), np.asarray(scores))
        auc = metrics["frame" if name == "frames" else "video"]["auc"]
        ax.step(fpr, tpr, where="post", label=f"{name} (AUC {auc:.3f}, n={len(labels)})")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake caught)")
    ax.set_title("ROC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confusion(metrics: dict, path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4), dpi=120)
    for ax, level in zip(axes, ("frame", "video"), strict=True):
        cm = np.asarray(metrics[level]["confusion_matrix"])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black")
        ax.set_xticks([0, 1], ["real", "fake"])
        ax.set_yticks([0, 1], ["real", "fake"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{level} level @ p_fake ≥ {metrics['threshold']:.2f}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_history(history_path: Path, path: Path) -> bool:
    """Training curves from a run's history.json; False when there is none."""
    if not history_path.exists():
        return False
    history = json.loads(history_path.read_text(encoding="utf-8"))
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=120)
    for ax, stage in zip(axes, ("spatial", "temporal"), strict=True):
        rows = history.get(stage) or []
        if not rows:
            ax.set_axis_off()
            continue
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [r["train_loss"] for r in rows], label="train loss")
        ax.plot(epochs, [r["val_loss"] for r in rows], label="validation loss")
        ax2 = ax.twinx()
        ax2.plot(epochs, [r["val_auc"] for r in rows], color="tab:green", linestyle=":",
                 label="validation AUC")
        ax2.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.set_title(f"{stage} model")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
