"""Fakes of the kinds a self-blend does not cover, made from real faces only.

The self-blends (`sbi.py`) teach one trace: a blending boundary around a face whose colour and
sharpness differ from its surroundings. Two families of manipulation leave other traces, and
no generator's weights can be downloaded here, so both are imitated with what the face mesh
gives:

* **reenactment** (`reenact`): the identity is kept and the expression changed. The lower
  face (mouth, lips, chin) is moved to another expression by a piecewise-affine warp of the
  FaceMesh landmarks (the jaw opened or closed, the mouth corners pulled), or taken from
  another frame of the same person aligned on the upper face; it is optionally re-rendered
  (blurred, resampled, colour drift) as a generator's decoder would, and blended back through
  a soft mask of the lower face only. No boundary runs around the whole face.
* **motion warp** (`motion_warp`): a still face animated by another face's motion, as the
  warping-based talking-head generators do: every landmark moves by another clip's
  frame-to-frame landmark motion (rescaled to this face), the image follows by a
  piecewise-affine warp that fades to nothing at the crop's edge, and the face is optionally
  re-rendered (its texture smoothed or resampled) inside a soft face mask. Only resampling
  and rendering traces remain: there is nothing pasted.

Every fake is a pure function of its image, landmarks and a frozen parameter record drawn
from a `numpy.random.Generator`, so a training image is reproducible from its seed. The tests
assert on pixels: what each maker changes lies inside its mask, and the rest is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator

from forensics_app.core.train.sbi import face_region, hull_mask

# FaceMesh (468 points) groups used by the makers.
_CHIN = [152, 148, 176, 149, 150, 377, 400, 378, 379, 175, 199, 200, 18, 83, 313, 421, 201]
_JAW = [136, 172, 58, 132, 365, 397, 288, 361, 32, 262, 140, 369, 171, 396, 208, 428]
_LOWER_LIP = [146, 91, 181, 84, 17, 314, 405, 321, 375, 14, 87, 178, 88, 95, 317, 402, 318,
              324, 16, 15, 85, 180, 90, 77, 315, 404, 320, 307]
_UPPER_LIP = [185, 40, 39, 37, 0, 267, 269, 270, 409, 13, 82, 81, 80, 191, 312, 311, 310, 415]
_CORNERS = {61: -1.0, 78: -1.0, 291: 1.0, 308: 1.0}  # mouth corners, sign of their side
# The lower face the reenactment mask covers: mouth, lips, chin and the jaw below the cheeks.
_LOWER_FACE = [61, 291, 78, 308, 0, 17, 152, 148, 176, 149, 150, 136, 172, 58, 377, 400,
               378, 379, 365, 397, 288, 205, 425, 216, 436, 92, 322, 2, 164]
# Stable points (eyes, brows, nose bridge, temples) that align another frame of the same face.
_UPPER_STABLE = [33, 133, 362, 263, 70, 300, 105, 334, 6, 168, 197, 127, 356, 10, 151, 1]

REENACT_SOURCES = ("warp", "frame")  # the new expression: warped from this face, or another frame
RENDERS = ("none", "blur", "resample", "colour")


@dataclass(frozen=True)
class ReenactParams:
    """Everything that decides one reenactment fake (`sample_reenact`)."""

    jaw: float = 0.0  # chin and lower lip moved down (> 0, opening) or up, × face height
    smile: float = 0.0  # mouth corners moved outwards and up (> 0) or inwards, × mouth width
    mask_grow: float = 1.1  # the lower-face hull grown about its centre
    feather: float = 4.0  # mask blur, pixels at 256 px
    blend_ratio: float = 1.0
    render: str = "none"  # how the new lower face is re-rendered: one of RENDERS
    render_amount: float = 0.0  # blur sigma, resample factor or colour gain spread
    render_seed: int = 0


@dataclass(frozen=True)
class WarpParams:
    """Everything that decides one motion-warped portrait (`sample_warp`)."""

    motion: int = 0  # which motion of the bank (index, modulo its length)
    strength: float = 1.0  # scales the motion
    render: str = "none"  # one of RENDERS, inside the face mask
    render_amount: float = 0.0
    render_seed: int = 0
    feather: float = 6.0  # face-mask blur for the render, pixels at 256 px


def face_size(points: np.ndarray) -> float:
    """The face's scale in pixels: the geometric mean of the landmarks' extent."""
    pts = np.asarray(points, np.float64)
    return float(np.sqrt(max(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]), 1.0)))


def sample_render(rng: np.random.Generator, p_render: float) -> tuple[str, float, int]:
    """A re-rendering of a generated region: none, or one of blur (sigma 0.5-2 px),
    resample (down to 0.35-0.75 × and back up) or a colour drift (2-8 % per channel).
    Four values are drawn whatever is chosen."""
    coin, pick, u, seed = rng.random(), rng.random(), rng.random(), int(rng.integers(2**31))
    if coin >= p_render:
        return "none", 0.0, seed
    kind = RENDERS[1 + min(2, int(pick * 3))]
    lo, hi = {"blur": (0.5, 2.0), "resample": (0.35, 0.75), "colour": (0.02, 0.08)}[kind]
    return kind, float(lo + u * (hi - lo)), seed


def sample_reenact(rng: np.random.Generator, size: int = 256, p_render: float = 0.6
                   ) -> ReenactParams:
    """Random reenactment parameters: an expression change large enough to see, small
    enough to stay a plausible face (the jaw moves up to 7 % of the face, the corners up
    to a quarter of the mouth's width)."""
    unit = size / 256.0
    jaw = float(rng.uniform(0.02, 0.07)) * (1.0 if rng.random() < 0.7 else -0.5)
    smile = float(rng.uniform(-0.12, 0.25))
    render, amount, seed = sample_render(rng, p_render)
    return ReenactParams(jaw=jaw, smile=smile, mask_grow=float(rng.uniform(1.0, 1.25)),
                         feather=float(rng.uniform(2.0, 8.0)) * unit,
                         blend_ratio=float(rng.choice([0.75, 1.0, 1.0])), render=render,
                         render_amount=amount, render_seed=seed)


def sample_warp(rng: np.random.Generator, bank_size: int, size: int = 256,
                p_render: float = 0.5) -> WarpParams:
    render, amount, seed = sample_render(rng, p_render)
    return WarpParams(motion=int(rng.integers(max(1, bank_size))),
                      strength=float(rng.uniform(0.6, 1.4)), render=render,
                      render_amount=amount, render_seed=seed,
                      feather=float(rng.uniform(3.0, 10.0)) * size / 256.0)


# --------------------------------------------------------------------------- the warp

def landmark_warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray, grid: int = 64
                  ) -> np.ndarray:
    """Move the image content at `src` (N, 2 pixels) to `dst` by a piecewise-affine warp
    over the landmarks' Delaunay triangles, pinned at the image border (which stays put).

    The backward displacement (where each output pixel samples the input) is interpolated
    linearly over the triangulation on a coarse grid and resized: a dense piecewise-affine
    map to within a fraction of a pixel, at a cost independent of the image size.
    """
    h, w = image.shape[:2]
    border = _border_ring(w, h)
    nodes = np.concatenate([np.asarray(dst, np.float64), border])
    back = np.concatenate([np.asarray(src, np.float64) - np.asarray(dst, np.float64),
                           np.zeros_like(border)])
    gx = np.linspace(0, w - 1, grid)
    gy = np.linspace(0, h - 1, grid)
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    field = LinearNDInterpolator(nodes, back, fill_value=0.0)(mesh).reshape(grid, grid, 2)
    field = cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + field[..., 0], ys + field[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def _border_ring(w: int, h: int, per_side: int = 8) -> np.ndarray:
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)
    top = np.stack([t * (w - 1), np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, w - 1), t * (h - 1)], 1)
    bottom = np.stack([(1 - t) * (w - 1), np.full_like(t, h - 1)], 1)
    left = np.stack([np.zeros_like(t), (1 - t) * (h - 1)], 1)
    return np.concatenate([top, right, bottom, left])


