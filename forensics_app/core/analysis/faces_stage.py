"""Decode the sampled frames once, find and track the faces, and cut their crops."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field

import numpy as np

from forensics_app.core.faces import FaceDetector, IoUTracker, ShotCutDetector, crop_face
from forensics_app.core.faces.detector import Detection
from forensics_app.core.media import VideoSource


@dataclass
class TrackedFaces:
    """Every analysed face, one row each, in frame order."""

    entries: list[tuple[int, int, Detection]] = field(default_factory=list)  # frame, track, det
    crops: list[np.ndarray] = field(default_factory=list)  # S×S×3 uint8
    crop_boxes: list[np.ndarray] = field(default_factory=list)  # xyxy in video pixels
    shot_cuts: list[int] = field(default_factory=list)  # frames where a new shot starts
    detector_settings: dict = field(default_factory=dict)

    def add(self, frame: int, track: int, detection: Detection, crop: np.ndarray,
            box: np.ndarray) -> None:
        self.entries.append((frame, track, detection))
        self.crops.append(crop)
        self.crop_boxes.append(box)

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
        frames = prefetch(source.iter_frames(sampled))
        cuts = ShotCutDetector()
        for done, (frame_index, rgb) in enumerate(frames, start=1):
            if cuts.is_cut(rgb):  # a new shot: its faces are new identities
                tracker.reset()
                hints = []
                tracked.shot_cuts.append(frame_index)
            detections = detector.detect(rgb, hints)
            hints = [d.box for d in detections] or hints
            for track, detection in zip(tracker.update(detections), detections, strict=True):
                crop, box = crop_face(rgb, detection.box, crop_size, margin)
                tracked.add(frame_index, track, detection, crop, box)
            yield progress(done, len(sampled))
    return tracked


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
