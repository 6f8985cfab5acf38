"""Identities against the annotated ground truth (tests/ground_truth/*.json).

For each annotated clip: the faces stage exactly as `analyze` runs it (T sampled frames,
BlazeFace full range, IoU tracker, shot cuts, re-identification), then identity count,
fragmentation, ID switches, merges and detection recall per face size, for the tracker's
fragments alone and for the people after re-identification. Also the appearance distances
between fragments of one person and of different people (what re-identification relies on).

    nice -n 19 .venv/bin/python bench/bench_identities.py [--frames 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.faces_stage import TrackedFaces, track_clip  # noqa: E402
from forensics_app.core.faces.groundtruth import (  # noqa: E402
    GroundTruth,
    IdentityFigures,
    evaluate_identities,
    load_ground_truth,
    match_faces,
)
from forensics_app.core.faces.reid import (  # noqa: E402
    appearance_distance,
    fragments_from_rows,
)

DATA = ROOT.parent / "shared" / "data"
TRUTH = ROOT / "tests" / "ground_truth"


def figures(truth: GroundTruth, sampled: list[int], tracked: TrackedFaces, by: str
            ) -> IdentityFigures:
    ids = tracked.tracklets if by == "fragments" else [e[1] for e in tracked.entries]
    faces = [(f, i, d.box) for (f, _, d), i in zip(tracked.entries, ids, strict=True)]
    return evaluate_identities(truth, sampled, faces)


def distances(truth: GroundTruth, tracked: TrackedFaces) -> tuple[list[float], list[float]]:
    """Fragment-to-fragment appearance distances: same annotated person / different people."""
    person = match_faces(truth, [(f, d.box) for f, _, d in tracked.entries])
    fragments = fragments_from_rows([e[0] for e in tracked.entries], tracked.tracklets,
                                    tracked.descriptors)
    owner: dict[int, str | None] = {}
    for row, track in enumerate(tracked.tracklets):
        owner.setdefault(track, person[row])
    same, different = [], []
    for i, a in enumerate(fragments):
        for b in fragments[i + 1:]:
            pa, pb = owner[a.id], owner[b.id]
            if pa is None or pb is None:
                continue
            d = appearance_distance(a.descriptor, b.descriptor)
            (same if pa == pb else different).append(d)
    return same, different


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}")
        return 1
    all_same: list[float] = []
    all_diff: list[float] = []
    recall: dict[str, list[int]] = {}
    for path in sorted(TRUTH.glob("*.json")):
        truth = load_ground_truth(path)
        sampled, tracked = track_clip(DATA / truth.media, args.frames)
        print(f"\n{truth.media} ({len(sampled)} sampled frames, "
              f"{len(truth.people)} people annotated, {len(tracked.shot_cuts)} shot cuts)")
        for by in ("fragments", "people"):
            result = figures(truth, sampled, tracked, by)
            label = "tracker alone" if by == "fragments" else "re-identified"
            print(f"  {label:14s} {result.summary()}")
            print(f"  {'':14s} per person: {result.fragments}")
        for size, (found, total) in result.recall_by_size.items():
            recall.setdefault(size, [0, 0])
            recall[size][0] += found
            recall[size][1] += total
        same, different = distances(truth, tracked)
        all_same += same
        all_diff += different
    print("\nappearance distance between fragments (Hellinger², inner-face hue-saturation):")
    for name, values in (("same person", all_same), ("different people", all_diff)):
        if values:
            v = np.array(values)
            print(f"  {name:16s} n={v.size:3d} min {v.min():.3f} median {np.median(v):.3f} "
                  f"max {v.max():.3f}")
    print("detection recall per face size (√area of the annotated box, all clips): " + ", ".join(
        f"{size} px {found}/{total} ({found / total:.0%})"
        for size, (found, total) in recall.items() if total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
