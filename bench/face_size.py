"""How small can a face be before the default model's score stops meaning anything?

Real faces (LFW, ../shared/data/faces/lfw) are detected and cropped as the analysis does, then
shrunk to simulate a face of S pixels (the crop holds the face box plus the 30 % margin) and
scaled back up to the model's input, as `crop_face` does with a small face. Printed per S: the
mean and 90th percentile of |p_fake(S) − p_fake(full)|, and how often the label flips.
core.analysis.verdict.MIN_FACE_PX is chosen from this table.

    python bench/face_size.py [--faces 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from forensics_app.core.analysis.settings import AnalysisSettings
from forensics_app.core.explain.spatial import score_faces
from forensics_app.core.faces import FaceDetector, crop_face
from forensics_app.core.models.registry import load_model

SIZES = (16, 24, 32, 48, 64, 96, 128)
LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "lfw"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(None, "cpu")
    size, margin = model.input_size, AnalysisSettings().margin
    crops, widths = [], []
    with FaceDetector("full", 0.5) as detector:
        for path in sorted(LFW.glob("*/*.jpg"))[: args.faces * 3]:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            faces = detector.detect(rgb, [])
            if not faces:
                continue
            crop, _ = crop_face(rgb, faces[0].box, size, margin)
            crops.append(crop)
            widths.append(faces[0].box[2] - faces[0].box[0])
            if len(crops) == args.faces:
                break
    share = 1 / (1 + 2 * margin)  # the face box's share of the crop's side

    def scores(batch: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous()
        return score_faces(model, x, explain=False).p_fake

    full = scores(crops)
    threshold = model.card.threshold
    print(f"{len(crops)} LFW faces, detected width median {np.median(widths):.0f} px; model "
          f"input {size} px; threshold {threshold:.2f}")
    print("face px | mean |Δp| | p90 |Δp| | label flips")
    for s in SIZES:
        side = max(2, round(s / share))
        small = [np.asarray(Image.fromarray(c).resize((side, side), Image.BILINEAR)
                            .resize((size, size), Image.BILINEAR)) for c in crops]
        delta = np.abs(scores(small) - full)
        flips = np.mean((scores(small) >= threshold) != (full >= threshold))
        print(f"{s:7d} | {delta.mean():9.3f} | {np.quantile(delta, 0.9):8.3f} | {flips:10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
