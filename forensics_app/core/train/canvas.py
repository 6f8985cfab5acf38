"""Crop-pipeline augmentation: the face as other pipelines hand it over.

Datasets and tools often deliver a face already cut out: a tight crop pasted on a black,
grey or blurred canvas, a letterboxed frame, a picture-in-picture inset. When the engine
then cuts its own crop (30 % margin), a hard rectangular edge falls inside the margin, and
a detector that learnt "a boundary near the face means a blend" calls a real face fake
(measured on such clips: AUC 0.29, inverted).

`apply_canvas` imitates those pipelines on an engine crop: everything outside a rectangle
around the face is replaced by a canvas (black, grey, a flat colour, a blurred copy, noise,
or another picture for picture-in-picture), with the rectangle's edges inside the margin.
The training pairs apply the *same* draw to the real face and to its fake, so the edge is
present or absent alike for both labels and can never be evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("none", "tight", "letterbox", "pip")
FILLS = ("black", "grey", "colour", "blur", "noise")
# Where an edge may fall, as a fraction of the crop from its side. The engine's crop puts the
# face box at 0.19-0.81 of the crop (30 % margin on each side), so edges up to 0.17 leave
# the face whole; a tight crop of another pipeline (about 1.1-1.5 × the face) lands here.
EDGE_RANGE = (0.02, 0.17)


@dataclass(frozen=True)
class CanvasParams:
    """One draw of the crop-pipeline augmentation (`sample_canvas`); kind "none" is a no-op."""

    kind: str = "none"  # one of KINDS
    left: float = 0.0  # the kept rectangle's edges, fractions of the crop from each side
    top: float = 0.0
    right: float = 0.0
    bottom: float = 0.0
    fill: str = "black"  # one of FILLS (for "pip" the canvas is another picture)
    level: float = 0.0  # grey level or colour seed, [0, 1)
    seed: int = 0


def sample_canvas(rng: np.random.Generator, probability: float) -> CanvasParams:
    """Random crop-pipeline parameters; a fixed number of values is drawn whatever is chosen
    (the generator's state afterwards does not depend on the outcome). Takes no label."""
    coin, which, fill_u, level = rng.random(4)
    edges = rng.uniform(*EDGE_RANGE, 4)
    seed = int(rng.integers(2**31))
    if coin >= probability:
        return CanvasParams(seed=seed)
    kind = KINDS[1 + min(2, int(which * 3))]
    left, top, right, bottom = (float(e) for e in edges)
    if kind == "letterbox":  # bars on two opposite sides only
        if level < 0.5:
            left = right = 0.0
        else:
            top = bottom = 0.0
    return CanvasParams(kind=kind, left=left, top=top, right=right, bottom=bottom,
                        fill=FILLS[min(len(FILLS) - 1, int(fill_u * len(FILLS)))],
                        level=float(level), seed=seed)


def kept_rectangle(params: CanvasParams, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the picture that stays, in pixels."""
    return (round(params.left * width), round(params.top * height),
            width - round(params.right * width), height - round(params.bottom * height))


def canvas(image: np.ndarray, params: CanvasParams) -> np.ndarray:
    """The canvas the kept rectangle is pasted on, as large as `image`."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(params.seed)
    if params.kind == "pip":  # another picture: this one, moved, rescaled and blurred
        scale = 1.5 + rng.random()
        matrix = np.array([[scale, 0, -rng.random() * w * (scale - 1)],
                           [0, scale, -rng.random() * h * (scale - 1)]])
        moved = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        return cv2.GaussianBlur(moved, (0, 0), sigmaX=2.0 + 4.0 * rng.random())
    if params.fill == "black" or params.kind == "letterbox":
        return np.zeros_like(image)
    if params.fill == "grey":
        return np.full_like(image, round(40 + 180 * params.level))
    if params.fill == "colour":
        return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), image.shape).copy()
    if params.fill == "blur":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=max(w, h) / 12.0)
    return np.clip(rng.normal(128, 40, image.shape), 0, 255).astype(np.uint8)  # noise


def apply_canvas(image: np.ndarray, params: CanvasParams) -> np.ndarray:
    """The crop as another pipeline would have delivered it; pixels inside the kept
    rectangle are the input's, exactly. Deterministic given `params`."""
    if params.kind == "none":
        return image
    h, w = image.shape[:2]
    x0, y0, x1, y1 = kept_rectangle(params, w, h)
    out = canvas(image, params)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    if params.kind == "pip" and params.level < 0.5:  # a thin frame line round the inset
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (235, 235, 235), 1)
        out[y0 + 1:y1 - 1, x0 + 1:x1 - 1] = image[y0 + 1:y1 - 1, x0 + 1:x1 - 1]
    return np.ascontiguousarray(out)
