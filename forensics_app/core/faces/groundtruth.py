"""Annotated people in a clip, and how well the analysis's identities match them.

A ground-truth file (JSON, see ``tests/ground_truth/``) lists the people on screen; each has
segments ``{"frames": [start, end), "keyframes": {frame: [x0, y0, x1, y1]}}``: the face box
is interpolated linearly between keyframes and held at the nearest keyframe outside them.

`evaluate_identities` matches the analysis's faces to the annotated faces frame by frame
(IoU ≥ 0.3, one-to-one) and counts, as in multi-object tracking:
- fragmentation: how many analysis identities one person is split into (1 is perfect);
- ID switches: changes of identity along one person's matched faces, in frame order;
- merges: analysis identities that cover more than one person (0 is perfect);
- detection recall per face size (√area of the annotated box, pixels).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forensics_app.core.faces.tracker import iou_matrix

MATCH_IOU = 0.3
SIZE_BINS = (0, 32, 64, 128, 10_000)  # √area of the annotated face, pixels


@dataclass(frozen=True)
class Segment:
    start: int  # first frame
    end: int  # one past the last frame
    keyframes: dict[int, tuple[float, float, float, float]]

    def box(self, frame: int) -> np.ndarray | None:
        """The face box at `frame`, or None outside the segment."""
        if not self.start <= frame < self.end:
            return None
        keys = sorted(self.keyframes)
        boxes = np.array([self.keyframes[k] for k in keys], np.float64)
        return np.array([np.interp(frame, keys, boxes[:, c]) for c in range(4)])


@dataclass(frozen=True)
class Person:
    id: str
    segments: tuple[Segment, ...]
    background: bool = False  # a blurred face in a crowd: on screen, not a subject

    def box(self, frame: int) -> np.ndarray | None:
        return next((b for s in self.segments if (b := s.box(frame)) is not None), None)


@dataclass(frozen=True)
class GroundTruth:
    media: str  # path relative to the shared data folder
    frame_count: int
    people: tuple[Person, ...]

    def faces_at(self, frame: int) -> list[tuple[Person, np.ndarray]]:
        return [(p, b) for p in self.people if (b := p.box(frame)) is not None]

    def people_seen(self, frames: Sequence[int], min_frames: int = 1) -> list[Person]:
        """People on screen in at least `min_frames` of `frames`."""
        return [p for p in self.people
                if sum(p.box(f) is not None for f in frames) >= min_frames]


def load_ground_truth(path: str | Path) -> GroundTruth:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    people = tuple(
        Person(p["id"], tuple(
            Segment(s["frames"][0], s["frames"][1],
                    {int(k): tuple(v) for k, v in s["keyframes"].items()})
            for s in p["segments"]), bool(p.get("background", False)))
        for p in data["people"])
    return GroundTruth(data["media"], int(data["frame_count"]), people)


@dataclass
class IdentityFigures:
    """How the analysis's identities compare with the annotated people."""

    people: int  # annotated people on screen in ≥ min_frames sampled frames
    identities: int  # analysis identities seen in ≥ min_frames sampled frames
    fragments: dict[str, int]  # person → number of analysis identities covering it
    switches: int
    merges: int  # analysis identities matched to more than one person
    unmatched: int  # analysed faces that match no annotated face
    all_identities: int = 0  # analysis identities, glimpses included
    recall_by_size: dict[str, tuple[int, int]] = field(default_factory=dict)  # bin → found, all

    @property
    def fragmentation(self) -> float:
        """Mean identities per matched person (1.0: every person is one identity)."""
        counts = [n for n in self.fragments.values() if n]
        return float(np.mean(counts)) if counts else 0.0

    def summary(self) -> str:
        recall = ", ".join(f"{b} px {f}/{n}" for b, (f, n) in self.recall_by_size.items() if n)
        return (f"{self.identities} identities ({self.all_identities} with glimpses) for "
                f"{self.people} people; fragmentation "
                f"{self.fragmentation:.2f}, {self.switches} ID switches, {self.merges} merges, "
                f"{self.unmatched} unmatched faces; recall by face size: {recall}")


