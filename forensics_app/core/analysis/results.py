"""The one results format: what `analyze` writes, the GUI reads and the report prints.

A results folder holds
- `results.json`: schema `forensics-app/result/v1` (the `Results` dataclass below);
- `attention.npy`: float32 L×H×T×T post-softmax temporal attention over frame tokens (CLS row
  and column dropped, rows renormalised to sum to 1) for the identity that decided the verdict,
  tokens in the order of `Results.attention_frames`;
- `relevancy.npz`: per analysed face, its explanation maps on the spatial token grid, which
  covers the face crop (`crop_box`, video pixels) edge to edge.

- `manifest.json`: the seal, written last: SHA-256 and size of the three files above, the
  evidence SHA-256, the tool and model versions.

`write_results` is the only writer and `read_results` the only reader. The writer fills a
fresh hidden folder beside the destination and renames it into place, under a lock per output
folder, and never over existing results. The reader refuses (ResultsError) a folder that is not
sealed, whose files changed, are missing or were added, or whose contents contradict each other.
The seal detects damage, mixing and edits; it is not a signature (whoever edits a file can also
re-seal it with this code).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import types
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from forensics_app.core.analysis.settings import EXPLAIN_METHODS, AnalysisSettings
from forensics_app.core.errors import (
    ForensicsError,
    OutputError,
    ResultsError,
    ResultsExistError,
)
from forensics_app.core.models.figures import NEAR_BOUNDARY
from forensics_app.core.options import validate_options

SCHEMA_ID = "forensics-app/result/v1"
RESULTS_FILE = "results.json"
ATTENTION_FILE = "attention.npy"
RELEVANCY_FILE = "relevancy.npz"
MANIFEST_FILE = "manifest.json"  # the seal, written last
MANIFEST_SCHEMA = "forensics-app/manifest/v1"
SEALED_FILES = (RESULTS_FILE, ATTENTION_FILE, RELEVANCY_FILE)
LABELS = ("real", "fake", "inconclusive")
BAND_NAMES = ("very confident", "confident", "moderate", "low", "none")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPORT_FIGURE = re.compile(r"summary\.png|layer_\d+_all_heads\.png")  # core.report.figures
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
    # Integrity of the file (core.media.VideoInfo): what it promises against what it holds.
    stream: int = 0  # the video stream analysed (0 = the first)
    video_streams: list[str] = field(default_factory=list)  # every video stream, described
    frames_declared: int = 0  # the header's frame count (0: the container gives none)
    frames_in_file: int = 0  # frame packets in the file
    decode_errors: int = 0  # packets that failed to decode, frames marked corrupt
    opened_as: str = ""  # the path as opened (a symlink's own path); `path` is the file


@dataclass
class FaceBox:
    track_id: int
    box: list[float]  # x0, y0, x1, y1 in displayed (rotated) video pixels
    score: float  # detector confidence
    p_fake: float | None = None  # spatial model, calibrated
    too_small: bool = False  # shorter side below verdict.MIN_FACE_PX: too small to judge


@dataclass
class ToolInfo:
    """The software that wrote the results (enough to rebuild it)."""

    name: str
    version: str
    revision: str  # `git describe` of the running code, "unknown" outside a checkout
    python: str = ""
    torch: str = ""
    device: str = ""  # what ran the models, e.g. "cpu (2 threads)"
    platform: str = ""


@dataclass
class ModelInfo:
    """What results record of the model: its card's summary (models.registry.ModelCard)."""

    name: str
    version: str
    sha256: str  # of the weights file, checked against the card when the model was loaded
    placeholder: bool = False  # untrained weights: no verdict
    threshold: float = 0.5
    temperature_spatial: float = 1.0
    temperature_temporal: float = 1.0
    fusion: str = "mean"
    input_size: int | None = None
    description: str = ""
    training_data: str = ""
    # The card's measured figures, nested as the card holds them (shown, never computed on).
    metrics: dict[str, Any] = field(default_factory=dict)
    limitations: list[str] = field(default_factory=list)

    def marker_record(self) -> str:
        """How far this model's red markers can be trusted, from its card's held-out splice
        figures (evaluate --heldout): a sentence for the views and the report, or "" when
        the card has none. A marker on real footage is a false lead; an examiner weighs a
        marker by how often that happens."""
        rates = marker_rates(self.metrics)
        if rates is None:
            return ""
        near, real = rates
        return (f"On held-out clips (model card) this model put a red marker on {real:.0%} of "
                f"real windows, and one {NEAR_BOUNDARY} on {near:.0%} of spliced ones: "
                f"a marker is a place to look, not a "
                f"finding.")


