"""Frame thumbnails and face crops with their relevancy overlay, re-extracted from the evidence.

Only the results' numbers are stored, not pictures, so the pictures in the report are decoded
again from the evidence file (read-only) — only after its hash was checked, so they show the
file the analysis saw.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from forensics_app.core.media import VideoSource

THUMB_WIDTH = 240  # pixels; drawn about 1.1 inch wide, so ~200 dpi on paper
CROP_SIZE = 160
OVERLAY_ALPHA = 0.45
# A face's map and crop box (video pixels), or None when that frame has no analysed face.
FaceLookup = Callable[[int], tuple[np.ndarray, np.ndarray] | None]


@dataclass
class FrameImages:
    thumbnail: bytes  # JPEG, the whole frame with the face box drawn
    face: bytes | None  # JPEG, the face crop with its heatmap blended in


def frame_images(video: Path, frames: list[int], face_of: FaceLookup) -> dict[int, FrameImages]:
    """Pictures for `frames`, decoded in ascending order (decode-forward is cheapest)."""
    out: dict[int, FrameImages] = {}
    with VideoSource(video) as source:
        for frame in sorted(set(frames)):
            rgb = source.frame(frame)
            face = face_of(frame)
            box = None if face is None else face[1]
            out[frame] = FrameImages(_jpeg(thumbnail(rgb, box)),
                                     None if face is None else _jpeg(overlay(rgb, *face)))
    return out


def thumbnail(rgb: np.ndarray, box: np.ndarray | None = None) -> Image.Image:
    image = Image.fromarray(rgb)
    scale = THUMB_WIDTH / image.width
    image = image.resize((THUMB_WIDTH, max(1, round(image.height * scale))), Image.BILINEAR)
    if box is not None:
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        ImageDraw.Draw(image).rectangle((x0, y0, x1, y1), outline=(255, 214, 0), width=2)
    return image


def crop(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The crop box cut from the frame; parts outside the frame are black (as in analysis)."""
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    out = np.zeros((max(1, y1 - y0), max(1, x1 - x0), 3), np.uint8)
    h, w = rgb.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def overlay(rgb: np.ndarray, heatmap: np.ndarray, box: np.ndarray) -> Image.Image:
    """The face crop with its token-grid map upsampled (bilinear) over it, jet colours."""
    face = Image.fromarray(crop(rgb, box)).resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)
    grid = Image.fromarray(np.asarray(heatmap, np.float32), mode="F")
    upsampled = np.clip(np.asarray(grid.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)), 0, 1)
    colours = (colormaps["jet"](upsampled)[..., :3] * 255).astype(np.uint8)
    return Image.blend(face, Image.fromarray(colours), OVERLAY_ALPHA)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
