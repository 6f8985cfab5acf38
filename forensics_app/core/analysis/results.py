"""The one results format: what `analyze` writes, the GUI reads and the report prints.

A results folder holds
- `results.json`: schema `forensics-app/result/v1` (the `Results` dataclass below);
- `attention.npy`: float32 L×H×T×T post-softmax temporal attention over frame tokens (CLS row
  and column dropped, rows renormalised to sum to 1) for the identity that decided the verdict,
  tokens in the order of `Results.attention_frames`;
- `relevancy.npz`: per analysed face, its explanation maps on the spatial token grid, which
  covers the face crop (`crop_box`, video pixels) edge to edge.

`write_results` is the only writer and `read_results` the only reader.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from forensics_app.core.errors import ForensicsError, OutputError

SCHEMA_ID = "forensics-app/result/v1"
RESULTS_FILE = "results.json"
ATTENTION_FILE = "attention.npy"
RELEVANCY_FILE = "relevancy.npz"
EXPLAIN_METHODS = ("relevancy", "rollout", "gradcam++")
# npz keys cannot hold '+': method name → array key.
_METHOD_KEYS = {"relevancy": "relevancy", "rollout": "rollout", "gradcam++": "gradcampp"}


@dataclass
class Evidence:
    path: str
    file_name: str
    sha256: str
    md5: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation: int = 0
    is_still_image: bool = False


@dataclass
class FaceBox:
    track_id: int
    box: list[float]  # x0, y0, x1, y1 in displayed (rotated) video pixels
    score: float  # detector confidence
    p_fake: float | None = None  # spatial model, calibrated


@dataclass
class Identity:
    track_id: int
    frames: list[int]  # video frame indices where this identity was analysed
    p_fake_spatial: float  # mean calibrated per-frame p_fake
    p_fake_temporal: float | None  # clip-level score of the temporal model, None if < 2 frames
    p_fake: float  # the identity's score (temporal when present, else spatial)


@dataclass
class Prediction:
    label: str  # "real" | "fake" | "inconclusive"
    p_fake: float | None
    confidence: float | None  # probability of the stated label
    band: str  # "very confident" | "confident" | "moderate" | "low" | "none"
    threshold: float
    decided_by_track: int | None
    reason: str  # one sentence, plain language


@dataclass
class Indicator:
    name: str
    value: float
    threshold: float | None  # None: shown for reference, never triggered
    triggered: bool
    frames: list[int]  # video frame indices the indicator points at
    description: str


@dataclass
class Results:
    evidence: Evidence
    tool: dict[str, Any]
    model: dict[str, Any]
    settings: dict[str, Any]
    sampled_frames: list[int]
    sampled_times_s: list[float]
    faces: list[list[FaceBox]]  # per sampled frame
    frame_scores: list[float | None]  # per sampled frame: max p_fake over its faces
    identities: list[Identity]
    prediction: Prediction
    attention_frames: list[int]  # video frame index of each temporal token (deciding identity)
    frame_relevancy: list[float]  # per token: how much the frame drove the clip score, [0, 1]
    self_attention: list[float]
    attention_range: list[float]
    unusual_frames: list[int]
    indicators: list[Indicator]
    created_utc: str
    timings_s: dict[str, float] = field(default_factory=dict)
    shot_cuts: list[int] = field(default_factory=list)  # sampled frames that start a new shot
    schema: str = SCHEMA_ID


@dataclass
class FaceMaps:
    """Explanation maps for every analysed face, row-aligned."""

    frame_index: np.ndarray  # (N,) int64 video frame index
    track_id: np.ndarray  # (N,) int64
    crop_box: np.ndarray  # (N, 4) float32, the crop in video pixels
    maps: dict[str, np.ndarray]  # method → (N, h, w) float32 in [0, 1]

    def lookup(self, frame_index: int, track_id: int, method: str) -> tuple[np.ndarray, np.ndarray]:
        """The map and crop box of one face; KeyError when that face was not analysed."""
        hits = np.flatnonzero((self.frame_index == frame_index) & (self.track_id == track_id))
        if hits.size == 0:
            raise KeyError((frame_index, track_id))
        row = int(hits[0])
        return self.maps[method][row], self.crop_box[row]

    @staticmethod
    def empty(grid: int = 7) -> FaceMaps:
        return FaceMaps(
            frame_index=np.zeros(0, np.int64),
            track_id=np.zeros(0, np.int64),
            crop_box=np.zeros((0, 4), np.float32),
            maps={m: np.zeros((0, grid, grid), np.float32) for m in EXPLAIN_METHODS},
        )


@dataclass
class ResultsBundle:
    results: Results
    attention: np.ndarray  # (L, H, T, T) float32
    face_maps: FaceMaps
    folder: Path


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def results_to_dict(results: Results) -> dict[str, Any]:
    return _finite(asdict(results))


def results_from_dict(data: dict[str, Any]) -> Results:
    if data.get("schema") != SCHEMA_ID:
        raise ForensicsError(f"not a {SCHEMA_ID} results file (schema {data.get('schema')!r})")
    known = {f.name for f in fields(Results)}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs["evidence"] = Evidence(**data["evidence"])
    kwargs["faces"] = [[FaceBox(**f) for f in frame] for frame in data["faces"]]
    kwargs["identities"] = [Identity(**i) for i in data["identities"]]
    kwargs["prediction"] = Prediction(**data["prediction"])
    kwargs["indicators"] = [Indicator(**i) for i in data["indicators"]]
    return Results(**kwargs)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary file in the same folder, then rename: no half-written files."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_results(folder: str | Path, bundle_results: Results, attention: np.ndarray,
                  face_maps: FaceMaps) -> Path:
    """Write the three results files into `folder` (created if needed); returns the folder."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(results_to_dict(bundle_results), indent=2, ensure_ascii=False)
        atomic_write(out / RESULTS_FILE, lambda p: p.write_text(text, encoding="utf-8"))
        atomic_write(out / ATTENTION_FILE,
                      lambda p: _save_npy(p, np.asarray(attention, np.float32)))
        atomic_write(out / RELEVANCY_FILE, lambda p: _save_face_maps(p, face_maps))
    except OSError as err:
        raise OutputError(f"cannot write results ({err.strerror or err})", out) from err
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def _save_face_maps(path: Path, face_maps: FaceMaps) -> None:
    arrays = {
        "frame_index": face_maps.frame_index.astype(np.int64),
        "track_id": face_maps.track_id.astype(np.int64),
        "crop_box": face_maps.crop_box.astype(np.float32),
    }
    for method, key in _METHOD_KEYS.items():
        arrays[key] = face_maps.maps[method].astype(np.float32)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def read_results(folder: str | Path) -> ResultsBundle:
    """Read a results folder written by `write_results`."""
    out = Path(folder)
    json_path = out / RESULTS_FILE
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        results = results_from_dict(data)
        attention = np.load(out / ATTENTION_FILE)
        with np.load(out / RELEVANCY_FILE) as npz:
            face_maps = FaceMaps(
                frame_index=npz["frame_index"],
                track_id=npz["track_id"],
                crop_box=npz["crop_box"],
                maps={method: npz[key] for method, key in _METHOD_KEYS.items()},
            )
    except FileNotFoundError as err:
        raise ForensicsError("not a results folder (missing " + Path(err.filename).name + ")",
                             out) from err
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ForensicsError(f"corrupt results ({err})", out) from err
    return ResultsBundle(results=results, attention=attention, face_maps=face_maps, folder=out)