def marker_rates(metrics: dict[str, Any]) -> tuple[float, float] | None:
    """(share of held-out splices with a marker near a boundary, share of the same windows
    unspliced with any marker) from a model card's metrics (evaluate --heldout's "splices"),
    or None when the card does not hold both."""
    heldout = metrics.get("heldout")
    splices = heldout.get("splices") if isinstance(heldout, dict) else None
    if not isinstance(splices, dict):
        return None
    near = splices.get("marker_near_boundary_share")
    real = splices.get("real_windows_with_a_marker_share")
    if not isinstance(near, (int, float)) or not isinstance(real, (int, float)):
        return None
    return float(near), float(real)


@dataclass
class FaceDetectorInfo:
    """The face detector that ran (faces.detector.FaceDetector.settings)."""

    detector: str
    model: str
    min_score: float
    model_file: str
    model_sha256: str
    tile_fallback: bool
    mediapipe_version: str


@dataclass
class RunSettings(AnalysisSettings):
    """The settings asked for (AnalysisSettings, one definition) and what the run resolved."""

    face_detector: FaceDetectorInfo | None = None  # None only before the faces stage ran
    model_device: str = ""  # the torch device the models ran on, e.g. "cpu", "cuda:0"

    def asked(self) -> AnalysisSettings:
        """Only the settings asked for: what reproduces this analysis."""
        names = {f.name for f in fields(AnalysisSettings)}
        return AnalysisSettings(**{k: getattr(self, k) for k in names})


@dataclass
class Shot:
    """One person within one shot: the temporal model scores each shot apart."""

    first_frame: int  # video frame indices
    last_frame: int
    frames: int  # sampled frames of the person in this shot
    p_fake_temporal: float | None  # the temporal model's score, None under 2 frames
    frame_relevancy: list[float]  # per sampled frame of the shot, [0, 1]


@dataclass
class Identity:
    track_id: int
    frames: list[int]  # video frame indices where this identity was analysed
    p_fake_spatial: float  # mean calibrated per-frame p_fake
    p_fake_temporal: float | None  # clip-level score of the temporal model, None if < 2 frames
    p_fake: float  # the identity's score (temporal when present, else spatial)
    # One identity is one person: the tracker's fragments joined by appearance (faces/reid.py).
    fragments: int = 1  # tracker fragments joined into this person
    small_faces: int = 0  # faces too small to judge (FaceBox.too_small)
    shots: list[Shot] = field(default_factory=list)  # per shot the person is seen in


@dataclass
class Prediction:
    label: str  # "real" | "fake" | "inconclusive"
    p_fake: float | None
    confidence: float | None  # probability of the stated label
    band: str  # "very confident" | "confident" | "moderate" | "low" | "none"
    threshold: float
    decided_by_track: int | None
    reason: str  # one sentence, plain language
    capped: list[str] = field(default_factory=list)  # why the band was capped at moderate


