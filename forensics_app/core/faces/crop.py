"""Square face crops with margin, as the spatial model and the training data expect them.

Crop boxes are whole pixels: ``square_crop_box`` rounds, so the box it returns is exactly the
frame region that ``crop_face`` resamples, and a heatmap in crop coordinates maps back onto
the frame with a plain scale and offset (``box[0] + u * side / size``).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from forensics_app.core.faces.detector import Detection, FaceDetector, check_rgb, pad_for_detection

Border = Literal["constant", "replicate"]

_BORDER_TYPES = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def square_crop_box(box: np.ndarray, frame_w: int, frame_h: int, margin: float = 0.3) -> np.ndarray:
    """Square box centred on the face, grown by ``margin`` × its size on each side.

    The face box is first clipped to the frame (so a box reaching past the edge does not
    inflate the crop); the square itself may extend beyond the frame, never shifted inwards,
    so the face stays centred and its scale is the same wherever it is in the frame.
    Returns float32 [x0, y0, x1, y1] with whole-pixel values and x1 - x0 == y1 - y0 ≥ 1.
    """
    if frame_w < 1 or frame_h < 1:
        raise ValueError(f"bad frame size {frame_w}×{frame_h}")
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    x0, y0, x1, y1 = np.clip(
        np.asarray(box, dtype=np.float64).reshape(4), 0, [frame_w, frame_h, frame_w, frame_h]
    )
    side = max(1, round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    left = round((x0 + x1) / 2 - side / 2)
    top = round((y0 + y1) / 2 - side / 2)
    return np.array([left, top, left + side, top + side], dtype=np.float32)


def crop_face(
    rgb: np.ndarray,
    box: np.ndarray,
    size: int = 224,
    margin: float = 0.3,
    border: Border = "constant",
) -> tuple[np.ndarray, np.ndarray]:
    """Resample the square crop around ``box`` to size×size.

    Returns (size×size×3 uint8 crop, crop box float32 xyxy in frame pixels). Parts of the
    square outside the frame are padded black by default: replicated edge pixels make
    streaks that look like blending seams to a deepfake detector, black reads as "no
    data". ``border="replicate"`` is there for callers that want it.
    """
    rgb = check_rgb(rgb)
    if size < 1:
        raise ValueError(f"size must be ≥ 1, got {size}")
    if border not in _BORDER_TYPES:
        raise ValueError(f"border must be one of {sorted(_BORDER_TYPES)}, got {border!r}")
    height, width = rgb.shape[:2]
    crop_box = square_crop_box(box, width, height, margin)
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    scale = size / (x1 - x0)
    # The visible part of the square, in frame pixels and in crop pixels.
    vx0, vy0, vx1, vy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    cx0, cy0 = round((vx0 - x0) * scale), round((vy0 - y0) * scale)
    cx1, cy1 = round((vx1 - x0) * scale), round((vy1 - y0) * scale)
    if cx1 <= cx0 or cy1 <= cy0:  # nothing (or under one output pixel) of the frame inside
        return np.zeros((size, size, 3), dtype=np.uint8), crop_box
    # Resize only the visible region, then pad: cheaper than warping the whole frame, and
    # INTER_AREA (which warpAffine lacks) avoids aliasing when a large face is shrunk.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(rgb[vy0:vy1, vx0:vx1], (cx1 - cx0, cy1 - cy0), interpolation=interpolation)
    if (cx0, cy0, cx1, cy1) == (0, 0, size, size):
        return patch, crop_box
    padded = cv2.copyMakeBorder(
        patch, cy0, size - cy1, cx0, size - cx1, _BORDER_TYPES[border], value=(0, 0, 0)
    )
    return padded, crop_box


def engine_crop(image: np.ndarray, detector, size: int, margin: float
                ) -> np.ndarray | None:
    """The engine's crop of the most prominent face of an RGB image, or None.

    Used to prepare face-image folders for training (core/train/faces.py): the image is
    padded black by half its size, so a face that fills it is found and cut with its full
    margin, black where it falls outside the picture.
    """
    padded, _ = pad_for_detection(image)
    detections = detector.detect(padded)
    if not detections:
        return None
    centre = np.array(padded.shape[1::-1], np.float64) / 2

    def prominence(det) -> float:  # big and central beats a stray detection at the edge
        x0, y0, x1, y1 = det.box
        dist = np.linalg.norm(np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - centre)
        return (x1 - x0) * (y1 - y0) / (1.0 + dist / 10.0)

    best = max(detections, key=prominence)
    crop, _ = crop_face(padded, best.box, size, margin)
    return crop


def find_and_crop(detector: FaceDetector, rgb: np.ndarray, hints: list[np.ndarray] | None,
                  size: int, margin: float
                  ) -> list[tuple[Detection, np.ndarray, np.ndarray]]:
    """The faces of one video frame with their crops: (detection, crop, crop box) each.

    1. the whole frame; 2. when that finds nothing, the frame padded black as the training
    data were (`pad_for_detection`): a clip that is already a face crop, the face filling
    the frame, is found there and cut exactly as the model was trained (from the padded
    frame, so a margin outside the frame is black and the box is not clipped first);
    3. the detector's second look around `hints` and in tiles (large frames).
    Detections are in frame pixels, boxes clipped to the frame; crop boxes may reach past it.
    """
    rgb = check_rgb(rgb)
    found = detector.detect_whole(rgb)
    if found:
        return [(d, *crop_face(rgb, d.box, size, margin)) for d in found]
    padded, pad = pad_for_detection(rgb)
    in_padded = detector.detect_whole(padded)
    if in_padded:
        return [_unpad(d, *crop_face(padded, d.box, size, margin), pad, rgb.shape)
                for d in in_padded]
    return [(d, *crop_face(rgb, d.box, size, margin)) for d in detector.detect_fallback(rgb, hints)]


def _unpad(detection: Detection, crop: np.ndarray, crop_box: np.ndarray, pad: int,
           shape: tuple[int, ...]) -> tuple[Detection, np.ndarray, np.ndarray]:
    """A padded-frame detection and crop box back in the frame's pixels."""
    height, width = shape[:2]
    box = np.clip(detection.box - pad, 0, [width, height, width, height])
    moved = Detection(box=box, score=detection.score, keypoints=detection.keypoints - pad)
    return moved, crop, (crop_box - pad).astype(np.float32)
