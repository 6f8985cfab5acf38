"""Re-identification: the tracker's fragments (tracklets) joined into people by appearance.

The IoU tracker links faces between consecutive samples by position; it ends a track at a
shot cut, after a few missed detections, and when a face jumps. One person then comes back
as several fragments. Here every fragment gets an appearance descriptor and fragments are
joined, closest first (average linkage), while their distance stays under `REID_DISTANCE`.
Two fragments seen in the same frame are two people: clusters that share a frame are never
merged, whatever their appearance (a hard constraint).

The descriptor is the hue–saturation histogram of the inner face (the detection box inside
the engine's crop, shrunk so hair and background stay out), averaged over the fragment's
faces. It was chosen by measuring on the shared media (bench/bench_identities.py prints the
figures): on the annotated clips, fragments of one person lie at 0.018–0.032 (the stage
performer across the pianist's close-up at 0.021), fragments of different people at 0.039 and
more (median 0.20; the closest are two blurred faces in one frame, kept apart by the
constraint anyway). Between 24 single-person clips, one person's first and second halves lie
at ≤ 0.011 and different clips at a median of 0.47, but four GRID speakers (men of one skin
tone, one studio, one light) lie at 0.008–0.044 from each other: colour cannot tell such
people apart, and were they filmed one after the other in one clip they would be joined.
The spatial model's pooled backbone features put the performer's two shots further apart
(0.43 cosine) than most different people (0.08–0.23); FaceMesh shape (Procrustes-aligned
landmarks) barely separates them (0.146 same vs 0.159 different); HOG of the face separates
the GRID men (≤ 0.019 vs ≥ 0.088) but not the performer's two shots from other people
(0.28 vs 0.27). Colour is cheap and does not depend on which deepfake model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

HUE_BINS, SATURATION_BINS = 12, 8
REID_DISTANCE = 0.036  # Hellinger² distance under which two fragments are one person


def appearance(crop: np.ndarray, margin: float = 0.3) -> np.ndarray:
    """Appearance descriptor of one face crop (the engine's square crop with `margin`).

    L1-normalised hue–saturation histogram (HUE_BINS × SATURATION_BINS) of the face box
    inside the crop, shrunk by 3 % of the crop on each side.
    """
    size = crop.shape[0]
    inset = margin / (1 + 2 * margin) + 0.03  # where the face box sits in the crop, + a rim
    lo, hi = round(size * inset), round(size * (1 - inset))
    hsv = cv2.cvtColor(np.ascontiguousarray(crop[lo:hi, lo:hi]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256])
    hist = hist.ravel().astype(np.float64)
    return hist / max(hist.sum(), 1e-12)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 − Bhattacharyya coefficient of two normalised histograms, in [0, 1]."""
    return float(max(0.0, 1.0 - np.sqrt(np.clip(a, 0, None) * np.clip(b, 0, None)).sum()))


@dataclass
class Fragment:
    """One tracklet: the frames it was seen in and its mean appearance."""

    id: int
    frames: frozenset[int]
    descriptor: np.ndarray


def fragments_from_rows(frames: Sequence[int], tracklets: Sequence[int],
                        descriptors: Sequence[np.ndarray]) -> list[Fragment]:
    """Group per-face rows (frame, tracklet id, descriptor) into fragments."""
    rows: dict[int, list[int]] = {}
    for row, track in enumerate(tracklets):
        rows.setdefault(int(track), []).append(row)
    return [Fragment(track, frozenset(int(frames[r]) for r in members),
                     np.mean([descriptors[r] for r in members], axis=0))
            for track, members in sorted(rows.items())]


def link_fragments(fragments: Sequence[Fragment], max_distance: float = REID_DISTANCE
                   ) -> dict[int, int]:
    """Fragment id → person id (0, 1, … in order of first appearance).

    Agglomerative, average linkage over fragment pairs, closest pair first; a merge is
    refused when the two clusters were seen in a common frame.
    """
    clusters = [[i] for i in range(len(fragments))]
    seen = [set(f.frames) for f in fragments]
    pair = np.array([[appearance_distance(a.descriptor, b.descriptor) for b in fragments]
                     for a in fragments]).reshape(len(fragments), len(fragments))
    while True:
        best, best_pair = max_distance, None
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                if seen[i] & seen[j]:
                    continue  # on screen together: two people
                d = float(pair[np.ix_(clusters[i], clusters[j])].mean())
                if d < best:
                    best, best_pair = d, (i, j)
        if best_pair is None:
            break
        i, j = best_pair
        clusters[i] += clusters.pop(j)
        seen[i] |= seen.pop(j)
    first = sorted(clusters, key=lambda c: min(min(fragments[k].frames) for k in c))
    return {fragments[k].id: person for person, members in enumerate(first) for k in members}
