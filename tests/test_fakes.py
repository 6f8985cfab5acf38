"""The fake makers beyond self-blends (reenactment, motion warp) and the crop-pipeline
augmentation, asserted on the pixels they change and the pixels they leave alone."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from forensics_app.core.train import canvas, fakes, sbi
from forensics_app.core.train.data import ClipFaces
from forensics_app.core.train.finetune import (
    MixedPairs,
    check_made_shares,
    clip_face_set,
    clip_motions,
    made_val_set,
)

SIZE = 224


@pytest.fixture(scope="module")
def real_face(shared_data):
    """One LFW face cut in the engine's geometry, with its FaceMesh landmarks."""
    from forensics_app.core.faces import FaceDetector, FaceMesher
    from forensics_app.core.faces.crop import engine_crop

    path = sorted((shared_data / "faces" / "lfw").glob("*/*.jpg"))[0]
    rgb = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
    with FaceDetector("full", 0.5, tile_fallback=False) as detector, FaceMesher() as mesher:
        crop = engine_crop(rgb, detector, SIZE, 0.3)
        points = mesher.landmarks(crop)
    assert crop is not None and points is not None
    return crop, points


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > 0


def _upper_face(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Eyes and brows: above the nose tip (landmark 1) by a tenth of the face."""
    ys = np.arange(shape[0])[:, None] * np.ones((1, shape[1]))
    top = points[:, 1].min()
    limit = points[1, 1] - 0.1 * np.ptp(points[:, 1])
    hull = sbi.hull_mask(points, shape) > 0
    return hull & (ys > top) & (ys < limit)


@pytest.mark.parametrize("seed", range(6))
def test_reenactment_changes_the_lower_face_only(real_face, seed):
    image, points = real_face
    params = fakes.sample_reenact(np.random.default_rng(seed), SIZE)
    fake, mask = fakes.reenact(image, points, params)
    changed = _changed(fake, image)
    assert changed.any(), "the expression change must show"
    assert np.all(mask[changed] > 0), "a pixel changed outside the mask"
    assert np.array_equal(fake[mask == 0], image[mask == 0])
    moved = fakes.expression_points(points, params.jaw, params.smile)
    region = np.maximum(sbi.face_region(points, image.shape[:2]),
                        sbi.face_region(moved, image.shape[:2]))
    assert np.all(region[mask > 0] == 1), "the mask leaves the face (before and after)"
    upper = _upper_face(points, image.shape[:2])
    assert not changed[upper].any(), "eyes and brows must stay as they were"
    mouth = sbi.hull_mask(points[[61, 291, 0, 17, 152]], image.shape[:2]) > 0
    assert changed[mouth].mean() > 0.3, "most of the mouth and chin changed"


def test_reenactment_from_another_frame_keeps_this_frames_upper_face(real_face):
    image, points = real_face
    # "another frame": the same face with the mouth opened and lit differently
    other_points = fakes.expression_points(points, 0.06, 0.1)
    other = fakes.render(fakes.landmark_warp(image, points, other_points), "colour", 0.08, 3)
    params = replace(fakes.sample_reenact(np.random.default_rng(1), SIZE), render="none")
    fake, mask = fakes.reenact(image, points, params, other, other_points)
    changed = _changed(fake, image)
    assert changed.any() and np.all(mask[changed] > 0)
    assert not changed[_upper_face(points, image.shape[:2])].any()


def test_landmark_warp_moves_content_to_its_target_and_pins_the_border():
    image = np.zeros((128, 128, 3), np.uint8)
    cv2.circle(image, (60, 64), 4, (255, 255, 255), -1)
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    src = np.r_[[(60.0, 64.0)], np.c_[60 + 35 * np.cos(angles), 64 + 35 * np.sin(angles)]]
    dst = src.copy()
    dst[0] = (70, 64)  # the dot's landmark moves 10 px to the right
    warped = fakes.landmark_warp(image, src, dst)
    ys, xs = np.nonzero(warped[..., 0] > 128)
    assert abs(xs.mean() - 70) < 1.5 and abs(ys.mean() - 64) < 1.5
    still = fakes.landmark_warp(image, src, src)
    assert np.array_equal(still, image), "no motion, no change"
    noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    moved = fakes.landmark_warp(noise, src, dst)
    assert np.array_equal(moved[0], noise[0]) and np.array_equal(moved[:, -1], noise[:, -1])


@pytest.mark.parametrize("seed", range(4))
def test_motion_warp_moves_the_face_and_renders_inside_its_mask(real_face, seed):
    image, points = real_face
    rng = np.random.default_rng(seed)
    tracks = np.zeros(20, np.int64)
    marks = np.stack([fakes.expression_points(points, j / 200, -j / 100) for j in range(20)])
    bank = fakes.motion_bank(marks, tracks, 10, seed)
    assert bank.shape[1:] == (468, 2) and np.isfinite(bank).all()
    params = fakes.sample_warp(rng, len(bank), SIZE)
    fake, mask = fakes.motion_warp(image, points, bank[params.motion], params)
    assert fake.shape == image.shape and fake.dtype == np.uint8
    for edge in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1]):
        assert np.array_equal(fake[edge], image[edge]), "the warp is pinned at the border"
    rendered = replace(params, render="blur", render_amount=1.5)
    unrendered = replace(params, render="none")
    a, _ = fakes.motion_warp(image, points, bank[params.motion], rendered)
    b, mask = fakes.motion_warp(image, points, bank[params.motion], unrendered)
    differs = _changed(a, b)
    assert differs.any() and np.all(mask[differs] > 0), "the render stays inside its mask"
    zero = fakes.motion_warp(image, points, np.zeros_like(bank[0]), unrendered)[0]
    assert np.array_equal(zero, image)


def test_render_kinds_change_the_image_and_none_does_not(real_face):
    image, _ = real_face
    assert fakes.render(image, "none", 0.0, 0) is image
    for kind, amount in (("blur", 1.0), ("resample", 0.5), ("colour", 0.05)):
        assert _changed(fakes.render(image, kind, amount, 1), image).any(), kind
    with pytest.raises(ValueError):
        fakes.render(image, "paint", 1.0, 0)
    rng = np.random.default_rng(0)
    kinds = [fakes.sample_render(rng, 0.5)[0] for _ in range(2000)]
    assert abs(kinds.count("none") / 2000 - 0.5) < 0.05
    assert {k for k in kinds} == set(fakes.RENDERS)


# --------------------------------------------------------------------------- canvas

@pytest.mark.parametrize("seed", range(10))
def test_canvas_keeps_the_rectangle_exactly_and_replaces_the_rest(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(30, 220, (SIZE, SIZE, 3), dtype=np.uint8)
    params = canvas.sample_canvas(rng, 1.0)
    assert params.kind in canvas.KINDS[1:]
    out = canvas.apply_canvas(image, params)
    x0, y0, x1, y1 = canvas.kept_rectangle(params, SIZE, SIZE)
    inner = (slice(y0 + 1, y1 - 1), slice(x0 + 1, x1 - 1))
    assert np.array_equal(out[inner], image[inner])
    outside = np.ones((SIZE, SIZE), bool)
    outside[y0:y1, x0:x1] = False
    assert outside.any() and _changed(out, image)[outside].mean() > 0.9
    lo, hi = canvas.EDGE_RANGE
    face = (slice(round(hi * SIZE), SIZE - round(hi * SIZE)),) * 2
    assert np.array_equal(out[face], image[face]), "the face box is never covered"
    assert lo >= 0


def test_canvas_sampler_draws_alike_whatever_it_chooses():
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    canvas.sample_canvas(a, 0.0)
    canvas.sample_canvas(b, 1.0)
    assert a.random() == b.random(), "the generator's state does not depend on the outcome"
    rng = np.random.default_rng(0)
    draws = [canvas.sample_canvas(rng, 0.3) for _ in range(3000)]
    share = np.mean([d.kind != "none" for d in draws])
    assert abs(share - 0.3) < 0.03
    image = np.full((32, 32, 3), 7, np.uint8)
    assert canvas.apply_canvas(image, canvas.CanvasParams()) is image


def _clip_with_two_frames(image: np.ndarray, points: np.ndarray) -> ClipFaces:
    other = fakes.expression_points(points, 0.05, 0.1)
    crops = np.stack([image, fakes.landmark_warp(image, points, other)])
    return ClipFaces("c", crops, np.stack([points, other]).astype(np.float32),
                     np.arange(2), np.zeros(2, np.int64))


def test_mixed_pairs_make_each_kind_at_its_share_and_frame_real_and_fake_alike(
        real_face, monkeypatch):
    from forensics_app.core.train import finetune

    image, points = real_face
    calls = []
    original = finetune.apply_canvas

    def spy(picture, params):
        calls.append(params)
        return original(picture, params)

    monkeypatch.setattr(finetune, "apply_canvas", spy)
    faces = clip_face_set([_clip_with_two_frames(image, points)], SIZE)
    motions = clip_motions([_clip_with_two_frames(image, points)])
    empty = faces.select(np.zeros(0, np.int64))
    ds = MixedPairs(faces, empty, 300, seed=0, augment_data=False,
                    made_shares={"reenact": 0.3, "warp": 0.2}, motions=motions,
                    canvas_prob=0.5)
    kinds = [ds.pair(i)[2] for i in range(300)]
    assert abs(kinds.count("reenact") / 300 - 0.3) < 0.08
    assert abs(kinds.count("warp") / 300 - 0.2) < 0.08
    assert len(calls) == 2 * 300, "each real and each fake goes through the canvas step"
    assert calls[0::2] == calls[1::2], "a real and its fake get the very same canvas"
    framed = [c for c in calls[0::2] if c.kind != "none"]
    assert abs(len(framed) / 300 - 0.5) < 0.1
    black = next(i for i, c in enumerate(calls[0::2]) if c.kind != "none" and c.fill == "black"
                 and c.kind != "pip")
    real, fake, _ = ds.pair(black)
    assert (real[:2, :2] == 0).all() and (fake[:2, :2] == 0).all(), "a black canvas on both"
    # Without the new kinds and canvases the items are the self-blend recipe's, exactly.
    plain = MixedPairs(faces, empty, 20, seed=0, augment_data=False)
    again = MixedPairs(faces, empty, 20, seed=0, augment_data=False, made_shares={},
                       canvas_prob=0.0)
    for i in range(20):
        assert all(np.array_equal(x, y) for x, y in zip(plain.pair(i)[:2], again.pair(i)[:2],
                                                         strict=True))
        assert plain.pair(i)[2] == "sbi"


def test_made_shares_are_checked():
    assert check_made_shares({"reenact": 0.0, "warp": 0.4}) == {"warp": 0.4}
    for bad in ({"swap": 0.1}, {"reenact": 1.5}, {"reenact": 0.7, "warp": 0.5}):
        with pytest.raises(ValueError):
            check_made_shares(bad)


def test_held_out_made_fakes_pair_each_real_face_with_its_fake(real_face):
    image, points = real_face
    clip = _clip_with_two_frames(image, points)
    faces = clip_face_set([clip], SIZE)
    for kind in ("reenact", "warp"):
        val = made_val_set(faces, kind, 10, 0, clip_motions([clip]))
        assert val.labels.tolist() == [0, 1, 0, 1] and val.name == f"faces_{kind}"
        assert np.array_equal(val.images[0], faces.crops[0])
        assert _changed(val.images[1], val.images[0]).any()
    with pytest.raises(ValueError):
        made_val_set(faces, "swap", 10, 0)


def test_band_precision_counts_the_stated_label_per_band():
    from forensics_app.core.train.heldout import band_precision

    p = np.array([0.95, 0.05, 0.92, 0.8, 0.15, 0.6, 0.3])
    y = np.array([1, 0, 0, 1, 1, 1, 0])
    bands = band_precision(p, y)
    assert bands["very confident"] == {"count": 3, "right": 2 / 3}
    assert bands["confident"] == {"count": 2, "right": 0.5}
    assert bands["moderate"] == {"count": 2, "right": 1.0}
    assert band_precision(np.array([0.55]), np.array([1]))["very confident"]["right"] is None
