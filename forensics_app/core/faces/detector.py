"""Face detection with mediapipe's BlazeFace, using the models bundled inside the wheel.

mediapipe 0.10.21 ships both BlazeFace variants (short range: faces within about 2 m, 128 px
input; full range: faces up to about 5 m, 192 px input) under ``mediapipe/modules``; the
legacy ``solutions.face_detection`` graph loads them from there, so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

ModelName = Literal["short", "full"]

# model name -> (legacy graph's model_selection, bundled weights file)
_MODELS: dict[str, tuple[int, str]] = {
    "short": (0, "face_detection_short_range.tflite"),
    "full": (1, "face_detection_full_range_sparse.tflite"),
}

# BlazeFace's six keypoints, in output order ("right"/"left" are the subject's).
KEYPOINT_NAMES: tuple[str, ...] = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)


def _unknown_keypoints() -> np.ndarray:
    return np.full((len(KEYPOINT_NAMES), 2), np.nan, dtype=np.float32)


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields make value equality ambiguous
class Detection:
    """One face: box [x0, y0, x1, y1] and keypoints (6×2, x y) in pixels of the image given.

    The box is clipped to the image; keypoints are not (an ear may lie outside the frame).
    Keypoints default to NaN for detections built by hand (tests, imported results).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray = field(default_factory=_unknown_keypoints)

    def __post_init__(self) -> None:
        # Normalise once here so that every consumer (tracker, crops, results) can rely on
        # float32 arrays of the right shape, and freeze them to match the frozen dataclass.
        box = np.array(self.box, dtype=np.float32).reshape(4)
        keypoints = np.array(self.keypoints, dtype=np.float32).reshape(-1, 2)
        box.flags.writeable = False
        keypoints.flags.writeable = False
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "keypoints", keypoints)
        object.__setattr__(self, "score", float(self.score))

    @property
    def center(self) -> np.ndarray:
        """Box centre (x, y) in pixels."""
        return np.array(
            [(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], dtype=np.float32
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the results file."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(self.score, 4),
            "keypoints": [[round(float(x), 2), round(float(y), 2)] for x, y in self.keypoints],
        }


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return ``rgb`` as a C-contiguous H×W×3 uint8 array, or raise ValueError."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", type(rgb).__name__)
        raise ValueError(f"expected an H×W×3 RGB image, got {shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"empty image {rgb.shape}")
    return np.ascontiguousarray(rgb)  # mediapipe's ImageFrame needs contiguous memory


@cache
def bundled_model_path(filename: str) -> Path:
    """Path of a model file shipped inside the mediapipe wheel."""
    import mediapipe  # lazy: importing mediapipe costs about 0.7 s

    root = Path(mediapipe.__file__).parent / "modules"
    matches = sorted(root.rglob(filename))
    if not matches:
        raise FileNotFoundError(f"{filename} is not bundled with mediapipe under {root}")
    return matches[0]


@cache
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FaceDetector:
    """BlazeFace face detector (bundled mediapipe model), for RGB frames of any size.

    Not thread-safe: each instance owns a mediapipe graph that must be fed from one thread
    at a time. Create one detector per worker thread and close it when done (or use it as a
    context manager). mediapipe letterboxes every frame down to the model's input (128 px
    short range, 192 px full range), so faces smaller than roughly 1/10 (short) to 1/20
    (full) of the frame's longer side are missed; results are mapped back to the pixels of
    the frame given and clipped to it.
    """

    def __init__(self, model: ModelName = "short", min_score: float = 0.5,
                 tile_fallback: bool = True) -> None:
        if model not in _MODELS:
            raise ValueError(f"model must be one of {sorted(_MODELS)}, got {model!r}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must lie in [0, 1], got {min_score}")
        from mediapipe.python.solutions import face_detection  # lazy, see bundled_model_path

        self.model = model
        self.min_score = float(min_score)
        self.tile_fallback = tile_fallback
        self._tile_graph: Any = None
        selection, self._model_file = _MODELS[model]
        self._graph: Any = warm_graph(face_detection.FaceDetection(
            min_detection_confidence=self.min_score, model_selection=selection
        ))

    def detect(self, rgb: np.ndarray, hints: list[np.ndarray] | None = None) -> list[Detection]:
        """Faces in an H×W×3 uint8 RGB image, highest score first.

        `hints`: boxes where faces were in a nearby frame (the tracker's last boxes). When the
        whole frame gives nothing, the regions around them are looked at before the tiles.
        """
        return self.detect_whole(rgb) or self.detect_fallback(rgb, hints)

    def detect_whole(self, rgb: np.ndarray) -> list[Detection]:
        """Faces found in the whole frame at once (no second look), highest score first."""
        if self._graph is None:
            raise RuntimeError("FaceDetector is closed")
        return _by_score(self._detect_whole(check_rgb(rgb)))

    def detect_fallback(self, rgb: np.ndarray, hints: list[np.ndarray] | None = None
                        ) -> list[Detection]:
        """The second look of `detect` for a large frame: around `hints`, then in tiles."""
        if self._graph is None:
            raise RuntimeError("FaceDetector is closed")
        rgb = check_rgb(rgb)
        if not self.tile_fallback or max(rgb.shape[:2]) <= TILE_MIN_SIDE:
            return []
        regions = [_region_around(h, rgb.shape[1], rgb.shape[0]) for h in hints or []]
        return _by_score(self._detect_in(rgb, regions) or self._detect_tiled(rgb))

    def _detect_whole(self, rgb: np.ndarray, graph: Any = None,
                      min_score: float | None = None) -> list[Detection]:
        result = (graph or self._graph).process(rgb)
        height, width = rgb.shape[:2]
        floor = self.min_score if min_score is None else min_score
        detections = [_to_detection(d, width, height) for d in result.detections or []]
        return [d for d in detections if d is not None and d.score >= floor]

    def _detect_tiled(self, rgb: np.ndarray) -> list[Detection]:
        """Second look at a large frame in overlapping square tiles.

        The graph shrinks the whole frame to 128/192 px, so a face of ~70 px in a 1080p
        frame (a person standing in a room) shrinks below what BlazeFace finds; in a tile of
        half the frame's height it is large enough. Only run when the whole frame gave none.
        A face fills much of a tile, which is the short-range model's domain; a stricter
        score keeps out the hands and folds of clothing that a zoomed-in look turns up.
        """
        return self._detect_in(rgb, _tiles(rgb.shape[1], rgb.shape[0]))

    def _detect_in(self, rgb: np.ndarray, regions: list[tuple[int, int, int]]
                   ) -> list[Detection]:
        """Detections inside square regions (x0, y0, side), in frame pixels, de-duplicated."""
        if self._tile_graph is None:
            from mediapipe.python.solutions import face_detection

            self._tile_graph = warm_graph(face_detection.FaceDetection(
                min_detection_confidence=TILE_MIN_SCORE, model_selection=_MODELS["short"][0]))
        floor = max(self.min_score, TILE_MIN_SCORE)
        found = []
        for x0, y0, side in regions:
            tile = np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
            offset = np.array([x0, y0], dtype=np.float32)
            for d in self._detect_whole(tile, self._tile_graph, floor):
                found.append(Detection(box=d.box + np.tile(offset, 2), score=d.score,
                                       keypoints=d.keypoints + offset))
        return _non_max_suppression(found)

    def settings(self) -> dict[str, Any]:
        """What the results file records about the detector (reproducibility)."""
        import mediapipe

        path = bundled_model_path(self._model_file)
        return {
            "detector": "mediapipe BlazeFace",
            "model": self.model,
            "min_score": self.min_score,
            "model_file": self._model_file,
            "model_sha256": _sha256(path),
            "tile_fallback": self.tile_fallback,
            "mediapipe_version": mediapipe.__version__,
        }

    def close(self) -> None:
        """Release the mediapipe graph; safe to call twice."""
        for graph in (self._graph, self._tile_graph):
            if graph is not None:
                graph.close()
        self._graph = self._tile_graph = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


TILE_MIN_SIDE = 720  # frames larger than this get the tiled second look
TILE_OVERLAP = 0.25
TILE_MIN_SCORE = 0.7


def warm_graph(graph: Any) -> Any:
    """Run a graph once on a blank image with the process's stderr silenced.

    TensorFlow Lite and absl print INFO/WARNING lines straight to file descriptor 2 on the
    first inference; a command-line user would read them as errors.
    """
    with silenced_stderr():
        graph.process(np.zeros((64, 64, 3), np.uint8))
    return graph


@contextmanager
def silenced_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (native libraries included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def pad_for_detection(image: np.ndarray) -> tuple[np.ndarray, int]:
    """Black border of half the image's longer side: a face that fills the picture is found
    and cut with its full margin, the margin being black as in the engine's crops.

    BlazeFace is trained on faces with context around them; a face crop (the face filling
    the picture) is missed about two times in three on the shared DFDC crops without this
    border, and found in 69 of 71 with it. The training data are prepared the same way.
    """
    pad = max(image.shape[:2]) // 2
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad


def _by_score(detections: list[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: d.score, reverse=True)


def _tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square tiles (x0, y0, side) of half the shorter side, overlapping by a quarter."""
    side = max(1, min(width, height) // 2)
    stride = max(1, int(side * (1 - TILE_OVERLAP)))
    xs = list(range(0, max(1, width - side) + 1, stride))
    ys = list(range(0, max(1, height - side) + 1, stride))
    if xs[-1] + side < width:
        xs.append(width - side)
    if ys[-1] + side < height:
        ys.append(height - side)
    return [(x, y, side) for y in ys for x in xs]


def _region_around(box: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """A square of four face sizes centred on `box`, shifted inside the frame."""
    side = int(min(width, height, max(box[2] - box[0], box[3] - box[1]) * 4))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = int(np.clip(cx - side / 2, 0, width - side))
    y0 = int(np.clip(cy - side / 2, 0, height - side))
    return x0, y0, side


def _non_max_suppression(detections: list[Detection], iou_limit: float = 0.3
                         ) -> list[Detection]:
    """Keep the best-scoring detection of each group that overlaps (tiles see faces twice)."""
    from forensics_app.core.faces.tracker import iou_matrix  # tracker imports this module

    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d.score, reverse=True):
        if not kept or iou_matrix(d.box[None], np.stack([k.box for k in kept])).max() <= iou_limit:
            kept.append(d)
    return kept


def _to_detection(raw: Any, width: int, height: int) -> Detection | None:
    """Convert one mediapipe detection (relative coordinates) to pixels; None if degenerate."""
    rel = raw.location_data.relative_bounding_box
    scale = np.array([width, height, width, height], dtype=np.float32)
    box = np.array(
        [rel.xmin, rel.ymin, rel.xmin + rel.width, rel.ymin + rel.height], dtype=np.float32
    )
    # Relative boxes may reach past the frame (a face cut by the edge): clip to the image.
    box = np.clip(box * scale, 0.0, scale)
    if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
        return None
    keypoints = np.array(
        [[k.x * width, k.y * height] for k in raw.location_data.relative_keypoints],
        dtype=np.float32,
    )
    if keypoints.shape != (len(KEYPOINT_NAMES), 2):
        keypoints = _unknown_keypoints()
    return Detection(box=box, score=float(raw.score[0]), keypoints=keypoints)