@dataclass
class Indicator:
    name: str
    value: float
    threshold: float | None  # None: shown for reference, never triggered
    triggered: bool  # the value is past the threshold
    frames: list[int]  # video frame indices the indicator points at
    description: str
    # Not shown as a finding: its trigger rates on real and fake validation clips (from the
    # model card, measured by bench/indicator_rates.py) do not separate them, or were never
    # measured for this model (rates None).
    reference_only: bool = False
    rate_real: float | None = None  # share of real validation clips it triggers on
    rate_fake: float | None = None  # share of fake validation clips it triggers on

    @property
    def flagged(self) -> bool:
        """What the views and the report show as a finding."""
        return self.triggered and not self.reference_only


@dataclass
class Condition:
    """One condition of the data the model was validated on, measured on this input
    (core/analysis/conditions.py); `outside` conditions cap the verdict's band."""

    name: str  # face_size | compression | edge_in_margin | blur | pose | frames
    value: float | None  # the deciding identity's median (frames: its count); None: unknown
    limit: float
    outside: bool
    description: str


@dataclass
class Results:
    evidence: Evidence
    tool: ToolInfo
    model: ModelInfo
    settings: RunSettings
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
    # Media integrity and other warnings the verdict must be read with (results, report, GUI).
    warnings: list[str] = field(default_factory=list)
    # r̂_i, the range frame i would have under a stationary attention (core.explain.attention);
    # None only while reading a file written before it existed (the reader fills it in).
    expected_range: list[float] | None = None
    # The deciding identity against the conditions the model was validated on; empty in
    # files written before the check existed (and when no face was found).
    conditions: list[Condition] = field(default_factory=list)
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


