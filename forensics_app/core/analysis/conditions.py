"""Does the input look like what the model was validated on? The applicability check.

A calibrated probability is calibrated on the validation data's conditions. Measured on clips
unlike them (heavily compressed, tight crops pasted on a canvas, generated faces), "very
confident" verdicts were right 40 % of the time. So before a band is stated, the faces that
decide it are measured against the conditions the model was validated on, and any condition
outside them is named (results.json `conditions`, the verdict's warnings, the report) and
caps the band at "moderate" (`verdict.cap_confidence`).

Each measure is computed per analysed face, and the deciding identity's median is compared
with its limit:

* **face size**: the box's shorter side in video pixels (`verdict.MIN_FACE_PX`);
* **compression**: blockiness of the face in the decoded frame, the mean luma step across
  the codec's 8-pixel block boundaries over the mean step inside blocks (1.0: no block
  structure; heavy MPEG-4 / JPEG / low-bitrate H.264 lie well above it);
* **straight edges inside the crop margin**: the longest straight, high-contrast vertical
  or horizontal line in the crop's margin that is not the frame's own edge, as a share of
  the crop's side: a pasted crop, a letterbox bar or an inset frame;
* **blur**: the variance of the Laplacian over the face (in the model's input);
* **pose**: yaw from the detector's keypoints (nose against the eyes' midpoint, in units
  of the eye distance);
* **frames**: analysed frames of the deciding identity, against the shortest window the
  temporal model was validated on.

The limits were set from the validation data's own spread and checked on the shared real
clips, none of which trips any (README, "When a verdict may claim confidence"; the tests
craft an input that trips each one).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forensics_app.core.analysis.results import Condition
from forensics_app.core.faces.detector import Detection

MIN_VALIDATED_FRAMES = 16  # the temporal model's shortest validation window
# Measured on the shared real clips (the highest median of any: 1.25, GRID's MPEG-1) and on a
# talking head re-encoded as MPEG-4 at qscale 20 (6.97) or pasted on black at qscale 5 (5.33).
# H.264's deblocking filter hides its blocks: heavy H.264 is not caught by this measure.
MAX_BLOCKINESS = 1.6
# Variance of the Laplacian of the face box resized to SHARPNESS_PX: shared real clips 210 and
# up, the same talking head blurred (sigma 6 px) 40, the shared DFDC fake dfdc_abofeumbvv 7.
SHARPNESS_PX = 64
MIN_SHARPNESS = 60.0
MAX_YAW = 0.9  # |nose offset| / eye distance, about 45 degrees (shared real medians ≤ 0.26)
# A straight edge over more than this share of the crop's side: shared real clips' medians
# 0.38 at most (a door frame behind liveportrait_d0), a tight crop pasted on black 0.74, a
# letterbox bar through the crop 1.0.
MAX_EDGE_SHARE = 0.6
EDGE_STEP = 40  # grey levels across a line that count as a hard edge


@dataclass(frozen=True)
class FaceQuality:
    """The per-face measures (`measure_face`)."""

    blockiness: float
    edge_share: float
    sharpness: float
    yaw: float


def blockiness(gray: np.ndarray, x0: int, y0: int) -> float:
    """Mean absolute luma step across 8-pixel block boundaries over the mean step between
    other neighbouring columns and rows. `gray` is a region of the decoded frame whose
    top-left pixel lies at (x0, y0) in the frame, so the codec's grid is known. NaN when the
    region is too small to say."""
    g = gray.astype(np.float32)
    if min(g.shape) < 24:
        return float("nan")
    dx = np.abs(np.diff(g, axis=1)).mean(axis=0)  # step between column c and c + 1
    dy = np.abs(np.diff(g, axis=0)).mean(axis=1)
    ratios = []
    for steps, origin in ((dx, x0), (dy, y0)):
        # medians: one strong line (a letterbox bar's edge) must not read as block structure
        boundary = (np.arange(len(steps)) + origin + 1) % 8 == 0
        inside = float(np.median(steps[~boundary]))
        if boundary.any() and inside > 1e-3:
            ratios.append(float(np.median(steps[boundary])) / inside)
    return float(np.mean(ratios)) if ratios else float("nan")


def edge_share(crop: np.ndarray, crop_box: np.ndarray, frame_w: int, frame_h: int) -> float:
    """The longest straight hard edge (vertical or horizontal) in the crop, as a share of
    the crop's side; lines where the crop leaves the frame (the engine's own black padding)
    do not count."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    size = gray.shape[0]
    x0, y0, x1, _ = (float(v) for v in crop_box)
    scale = size / max(x1 - x0, 1e-6)

    def to_crop(x: float, y: float) -> tuple[int, int]:
        return round((x - x0) * scale), round((y - y0) * scale)

    # the frame's own edges inside the crop, where padding begins: not evidence of anything
    left, top = to_crop(0, 0)
    right, bottom = to_crop(frame_w, frame_h)
    best = 0.0
    for axis, own in ((1, (left, right)), (0, (top, bottom))):
        steps = np.abs(np.diff(gray, axis=axis)) > EDGE_STEP  # across vertical / horizontal
        lines = steps if axis == 1 else steps.T  # rows: positions along the line
        runs = longest_runs(lines)
        for o in own:  # the frame's own edge, where the engine's padding begins
            runs[max(0, o - 3):max(0, o + 2)] = 0
        best = max(best, float(runs.max(initial=0)) / size)
    return best


