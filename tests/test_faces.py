"""Faces: BlazeFace detection, FaceMesh landmarks, the IoU tracker and square crops."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from forensics_app.core.faces import (
    Detection,
    FaceDetector,
    FaceMesher,
    IoUTracker,
    crop_face,
    iou_matrix,
    square_crop_box,
    track_detections,
)
from forensics_app.core.faces import tracker as tracker_module


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image(shared_data: Path, name: str) -> np.ndarray:
    return load_rgb(shared_data / "images" / "real" / name)


@pytest.fixture(scope="module")
def short_detector() -> Iterator[FaceDetector]:
    with FaceDetector("short") as detector:
        yield detector


@pytest.fixture(scope="module")
def full_detector() -> Iterator[FaceDetector]:
    with FaceDetector("full") as detector:
        yield detector


@pytest.fixture(scope="module")
def mesher() -> Iterator[FaceMesher]:
    with FaceMesher() as face_mesher:
        yield face_mesher


def inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    return (
        (points[:, 0] >= box[0])
        & (points[:, 0] <= box[2])
        & (points[:, 1] >= box[1])
        & (points[:, 1] <= box[3])
    )


# --- detection ------------------------------------------------------------------------------


@pytest.mark.shared
def test_one_face_on_obama_box_covers_the_face(shared_data, short_detector):
    rgb = image(shared_data, "obama.jpg")
    height, width = rgb.shape[:2]
    [face] = short_detector.detect(rgb)
    assert face.box.dtype == np.float32 and face.box.shape == (4,)
    assert face.keypoints.dtype == np.float32 and face.keypoints.shape == (6, 2)
    assert 0.5 <= face.score <= 1.0
    # Eyes, nose and mouth lie in the box; the face is upper-centre and a plausible size.
    assert inside(face.keypoints[:4], face.box).all()
    cx, cy = face.center
    assert 0.4 * width < cx < 0.7 * width and 0.1 * height < cy < 0.4 * height
    assert 0.2 * width < face.box[2] - face.box[0] < 0.5 * width


@pytest.mark.shared
def test_two_people_two_faces_sorted_by_score(shared_data, short_detector):
    rgb = image(shared_data, "two_people.jpg")
    faces = short_detector.detect(rgb)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score
    assert iou_matrix(faces[0].box, faces[1].box)[0, 0] == 0.0
    centres_x = sorted(float(f.center[0]) for f in faces)
    assert centres_x[0] < rgb.shape[1] / 2 < centres_x[1]  # one person on each side


@pytest.mark.shared
def test_boxes_map_back_to_original_pixels_at_240p_and_1080p(shared_data, short_detector):
    relative = []
    for name in ("obama-240p.jpg", "obama-1080p.jpg"):
        rgb = image(shared_data, name)
        [face] = short_detector.detect(rgb)
        height, width = rgb.shape[:2]
        relative.append(face.box / np.array([width, height, width, height]))
    # Same picture at two sizes: the boxes agree in relative terms, so the big frame's
    # internal downscale was undone.
    np.testing.assert_allclose(relative[0], relative[1], atol=0.03)


@pytest.mark.shared
def test_full_range_model_finds_the_face(shared_data, full_detector, short_detector):
    rgb = image(shared_data, "obama.jpg")
    [full] = full_detector.detect(rgb)
    [short] = short_detector.detect(rgb)
    assert iou_matrix(full.box, short.box)[0, 0] > 0.7
    settings = full_detector.settings()
    assert settings["model"] == "full" and settings["min_score"] == 0.5
    assert settings["model_file"] == "face_detection_full_range_sparse.tflite"
    assert len(settings["model_sha256"]) == 64
    assert short_detector.settings()["model_file"] == "face_detection_short_range.tflite"


@pytest.mark.shared
def test_face_cut_by_the_edge_is_clipped_to_the_image(shared_data, short_detector):
    rgb = image(shared_data, "obama_partial_face.jpg")
    [face] = short_detector.detect(rgb)
    height, width = rgb.shape[:2]
    assert face.box[0] == 0.0  # mediapipe reports it reaching past the left edge
    assert (face.box >= 0).all() and face.box[2] <= width and face.box[3] <= height


@pytest.mark.parametrize("value", [0, 128])
def test_blank_image_has_no_face(short_detector, value):
    assert short_detector.detect(np.full((480, 640, 3), value, dtype=np.uint8)) == []


def test_detector_rejects_bad_input_and_closes_twice():
    detector = FaceDetector("short")
    with pytest.raises(ValueError):
        detector.detect(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((64, 64, 3), dtype=np.float32))
    detector.close()
    detector.close()
    with pytest.raises(RuntimeError):
        detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        FaceDetector("huge")  # type: ignore[arg-type]


def test_detection_normalises_and_freezes_its_arrays():
    det = Detection(box=[1, 2, 3, 4], score=0.9)
    assert det.box.dtype == np.float32 and np.isnan(det.keypoints).all()
    with pytest.raises(ValueError):
        det.box[0] = 5  # read-only
    assert det.to_dict()["box"] == [1.0, 2.0, 3.0, 4.0]


# --- landmarks ------------------------------------------------------------------------------


@pytest.mark.shared
def test_mesh_on_obama_face_crop(shared_data, short_detector, mesher):
    rgb = image(shared_data, "obama.jpg")
    [face] = short_detector.detect(rgb)
    crop, _ = crop_face(rgb, face.box, size=224)
    points = mesher.landmarks(crop)
    assert points is not None and points.shape == (468, 2) and points.dtype == np.float32
    assert inside(points, np.array([0, 0, 223, 223])).all()
    # The face is centred in the crop and fills a good part of it.
    assert np.allclose(points.mean(axis=0), [112, 112], atol=25)
    assert (points.max(axis=0) - points.min(axis=0) > 80).all()


def test_mesh_on_blank_image_is_none(mesher):
    assert mesher.landmarks(np.zeros((224, 224, 3), dtype=np.uint8)) is None


# --- tracker --------------------------------------------------------------------------------


def face(cx: float, cy: float, side: float = 100.0, score: float = 0.9) -> Detection:
    half = side / 2
    return Detection(box=[cx - half, cy - half, cx + half, cy + half], score=score)


def test_adjacent_faces_moving_with_jitter_keep_their_ids():
    rng = np.random.default_rng(0)
    tracker = IoUTracker()
    first = tracker.update([face(200, 200), face(305, 200)])  # 5 px apart
    for step in range(1, 15):
        jitter = rng.normal(0, 4, size=4)
        dets = [face(200 + 10 * step + jitter[0], 200 + jitter[1])]
        dets.append(face(305 + 10 * step + jitter[2], 200 + jitter[3]))
        order = rng.permutation(2)  # input order must not matter
        ids = tracker.update([dets[i] for i in order])
        assert [ids[list(order).index(i)] for i in range(2)] == first


def test_crossing_faces_keep_their_ids():
    tracker = IoUTracker()
    ids = [tracker.update([face(100 + 40 * t, 200), face(400 - 40 * t, 210)]) for t in range(9)]
    # They pass through each other between t = 3 and 4, where each box lies closer to
    # where the *other* face was last seen: only the constant-velocity prediction tells.
    assert all(step == [0, 1] for step in ids)


def test_swaying_head_keeps_its_id():
    tracker = IoUTracker()
    # Sampled frames catch a head swinging back and forth by 0.45 face sizes: the
    # velocity prediction overshoots at every reversal, the "stayed" hypothesis holds it.
    ids = [tracker.update([face(200 + 45 * (t % 2), 200)]) for t in range(10)]
    assert ids == [[0]] * 10


def test_global_assignment_keeps_both_people_when_greedy_would_not():
    tracker = IoUTracker()
    assert tracker.update([face(100, 200), face(160, 200)]) == [0, 1]
    # Both step right by 40: the cheapest single pair (B → left box) is the wrong one.
    assert tracker.update([face(140, 200), face(200, 200)]) == [0, 1]


def test_greedy_fallback_without_scipy(monkeypatch):
    monkeypatch.setattr(tracker_module, "linear_sum_assignment", None)
    tracker = IoUTracker()
    assert tracker.update([face(100, 100), face(400, 100)]) == [0, 1]
    assert tracker.update([face(410, 100), face(110, 100)]) == [1, 0]
    # Two candidates for one track: the closer one wins, the other starts a new track.
    assert tracker.update([face(118, 100), face(111, 100)]) == [2, 0]


def test_short_absence_keeps_id_long_absence_gets_a_new_one():
    tracker = IoUTracker(max_missed=5)
    assert tracker.update([face(100, 100)]) == [0]
    tracker.update([])
    tracker.update([])
    assert tracker.update([face(105, 100)]) == [0]  # gone for 2 updates: same person
    for _ in range(6):  # more than max_missed
        tracker.update([])
    assert tracker.active_ids == []
    assert tracker.update([face(105, 100)]) == [1]  # new id, 0 never reused


def test_moving_face_found_again_where_its_velocity_puts_it():
    tracker = IoUTracker()
    for t in range(4):
        assert tracker.update([face(100 + 40 * t, 200)]) == [0]
    tracker.update([])
    tracker.update([])
    # 120 px (1.2 face sizes) from where it was last seen, right where it was heading.
    assert tracker.update([face(100 + 40 * 6, 200)]) == [0]


def test_ids_unique_and_new_faces_get_new_ids():
    tracker = IoUTracker()
    assert tracker.update([face(100, 100), face(400, 100)]) == [0, 1]
    ids = tracker.update([face(100, 100), face(400, 100), face(700, 100)])
    assert ids == [0, 1, 2] and len(set(ids)) == 3
    # A face twice the size in the same place is someone else (or a cut), not a zoom.
    assert tracker.update([face(100, 100, side=200)]) == [3]


def test_track_detections_pairs_ids_with_detections():
    frames = [[face(100, 100)], [], [face(110, 100), face(500, 100)]]
    tracked = track_detections(frames)
    assert [[i for i, _ in step] for step in tracked] == [[0], [], [0, 1]]
    assert tracked[2][1][1] is frames[2][1]


@pytest.mark.shared
def test_hamilton_clip_identities_are_stable(shared_data, full_detector):
    av = pytest.importorskip("av")
    path = shared_data / "videos" / "real" / "two_faces_hamilton.mp4"
    with av.open(str(path)) as container:
        frames = {
            index: frame.to_ndarray(format="rgb24")
            for index, frame in enumerate(container.decode(video=0))
            if index % 10 == 0
        }
    tracked = track_detections(full_detector.detect(rgb) for rgb in frames.values())
    tracks: dict[int, list[tuple[int, Detection]]] = defaultdict(list)
    for index, step in zip(frames, tracked, strict=True):
        for track_id, det in step:
            tracks[track_id].append((index, det))

    # No track ever jumps: consecutive centres stay within a face size of each other.
    for history in tracks.values():
        for (_, a), (_, b) in pairwise(history):
            assert np.linalg.norm(a.center - b.center) < a.box[2] - a.box[0]

    def ids_between(start: int, stop: int, min_hits: int) -> list[int]:
        counts = defaultdict(int)
        for track_id, history in tracks.items():
            counts[track_id] = sum(start <= i <= stop for i, _ in history)
        return [t for t, n in counts.items() if n >= min_hits]

    # The performer (frames 90–210, 13 samples) is one track all the way through.
    [performer] = ids_between(90, 210, min_hits=12)
    # The closing shot (frames 220–270) shows two people side by side: two identities,
    # each seen in at least 5 of 6 samples, never swapping sides, distinct from the
    # performer's track across the cut.
    couple = ids_between(220, 270, min_hits=5)
    assert len(couple) == 2 and performer not in couple
    left, right = sorted(couple, key=lambda t: float(tracks[t][0][1].center[0]))
    for index, step in zip(frames, tracked, strict=True):
        xs = {t: float(d.center[0]) for t, d in step}
        if index >= 220 and left in xs and right in xs:
            assert xs[left] < xs[right]


# --- crop -----------------------------------------------------------------------------------


def test_square_crop_box_is_square_centred_with_margin():
    box = np.array([100, 120, 180, 220], dtype=np.float32)  # 80 × 100 face
    crop_box = square_crop_box(box, 640, 480, margin=0.3)
    side = crop_box[2] - crop_box[0]
    assert crop_box.dtype == np.float32
    assert side == crop_box[3] - crop_box[1] == 160  # 100 · (1 + 2 · 0.3)
    np.testing.assert_allclose((crop_box[:2] + crop_box[2:]) / 2, [140, 170], atol=0.5)
    for margin, expected in ((0.0, 100), (0.5, 200)):
        x0, y0, x1, y1 = square_crop_box(box, 640, 480, margin=margin)
        assert x1 - x0 == y1 - y0 == expected


def test_crop_face_content_matches_the_frame_at_scale_one():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    box = np.array([200, 150, 340, 290], dtype=np.float32)  # 140 · 1.6 = 224: no resampling
    crop, crop_box = crop_face(rgb, box, size=224, margin=0.3)
    x0, y0, x1, y1 = crop_box.astype(int)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, rgb[y0:y1, x0:x1])


def test_crop_face_at_the_corner_is_padded():
    rgb = np.full((300, 400, 3), 200, dtype=np.uint8)
    box = np.array([0, 0, 60, 60], dtype=np.float32)
    crop, crop_box = crop_face(rgb, box, size=112, margin=0.3)
    assert crop.shape == (112, 112, 3)
    assert crop_box[0] < 0 and crop_box[1] < 0 and crop_box[2] - crop_box[0] == 96
    # The part of the square above/left of the frame is black, the rest is the frame.
    pad = round(-crop_box[0] * 112 / 96)
    assert (crop[: pad - 1] == 0).all() and (crop[:, : pad - 1] == 0).all()
    assert (crop[pad + 1 :, pad + 1 :] == 200).all()
    replicated, _ = crop_face(rgb, box, size=112, margin=0.3, border="replicate")
    assert (replicated == 200).all()


def test_crop_face_shrinks_large_faces_and_survives_boxes_off_frame():
    rgb = np.full((1080, 1920, 3), 50, dtype=np.uint8)
    crop, _ = crop_face(rgb, np.array([600, 200, 1200, 800]), size=224)
    assert crop.shape == (224, 224, 3) and (crop == 50).all()
    crop, crop_box = crop_face(rgb, np.array([5000, 5000, 5100, 5100]), size=64)
    assert crop.shape == (64, 64, 3) and crop_box[2] - crop_box[0] >= 1


def test_small_face_in_large_frame_found_by_tiles(shared_data):
    """A person standing in a dim 1080p room: the face is ~110 px, too small once the whole
    frame is shrunk to the model's input; the tiled second look finds it."""
    from forensics_app.core.media import VideoSource

    with VideoSource(shared_data / "videos" / "fake" / "dfdc_abofeumbvv.mp4") as source:
        frame = source.frame(100)
    with FaceDetector("short", 0.5, tile_fallback=False) as plain:
        assert plain.detect(frame) == []
    with FaceDetector("short", 0.5) as tiled:
        faces = tiled.detect(frame)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 850 < x0 < x1 < 1060 and 150 < y0 < y1 < 330