def results_from_dict(data: Any) -> Results:
    """Results from parsed JSON, every field checked against its type (finite numbers, lists
    of the right kind); ResultsError names the first field that is wrong."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        schema = data.get("schema") if isinstance(data, dict) else None
        raise ResultsError(f"not a {SCHEMA_ID} results file (schema {schema!r})")
    return _build(Results, data, "")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ResultsError(f"{where or 'results'}: expected an object, got {_kind(data)}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(k for k in data if k not in known)
    if unknown:  # a field this version does not define: never dropped silently
        raise ResultsError(f"{where + '.' if where else ''}{unknown[0]}: unknown field")
    kwargs = {}
    for f in fields(cls):
        name = f"{where}.{f.name}" if where else f.name
        if f.name in data:
            kwargs[f.name] = _typed(data[f.name], _hints(cls)[f.name], name)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ResultsError(f"{name}: missing")
    built = cls(**kwargs)
    try:  # settings must lie within their one definition (choices, bounds)
        validate_options(built)
    except ForensicsError as err:
        raise ResultsError(f"{where}: {err}") from err
    return built


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` checked against the annotation `hint` (the subset results use)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ResultsError(f"{where}: missing value (null)")
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            with contextlib.suppress(ResultsError):
                return _typed(value, option, where)
        return _typed(value, options[-1], where)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultsError(f"{where}: expected a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise ResultsError(f"{where}: not a finite number ({value})")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ResultsError(f"{where}: expected {hint.__name__}, got {_kind(value)}")
        return value
    if origin is tuple:  # fixed length, e.g. a segment (start, end)
        if not isinstance(value, list) or len(value) != len(args):
            raise ResultsError(f"{where}: expected a list of {len(args)}, got {_kind(value)}")
        return tuple(_typed(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(
            zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, list):
            raise ResultsError(f"{where}: expected a list, got {_kind(value)}")
        return [_typed(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultsError(f"{where}: expected an object, got {_kind(value)}")
        return {k: _typed(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if is_dataclass(hint):
        return _build(hint, value, where)
    raise TypeError(f"results schema: unsupported annotation {hint!r} at {where}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def consistency_problems(results: Results, attention: np.ndarray, face_maps: FaceMaps
                         ) -> list[str]:
    """What contradicts itself inside one results folder (empty when nothing does): lengths
    against the sampled frames, attention.npy's shape and the per-frame views recomputed from
    it, value ranges, and the face maps against the faces."""
    r = results
    problems = _frame_problems(r) + _value_problems(r) + _attention_problems(r, attention)
    return problems + _face_map_problems(r, face_maps)


def _frame_problems(r: Results) -> list[str]:
    n, problems = len(r.sampled_frames), []
    if n == 0:
        problems.append("no sampled frames")
    for name in ("sampled_times_s", "faces", "frame_scores"):
        if len(getattr(r, name)) != n:
            problems.append(f"{name} has {len(getattr(r, name))} entries for {n} sampled frames")
    if r.sampled_frames != sorted(set(r.sampled_frames)) or any(
            not 0 <= f < r.evidence.frame_count for f in r.sampled_frames):
        problems.append("sampled_frames are not increasing frame indices of the video")
    sampled = set(r.sampled_frames)
    for name, frames in (("attention_frames", r.attention_frames), ("shot_cuts", r.shot_cuts),
                         *((f"identity {i.track_id}", i.frames) for i in r.identities)):
        if not set(frames) <= sampled:
            problems.append(f"{name} names frames that were not sampled")
    if not set(r.unusual_frames) <= set(r.attention_frames):
        problems.append("unusual_frames names frames without an attention token")
    return problems


def _unit(value: float | None) -> bool:
    return value is None or 0.0 <= value <= 1.0


def _value_problems(r: Results) -> list[str]:
    problems = []
    if not _SHA256.fullmatch(r.evidence.sha256):
        problems.append("evidence.sha256 is not 64 hexadecimal digits")
    pred = r.prediction
    if pred.label not in LABELS or pred.band not in BAND_NAMES:
        problems.append(f"prediction label {pred.label!r} / band {pred.band!r} unknown")
    if not (_unit(pred.p_fake) and _unit(pred.confidence) and 0 < pred.threshold < 1):
        problems.append("prediction p_fake, confidence or threshold outside [0, 1]")
    if pred.decided_by_track is not None and pred.decided_by_track not in {
            i.track_id for i in r.identities}:
        problems.append(f"prediction decided by unknown identity {pred.decided_by_track}")
    if not all(_unit(s) for s in r.frame_scores) or not all(
            _unit(i.p_fake) and _unit(i.p_fake_spatial) and _unit(i.p_fake_temporal)
            for i in r.identities):
        problems.append("a frame or identity p_fake outside [0, 1]")
    for frame in r.faces:
        for face in frame:
            if len(face.box) != 4 or not _unit(face.score) or not _unit(face.p_fake):
                problems.append("a face has a malformed box, score or p_fake")
                return problems
    return problems


def _attention_problems(r: Results, attention: np.ndarray) -> list[str]:
    t = len(r.attention_frames)
    if attention.ndim != 4 or attention.shape[2:] != (t, t):
        return [f"attention.npy has shape {attention.shape}, expected L×H×{t}×{t} for the "
                f"{t} attention frames"]
    lengths = [f"{name} has {len(getattr(r, name))} entries for {t} attention frames"
               for name in ("self_attention", "attention_range", "frame_relevancy")
               if len(getattr(r, name)) != t]
    if lengths or t == 0:
        return lengths
    if not np.isfinite(attention).all() or attention.min() < 0 or attention.max() > 1 + 1e-4:
        return ["attention.npy holds values outside [0, 1]"]
    if not np.allclose(attention.sum(axis=-1), 1.0, atol=1e-3):
        return ["attention.npy rows do not sum to 1"]
    # Imported here: the attention module pulls in torch, which the rest of reading does not.
    from forensics_app.core.explain.attention import (
        attention_range,
        average_attention,
        expected_range,
        self_attention_strength,
    )

    mean = average_attention(attention.astype(np.float64))
    problems = []
    for name, recomputed in (("self_attention", self_attention_strength(mean)),
                             ("attention_range", attention_range(mean)),
                             ("expected_range", expected_range(mean))):
        stored = getattr(r, name)
        if stored is None:  # expected_range of a file written before it existed
            continue
        if len(stored) != t or not np.allclose(stored, recomputed, rtol=1e-4, atol=1e-5):
            problems.append(f"{name} does not match the one recomputed from attention.npy")
    return problems


def _face_map_problems(r: Results, face_maps: FaceMaps) -> list[str]:
    n = len(face_maps.frame_index)
    shapes_ok = (face_maps.frame_index.ndim == 1 and face_maps.track_id.shape == (n,)
                 and face_maps.crop_box.shape == (n, 4)
                 and all(m.ndim == 3 and len(m) == n for m in face_maps.maps.values()))
    if not shapes_ok:
        return ["relevancy.npz arrays do not line up (one row per face)"]
    faces = sorted((frame, face.track_id) for frame, boxes in zip(
        r.sampled_frames, r.faces, strict=False) for face in boxes)
    mapped = sorted(zip(face_maps.frame_index.tolist(), face_maps.track_id.tolist(),
                        strict=True))
    if faces != mapped:
        return [f"relevancy.npz holds {n} face maps that do not match the {len(faces)} faces"]
    for m in face_maps.maps.values():
        if m.size and (not np.isfinite(m).all() or m.min() < -1e-4 or m.max() > 1 + 1e-4):
            return ["relevancy.npz holds maps outside [0, 1]"]
    return []


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


# ---- one writer at a time, results written as one unit -------------------------------------

class OutputLock:
    """An exclusive lock on one output folder, across processes and threads.

    The lock file `.NAME.lock` lies beside the folder (the folder itself only appears, whole,
    at the end). flock() belongs to an open file description, so two threads of one process
    exclude each other too. The file is removed on release; an acquirer that locked a file
    unlinked meanwhile sees a different inode and tries again.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        target = self.folder.resolve()
        self.path = target.parent / f".{target.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise ResultsExistError("another analysis is writing to this output folder "
                                            "right now", self.folder) from None
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if current == os.fstat(fd).st_ino:
                    self._fd = fd
                else:
                    os.close(fd)
        except OSError as err:
            raise OutputError(f"output folder is not writable ({err.strerror or err})",
                              self.folder) from err
        return self

    def clear_if_stale(self) -> str:
        """"held" while an analysis is writing to the folder; "cleared" when a lock file
        nobody holds was found (its process was killed: the kernel dropped its flock, the
        file stayed) and removed, with the temporary folders its writer left; else "free"."""
        if not self.path.exists():
            return "free"
        try:
            self.acquire()
        except ResultsExistError:
            return "held"
        try:  # held by us now: no writer can be using these
            for left in self.path.parent.glob(f".{self.folder.resolve().name}.tmp-*"):
                if left.is_dir() and not left.is_symlink():
                    shutil.rmtree(left, ignore_errors=True)
        finally:
            self.release()  # taking it and letting go removes the file
        return "cleared"

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_destination(folder: str | Path) -> None:
    """Refuse a destination that holds anything: results are never overwritten or mixed.

    An empty folder is fine (the sealed results replace it in one rename)."""
    out = Path(folder)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise OutputError("output path exists and is not a folder", out)
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as err:
        raise OutputError(f"output folder cannot be read ({err.strerror or err})", out) from err
    if set(entries) & {RESULTS_FILE, MANIFEST_FILE, ATTENTION_FILE, RELEVANCY_FILE}:
        raise ResultsExistError("output folder already holds results; they are never "
                                "overwritten: choose a new --out", out)
    if entries:
        raise ResultsExistError(f"output folder is not empty ({len(entries)} entries); results "
                                "go into a new or empty folder", out)