def longest_runs(hits: np.ndarray) -> np.ndarray:
    """Per column of a boolean (L, N) array, the longest run of True down it, one-pixel gaps
    bridged."""
    closed = hits.copy()
    closed[1:-1] |= hits[:-2] & hits[2:]
    run = np.zeros(hits.shape[1], np.int32)
    best = np.zeros(hits.shape[1], np.int32)
    for row in closed:
        run = np.where(row, run + 1, 0)
        np.maximum(best, run, out=best)
    return best


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of the face box resized to SHARPNESS_PX: detail per face,
    whatever its size in the video (a small sharp face stays sharp, a blurred one does not);
    NaN when the region is too small to say."""
    if min(gray.shape) < 8:
        return float("nan")
    side = SHARPNESS_PX
    interp = cv2.INTER_AREA if min(gray.shape) > side else cv2.INTER_LINEAR
    return float(cv2.Laplacian(cv2.resize(gray, (side, side), interpolation=interp),
                               cv2.CV_32F).var())


def yaw(detection: Detection) -> float:
    """|nose − eyes' midpoint| / eye distance, horizontally (0 frontal); NaN without
    keypoints."""
    k = np.asarray(detection.keypoints, np.float64)
    if k.shape[0] < 3 or not np.isfinite(k[:3]).all():
        return float("nan")
    eyes = np.linalg.norm(k[0] - k[1])
    if eyes < 1e-6:
        return float("nan")
    return float(abs(k[2, 0] - (k[0, 0] + k[1, 0]) / 2) / eyes)


def measure_face(rgb: np.ndarray, detection: Detection, crop: np.ndarray,
                 crop_box: np.ndarray) -> FaceQuality:
    """The per-face measures, from the decoded frame, the detection and its crop."""
    h, w = rgb.shape[:2]
    bx0, by0, bx1, by1 = (round(float(v)) for v in np.clip(detection.box, 0, [w, h, w, h]))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[by0:by1, bx0:bx1]), cv2.COLOR_RGB2GRAY) \
        if bx1 > bx0 and by1 > by0 else np.zeros((0, 0), np.uint8)
    return FaceQuality(blockiness=blockiness(gray, bx0, by0),
                       edge_share=edge_share(crop, crop_box, w, h),
                       sharpness=sharpness(gray), yaw=yaw(detection))


def _median(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def check_conditions(qualities: list[FaceQuality], face_sides: list[float], frames: int,
                     min_face_px: float) -> list[Condition]:
    """The deciding identity's faces against the validated conditions. A measure that could
    not be taken (no keypoints, a region too small) is recorded as unknown (None), never
    called outside."""
    side = _median(face_sides)
    block = _median([q.blockiness for q in qualities])
    edge = _median([q.edge_share for q in qualities])
    sharp = _median([q.sharpness for q in qualities])
    turn = _median([q.yaw for q in qualities])
    return [
        _condition("face_size", side, min_face_px, side < min_face_px,
                   f"median face {side:.0f} px on its shorter side (validated from "
                   f"{min_face_px:.0f} px)"),
        _condition("compression", block, MAX_BLOCKINESS, block > MAX_BLOCKINESS,
                   f"blockiness {block:.2f} (1.00: no block structure; validated up to "
                   f"{MAX_BLOCKINESS:.2f})"
                   + (": heavier compression than the model was validated on"
                      if block > MAX_BLOCKINESS else "")),
        _condition("edge_in_margin", edge, MAX_EDGE_SHARE, edge > MAX_EDGE_SHARE,
                   f"a straight hard edge across {edge:.0%} of the face crop (validated up to "
                   f"{MAX_EDGE_SHARE:.0%})"
                   + (": a pasted crop, letterbox or inset, which can read as a blending "
                      "boundary" if edge > MAX_EDGE_SHARE else "")),
        _condition("blur", sharp, MIN_SHARPNESS, sharp < MIN_SHARPNESS,
                   f"face sharpness {sharp:.0f} (variance of the Laplacian at "
                   f"{SHARPNESS_PX} px; validated from {MIN_SHARPNESS:.0f})"
                   + (": more blurred than the validation faces" if sharp < MIN_SHARPNESS
                      else "")),
        _condition("pose", turn, MAX_YAW, turn > MAX_YAW,
                   f"yaw index {turn:.2f} (nose offset over eye distance; validated up to "
                   f"{MAX_YAW:.2f})" + (": the head is turned towards profile"
                                         if turn > MAX_YAW else "")),
        _condition("frames", float(frames), float(MIN_VALIDATED_FRAMES),
                   frames < MIN_VALIDATED_FRAMES,
                   f"{frames} analysed frames of the deciding face (the temporal model was "
                   f"validated on windows of at least {MIN_VALIDATED_FRAMES})"),
    ]


def _condition(name: str, value: float, limit: float, outside: bool, description: str
               ) -> Condition:
    known = bool(np.isfinite(value))
    return Condition(name, round(float(value), 4) if known else None, float(limit),
                     bool(outside) and known,
                     description if known else f"{name}: could not be measured")


OUTSIDE_PREFIX = "outside the validated conditions: "


def outside_reasons(conditions: list[Condition]) -> list[str]:
    """The warnings a verdict outside the validated conditions carries, one per condition.
    Face size is left out: `verdict.small_faces_reason` states it (by the share of faces too
    small), and one fact is said once."""
    return [OUTSIDE_PREFIX + c.description for c in conditions
            if c.outside and c.name != "face_size"]