def evaluate_identities(truth: GroundTruth, sampled: Sequence[int],
                        faces: Iterable[tuple[int, int, Sequence[float]]],
                        min_frames: int = 3) -> IdentityFigures:
    """`faces`: (video frame, identity id, box xyxy) of every analysed face. Identities and
    people count when seen in `min_frames` sampled frames (all of them, if fewer)."""
    min_frames = max(1, min(min_frames, len(sampled)))
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = {f: [] for f in sampled}
    for frame, identity, box in faces:
        by_frame.setdefault(frame, []).append((identity, np.asarray(box, np.float64)))
    matches: dict[str, list[tuple[int, int]]] = {p.id: [] for p in truth.people}
    found = {label: [0, 0] for label in _bin_labels()}
    unmatched = 0
    for frame in sampled:
        annotated = truth.faces_at(frame)
        analysed = by_frame.get(frame, [])
        pairs = _match([b for _, b in annotated], [b for _, b in analysed])
        for a, (person, box) in enumerate(annotated):
            if not person.background:
                label = _size_bin(box)
                found[label][1] += 1
                found[label][0] += a in pairs
            if a in pairs:
                matches[person.id].append((frame, analysed[pairs[a]][0]))
        unmatched += len(analysed) - len(pairs)
    seen = {ident for faces_ in by_frame.values() for ident, _ in faces_}
    frames_of = {i: sum(any(j == i for j, _ in by_frame[f]) for f in by_frame) for i in seen}
    persons_of: dict[int, set[str]] = {}
    for person, hits in matches.items():
        for _, ident in hits:
            persons_of.setdefault(ident, set()).add(person)
    return IdentityFigures(
        people=len(truth.people_seen(sampled, min_frames)),
        identities=sum(n >= min_frames for n in frames_of.values()),
        fragments={p: len({i for _, i in hits}) for p, hits in matches.items()},
        switches=sum(_switches([i for _, i in sorted(hits)]) for hits in matches.values()),
        merges=sum(len(p) > 1 for p in persons_of.values()),
        unmatched=unmatched,
        recall_by_size={k: (v[0], v[1]) for k, v in found.items()},
        all_identities=len(seen),
    )


def match_faces(truth: GroundTruth, faces: Sequence[tuple[int, Sequence[float]]]
                ) -> list[str | None]:
    """The annotated person of each analysed face (frame, box), or None where none matches."""
    rows: dict[int, list[int]] = {}
    for row, (frame, _) in enumerate(faces):
        rows.setdefault(frame, []).append(row)
    owner: list[str | None] = [None] * len(faces)
    for frame, members in rows.items():
        annotated = truth.faces_at(frame)
        pairs = _match([b for _, b in annotated],
                       [np.asarray(faces[r][1], np.float64) for r in members])
        for a, d in pairs.items():
            owner[members[d]] = annotated[a][0].id
    return owner


def _match(annotated: list[np.ndarray], analysed: list[np.ndarray]) -> dict[int, int]:
    """Annotated index → analysed index, one-to-one, best IoU first, IoU ≥ MATCH_IOU."""
    if not annotated or not analysed:
        return {}
    overlap = iou_matrix(np.stack(annotated), np.stack(analysed))
    pairs: dict[int, int] = {}
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        a, d = np.unravel_index(flat, overlap.shape)
        if overlap[a, d] < MATCH_IOU:
            break
        if a not in pairs and d not in pairs.values():
            pairs[int(a)] = int(d)
    return pairs


def _switches(ids: list[int]) -> int:
    return sum(a != b for a, b in itertools.pairwise(ids))


def _bin_labels() -> list[str]:
    return [f"{lo}–{hi}" if hi < SIZE_BINS[-1] else f"≥ {lo}"
            for lo, hi in itertools.pairwise(SIZE_BINS)]


def _size_bin(box: np.ndarray) -> str:
    side = float(np.sqrt(max(box[2] - box[0], 0) * max(box[3] - box[1], 0)))
    index = int(np.searchsorted(SIZE_BINS, side, side="right")) - 1
    return _bin_labels()[min(max(index, 0), len(SIZE_BINS) - 2)]