def check_output_folder(out_dir: str | Path, evidence: str | Path) -> None:
    """Refuse to write beside or inside the evidence's folder (symlinks resolved: the link's
    folder and the file's), or into a folder that already holds anything. Writability is
    checked when the folder's lock is taken (the lock file lies beside it)."""
    from forensics_app.core.media.evidence import beside_evidence

    if beside_evidence(out_dir, evidence):
        raise OutputError("refusing to write results beside the evidence (in or under its "
                          "folder); choose another --out", out_dir)
    check_destination(out_dir)


def write_results(folder: str | Path, bundle_results: Results, attention: np.ndarray,
                  face_maps: FaceMaps, lock: OutputLock | None = None) -> Path:
    """Write and seal a results folder as one unit; returns the folder.

    The files go into a fresh hidden folder beside `folder`; the manifest (SHA-256 of every
    file, evidence hash, tool and model versions) is written last; one rename then puts the
    whole folder in place. A reader therefore sees either nothing or complete, sealed
    results. `lock`: the caller already holds the folder's lock (the analysis job does, from
    its start); otherwise it is taken here. A folder that holds anything is refused.
    """
    out = Path(folder)
    attention = np.asarray(attention, np.float32)
    data = results_to_dict(bundle_results)
    # The writer never seals what the one reader would refuse.
    results_from_dict(data)
    problems = consistency_problems(bundle_results, attention, face_maps)
    if problems:
        raise ResultsError(f"refusing to seal inconsistent results ({problems[0]})", out)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    with contextlib.ExitStack() as stack:
        if lock is None:
            stack.enter_context(OutputLock(out))
        check_destination(out)
        try:
            tmp = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.name}.tmp-"))
        except OSError as err:
            raise OutputError(f"cannot write results ({err.strerror or err})", out) from err
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        try:
            _write_synced(tmp / RESULTS_FILE, lambda h: h.write(text.encode("utf-8")))
            _write_synced(tmp / ATTENTION_FILE, lambda h: np.save(h, attention))
            _write_synced(tmp / RELEVANCY_FILE, lambda h: _save_face_maps(h, face_maps))
            manifest = json.dumps(_manifest(tmp, bundle_results), indent=2)
            _write_synced(tmp / MANIFEST_FILE, lambda h: h.write(manifest.encode("utf-8")))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
            _move_into_place(tmp, out)
        except OSError as err:
            raise OutputError(f"cannot write results ({err.strerror or err})", out) from err
    return out


