"""How often does real footage repeat a face from one analysed frame to the next?

A frozen stretch (duplicated frames) is one of the temporal fakes the temporal model trains
against, and the obvious detector for it is a check for consecutive face crops that do not
change. Whether such a check means anything depends on how often real footage repeats itself,
which this measures: each clip's faces are found, tracked and cropped as the analysis does
(`track_clip`), over T sampled frames and over every frame, and for every pair of consecutive
sampled frames of one person the share of crop pixels whose grey level changed by more than
4 is computed. A pair below 1 % (`--still`) counts as a repeated face.

    python bench/repeated_faces.py [--frames 100] [--pictures] [CLIP ...]

With --pictures it measures what the `frozen_stretch` indicator reads instead: whole sampled
frames (no face detection), a pair repeated when `faces.shots.picture_difference` is below
`metrics.REPEAT_DIFFERENCE`, and the longest time one picture is held (seconds at the clip's
frame rate), over T sampled frames and over every frame.

Default clips: the shared real and fake videos (../shared/data/videos/{real,fake}).
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensics_app.core.analysis.faces_stage import TrackedFaces, track_clip  # noqa: E402
from forensics_app.core.analysis.metrics import (  # noqa: E402
    REPEAT_DIFFERENCE,
    frozen_stretch_rows,
)
from forensics_app.core.faces.shots import picture_difference  # noqa: E402
from forensics_app.core.media import VideoSource, sample_indices  # noqa: E402

VIDEOS = ROOT.parent / "shared" / "data" / "videos"
EVERY_FRAME = 1_000_000  # more than any clip has: sample_indices then takes every frame


def changed_shares(sampled: list[int], tracked: TrackedFaces) -> np.ndarray:
    """Per pair of consecutive sampled frames of one person: share of changed crop pixels,
    in person then frame order, NaN between persons and across a gap (a run stops there)."""
    position = {frame: i for i, frame in enumerate(sampled)}
    shares = []
    for person in tracked.track_ids():
        rows = tracked.rows_of(person)
        for a, b in pairwise(rows):
            if position[tracked.entries[b][0]] - position[tracked.entries[a][0]] != 1:
                shares.append(np.nan)  # not neighbours in the sampled sequence
                continue
            grey_a = tracked.crops[a].astype(np.int16).mean(axis=2)
            grey_b = tracked.crops[b].astype(np.int16).mean(axis=2)
            shares.append(float((np.abs(grey_a - grey_b) > 4).mean()))
        shares.append(np.nan)
    return np.asarray(shares)


def longest_run(flags: np.ndarray) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def picture_row(clip: Path, count: int) -> list[str]:
    """Pairs, repeated pairs, longest run of repeats and longest hold (s) of one picture,
    over `count` sampled frames then over every frame."""
    row = []
    with VideoSource(clip) as source:
        info = source.info
        for frames in (sample_indices(info.frame_count, count), list(range(info.frame_count))):
            changes, previous = [], None
            for frame, rgb in source.iter_frames(frames):
                changes.append((frame, frame / info.fps, float("nan") if previous is None
                                else picture_difference(previous, rgb)))
                previous = rgb
            repeated = np.array([c < REPEAT_DIFFERENCE for _, _, c in changes[1:]])
            held = frozen_stretch_rows(changes)
            row += [str(len(repeated)), str(int(repeated.sum())), str(longest_run(repeated)),
                    f"{held[0].value:.2f}" if held else "-"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=100, help="T, as the analysis samples")
    parser.add_argument("--still", type=float, default=0.01,
                        help="a pair with a smaller share of changed pixels is a repeat")
    parser.add_argument("--pictures", action="store_true",
                        help="whole frames, as the frozen_stretch indicator reads them")
    args = parser.parse_args()
    clips = args.clips or sorted((VIDEOS / "real").iterdir()) + sorted((VIDEOS / "fake").iterdir())
    if args.pictures:
        print("| clip | pairs at T | repeats | longest run | longest hold (s) | pairs, every "
              "frame | repeats | longest run | longest hold (s) |\n|---|---|---|---|---|---|"
              "---|---|---|")
        for clip in clips:
            row = [clip.name, *picture_row(clip, args.frames)]
            print("| " + " | ".join(row) + " |", flush=True)
        return 0
    print("| clip | frames | pairs at T | repeats at T | pairs, every frame | repeats, every "
          "frame | longest run, every frame |\n|---|---|---|---|---|---|---|")
    for clip in clips:
        row = [clip.name]
        for count in (args.frames, EVERY_FRAME):
            sampled, tracked = track_clip(clip, count)
            shares = changed_shares(sampled, tracked)
            still = shares < args.still  # NaN compares False
            row += [str(len(sampled))] if count == args.frames else []
            row += [str(int(np.isfinite(shares).sum())), str(int(still.sum()))]
        row.append(str(longest_run(still)))
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