def expression_points(points: np.ndarray, jaw: float, smile: float) -> np.ndarray:
    """The landmarks with another expression: the chin and lower lip moved down by
    `jaw` × face height (the jaw line following at half), the mouth corners by `smile` ×
    mouth width outwards and a third of that upwards, the upper lip by a quarter."""
    pts = np.asarray(points, np.float64).copy()
    face_h = float(np.ptp(pts[:, 1]))
    mouth_w = float(np.linalg.norm(pts[291] - pts[61]))
    down = np.array([0.0, jaw * face_h])
    pts[_CHIN] += down
    pts[_LOWER_LIP] += 0.85 * down
    pts[_JAW] += 0.5 * down
    for index, side in _CORNERS.items():
        pts[index] += np.array([side * smile * mouth_w / 2, -smile * mouth_w / 3]) + 0.4 * down
    pts[_UPPER_LIP] += np.array([0.0, -0.25 * abs(smile) * mouth_w / 3])
    return pts


def render(image: np.ndarray, kind: str, amount: float, seed: int) -> np.ndarray:
    """Re-render an image as a decoder would leave it: blurred (sigma `amount`), resampled
    (down to `amount` × its size and back up) or with a per-channel colour drift."""
    if kind == "none":
        return image
    if kind == "blur":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=float(amount))
    if kind == "resample":
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(8, round(w * amount)), max(8, round(h * amount))),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if kind == "colour":
        gain = 1.0 + np.random.default_rng(seed).uniform(-amount, amount, 3)
        return np.clip(np.round(image.astype(np.float32) * gain), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown render {kind!r}: one of {', '.join(RENDERS)}")


def _soft(mask: np.ndarray, feather: float) -> np.ndarray:
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=float(feather))
    peak = float(mask.max())
    return mask / peak if peak > 0 else mask


