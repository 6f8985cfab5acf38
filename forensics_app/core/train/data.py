"""Training data: face crops + FaceMesh landmarks extracted once per clip and cached, the
identity split, and the datasets the training loops read.

Crops are cut exactly as the analysis engine cuts them (BlazeFace box → `crop_face` with the
same margin), at a larger `cache_size` so that the self-blends are made at a higher resolution
and then resized to the model's input size, like a face swap that is blended and then
compressed into a smaller video.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from forensics_app.core.train.sbi import (
    BlendParams,
    apply_quality,
    sample_quality,
)

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
CACHE_VERSION = 1


@dataclass
class ClipFaces:
    """The cached faces of one clip: one row per (sampled frame, tracked face)."""

    clip: str  # file stem
    crops: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 468, 2) float32 crop pixels
    frames: np.ndarray  # (N,) video frame index
    tracks: np.ndarray  # (N,) track id within the clip

    def __len__(self) -> int:
        return len(self.crops)

    def identities(self) -> list[str]:
        return [f"{self.clip}#{t}" for t in sorted(set(self.tracks.tolist()))]

    def rows_of(self, track: int) -> np.ndarray:
        return np.flatnonzero(self.tracks == track)


def list_videos(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def cache_key(video: Path, frames: int, size: int, margin: float) -> str:
    stat = video.stat()
    text = f"{CACHE_VERSION}|{video.name}|{stat.st_size}|{frames}|{size}|{margin}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def extract_clip(video: Path, cache_dir: Path, frames: int = 120, size: int = 256,
                 margin: float = 0.3, min_track_share: float = 0.3,
                 log: Callable[[str], None] = print) -> ClipFaces:
    """Detect, track and crop the faces of `frames` uniformly sampled frames; cache as npz.

    Tracks seen in fewer than `min_track_share` of the sampled frames (false detections,
    passers-by) are dropped; crops where FaceMesh finds no face are dropped too (a self-blend
    needs its landmarks).
    """
    video = Path(video)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{video.stem}-{cache_key(video, frames, size, margin)}.npz"
    if path.exists():
        return load_clip(path)
    from forensics_app.core.faces import FaceDetector, FaceMesher, IoUTracker, crop_face
    from forensics_app.core.media import VideoSource, sample_indices

    crops, marks, frame_ids, tracks = [], [], [], []
    with VideoSource(video) as source, FaceDetector("short", 0.5) as detector, \
            FaceMesher() as mesher:
        sampled = sample_indices(source.info.frame_count, frames)
        tracker = IoUTracker()
        for index, rgb in source.iter_frames(sampled):
            detections = detector.detect(rgb)
            for track, det in zip(tracker.update(detections), detections, strict=True):
                crop, _ = crop_face(rgb, det.box, size, margin)
                points = mesher.landmarks(crop)
                if points is None:
                    continue
                crops.append(crop)
                marks.append(points)
                frame_ids.append(index)
                tracks.append(track)
    tracks_arr = np.asarray(tracks, np.int64)
    keep = np.zeros(len(tracks_arr), bool)
    for track in set(tracks):
        rows = tracks_arr == track
        if rows.sum() >= min_track_share * len(sampled):
            keep |= rows
    clip = ClipFaces(
        clip=video.stem,
        crops=np.asarray(crops, np.uint8).reshape(-1, size, size, 3)[keep],
        landmarks=np.asarray(marks, np.float32).reshape(-1, 468, 2)[keep],
        frames=np.asarray(frame_ids, np.int64)[keep],
        tracks=tracks_arr[keep],
    )
    np.savez_compressed(path, clip=clip.clip, crops=clip.crops, landmarks=clip.landmarks,
                        frames=clip.frames, tracks=clip.tracks)
    log(f"cached {video.name}: {len(clip)} faces from {len(sampled)} frames, "
        f"{len(set(clip.tracks.tolist()))} identities → {path.name}")
    return clip


def load_clip(path: Path) -> ClipFaces:
    with np.load(path) as data:
        return ClipFaces(str(data["clip"]), data["crops"], data["landmarks"], data["frames"],
                         data["tracks"])


def split_clips(clips: Sequence[ClipFaces], val_clips: Sequence[str]
                ) -> tuple[list[ClipFaces], list[ClipFaces]]:
    """Split by identity: every face of a held-out clip goes to validation.

    Each clip shows its own people (the shared data's README), so holding out whole clips
    holds out identities; a two-person clip goes wholly to one side.
    """
    names = {c.clip for c in clips}
    unknown = set(val_clips) - names
    if unknown:
        raise ValueError(f"validation clips not found: {', '.join(sorted(unknown))}")
    train = [c for c in clips if c.clip not in val_clips]
    val = [c for c in clips if c.clip in val_clips]
    if not train or not val:
        raise ValueError("the split needs at least one training and one validation clip")
    return train, val


def to_input(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a cached crop to the model's input size as the engine's crop_face would."""
    if image.shape[0] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def augment(image: np.ndarray, rng: np.random.Generator, jpeg: bool = True,
            quality: bool = True, record: list | None = None,
            probs: Mapping[str, float] | None = None) -> np.ndarray:
    """Label-agnostic augmentation, applied after blending alike to reals and fakes: a
    horizontal flip (p 0.5), then the image-quality augmentation of `sbi.sample_quality` /
    `sbi.apply_quality` (exposure / gamma jitter, downscale-upscale 0.4-1.0, slight blur,
    Gaussian noise, JPEG re-compression q 30-95, each with its own probability).

    It never sees the label, so both classes get the same parameter distribution, and the
    quality of an image says nothing about whether it is blended. Deterministic given the
    generator's state. `quality=False` restores the old recipe (flip + JPEG q 60-95, p 0.5);
    `jpeg=False` drops the JPEG step. `record`, if given, receives the QualityParams used;
    `probs` replaces the steps' probabilities (`sbi.quality_probs`).
    """
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if quality:
        params = sample_quality(rng, probs)
        if not jpeg:
            params = replace(params, jpeg_quality=0)
        if record is not None:
            record.append(params)
        return apply_quality(image, params)
    if jpeg and rng.random() < 0.5:
        q = int(rng.integers(60, 96))
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(image)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """A generator per (seed, epoch, sample): same data whatever the loader order or workers."""
    return np.random.default_rng([seed, epoch, index])


def blend_sequence(crops: np.ndarray, landmarks: np.ndarray, base: BlendParams,
                   rng: np.random.Generator, input_size: int, jitter_amount: float = 1.0
                   ) -> np.ndarray:
    """Self-blend every frame of a sequence with parameters that jitter frame to frame."""
    from forensics_app.core.train.sbi import jitter, self_blend

    out = []
    for crop, points in zip(crops, landmarks, strict=True):
        params = jitter(base, rng, jitter_amount)
        fake, _ = self_blend(crop, points, params)
        out.append(to_input(fake, input_size))
    return np.stack(out)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
