"""Detections → face identities over time: an IoU tracker with global assignment.

Frames are usually *sampled* (up to 100 over a clip), so a face can move by half its size
between two updates and a head swaying back and forth defeats a pure motion model. Each
track is therefore compared with each detection under two hypotheses, "moved on at its
constant velocity" and "stayed where it was last seen", and the cheaper one counts. A
pair is admissible only if its IoU reaches the threshold or its centres are very close
(relative to the face size); admissible pairs are then assigned globally (Hungarian), so
two people standing side by side cannot swap identities just because one of them was
processed first. No appearance model: a person who leaves for longer than ``max_missed``
updates comes back under a new id, and at a shot cut a face of about the same size in about
the same place as the last shot's face inherits its id; the scale gate catches most cuts,
and a caller that knows where the cuts are should call ``reset()`` there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from forensics_app.core.faces.detector import Detection

try:  # scipy arrives with mediapipe (via jax); the fallback keeps the tracker standalone.
    from scipy.optimize import linear_sum_assignment
except ImportError:  # a test also runs the greedy fallback with scipy hidden
    linear_sum_assignment = None

_FORBIDDEN = 1e6


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # last matched box, xyxy
    velocity: np.ndarray  # centre displacement per update, pixels
    missed: int = 0  # updates since last matched
    hits: int = 1

    def predicted_box(self) -> np.ndarray:
        return self.box + np.tile(self.velocity * (self.missed + 1), 2)


class IoUTracker:
    """Assigns a persistent integer id to each face detection, update after update.

    Ids start at 0 and are never reused. A track not matched for more than ``max_missed``
    consecutive updates is retired. ``centre_gate`` is the centre distance, in face sizes
    (mean of the two boxes' sqrt(area)), under which a pair is admissible even when its
    IoU is below ``iou_threshold``; it stays below the ~1 face size that separates two
    heads side by side. ``max_scale_change`` bounds the size ratio of a matched pair.
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 5,
        centre_gate: float = 0.75,
        max_scale_change: float = 1.5,
        distance_weight: float = 0.5,
    ) -> None:
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be ≥ 0, got {max_missed}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.centre_gate = centre_gate
        self.max_scale_change = max_scale_change
        self.distance_weight = distance_weight
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks still alive (matched within the last ``max_missed`` updates)."""
        return [t.track_id for t in self._tracks]

    def reset(self) -> None:
        """Forget all tracks; ids keep counting up so they stay unique for this tracker."""
        self._tracks = []

    def update(self, detections: list[Detection]) -> list[int]:
        """Track id for each detection of the next (sampled) frame, in the same order."""
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        pairs = self._assign(boxes)
        matched = {d: self._tracks[t] for t, d in pairs}
        matched_rows = {t for t, _ in pairs}
        for t, track in enumerate(self._tracks):
            if t not in matched_rows:
                track.missed += 1
        for d, track in matched.items():
            self._absorb(track, boxes[d])
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return [
            matched[d].track_id if d in matched else self._start_track(boxes[d])
            for d in range(len(boxes))
        ]

    def _assign(self, boxes: np.ndarray) -> list[tuple[int, int]]:
        """Min-cost (track index, detection index) pairs among admissible ones."""
        if not self._tracks or len(boxes) == 0:
            return []
        cost = self._cost(boxes)
        rows, cols = _solve(cost)
        return [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _FORBIDDEN]

    def _cost(self, boxes: np.ndarray) -> np.ndarray:
        """Tracks × detections cost; _FORBIDDEN where no hypothesis passes the gate."""
        moved = np.array([t.predicted_box() for t in self._tracks])
        stayed = np.array([t.box for t in self._tracks])
        costs = [self._hypothesis_cost(prior, boxes) for prior in (moved, stayed)]
        return np.minimum(*costs)

    def _hypothesis_cost(self, prior: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        overlap = iou_matrix(prior, boxes)
        prior_size, box_size = _sizes(prior)[:, None], _sizes(boxes)[None, :]
        offset = _centres(prior)[:, None, :] - _centres(boxes)[None, :, :]
        distance = np.linalg.norm(offset, axis=2) / ((prior_size + box_size) / 2)
        log_scale = np.abs(np.log(box_size / prior_size))
        cost = (1.0 - overlap) + self.distance_weight * distance + log_scale
        admissible = (overlap >= self.iou_threshold) | (distance <= self.centre_gate)
        # A face does not change size by half between updates; when it seems to, it is
        # another face (or a cut), and splitting an identity is the safer mistake than
        # merging two people into one track.
        admissible &= log_scale <= np.log(self.max_scale_change)
        return np.where(admissible, cost, _FORBIDDEN)

    def _absorb(self, track: _Track, box: np.ndarray) -> None:
        """Update a matched track: new box, smoothed per-update velocity."""
        step = (_centres(box[None])[0] - _centres(track.box[None])[0]) / (track.missed + 1)
        # Smoothing damps detector jitter; the first step has nothing to average with.
        track.velocity = step if track.hits == 1 else 0.5 * (track.velocity + step)
        track.box = box.copy()
        track.missed = 0
        track.hits += 1

    def _start_track(self, box: np.ndarray) -> int:
        track = _Track(track_id=self._next_id, box=box.copy(), velocity=np.zeros(2))
        self._next_id += 1
        self._tracks.append(track)
        return track.track_id


def track_detections(
    per_frame: Iterable[list[Detection]], tracker: IoUTracker | None = None
) -> list[list[tuple[int, Detection]]]:
    """Run a tracker (a fresh IoUTracker by default) over per-frame detection lists."""
    tracker = IoUTracker() if tracker is None else tracker
    return [list(zip(tracker.update(dets), dets, strict=True)) for dets in per_frame]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) × (M, 4) → (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    wh = np.clip(
        np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]),
        0,
        None,
    )
    inter = wh[..., 0] * wh[..., 1]
    union = _areas(a)[:, None] + _areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _sizes(boxes: np.ndarray) -> np.ndarray:
    """Face size as sqrt(area), at least 1 px so that ratios and distances stay finite."""
    return np.maximum(np.sqrt(_areas(boxes)), 1.0)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _solve(cost: np.ndarray) -> tuple[list[int], list[int]]:
    """Minimum-cost assignment: Hungarian when scipy is there, else greedy by cost."""
    if linear_sum_assignment is not None:
        rows, cols = linear_sum_assignment(cost)
        return rows.tolist(), cols.tolist()
    return _greedy(cost)


def _greedy(cost: np.ndarray) -> tuple[list[int], list[int]]:
    """Cheapest admissible pair first; optimal in the usual few-faces, well-separated case."""
    rows: list[int] = []
    cols: list[int] = []
    for flat in np.argsort(cost, axis=None, kind="stable"):
        r, c = np.unravel_index(flat, cost.shape)
        if cost[r, c] >= _FORBIDDEN:
            break
        if r not in rows and c not in cols:
            rows.append(int(r))
            cols.append(int(c))
    return rows, cols