def _composite(base: np.ndarray, new: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`new` over `base` through `mask`; pixels where the mask is 0 are `base`'s, exactly."""
    m = mask[..., None]
    out = np.clip(np.round(new.astype(np.float32) * m + base.astype(np.float32) * (1 - m)),
                  0, 255).astype(np.uint8)
    out[mask == 0] = base[mask == 0]
    return out


# --------------------------------------------------------------------------- reenactment

def lower_face_mask(points: np.ndarray, shape: tuple[int, int], grow: float, feather: float
                    ) -> np.ndarray:
    """Soft mask of the mouth, chin and lower jaw, inside `sbi.face_region`."""
    mask = _soft(hull_mask(np.asarray(points)[_LOWER_FACE], shape, grow), feather)
    mask = mask * face_region(points, shape)
    mask[mask < 1.0 / 512] = 0.0
    return mask.astype(np.float32)


def align_to(donor: np.ndarray, donor_points: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Another frame of the same face moved onto this one by a similarity fitted on the
    upper face (eyes, brows, nose bridge), so its mouth keeps its own expression."""
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(donor_points, np.float32)[_UPPER_STABLE],
        np.asarray(points, np.float32)[_UPPER_STABLE])
    if matrix is None:
        matrix = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    h, w = donor.shape[:2]
    return cv2.warpAffine(donor, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def reenact(image: np.ndarray, points: np.ndarray, params: ReenactParams,
            donor: np.ndarray | None = None, donor_points: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """One reenactment fake: (uint8 H×W×3 image, float32 H×W mask of what changed).

    The new lower face is this face warped to another expression (`params.jaw`,
    `params.smile`), or, given `donor` (another frame of the same person, with its landmarks),
    that frame aligned on the upper face. It is re-rendered per `params.render` and blended
    through a soft lower-face mask covering the mouth before and after the change; outside
    the mask every pixel is the input's.
    """
    shape = image.shape[:2]
    if donor is not None and donor_points is not None:
        new = align_to(donor, donor_points, points)
        moved = np.asarray(points, np.float64)
    else:
        moved = expression_points(points, params.jaw, params.smile)
        new = landmark_warp(image, points, moved)
    new = render(new, params.render, params.render_amount, params.render_seed)
    mask = np.maximum(lower_face_mask(points, shape, params.mask_grow, params.feather),
                      lower_face_mask(moved, shape, params.mask_grow, params.feather))
    mask = (mask * params.blend_ratio).astype(np.float32)
    return _composite(image, new, mask), mask


# --------------------------------------------------------------------------- motion warp

def motion_bank(landmarks: np.ndarray, tracks: np.ndarray, pairs: int, seed: int = 0,
                max_gap: int = 30) -> np.ndarray:
    """(M, 468, 2) landmark motions of real faces, each divided by its face's size: the
    change of one tracked face's landmarks between two of its frames, with the track's
    mean position removed (the motion, not the drift across the picture)."""
    rng = np.random.default_rng(seed)
    landmarks = np.asarray(landmarks, np.float64)
    out = []
    for track in np.unique(tracks):
        rows = np.flatnonzero(tracks == track)
        if len(rows) < 2:
            continue
        for _ in range(max(1, pairs * len(rows) // max(1, len(tracks)))):
            i = int(rng.integers(len(rows)))
            j = int(np.clip(i + rng.integers(-max_gap, max_gap + 1), 0, len(rows) - 1))
            a, b = landmarks[rows[i]], landmarks[rows[j]]
            delta = (b - b.mean(0)) - (a - a.mean(0))
            out.append(delta / face_size(a))
    return np.asarray(out, np.float32).reshape(-1, 468, 2)


def motion_warp(image: np.ndarray, points: np.ndarray, motion: np.ndarray,
                params: WarpParams) -> tuple[np.ndarray, np.ndarray]:
    """One motion-warped portrait: (uint8 image, float32 mask of the re-rendered face).

    Every landmark moves by `motion` (a `motion_bank` row) × this face's size ×
    `params.strength`; the whole picture follows by `landmark_warp`, pinned at the border.
    A render other than "none" is then applied inside a soft face mask. The returned mask
    marks the face region the warp and the render touched (for the tests and the figures;
    the warp itself changes pixels wherever the landmarks moved).
    """
    pts = np.asarray(points, np.float64)
    moved = pts + np.asarray(motion, np.float64) * face_size(pts) * params.strength
    warped = landmark_warp(image, pts, moved)
    shape = image.shape[:2]
    mask = _soft(hull_mask(moved, shape, 1.05), params.feather).astype(np.float32)
    mask[mask < 1.0 / 512] = 0.0
    if params.render != "none":
        warped = _composite(warped, render(warped, params.render, params.render_amount,
                                           params.render_seed), mask)
    return warped, mask
