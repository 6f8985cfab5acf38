"""Face-image folders for training: LFW, UTKFace and the labelled DFDC crops.

Each folder has an `index.csv` (see `../shared/data/README.md`). Every image is re-cut exactly
as the analysis engine cuts a face out of a video frame, so that the model learns on the crop
it is shown later:

* the image is padded with black on every side (half its size), the engine's BlazeFace
  (full range) finds the face, and `crop_face` cuts the square with the engine's 30 % margin;
* where the margin falls outside the original picture it stays black: the same black padding
  the engine gives a face that fills (or leaves) the video frame. The DFDC crops are tight
  around the face and resized to 224 px, so their margin is always padding; LFW (250 px, face
  with context) rarely needs any; UTKFace (200 px) sometimes. Real and fake DFDC crops are
  padded alike, so the padding carries no label.

Images where the detector finds no face are dropped (counted in the log and the model card).
Real faces also get FaceMesh landmarks (needed for their self-blended fakes).

Splits keep people (LFW identities) or source videos (DFDC `source_video`: a fake and its
source always land on one side) apart; UTKFace has no identity column, so each image is its
own group (a person photographed twice could straddle the split: stated in the card).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

# The engine's own detection padding and crop (core/faces), re-exported: training cuts faces
# with the very functions the analysis uses.
from forensics_app.core.faces.crop import engine_crop, pad_for_detection  # noqa: F401

SOURCES = ("lfw", "utkface", "dfdc_crops")
PREP_VERSION = 1


@dataclass(frozen=True)
class FaceRecord:
    """One image of a face folder."""

    path: Path
    label: int  # 0 real, 1 fake
    group: str  # what must not straddle a split: identity or source video
    source: str  # lfw | utkface | dfdc_crops


def _rows(index: Path) -> list[dict[str, str]]:
    if not index.is_file():
        raise FileNotFoundError(f"face folder index not found: {index}")
    with open(index, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_face_folder(data_root: Path, source: str) -> list[FaceRecord]:
    """The records of one face folder under `data_root` (the folder holding `faces/`)."""
    data_root = Path(data_root)
    if source not in SOURCES:
        raise ValueError(f"unknown face source {source!r}; known: {', '.join(SOURCES)}")
    rows = _rows(data_root / "faces" / source / "index.csv")
    records = []
    for row in rows:
        path = data_root / row["path"]
        if source == "lfw":
            records.append(FaceRecord(path, 0, f"lfw:{row['identity']}", source))
        elif source == "utkface":
            records.append(FaceRecord(path, 0, f"utk:{path.stem}", source))
        else:
            label = {"real": 0, "fake": 1}[row["label"]]
            records.append(FaceRecord(path, label, f"dfdc:{row['source_video']}", source))
    return records


def group_fraction(group: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) per group: the split does not depend on the
    order or the subset of records read."""
    digest = hashlib.sha256(f"{seed}|{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_group(records: Sequence[FaceRecord], val_fraction: float, seed: int = 0
                   ) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Train / validation with every group wholly on one side."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    train, val = [], []
    for record in records:
        (val if group_fraction(record.group, seed) < val_fraction else train).append(record)
    return train, val


def subsample_groups(records: Sequence[FaceRecord], groups: int | None, seed: int = 0
                     ) -> list[FaceRecord]:
    """The records of at most `groups` groups (chosen by the stable hash), all their images."""
    if groups is None:
        return list(records)
    names = sorted({r.group for r in records}, key=lambda g: group_fraction(g, seed + 7))
    keep = set(names[:groups])
    return [r for r in records if r.group in keep]