def test_shot_cuts_between_scenes_not_within_one():
    from forensics_app.core.faces import ShotCutDetector

    rng = np.random.default_rng(0)
    warm = np.zeros((90, 160, 3), np.uint8)
    warm[..., 0], warm[..., 1] = 200, 120
    warm[30:60, 40:80] = (40, 40, 200)  # a blue object
    moved = np.roll(warm, 25, axis=1)  # camera pan: same colours, new place
    noisy = np.clip(moved + rng.normal(0, 8, moved.shape), 0, 255).astype(np.uint8)
    green = np.zeros_like(warm)
    green[..., 1] = 180
    cuts = ShotCutDetector()
    assert [cuts.is_cut(f) for f in (warm, moved, noisy, green, green)] == [
        False, False, False, True, False]


def test_identities_span_cuts_but_their_temporal_scores_do_not(shared_data, tiny_model_dir,
                                                               tmp_path):
    """The Hamilton clip cuts from the performer to the pianist and back: the performer is one
    identity across the cuts, but each of its temporal scores covers one shot only."""
    from forensics_app.core.analysis.drive import run_to_end
    from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
    from forensics_app.core.models.registry import load_model

    job = run_analysis(shared_data / "videos" / "real" / "two_faces_hamilton.mp4",
                       tmp_path / "out", AnalysisSettings(frames=40), load_model(tiny_model_dir))
    results = run_to_end(job).results
    assert len(results.shot_cuts) >= 2
    bounds = [0, *results.shot_cuts, 10**9]

    def shot_of(frame: int) -> int:
        return next(i for i in range(len(bounds) - 1) if bounds[i] <= frame < bounds[i + 1])

    performer = results.identities[0]  # seen first, on stage
    assert shot_of(performer.frames[0]) != shot_of(performer.frames[-1]), performer.frames
    assert performer.fragments >= 2
    for identity in results.identities:
        assert sum(s.frames for s in identity.shots) == len(identity.frames)
        for part in identity.shots:
            assert shot_of(part.first_frame) == shot_of(part.last_frame), part
    assert set(results.attention_frames) <= set(
        next(i for i in results.identities
             if i.track_id == results.prediction.decided_by_track).frames)
