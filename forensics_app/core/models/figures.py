"""A model card's held-out figures against this project's targets, in words a reader follows.

One list of rows serves the card's MODEL_CARD.md (train.publish) and the evidence report's
model section (report.sections), so the two can never state different figures. Built from the
card's `metrics` alone; a card without held-out figures has no rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

# Issue 8's acceptance figures: what a default model is measured against.
TARGETS = {"sbi": 0.97, "dfdc": 0.92, "drop": 0.05, "ece": 0.05, "localisation": 0.80}


class HeldOutFigure(NamedTuple):
    measurement: str
    figure: str
    target: str  # "" where the project set none


def number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def share(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def unmet_targets(metrics: dict) -> list[str]:
    """The detection targets the card's held-out figures do not reach, in words."""
    held = metrics.get("heldout") or {}
    sbi, dfdc = held.get("heldout_faces_sbi") or {}, held.get("heldout_dfdc") or {}
    drop = sbi.get("auc_drop")
    checks = (
        ((sbi.get("auc") or 0) >= TARGETS["sbi"], f"self-blend AUC ≥ {TARGETS['sbi']}"),
        ((dfdc.get("auc") or 0) >= TARGETS["dfdc"], f"DFDC AUC ≥ {TARGETS['dfdc']}"),
        (drop is not None and drop <= TARGETS["drop"],
         f"robust to H.264 CRF 35, drop ≤ {TARGETS['drop']}"),
    )
    return [target for reached, target in checks if not reached]


def held_out_figures(metrics: dict) -> list[HeldOutFigure]:
    """The card's held-out measurements, each with its figure and the target it answers."""
    held = metrics.get("heldout") or {}
    if not held:
        return []
    sbi, dfdc = held.get("heldout_faces_sbi") or {}, held.get("heldout_dfdc") or {}
    calib, splices = held.get("calibration") or {}, held.get("splices") or {}
    seq = metrics.get("validation_sequences") or {}
    crops = (metrics.get("shared_faces") or {}).get("faces_dfdc_22_crops") or {}
    kinds = ", ".join(f"{k} {number(v.get('auc_fused'), 2)}"
                      for k, v in (seq.get("by_kind") or {}).items())
    rows = [
        HeldOutFigure(f"self-blends of {sbi.get('groups', '?')} held-out people (LFW "
                      "identities, UTKFace images), frame AUC", number(sbi.get("auc")),
                      f"≥ {TARGETS['sbi']}"),
        HeldOutFigure("the same after H.264 CRF 35 of a 0.5× downscaled face, frame AUC (drop)",
                      f"{number(sbi.get('auc_h264_crf35_downscale_0.5'))} "
                      f"(−{number(sbi.get('auc_drop'))})", f"drop ≤ {TARGETS['drop']}"),
        HeldOutFigure(f"DFDC crops of {dfdc.get('groups', '?')} held-out source videos, frame "
                      "AUC", number(dfdc.get("auc")), f"≥ {TARGETS['dfdc']}"),
        HeldOutFigure(f"calibration on those faces ({calib.get('images', '?')} images, part of "
                      "which the temperature was fitted on), expected calibration error",
                      number(calib.get("ece")), f"≤ {TARGETS['ece']}"),
        *_shared_video_rows(metrics.get("shared_videos") or {}),
        HeldOutFigure(f"synthetic splices of the held-out clips ({splices.get('windows', '?')} "
                      "windows): temporal relevancy localisation AUC",
                      f"{number(splices.get('relevancy_localisation_auc_mean'))} mean, "
                      f"{number(splices.get('relevancy_localisation_auc_median'))} median",
                      f"≥ {TARGETS['localisation']}"),
        HeldOutFigure("… red marker within 2 sampled frames of a splice boundary",
                      f"{(splices.get('marker_near_boundary_share') or 0):.0%} of windows",
                      "most"),
        HeldOutFigure("… of all red markers on the splices, the share near a boundary",
                      share(splices.get("marker_precision")), ""),
        HeldOutFigure("… the same windows unspliced (real): share with any red marker",
                      share(splices.get("real_windows_with_a_marker_share")), ""),
        HeldOutFigure("… attention received by faked frames vs their share",
                      f"{number(splices.get('attention_on_faked_frames_ratio'), 2)}×", "> 1"),
        HeldOutFigure("real windows: mean attention row entropy / log T (1.0 = uniform)",
                      number(splices.get("real_windows_mean_attention_row_entropy")), "< 1"),
        HeldOutFigure(f"validation sequences ({seq.get('reals', '?')} real, "
                      f"{seq.get('fakes', '?')} temporal fakes): AUC fused (by kind)",
                      f"{number(seq.get('auc'))} ({kinds})", ""),
        HeldOutFigure("the 22 small DFDC crops of faces/dfdc (another crop pipeline), frame AUC",
                      number(crops.get("auc")), ""),
    ]
    return rows


def _shared_video_rows(videos: dict) -> list[HeldOutFigure]:
    items = (videos.get("videos") or {}).values()
    reals = [v for v in items if v["truth"] == "real"]
    fakes = [v for v in items if v["truth"] == "fake"]
    if not (reals or fakes):
        return []
    missed = [f"{Path(v['path']).stem} p_fake {number(v['p_fake'], 2)}" for v in fakes
              if v["label"] != "fake"]
    figure = (f"{number(videos.get('video_auc'))}; "
              f"{sum(v['label'] == 'real' for v in reals)}/{len(reals)} reals called real, "
              f"{sum(v['label'] == 'fake' for v in fakes)}/{len(fakes)} fakes called fake"
              + (f" (missed: {'; '.join(missed)})" if missed else ""))
    return [HeldOutFigure(f"shared videos not trained on ({len(reals)} real, {len(fakes)} DFDC "
                          f"fakes), engine at {videos.get('frames', '?')} frames, video AUC",
                          figure, "all correct")]


def held_out_markdown(metrics: dict) -> list[str]:
    """The rows of `held_out_figures` as a Markdown table (MODEL_CARD.md, the app's card
    window); no lines when the card has none."""
    rows = held_out_figures(metrics)
    if not rows:
        return []
    return ["| held-out measurement (never trained on) | figure | target |", "|---|---|---|",
            *[f"| {row.measurement} | {row.figure} | {row.target} |" for row in rows]]