@dataclass
class FaceSet:
    """Prepared faces: engine-geometry crops, landmarks (NaN where FaceMesh found none)."""

    crops: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 468, 2) float32, crop pixels; NaN if none
    labels: np.ndarray  # (N,) int64
    groups: np.ndarray  # (N,) str
    sources: np.ndarray  # (N,) str
    paths: np.ndarray  # (N,) str, relative to the data root
    dropped: int = 0  # images without a detected face

    def __len__(self) -> int:
        return len(self.crops)

    def has_landmarks(self) -> np.ndarray:
        return ~np.isnan(self.landmarks[:, 0, 0])

    def select(self, rows: np.ndarray) -> FaceSet:
        return FaceSet(self.crops[rows], self.landmarks[rows], self.labels[rows],
                       self.groups[rows], self.sources[rows], self.paths[rows], 0)

    @staticmethod
    def concat(sets: Sequence[FaceSet]) -> FaceSet:
        return FaceSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in (
            "crops", "landmarks", "labels", "groups", "sources", "paths")),
            dropped=sum(s.dropped for s in sets))


def _prepare_chunk(args: tuple) -> tuple:
    paths, labels, size, margin = args
    from forensics_app.core.faces import FaceDetector, FaceMesher

    crops, marks, keep = [], [], []
    with FaceDetector("full", 0.5, tile_fallback=False) as detector, FaceMesher() as mesher:
        for i, (path, label) in enumerate(zip(paths, labels, strict=True)):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            crop = engine_crop(np.ascontiguousarray(bgr[..., ::-1]), detector, size, margin)
            if crop is None:
                continue
            points = mesher.landmarks(crop) if label == 0 else None
            crops.append(crop)
            marks.append(points if points is not None
                         else np.full((468, 2), np.nan, np.float32))
            keep.append(i)
    return (np.asarray(crops, np.uint8).reshape(-1, size, size, 3),
            np.asarray(marks, np.float32).reshape(-1, 468, 2), np.asarray(keep, np.int64))


def prepare_faces(records: Sequence[FaceRecord], cache_dir: Path, size: int = 224,
                  margin: float = 0.3, workers: int = 2, data_root: Path | None = None,
                  log: Callable[[str], None] = print) -> FaceSet:
    """Crop (and landmark) every record once; cached as one npz per record list."""
    records = list(records)
    key_text = f"{PREP_VERSION}|{size}|{margin}|" + "|".join(
        f"{r.path.name}:{r.label}:{r.group}" for r in records)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"faces-{key}.npz"
    if path.exists():
        return load_face_set(path)
    chunks = max(1, workers) * 8
    parts = [records[i::chunks] for i in range(chunks)]
    jobs = [([r.path for r in p], [r.label for r in p], size, margin) for p in parts]
    results = []
    with get_context("spawn").Pool(max(1, workers)) as pool:
        for n, result in enumerate(pool.imap(_prepare_chunk, jobs), 1):
            results.append(result)
            if n % 4 == 0:
                log(f"face folders: {n * 100 // chunks} % of {len(records)} images prepared")
    sets = []
    for part, (crops, marks, keep) in zip(parts, results, strict=True):
        kept = [part[i] for i in keep]
        root = data_root or _common_root(records)
        sets.append(FaceSet(crops, marks, np.asarray([r.label for r in kept], np.int64),
                            np.asarray([r.group for r in kept]),
                            np.asarray([r.source for r in kept]),
                            np.asarray([_relative(r.path, root) for r in kept]),
                            dropped=len(part) - len(kept)))
    faces = FaceSet.concat(sets)
    np.savez(path, crops=faces.crops, landmarks=faces.landmarks, labels=faces.labels,
             groups=faces.groups, sources=faces.sources, paths=faces.paths,
             dropped=faces.dropped)
    log(f"face folders: {len(faces)} faces cut, {faces.dropped} without a detected face → "
        f"{path.name}")
    return faces


def load_face_set(path: Path) -> FaceSet:
    with np.load(path) as data:
        return FaceSet(data["crops"], data["landmarks"], data["labels"], data["groups"],
                       data["sources"], data["paths"], int(data["dropped"]))


def _common_root(records: Sequence[FaceRecord]) -> Path:
    return Path(*Path(records[0].path).parts[:-3]) if records else Path(".")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