def _write_synced(path: Path, write: Callable[[Any], object]) -> None:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o666 & ~_umask())


def _move_into_place(tmp: Path, out: Path) -> None:
    # rename(2) replaces an empty folder and fails on a non-empty one: a folder filled by
    # someone else since check_destination is refused, never merged.
    try:
        os.rename(tmp, out)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            check_destination(out)
            raise ResultsExistError("output folder was filled while the analysis ran", out) \
                from err
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(out.resolve().parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest(folder: Path, results: Results) -> dict[str, Any]:
    return {
        "schema": MANIFEST_SCHEMA,
        "files": {name: {"sha256": _sha256_file(folder / name),
                         "size_bytes": (folder / name).stat().st_size}
                  for name in SEALED_FILES},
        "evidence_sha256": results.evidence.sha256,
        "tool": {"name": results.tool.name, "version": results.tool.version,
                 "revision": results.tool.revision},
        "model": {"name": results.model.name, "version": results.model.version,
                  "sha256": results.model.sha256},
        "created_utc": results.created_utc,
    }


def _save_face_maps(handle: Any, face_maps: FaceMaps) -> None:
    arrays = {
        "frame_index": face_maps.frame_index.astype(np.int64),
        "track_id": face_maps.track_id.astype(np.int64),
        "crop_box": face_maps.crop_box.astype(np.float32),
    }
    for method, key in _METHOD_KEYS.items():
        arrays[key] = face_maps.maps[method].astype(np.float32)
    np.savez_compressed(handle, **arrays)


# ---- the one reader: seal, schema, consistency ---------------------------------------------

def is_report_product(name: str) -> bool:
    """Files `report` may write into a results folder (`--report DIR/report.pdf`): derived
    from the sealed files, never read back as results."""
    return name.endswith((".pdf", ".pdf.sha256", ".results.json")) or bool(
        _REPORT_FIGURE.fullmatch(name))


def verify_seal(folder: str | Path) -> dict[str, Any]:
    """The folder's manifest, after checking every sealed file against it; ResultsError
    names the first problem (not sealed, a file changed, missing or added)."""
    out = Path(folder)
    if not out.is_dir():
        raise ForensicsError("not a results folder (no such folder)", out)
    names = {p.name for p in out.iterdir()}
    if MANIFEST_FILE not in names:
        if RESULTS_FILE not in names:
            raise ForensicsError(f"not a results folder (missing {RESULTS_FILE})", out)
        raise ResultsError(f"results are not sealed (no {MANIFEST_FILE}): unfinished, "
                           "interrupted or written by an older version; analyse again", out)
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("schema") != MANIFEST_SCHEMA or set(files) != set(SEALED_FILES):
            raise ValueError("not a " + MANIFEST_SCHEMA + " manifest")
        recorded = {name: str(files[name]["sha256"]) for name in SEALED_FILES}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ResultsError(f"seal unreadable ({MANIFEST_FILE}: {err})", out) from err
    for name in SEALED_FILES:
        if name not in names:
            raise ResultsError(f"sealed file {name} is missing", out)
        if _sha256_file(out / name) != recorded[name]:
            raise ResultsError(f"{name} was changed after the results were sealed (SHA-256 "
                               "does not match the manifest)", out)
    extra = sorted(n for n in names - {MANIFEST_FILE, *SEALED_FILES}
                   if not is_report_product(n))
    if extra:
        raise ResultsError(f"file not part of the sealed results: {extra[0]}", out)
    return manifest


def read_results(folder: str | Path) -> ResultsBundle:
    """Read a results folder written by `write_results`: the seal is verified first, then the
    schema (types, ranges) and the consistency of the three files. Anything that fails is
    refused with a ResultsError (one line): a folder is shown whole and genuine, or not."""
    out = Path(folder)
    manifest = verify_seal(out)
    try:
        data = json.loads((out / RESULTS_FILE).read_text(encoding="utf-8"))
        results = results_from_dict(data)
        attention = np.load(out / ATTENTION_FILE, allow_pickle=False)
        with np.load(out / RELEVANCY_FILE, allow_pickle=False) as npz:
            face_maps = FaceMaps(
                frame_index=npz["frame_index"],
                track_id=npz["track_id"],
                crop_box=npz["crop_box"],
                maps={method: npz[key] for method, key in _METHOD_KEYS.items()},
            )
    except FileNotFoundError as err:
        raise ForensicsError("not a results folder (missing " + Path(err.filename).name + ")",
                             out) from err
    except ResultsError as err:
        raise ResultsError(str(err), out) from err
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ResultsError(f"corrupt results ({err})", out) from err
    problems = consistency_problems(results, attention, face_maps)
    if manifest.get("evidence_sha256") != results.evidence.sha256:
        problems.insert(0, "the manifest's evidence SHA-256 differs from results.json's")
    if problems:
        raise ResultsError(f"inconsistent results ({problems[0]})", out)
    if results.expected_range is None:  # written before r̂ existed: derive it from the file
        results.expected_range = _expected_range_of(attention)
    return ResultsBundle(results=results, attention=attention, face_maps=face_maps, folder=out)


def _expected_range_of(attention: np.ndarray) -> list[float]:
    # Imported here: the attention module imports torch, which reading a current file does
    # not need.
    from forensics_app.core.explain.attention import average_attention, expected_range

    if attention.ndim != 4 or attention.shape[-1] == 0:
        return []
    return expected_range(average_attention(attention.astype(np.float64))).tolist()
