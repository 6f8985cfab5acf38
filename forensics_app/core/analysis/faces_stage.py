"""Decode the sampled frames once, find and track the faces, cut their crops, and join the
tracker's fragments into people (re-identification by appearance, core/faces/reid.py)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forensics_app.core.analysis.conditions import FaceQuality, measure_face
from forensics_app.core.analysis.drive import run_to_end
from forensics_app.core.faces import FaceDetector, IoUTracker, ShotCutDetector
from forensics_app.core.faces.crop import find_and_crop
from forensics_app.core.faces.detector import Detection
from forensics_app.core.faces.reid import appearance, fragments_from_rows, link_fragments
from forensics_app.core.faces.shots import picture_difference
from forensics_app.core.media import VideoSource, sample_indices


@dataclass
class TrackedFaces:
    """Every analysed face, one row each, in frame order.

    `entries` carry the person id (after re-identification); `tracklets` the tracker's
    fragment id of each row, which never spans a shot cut or a long gap.
    """

    entries: list[tuple[int, int, Detection]] = field(default_factory=list)  # frame, person, det
    crops: list[np.ndarray] = field(default_factory=list)  # S×S×3 uint8
    crop_boxes: list[np.ndarray] = field(default_factory=list)  # xyxy in video pixels
    tracklets: list[int] = field(default_factory=list)  # the tracker's fragment id per row
    descriptors: list[np.ndarray] = field(default_factory=list)  # appearance per row
    shot_cuts: list[int] = field(default_factory=list)  # frames where a new shot starts
    # (frame, faces.shots.picture_difference from the frame decoded before it; NaN first), per
    # sampled frame that decoded
    picture_changes: list[tuple[int, float]] = field(default_factory=list)
    detector_settings: dict = field(default_factory=dict)
    # per row, the face measured against the validated conditions (analysis/conditions.py)
    qualities: list[FaceQuality] = field(default_factory=list)

    def add(self, frame: int, track: int, detection: Detection, crop: np.ndarray,
            box: np.ndarray, quality: FaceQuality | None = None) -> None:
        self.entries.append((frame, track, detection))
        self.crops.append(crop)
        self.crop_boxes.append(box)
        self.tracklets.append(track)
        if quality is not None:
            self.qualities.append(quality)

    def join_fragments(self, margin: float) -> None:
        """Re-identify: replace each row's tracklet id by its person id."""
        self.descriptors = [appearance(c, margin) for c in self.crops]
        fragments = fragments_from_rows([e[0] for e in self.entries], self.tracklets,
                                        self.descriptors)
        person = link_fragments(fragments)
        self.entries = [(f, person[t], d) for (f, _, d), t in
                        zip(self.entries, self.tracklets, strict=True)]

    def fragment_count(self, person: int) -> int:
        return len({self.tracklets[r] for r in self.rows_of(person)})

    def segments_of(self, person: int) -> list[list[int]]:
        """The person's rows split at shot cuts: each part is one continuous shot."""
        parts: list[list[int]] = []
        shot = None
        for row in self.rows_of(person):
            here = sum(cut <= self.entries[row][0] for cut in self.shot_cuts)
            if here != shot:
                parts.append([])
                shot = here
            parts[-1].append(row)
        return parts

    def track_ids(self) -> list[int]:
        return sorted({track for _, track, _ in self.entries})

    def rows_of(self, track: int) -> list[int]:
        return [row for row, (_, t, _) in enumerate(self.entries) if t == track]


def detect_and_track(source: VideoSource, sampled: list[int], crop_size: int, detector_model: str,
                     min_score: float, margin: float,
                     progress: Callable[[int, int], object]
                     ) -> Generator[object, None, TrackedFaces]:
    """Yields `progress(done, total)` after each frame; returns the tracked faces."""
    tracked = TrackedFaces()
    tracker = IoUTracker()
    with FaceDetector(detector_model, min_score) as detector:
        tracked.detector_settings = detector.settings()
        hints: list[np.ndarray] = []
        cuts = ShotCutDetector()
        previous: np.ndarray | None = None
        # closing(): the decoding thread must have stopped before the caller closes `source`
        # (a cancel or an error unwinds through here); left to the garbage collector, the
        # traceback keeps this generator alive and PyAV is closed under a running decode.
        with closing(prefetch(source.iter_frames(sampled))) as frames:
            for done, (frame_index, rgb) in enumerate(frames, start=1):
                tracked.picture_changes.append((frame_index, float("nan") if previous is None
                                                else picture_difference(previous, rgb)))
                previous = rgb
                if cuts.is_cut(rgb):  # a new shot: its faces are new identities
                    tracker.reset()
                    hints = []
                    tracked.shot_cuts.append(frame_index)
                found = find_and_crop(detector, rgb, hints, crop_size, margin)
                detections = [d for d, _, _ in found]
                hints = [d.box for d in detections] or hints
                for track, (detection, crop, box) in zip(tracker.update(detections), found,
                                                         strict=True):
                    tracked.add(frame_index, track, detection, crop, box,
                                measure_face(rgb, detection, crop, box))
                yield progress(done, len(sampled))
    tracked.join_fragments(margin)
    return tracked


def track_clip(media: str | Path, frames: int, crop_size: int = 224,
               detector_model: str = "full", min_score: float = 0.5, margin: float = 0.3
               ) -> tuple[list[int], TrackedFaces]:
    """The faces stage alone over `frames` frames sampled from the whole of `media` (no
    model): the sampled frame indices and the tracked faces."""
    with VideoSource(media) as source:
        sampled = sample_indices(source.info.frame_count, frames, 0, source.info.frame_count)
        stage = detect_and_track(source, sampled, crop_size, detector_model, min_score, margin,
                                 lambda _done, _total: None)
        return sampled, run_to_end(stage)


_END = object()


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Iterate `items` on a background thread, `depth` ahead of the consumer.

    Decoding (PyAV) and detection (mediapipe) both release the GIL, so the next frames decode
    while this one is searched for faces. Errors are re-raised in the consumer's thread; if
    the consumer stops early the producer is told to stop and drains out.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(_END)
        except BaseException as err:  # handed to the consumer, re-raised there
            buffer.put(err)

    worker = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with suppress(queue.Empty):
                buffer.get(timeout=0.05)
        worker.join()
