"""The applicability check: each condition trips on an input crafted to lie outside it, and
none trips on the shared real clips."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from forensics_app.core.analysis import conditions as cond
from forensics_app.core.analysis.faces_stage import track_clip
from forensics_app.core.analysis.verdict import MIN_FACE_PX
from forensics_app.core.faces.detector import Detection


def _texture(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 255, (size // 4, size // 4)).astype(np.uint8),
                      (size, size), interpolation=cv2.INTER_CUBIC)
    return np.dstack([base] * 3)


def test_blockiness_sees_8_pixel_blocks_and_not_smooth_texture():
    smooth = cv2.cvtColor(_texture(128), cv2.COLOR_RGB2GRAY)
    assert cond.blockiness(smooth, 0, 0) < 1.3
    blocks = cv2.resize(cv2.resize(smooth, (16, 16), interpolation=cv2.INTER_AREA), (128, 128),
                        interpolation=cv2.INTER_NEAREST)
    blocky = cv2.addWeighted(blocks, 0.8, smooth, 0.2, 0)
    assert cond.blockiness(blocky, 0, 0) > cond.MAX_BLOCKINESS
    # the grid is the frame's: the same blocks seen from an offset region shift with it
    assert cond.blockiness(blocky[3:, 5:], 5, 3) > cond.MAX_BLOCKINESS
    assert np.isnan(cond.blockiness(smooth[:10, :10], 0, 0))


def test_a_pasted_crop_edge_counts_and_the_frames_own_edge_does_not():
    # a lit face and background (60-255): against black, every row of the edge is a hard step
    crop = (60 + _texture(224).astype(np.float32) * 0.75).astype(np.uint8)
    box = np.array([0, 0, 224, 224], np.float32)
    assert cond.edge_share(crop, box, 224, 224) < cond.MAX_EDGE_SHARE
    pasted = crop.copy()
    pasted[:, :20] = 0  # a tight crop on a black canvas: a hard vertical edge at x = 20
    assert cond.edge_share(pasted, box, 224, 224) > cond.MAX_EDGE_SHARE
    # The same black band where the crop leaves the frame (the engine's padding) is no edge.
    padded_box = np.array([-20, 0, 204, 224], np.float32)
    assert cond.edge_share(pasted, padded_box, 204, 224) < cond.MAX_EDGE_SHARE
    letterbox = crop.copy()
    letterbox[:30] = 0
    assert cond.edge_share(letterbox, box, 224, 224) > cond.MAX_EDGE_SHARE


def test_sharpness_and_yaw():
    sharp = cv2.cvtColor(_texture(256), cv2.COLOR_RGB2GRAY)
    sharp = cv2.addWeighted(sharp, 1.0, np.random.default_rng(1).integers(
        0, 60, sharp.shape).astype(np.uint8), 1.0, 0)
    assert cond.sharpness(sharp) > cond.MIN_SHARPNESS
    assert cond.sharpness(cv2.GaussianBlur(sharp, (0, 0), 8)) < cond.MIN_SHARPNESS
    frontal = Detection(np.array([0, 0, 100, 100]), 0.9,
                        np.array([[30, 40], [70, 40], [50, 60], [50, 80], [10, 45], [90, 45]]))
    profile = Detection(np.array([0, 0, 100, 100]), 0.9,
                        np.array([[45, 40], [60, 40], [85, 60], [75, 80], [20, 45], [90, 45]]))
    assert cond.yaw(frontal) < 0.1 and cond.yaw(profile) > cond.MAX_YAW
    assert np.isnan(cond.yaw(Detection(np.array([0, 0, 10, 10]), 0.9)))


def test_each_condition_is_named_when_outside_and_unknown_measures_never_are():
    good = cond.FaceQuality(blockiness=1.0, edge_share=0.1, sharpness=300.0, yaw=0.1)
    within = cond.check_conditions([good] * 20, [200.0] * 20, 20, MIN_FACE_PX)
    assert not any(c.outside for c in within) and not cond.outside_reasons(within)
    cases = {"compression": dict(blockiness=4.0), "edge_in_margin": dict(edge_share=0.8),
             "blur": dict(sharpness=5.0), "pose": dict(yaw=1.5)}
    for name, change in cases.items():
        bad = cond.FaceQuality(**{**good.__dict__, **change})
        found = cond.check_conditions([bad] * 20, [200.0] * 20, 20, MIN_FACE_PX)
        assert [c.name for c in found if c.outside] == [name]
        reasons = cond.outside_reasons(found)
        assert len(reasons) == 1 and reasons[0].startswith(cond.OUTSIDE_PREFIX)
    few = cond.check_conditions([good] * 5, [200.0] * 5, 5, MIN_FACE_PX)
    assert [c.name for c in few if c.outside] == ["frames"]
    small = cond.check_conditions([good] * 20, [40.0] * 20, 20, MIN_FACE_PX)
    assert [c.name for c in small if c.outside] == ["face_size"]
    assert not cond.outside_reasons(small), "face size is stated by the small-faces warning"
    unknown = cond.FaceQuality(float("nan"), float("nan"), float("nan"), float("nan"))
    found = cond.check_conditions([unknown] * 20, [200.0] * 20, 20, MIN_FACE_PX)
    assert not any(c.outside for c in found)
    assert all(c.value is None for c in found if c.name in cases)


def _write(path: Path, frames: list[np.ndarray], codec: str, options: dict[str, str]) -> Path:
    h, w = (s - s % 2 for s in frames[0].shape[:2])
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=15)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame[:h, :w]), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _deciding(path: Path, frames: int = 16) -> list[cond.Condition]:
    _, tracked = track_clip(path, frames)
    person = max(tracked.track_ids(), key=lambda t: len(tracked.rows_of(t)))
    rows = tracked.rows_of(person)
    sides = [float(min(b[2] - b[0], b[3] - b[1]))
             for b in (tracked.entries[r][2].box for r in rows)]
    return cond.check_conditions([tracked.qualities[r] for r in rows], sides, len(rows),
                                 MIN_FACE_PX)


@pytest.fixture(scope="module")
def talking_head(shared_data) -> list[np.ndarray]:
    from forensics_app.core.media import VideoSource

    with VideoSource(shared_data / "videos" / "real" / "liveportrait_d18.mp4") as source:
        return [rgb for _, rgb in source.iter_frames(list(range(0, 60, 3)))]


def test_a_tight_crop_pasted_on_black_and_heavy_mpeg4_are_outside(talking_head, tmp_path):
    side = 300
    tight = []
    for frame in talking_head:
        h, w = frame.shape[:2]
        face = cv2.resize(frame[h // 2 - side // 2 - 60:h // 2 + side // 2 - 60,
                                w // 2 - side // 2:w // 2 + side // 2], (260, 260))
        canvas = np.zeros((298, 298, 3), np.uint8)
        canvas[19:279, 19:279] = face
        tight.append(canvas)
    pasted = _deciding(_write(tmp_path / "tight.mp4", tight, "libx264", {"crf": "18"}))
    assert {c.name for c in pasted if c.outside} == {"edge_in_margin"}
    heavy = _deciding(_write(tmp_path / "q20.avi", talking_head, "mpeg4", {"qscale": "20"}))
    assert {c.name for c in heavy if c.outside} == {"compression"}
    blurred = [cv2.GaussianBlur(f, (0, 0), 6) for f in talking_head]
    soft = _deciding(_write(tmp_path / "blur.mp4", blurred, "libx264", {"crf": "18"}))
    assert {c.name for c in soft if c.outside} == {"blur"}


def test_no_condition_trips_on_the_shared_real_clips(shared_data):
    tripped = {}
    for clip in sorted((shared_data / "videos" / "real").iterdir()):
        found = [c.name for c in _deciding(clip, 40) if c.outside]
        if found:
            tripped[clip.name] = found
    assert not tripped, tripped
