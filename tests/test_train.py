"""Self-blended images, datasets and the training loops, on synthetic faces and tiny models."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from forensics_app.core.models.spatial import SpatialModel
from forensics_app.core.models.temporal import TemporalConfig, TemporalModel
from forensics_app.core.train import sbi
from forensics_app.core.train.data import ClipFaces, split_clips
from forensics_app.core.train.finetune import MixedPairs, clip_face_set, train_on_images
from forensics_app.core.train.loop import RunLog
from forensics_app.core.train.temporal_stage import (
    Sequences,
    keep_score,
    markers_near_cut,
    predict_temporal,
    train_temporal,
    validation_localisation,
)
from forensics_app.core.train.trainer import TrainConfig

SIZE = 128

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic_face(seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with a lighter elliptical 'face' and 468 landmarks inside it:
    an outline ring (the hull) and scattered interior points, like FaceMesh's layout."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
    cx, cy = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
    ax, ay = size * 0.27, size * 0.34
    yy, xx = np.mgrid[:size, :size]
    inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
    image[inside] = np.clip(image[inside].astype(int) + 120, 0, 255).astype(np.uint8)
    angles = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    ring = np.stack([cx + ax * np.cos(angles), cy + ay * np.sin(angles)], 1)
    r = np.sqrt(rng.uniform(0, 0.8, 468 - 36))
    t = rng.uniform(0, 2 * np.pi, 468 - 36)
    inner = np.stack([cx + ax * r * np.cos(t), cy + ay * r * np.sin(t)], 1)
    return image, np.concatenate([ring, inner]).astype(np.float32)


def synthetic_clip(name: str, count: int, seed: int = 0) -> ClipFaces:
    faces = [synthetic_face(seed * 100 + i) for i in range(count)]
    return ClipFaces(name, np.stack([f[0] for f in faces]), np.stack([f[1] for f in faces]),
                     np.arange(count), np.zeros(count, np.int64))


# --------------------------------------------------------------------------- SBI

@pytest.mark.parametrize("seed", range(12))
def test_sbi_mask_inside_face_and_blend_changes_only_masked_pixels(seed):
    image, marks = synthetic_face(seed)
    rng = np.random.default_rng(seed)
    params = replace(sbi.sample_params(rng, SIZE), swap=False)
    blended, mask = sbi.self_blend(image, marks, params)
    region = sbi.face_region(marks, image.shape[:2])
    assert mask.shape == image.shape[:2] and mask.dtype == np.float32
    assert mask.max() > 0.1, "the mask must cover part of the face"
    assert mask.max() <= params.blend_ratio + 1e-6
    assert np.all(region[mask > 0] == 1), "mask pixels outside the face region"
    # Outside the mask the blend is the source image exactly.
    outside = mask == 0
    assert np.array_equal(blended[outside], image[outside])
    # Inside it, something changed (the altered copy shows through).
    inside = mask > 0.5 * mask.max()
    assert np.abs(blended[inside].astype(int) - image[inside].astype(int)).max() > 0


def test_sbi_region_masks_stay_within_hull_and_differ():
    image, marks = synthetic_face(3)
    shape = image.shape[:2]
    masks = {}
    for region in sbi.REGIONS:
        params = sbi.BlendParams(region=region, blur_sigma=2.0, elastic_alpha=0.0)
        masks[region] = sbi.blend_mask(marks, shape, params)
        assert np.all(sbi.face_region(marks, shape)[masks[region] > 0] == 1)
    whole = (masks["hull"] > 0).sum()
    for region in ("lower", "inner", "upper"):
        assert 0 < (masks[region] > 0).sum() < whole


def test_sbi_is_deterministic_and_jitter_varies_per_frame():
    image, marks = synthetic_face(5)
    p1 = sbi.sample_params(np.random.default_rng(7), SIZE)
    p2 = sbi.sample_params(np.random.default_rng(7), SIZE)
    assert p1 == p2
    a, _ = sbi.self_blend(image, marks, p1)
    b, _ = sbi.self_blend(image, marks, p2)
    assert np.array_equal(a, b)
    rng = np.random.default_rng(1)
    frames = [sbi.jitter(p1, rng) for _ in range(5)]
    assert len({f.blend_ratio for f in frames}) > 1
    assert all(f.region == p1.region for f in frames)  # the clip keeps its region


def test_alter_identity_params_is_identity():
    image, _ = synthetic_face(0)
    assert np.array_equal(sbi.alter(image, sbi.BlendParams()), image)


# --------------------------------------------------------------------------- quality augmentation

def test_quality_augmentation_is_deterministic_given_a_seed():
    from forensics_app.core.train.data import augment

    image, _ = synthetic_face(4)
    assert sbi.sample_quality(np.random.default_rng(11)) == sbi.sample_quality(
        np.random.default_rng(11))
    for seed in range(8):
        a = augment(image, np.random.default_rng(seed))
        b = augment(image, np.random.default_rng(seed))
        assert np.array_equal(a, b) and a.dtype == np.uint8 and a.shape == image.shape
    outs = {augment(image, np.random.default_rng(s)).tobytes() for s in range(8)}
    assert len(outs) > 4, "different seeds give different degradations"
    # Neutral parameters leave the image alone; each operation on its own changes it.
    assert np.array_equal(sbi.apply_quality(image, sbi.QualityParams()), image)
    for change in ({"brightness": 15.0}, {"contrast": 1.2}, {"gamma": 1.3},
                   {"downscale": 0.5}, {"blur_sigma": 1.0}, {"noise_sigma": 4.0},
                   {"jpeg_quality": 30}, {"h264_crf": 35},
                   {"channel_gain": (1.05, 1.0, 0.95)}):
        out = sbi.apply_quality(image, sbi.QualityParams(**change))
        assert not np.array_equal(out, image), change


def test_quality_sampler_matches_its_documented_distribution():
    rng = np.random.default_rng(0)
    draws = [sbi.sample_quality(rng) for _ in range(4000)]
    rates = _quality_rates(draws)
    for op in rates:
        assert abs(rates[op] - sbi.QUALITY_PROBS[op]) < 0.03, (op, rates[op])
    assert not any(d.compress_small or d.mpeg4_qscale or d.second_crf for d in draws), \
        "the whole-frame steps are off by default"
    jpeg = [d.jpeg_quality for d in draws if d.jpeg_quality]
    assert min(jpeg) >= 30 and max(jpeg) <= 95
    down = [d.downscale for d in draws if d.downscale < 1]
    assert min(down) >= 0.4
    crf = [d.h264_crf for d in draws if d.h264_crf]
    assert min(crf) >= 23 and max(crf) <= 40
    assert not any(d.h264_crf and d.jpeg_quality for d in draws), "one re-compression at most"


def test_a_recipe_can_change_the_quality_steps_probabilities():
    probs = sbi.quality_probs({"h264": 0.7, "jpeg": 0.3, "downscale": 0.0})
    assert probs["h264"] == 0.7 and probs["color"] == sbi.QUALITY_PROBS["color"]
    assert sbi.quality_probs() == sbi.QUALITY_PROBS and sbi.quality_probs() is not \
        sbi.QUALITY_PROBS
    rng = np.random.default_rng(1)
    rates = _quality_rates([sbi.sample_quality(rng, probs) for _ in range(4000)])
    for op in rates:
        assert abs(rates[op] - probs[op]) < 0.03, (op, rates[op], probs[op])
    for bad in ({"sharpen": 0.5}, {"blur": 1.5}, {"noise": -0.1}, {"h264": 0.9}):
        with pytest.raises(ValueError):
            sbi.quality_probs(bad)
    # the same probabilities reach every augmented image of the training pairs
    from forensics_app.core.train.data import augment

    image, _ = synthetic_face(3)
    none = {k: 0.0 for k in sbi.QUALITY_PROBS}
    record: list = []
    for seed in range(20):
        augment(image, np.random.default_rng(seed), record=record, probs=none)
    assert all(params == sbi.QualityParams(noise_seed=params.noise_seed) for params in record)


def test_train_cli_reads_quality_probabilities(tmp_path):
    from forensics_app.cli.train import parse_quality_probs
    from forensics_app.core.errors import UsageError

    assert parse_quality_probs("") == {}
    assert parse_quality_probs("h264=0.6, downscale=0.5") == {"h264": 0.6, "downscale": 0.5}
    for bad in ("h264", "h264=lots", "sharpen=0.1", "h264=0.8,jpeg=0.3"):
        with pytest.raises(UsageError):
            parse_quality_probs(bad)


def test_the_best_epoch_is_also_chosen_on_degraded_held_out_blends():
    from forensics_app.core.train.finetune import ValSet
    from forensics_app.core.train.trainer import epoch_selection, selection_sets

    images = np.stack([synthetic_face(i, 64)[0] for i in range(4)])
    labels = np.array([0, 1, 0, 1])
    sets = [ValSet(images, labels, "faces_sbi"), ValSet(images, labels, "dfdc")]
    chosen = selection_sets(sets)
    assert [v.name for v in chosen] == ["faces_sbi", "dfdc", "faces_sbi_degraded"]
    assert chosen[:2] == sets and np.array_equal(chosen[2].labels, labels)
    assert not np.array_equal(chosen[2].images, images), "degraded as held-out's CRF 35 figure"
    assert [v.name for v in selection_sets(sets[1:])] == ["dfdc"], "no blends: nothing to add"
    text = epoch_selection([{"epoch": 1, "val_auc": 0.7}, {"epoch": 2, "val_auc": 0.9},
                            {"epoch": 3, "val_auc": 0.8}], ["faces_sbi", "dfdc"])
    assert text.startswith("epoch 2 of 3 kept") and "0.900" in text and "upward" in text


def _quality_rates(draws) -> dict[str, float]:
    n = len(draws)
    return {"color": sum(d.contrast != 1.0 for d in draws) / n,
            "downscale": sum(d.downscale < 1.0 for d in draws) / n,
            "blur": sum(d.blur_sigma > 0 for d in draws) / n,
            "noise": sum(d.noise_sigma > 0 for d in draws) / n,
            "jpeg": sum(d.jpeg_quality > 0 for d in draws) / n,
            "h264": sum(d.h264_crf > 0 or d.mpeg4_qscale > 0 for d in draws) / n}


def test_quality_augmentation_hits_reals_and_fakes_alike(monkeypatch):
    """Every real and every fake goes through the same augmentation, drawn from the same
    distribution (the sampler never sees the label): quality cannot separate the classes."""
    from forensics_app.core.train import data

    calls = []
    original = data.apply_quality

    def spy(image, params):
        calls.append(params)
        return original(image, params)

    monkeypatch.setattr(data, "apply_quality", spy)
    clips = [synthetic_clip("a", 40, 0), synthetic_clip("b", 40, 1)]
    faces = clip_face_set(clips, 64)
    ds = MixedPairs(faces, faces.select(np.zeros(0, np.int64)), 80, seed=0)
    items = 0
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            ds[i]
            items += 1
    assert len(calls) == 2 * items, "each real and each fake is augmented exactly once"
    real, fake = calls[0::2], calls[1::2]  # MixedPairs augments the real, then its fake
    r_rates, f_rates = _quality_rates(real), _quality_rates(fake)
    for op in r_rates:
        assert abs(r_rates[op] - f_rates[op]) < 0.12, (op, r_rates[op], f_rates[op])
    r_q = np.mean([p.jpeg_quality for p in real if p.jpeg_quality])
    f_q = np.mean([p.jpeg_quality for p in fake if p.jpeg_quality])
    assert abs(r_q - f_q) < 8
    # Determinism of the whole item given (seed, epoch, index).
    ds2 = MixedPairs(faces, faces.select(np.zeros(0, np.int64)), 80, seed=0)
    ds2.set_epoch(3)
    assert torch.equal(ds2[5][0], ds[5][0])


# --------------------------------------------------------------------------- data

def test_mixed_pairs_dataset_and_identity_split():
    clips = [synthetic_clip("a", 3, 0), synthetic_clip("b", 2, 1), synthetic_clip("c", 2, 2)]
    train, val = split_clips(clips, ["c"])
    assert [c.clip for c in train] == ["a", "b"] and [c.clip for c in val] == ["c"]
    with pytest.raises(ValueError):
        split_clips(clips, ["nope"])
    faces = clip_face_set(train, 96)
    assert len(faces) == 5 and faces.crops.shape[1:] == (96, 96, 3)
    assert np.allclose(faces.landmarks, np.concatenate([c.landmarks for c in train]) * 96 / SIZE)
    ds = MixedPairs(faces, faces.select(np.zeros(0, np.int64)), 12, seed=0)
    assert len(ds) == 12 and ds.sbi_share == 1.0, "no DFDC pairs: every pair is a self-blend"
    images, labels = ds[0]
    assert images.shape == (2, 3, 96, 96) and images.dtype == torch.uint8
    assert labels.tolist() == [0.0, 1.0]
    again, _ = ds[0]
    assert torch.equal(images, again), "items are deterministic given seed and epoch"
    ds.set_epoch(1)
    other, _ = ds[0]
    assert not torch.equal(images[1], other[1]), "a new epoch draws new pairs"


def test_mixed_pairs_draws_dfdc_pairs_from_one_source_video():
    from forensics_app.core.train.faces import FaceSet
    from forensics_app.core.train.finetune import dfdc_pairs

    n = 6
    crops = np.stack([np.full((32, 32, 3), 10 * i, np.uint8) for i in range(n)])
    labels = np.array([0, 1, 0, 1, 1, 0])
    groups = np.array(["g1", "g1", "g2", "g2", "g3", "g4"])
    dfdc = FaceSet(crops, np.full((n, 468, 2), np.nan, np.float32), labels, groups,
                   np.array(["dfdc_crops"] * n), np.array([""] * n))
    pairs = dfdc_pairs(dfdc)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (2, 3)], "g3 has no real, g4 no fake"
    real = clip_face_set([synthetic_clip("a", 4, 0)], 32)
    ds = MixedPairs(real, dfdc, 200, seed=1, sbi_share=0.5, augment_data=False)
    kinds = [ds.pair(i)[2] for i in range(200)]
    assert 0.35 < kinds.count("sbi") / 200 < 0.65
    for i, kind in enumerate(kinds):
        if kind == "dfdc":
            r, f, _ = ds.pair(i)
            rows = [int(np.flatnonzero(crops[:, 0, 0, 0] == x[0, 0, 0])[0]) for x in (r, f)]
            assert groups[rows[0]] == groups[rows[1]] and labels[rows].tolist() == [0, 1]


# --------------------------------------------------------------------------- training

def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    from tiny_model import TINY_SPATIAL, TINY_TEMPORAL

    base = dict(real="", out=str(tmp_path), input_size=TINY_SPATIAL.input_size,
                spatial={k: v for k, v in TINY_SPATIAL.to_dict().items() if k != "input_size"},
                temporal=TINY_TEMPORAL.to_dict(), imagenet_init=False, freeze_blocks=2,
                batch_pairs=8, lr=2e-3, backbone_lr=2e-3, warmup_steps=1, log_every=100)
    base.update(kw)
    return TrainConfig(**base)


def tiny_spatial(config: TrainConfig) -> SpatialModel:
    from forensics_app.core.train.trainer import build_spatial

    torch.manual_seed(0)
    return build_spatial(config)


def test_the_validation_self_blends_are_made_from_the_rows_and_parameters_listed():
    # bench/sbi_strata.py pairs each fake with its recipe through sbi_val_blends
    from forensics_app.core.train.finetune import sbi_val_blends, sbi_val_set
    from forensics_app.core.train.sbi import self_blend

    faces = clip_face_set([synthetic_clip("v", 6, 9)], 64)
    val = sbi_val_set(faces, 4, 7)
    blends = sbi_val_blends(faces, 4, 7)
    assert len(blends) == 4 and val.labels.tolist() == [0, 1] * 4
    for i, (row, params) in enumerate(blends):
        assert np.array_equal(val.images[2 * i], faces.crops[row])
        fake, _ = self_blend(faces.crops[row], faces.landmarks[row], params)
        assert np.array_equal(val.images[2 * i + 1], fake)
    assert len({params for _row, params in blends}) == 4, "each face its own blend"


def test_tiny_spatial_training_lowers_the_loss_and_resumes(tmp_path):
    from forensics_app.core.train.finetune import sbi_val_set

    torch.manual_seed(0)
    config = tiny_config(tmp_path, epochs=4, steps_per_epoch=6, loader_workers=0)
    log = RunLog(tmp_path, printer=lambda _line: None)
    faces = clip_face_set([synthetic_clip("a", 8, 0)], config.input_size)
    data = MixedPairs(faces, faces.select(np.zeros(0, np.int64)),
                      config.steps_per_epoch * config.batch_pairs, seed=0, augment_data=False)
    val = sbi_val_set(clip_face_set([synthetic_clip("v", 4, 9)], config.input_size), 4, 0)
    assert val.labels.tolist() == [0, 1] * 4
    _, history = train_on_images(tiny_spatial(config), data, [val], config, tmp_path, log)
    assert len(history) == 4
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"], history
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "history.json").exists()
    # Resume: the checkpoint carries the epoch, so asking for 5 epochs runs one more.
    more = replace(config, epochs=5)
    _, resumed = train_on_images(tiny_spatial(config), data, [val], more, tmp_path, log,
                                 resume=True)
    assert [h["epoch"] for h in resumed] == list(range(1, 6))


def test_a_resumed_runs_minutes_count_the_epochs_of_earlier_sittings():
    from forensics_app.core.train.trainer import spatial_stage_minutes

    history = [{"epoch": 1, "seconds": 60.0}, {"epoch": 2, "seconds": 120.0}]
    assert spatial_stage_minutes(30.0, history) == pytest.approx(3.5)
    assert spatial_stage_minutes(30.0, []) == pytest.approx(0.5)


def test_range_residual_is_the_marker_rules_residual_in_torch():
    from forensics_app.core.explain.attention import (
        attention_range,
        expected_range,
        range_residual,
    )

    rng = np.random.default_rng(0)
    attention = rng.random((17, 17))
    attention /= attention.sum(axis=1, keepdims=True)
    expected = attention_range(attention) - expected_range(attention)
    assert np.allclose(range_residual(torch.from_numpy(attention)).numpy(), expected, atol=1e-12)


def _kernel_and_bumped_layer(t: int = 12) -> torch.Tensor:
    """(B = 2, H = 1, 1 + T, 1 + T): a stationary distance kernel, and the same with frame 5
    looking at the whole window (its range stands out: the marker rule flags it)."""
    frames = torch.arange(t, dtype=torch.float64)
    kernel = torch.exp(-(frames[:, None] - frames[None]).abs() / 2)
    bumped = kernel.clone()
    bumped[5, :] = 1.0
    attentions = []
    for matrix in (kernel, bumped):
        with_cls = torch.zeros(t + 1, t + 1, dtype=torch.float64)
        with_cls[1:, 1:] = matrix / matrix.sum(dim=1, keepdim=True)
        with_cls[0, 1:] = 1 / t
        attentions.append(with_cls)
    return torch.stack(attentions)[:, None]


def test_marker_zones_follow_the_heldout_near_boundary_rule():
    from forensics_app.core.train.temporal_stage import marker_zones

    cuts = np.zeros(20, bool)
    cuts[10] = True  # the edge lies between frames 9 and 10
    quiet, loud = marker_zones(cuts, "splice")
    assert [list(frames) for frames in loud] == [[8, 9, 10, 11]]
    assert np.flatnonzero(~quiet).tolist() == [7, 8, 9, 10, 11, 12]  # within 2.5 of 9.5
    quiet, loud = marker_zones(np.zeros(20, bool), "real")
    assert quiet.all() and loud == []
    quiet, loud = marker_zones(cuts, "flicker")
    assert not quiet.any() and loud == []


def test_the_marker_loss_asks_for_quiet_real_windows_and_a_marker_at_each_cut():
    from forensics_app.core.analysis.metrics import temporal_metrics
    from forensics_app.core.explain.attention import frame_attention
    from forensics_app.core.train.temporal_stage import marker_loss

    layer = _kernel_and_bumped_layer()
    kernel, bumped = layer[:1], layer[1:]
    none = torch.zeros(1, 12, dtype=torch.bool)
    assert 5 in temporal_metrics(frame_attention([bumped[0]])).unusual
    no_cut, cut = np.zeros(12, bool), np.zeros(12, bool)
    cut[5] = True
    # a real window: the stationary kernel costs nothing, a marked frame does
    assert marker_loss([kernel], none, [no_cut], ["real"]) < 1e-6
    assert marker_loss([bumped], none, [no_cut], ["real"]) > 0.1
    # a cut at frame 5: without a marker it costs the whole margin, with one much less
    assert marker_loss([kernel], none, [cut], ["splice"]) > 2.0
    assert marker_loss([bumped], none, [cut], ["splice"]) < 1.0
    # flicker windows ask for nothing; a batch of only those gives 0
    assert marker_loss([bumped], none, [no_cut], ["flicker"]) == 0


def test_the_marker_loss_stays_finite_when_frame_rows_look_only_at_cls():
    from forensics_app.core.train.temporal_stage import marker_loss

    t = 10
    scores = torch.zeros(1, 1, t + 1, t + 1, dtype=torch.float64)
    scores[..., 1:, 0] = 60.0  # every frame row: all but e^-60 of its attention on CLS
    scores.requires_grad_(True)
    loss = marker_loss([scores.softmax(dim=-1)], torch.zeros(1, t, dtype=torch.bool),
                       [np.eye(t, dtype=bool)[4]], ["splice"])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()


def test_tiny_temporal_training_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(tmp_path, temporal_epochs=15, temporal_batch=8, temporal_lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    seqs = Sequences()
    for i in range(24):
        length = 8 + i % 5
        emb = torch.randn(length, 32, generator=gen)
        fake = i % 2
        if fake:  # a spliced stretch shifted away from the reals' distribution
            emb[2:6] += 1.5
        seqs.add(emb, float(fake), np.zeros(length, bool), "splice" if fake else "real",
                 np.zeros(length))
    model = TemporalModel(TemporalConfig(**config.temporal))
    log = RunLog(tmp_path, printer=lambda _line: None)
    model, history = train_temporal(model, seqs, seqs, config, tmp_path, log)
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"], history
    assert history[-1]["val_auc"] > 0.8


def test_the_marker_weight_trains_the_marker_loss_down(tmp_path):
    from forensics_app.core.train.temporal_stage import _pad, cut_mask, marker_loss

    gen = torch.Generator().manual_seed(0)
    seqs = Sequences()
    for i in range(24):
        emb = torch.randn(16, 32, generator=gen)
        if i % 2:  # other footage from frame 8: shifted, so the cut can be seen
            emb[8:] += 2.0
        seqs.add(emb, float(i % 2), np.arange(16) >= 8 if i % 2 else np.zeros(16, bool),
                 "identity" if i % 2 else "real", np.zeros(16), cut_mask(16, [8] * (i % 2)))

    def measured(model: TemporalModel) -> float:
        x, mask = _pad(seqs.embeddings)
        with torch.no_grad():
            out = model.eval()(x, mask)
        return float(marker_loss(out.attentions, mask, seqs.cuts, seqs.kinds))

    torch.manual_seed(0)
    config = tiny_config(tmp_path, temporal_epochs=20, temporal_batch=8, temporal_lr=3e-3,
                         temporal_marker_weight=1.0, temporal_keep="last")
    model = TemporalModel(TemporalConfig(**config.temporal))
    before = measured(model)
    model, history = train_temporal(model, seqs, seqs, config, tmp_path,
                                    RunLog(tmp_path, printer=lambda _line: None))
    assert before > 1.0  # a content-free start marks no cut: the whole 1.5-frame margin
    assert measured(model) < 0.5 * before, history


def test_the_temporal_stage_keeps_the_last_epoch_or_the_lowest_validation_loss(tmp_path):
    gen = torch.Generator().manual_seed(0)
    train, val = Sequences(), Sequences()
    for i in range(16):  # validation labels unrelated to training: its loss moves at random
        train.add(torch.randn(6, 32, generator=gen) + (i % 2), float(i % 2), np.zeros(6, bool),
                  "real", np.zeros(6))
        val.add(torch.randn(6, 32, generator=gen), float(i // 8), np.zeros(6, bool), "real",
                np.zeros(6))

    def run(keep: str) -> tuple[TemporalModel, list[dict]]:
        torch.manual_seed(0)
        config = tiny_config(tmp_path / keep, temporal_epochs=6, temporal_batch=8,
                             temporal_lr=3e-3, temporal_keep=keep)
        (tmp_path / keep).mkdir()
        model = TemporalModel(TemporalConfig(**config.temporal))
        return train_temporal(model, train, val, config, tmp_path / keep,
                              RunLog(tmp_path / keep, printer=lambda _line: None))

    _, last = run("last")
    assert [h["kept"] for h in last] == [False] * 5 + [True]
    best_model, best = run("best")
    lowest = min(best, key=lambda h: h["val_loss"])["epoch"]
    assert [h["epoch"] for h in best if h["kept"]] == [lowest]
    # the kept weights are the ones reported: the validation loss of the returned model
    val_logits = predict_temporal(best_model, val, torch.device("cpu"))
    loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(val_logits),
                                                    torch.tensor(val.labels, dtype=torch.float64)))
    assert loss == pytest.approx(best[lowest - 1]["val_loss"], abs=1e-6)


def test_the_localisation_rule_keeps_the_epoch_whose_relevancy_best_finds_the_splices(
        tmp_path):
    gen = torch.Generator().manual_seed(1)
    seqs = Sequences()
    for i in range(16):
        emb, blended = torch.randn(8, 32, generator=gen), np.zeros(8, bool)
        if i % 2:  # a shifted stretch: a splice
            blended[4:] = True
            emb[4:] += 1.0
        seqs.add(emb, float(i % 2), blended, "splice" if i % 2 else "real", np.zeros(8))
    torch.manual_seed(0)
    config = tiny_config(tmp_path, temporal_epochs=4, temporal_batch=8, temporal_lr=3e-3,
                         temporal_keep="localisation")
    model, history = train_temporal(TemporalModel(TemporalConfig(**config.temporal)), seqs,
                                    seqs, config, tmp_path, RunLog(tmp_path, lambda _l: None))
    scores = [h["val_localisation_auc"] for h in history]
    assert all(0.0 <= v <= 1.0 for v in scores)
    assert [h["epoch"] for h in history if h["kept"]] == [int(np.argmax(scores)) + 1]
    # the kept weights are the ones reported
    assert validation_localisation(model, seqs) == pytest.approx(max(scores), abs=1e-6)
    # no splice among the validation sequences: nothing to measure, said as NaN
    reals = Sequences()
    reals.add(torch.randn(8, 32), 0.0, np.zeros(8, bool), "real", np.zeros(8))
    assert np.isnan(validation_localisation(model, reals))


def test_markers_near_a_cut_are_those_within_two_and_a_half_frames_of_a_boundary():
    blended = np.zeros(20, bool)
    blended[10:] = True  # boundary between frames 9 and 10, at 9.5
    near = markers_near_cut(np.array([7, 8, 12, 13, 0]), blended)
    assert near.tolist() == [True, True, True, False, False]
    assert markers_near_cut(np.array([3]), np.zeros(20, bool)).tolist() == [False]
    assert markers_near_cut(np.zeros(0), blended).shape == (0,)


def test_validation_views_count_what_the_views_would_mark(tmp_path, monkeypatch):
    import forensics_app.core.train.temporal_stage as stage

    seqs = Sequences()
    blended = np.zeros(12, bool)
    blended[6:] = True
    seqs.add(torch.randn(12, 32), 1.0, blended, "splice", np.zeros(12))
    seqs.add(torch.randn(12, 32), 1.0, blended, "splice", np.zeros(12))
    for _ in range(4):
        seqs.add(torch.randn(12, 32), 0.0, np.zeros(12, bool), "real", np.zeros(12))
    seqs.add(torch.randn(12, 32), 1.0, np.zeros(12, bool), "freeze", np.zeros(12))
    # the marker rule's output, set per call in the order the sequences are read (freeze is
    # not read): splice 1 marked at the cut, splice 2 far from it, one real window of four
    marks = iter([[6], [0], [3], [], [], []])
    real_metrics = stage.temporal_metrics

    def fake_metrics(attention):
        return replace(real_metrics(attention), unusual=np.array(next(marks), np.int64))
    monkeypatch.setattr(stage, "temporal_metrics", fake_metrics)
    model = TemporalModel(TemporalConfig(**tiny_config(tmp_path).temporal))
    views = stage.validation_views(model, seqs)
    assert views["marker_near_boundary"] == 0.5
    assert views["real_marked"] == 0.25
    assert 0.0 <= views["localisation"] <= 1.0


def test_the_views_rule_weighs_found_splices_against_false_markers(tmp_path):
    config = tiny_config(tmp_path, temporal_keep="views")
    quiet = {"localisation": 0.8, "marker_near_boundary": 0.1, "real_marked": 0.05}
    noisy = {"localisation": 0.9, "marker_near_boundary": 0.1, "real_marked": 0.5}
    assert keep_score(config, 0.3, quiet) < keep_score(config, 0.3, noisy)
    assert keep_score(tiny_config(tmp_path, temporal_keep="localisation"), 0.3, quiet) > \
        keep_score(tiny_config(tmp_path, temporal_keep="localisation"), 0.3, noisy)
    assert keep_score(tiny_config(tmp_path, temporal_keep="best"), 0.3, quiet) == 0.3


def test_restarts_keep_the_training_whose_kept_epoch_scores_best_on_validation(tmp_path):
    from forensics_app.core.train.temporal_stage import entry_score, pick_restart

    gen = torch.Generator().manual_seed(1)
    seqs = Sequences()
    for i in range(16):
        emb, blended = torch.randn(8, 32, generator=gen), np.zeros(8, bool)
        if i % 2:
            blended[4:] = True
            emb[4:] += 1.0
        seqs.add(emb, float(i % 2), blended, "splice" if i % 2 else "real", np.zeros(8))
    config = tiny_config(tmp_path, temporal_epochs=3, temporal_batch=8, temporal_lr=3e-3,
                         temporal_keep="views")
    log = RunLog(tmp_path, lambda _l: None)
    trainings = []
    for restart in range(3):
        torch.manual_seed(1 + 1000 * restart)
        model = TemporalModel(TemporalConfig(**config.temporal))
        trainings.append(train_temporal(model, seqs, seqs, config, tmp_path, log,
                                        restart=restart))
    # each restart has its own checkpoint, and its own batch order: other weights
    assert sorted(p.name for p in tmp_path.glob("temporal_checkpoint*.pt")) == [
        "temporal_checkpoint.pt", "temporal_checkpoint_r1.pt", "temporal_checkpoint_r2.pt"]
    weights = [next(iter(m.state_dict().values())) for m, _ in trainings]
    assert not torch.equal(weights[0], weights[1])
    scores = [entry_score(config, next(e for e in h if e["kept"])) for _, h in trainings]
    model, history = pick_restart(trainings, config, log)
    best = int(np.argmin(scores))
    assert model is trainings[best][0]
    assert len(history) == 9 and {e["restart"] for e in history} == {0, 1, 2}
    kept = [e for e in history if e["kept"]]
    assert len(kept) == 1 and kept[0]["restart"] == best
    assert entry_score(config, kept[0]) == min(scores)
    # one training: the history is the training's own, as before restarts existed
    single_model, single = pick_restart(trainings[:1], config, log)
    assert single_model is trainings[0][0] and [e["restart"] for e in single] == [0] * 3


def test_a_temporal_checkpoint_resumes_only_on_the_embeddings_it_was_trained_on(tmp_path):
    # Resuming a run after more spatial epochs used to restore the old temporal model (made
    # on the old backbone's embeddings) and skip its training: the fingerprint stops that.
    config = tiny_config(tmp_path, temporal_epochs=2, temporal_batch=8)
    gen = torch.Generator().manual_seed(0)
    seqs = Sequences()
    for i in range(8):
        seqs.add(torch.randn(6, 32, generator=gen), float(i % 2), np.zeros(6, bool), "real",
                 np.zeros(6))
    lines: list[str] = []
    log = RunLog(tmp_path, printer=lines.append)

    def run(fingerprint: str, **temporal) -> list[dict]:
        model = TemporalModel(TemporalConfig(**{**config.temporal, **temporal}))
        return train_temporal(model, seqs, seqs, config, tmp_path, log, resume=True,
                              fingerprint=fingerprint)[1]

    assert [h["epoch"] for h in run("spatial-A")] == [1, 2]
    trained = (tmp_path / "temporal_checkpoint.pt").stat().st_mtime_ns
    assert [h["epoch"] for h in run("spatial-A")] == [1, 2]  # the same: resumed, nothing to do
    assert (tmp_path / "temporal_checkpoint.pt").stat().st_mtime_ns == trained
    assert not any("afresh" in line for line in lines)
    assert [h["epoch"] for h in run("spatial-B")] == [1, 2]  # other weights: trained again
    assert (tmp_path / "temporal_checkpoint.pt").stat().st_mtime_ns != trained
    assert any("other spatial weights" in line for line in lines)
    trained = (tmp_path / "temporal_checkpoint.pt").stat().st_mtime_ns
    assert [h["epoch"] for h in run("spatial-B", distance_bias=True)] == [1, 2]  # other model
    assert (tmp_path / "temporal_checkpoint.pt").stat().st_mtime_ns != trained


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0", "tf_efficientnet_lite1",
                                  "tf_efficientnet_lite2"])
def test_imagenet_weights_map_onto_the_timm_backbone(name):
    import timm

    from forensics_app.core.train.trainer import imagenet_weights_path, load_imagenet_backbone

    backbone = timm.create_model(name, pretrained=False, num_classes=0)
    before = backbone.conv_stem.weight.clone()
    assert load_imagenet_backbone(backbone, imagenet_weights_path(name)) == len(
        backbone.state_dict())
    assert not torch.equal(before, backbone.conv_stem.weight)


@pytest.mark.parametrize("backbone", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_a_new_spatial_model_starts_from_its_backbones_own_imagenet_weights(backbone, tmp_path):
    from forensics_app.core.train.trainer import build_spatial, imagenet_weights_path

    path = imagenet_weights_path(backbone)  # the training extra installs every one
    assert backbone.removeprefix("tf_efficientnet_") in str(path)
    config = tiny_config(tmp_path, spatial={"backbone": backbone, "dim": 32, "depth": 1,
                                            "heads": 2}, input_size=64, imagenet_init=True)
    model = build_spatial(config)
    stem = torch.load(path, map_location="cpu", weights_only=True)["_conv_stem.weight"]
    assert model.config.backbone == backbone
    assert torch.equal(model.backbone.conv_stem.weight, stem)
    with pytest.raises(ValueError, match="no ImageNet weights for the backbone 'resnet50'"):
        imagenet_weights_path("resnet50")
    from forensics_app.core.train.config import default_model_name
    assert default_model_name(backbone) == f"sbi-dfdc-effnet{backbone[-5:]}-vit"


def test_train_cli_registers_and_checks_arguments(tmp_path):
    from forensics_app.cli import build_parser, main

    args = build_parser().parse_args(["train", "--real", str(tmp_path), "--out",
                                      str(tmp_path / "run"), "--epochs", "2", "--faces",
                                      str(tmp_path), "--sbi-share", "0.7"])
    assert isinstance(args, argparse.Namespace) and args.epochs == 2 and args.sbi_share == 0.7
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"), "--faces",
                 str(tmp_path / "nowhere")]) == 64
    assert main(["train", "--real", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 64
    for size in ("100", "0", "-32"):
        assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                     "--input-size", size]) == 64
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--temporal-attention-weight", "-1"]) == 64
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--temporal-sequences", "0"]) == 64
    parsed = build_parser().parse_args(["train", "--real", str(tmp_path), "--out", str(tmp_path),
                                        "--temporal-sequences", "8", "--temporal-keep", "last"])
    assert parsed.temporal_sequences == 8 and parsed.temporal_keep == "last"
    assert parsed.temporal_distance_bias  # the recipe's default since 0.7.0
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--temporal-marker-weight", "-1"]) == 64
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--temporal-restarts", "0"]) == 64
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--temporal-epochs", "0"]) == 64
    for flag in ("--lr", "--backbone-lr"):
        for rate in ("0", "-1e-4", "nan"):
            assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "r"),
                         flag, rate]) == 64
    rates = build_parser().parse_args(["train", "--real", str(tmp_path), "--out", str(tmp_path),
                                       "--lr", "2.5e-4", "--backbone-lr", "1e-4"])
    assert (rates.lr, rates.backbone_lr) == (2.5e-4, 1e-4)
    assert not build_parser().parse_args(["train", "--real", str(tmp_path), "--out",
                                          str(tmp_path), "--no-temporal-distance-bias"]
                                         ).temporal_distance_bias
    # a base model that is not there: an error naming it, and no run folder left behind
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "t"),
                 "--temporal-from", str(tmp_path / "no-model")]) != 0
    assert not (tmp_path / "t").exists()
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "s"),
                 "--spatial-from", str(tmp_path / "no-model")]) != 0
    assert not (tmp_path / "s").exists()
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "s"),
                 "--spatial-from", "a", "--temporal-from", "b"]) == 64
    assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "s"),
                 "--temporal-from", "b", "--input-size", "256"]) == 64
    for base in ("--spatial-from", "--temporal-from"):
        assert main(["train", "--real", str(tmp_path), "--out", str(tmp_path / "s"), base, "b",
                     "--backbone", "tf_efficientnet_lite2"]) == 64
    assert not (tmp_path / "s").exists()


def test_fusion_keeps_the_frame_scores_and_drops_the_temporal_one_only_when_clearly_worse():
    from forensics_app.core.train.trainer import FUSION_MARGIN, choose_fusion

    rng = np.random.default_rng(0)
    labels = np.repeat([0.0, 1.0], 200)
    signal = labels + rng.normal(0, 1.0, labels.size)
    noise = rng.normal(0, 1.0, labels.size)
    # Both informative, one a little better: the mean stays.
    fusion, aucs = choose_fusion(signal, signal + rng.normal(0, 0.3, labels.size), labels)
    assert fusion == "mean", aucs
    # The temporal score is noise: the frame scores alone beat the mean by more than the margin.
    fusion, aucs = choose_fusion(3 * signal, noise, labels)
    assert fusion == "spatial" and aucs["spatial"] > aucs["mean"] + FUSION_MARGIN, aucs
    # The frame scores are noise on the validation sequences: still the mean, never the
    # temporal score alone (the sequences hold no face swap from another source)
    fusion, aucs = choose_fusion(noise, 3 * signal, labels)
    assert fusion == "mean" and aucs["temporal"] > aucs["mean"] + FUSION_MARGIN, aucs


# --------------------------------------------------------------------------- attention target

def test_attention_target_gives_markers_at_cuts_and_none_on_real_footage():
    from forensics_app.core.analysis.metrics import temporal_metrics
    from forensics_app.core.train.temporal_stage import (
        ATTENTION_FAKE_SHARE,
        attention_target,
        cut_mask,
    )

    real = attention_target(np.zeros(100, bool), np.zeros(100, bool))
    assert np.allclose(real.sum(1), 1)
    views = temporal_metrics(real[None, None])
    assert len(views.unusual) == 0, "stationary: no marker, ends included"
    entropy = -(real * np.log(np.clip(real, 1e-12, 1))).sum(1).mean() / np.log(100)
    assert entropy < 0.7, "not uniform (the first models: 1.000)"
    for at, span in ((50, 50), (30, 25), (10, 40)):
        blended = np.zeros(100, bool)
        blended[at:at + span] = True
        target = attention_target(blended, cut_mask(100, [at, at + span]))
        assert np.allclose(target.sum(1), 1)
        edges = np.flatnonzero(np.diff(blended.astype(int))) + 0.5
        marked = np.asarray(temporal_metrics(target[None, None]).unusual)
        distance = np.abs(marked[:, None] - edges[None])
        assert len(marked) and distance.min() <= 1, f"a marker at a cut: {marked}, {edges}"
        # the fake share makes real rows far from the fakes look far: at most one stray marker
        assert (distance.min(1) > 1).sum() <= 1, marked
        inner = at + span // 2  # a row away from the cuts puts its fake share on the fakes
        assert target[at - 5 if at > 5 else inner, blended].sum() >= ATTENTION_FAKE_SHARE - 1e-6
        received = target.sum(0)
        assert received[blended].mean() > 1.3 * received[~blended].mean()


def test_attention_loss_is_the_kl_from_the_views_mean_attention():
    from forensics_app.core.explain.attention import average_attention, frame_attention
    from forensics_app.core.train.temporal_stage import attention_loss, attention_target

    torch.manual_seed(0)
    model = TemporalModel(TemporalConfig(input_dim=16, dim=16, depth=2, heads=2, dropout=0.0))
    x = torch.randn(2, 12, 16)
    padding = torch.zeros(2, 12, dtype=torch.bool)
    padding[1, 9:] = True
    out = model(x, padding)
    blended = np.zeros(12, bool)
    blended[6:] = True
    cuts = np.zeros(12, bool)
    cuts[6] = True
    targets = torch.zeros(2, 12, 12)
    targets[0] = torch.from_numpy(attention_target(blended, cuts))
    targets[1, :9, :9] = torch.from_numpy(attention_target(blended[:9], cuts[:9]))
    loss = attention_loss(out.attentions, padding, targets).item()
    expected = []
    for b, t in ((0, 12), (1, 9)):
        mean = average_attention(frame_attention([a[b, :, :t + 1, :t + 1] for a in out.attentions]))
        target = targets[b, :t, :t].numpy()
        expected.append((target * (np.log(np.clip(target, 1e-12, 1)) - np.log(mean))).sum(1))
    assert loss == pytest.approx(np.concatenate(expected).mean(), rel=1e-4)


def test_temporal_training_moves_the_attention_toward_its_target(tmp_path):
    from forensics_app.core.train.temporal_stage import _targets, attention_loss, cut_mask

    torch.manual_seed(0)
    config = tiny_config(tmp_path, temporal_epochs=40, temporal_batch=8, temporal_lr=3e-3,
                         temporal_attention_weight=1.0, temporal_keep="best")
    gen = torch.Generator().manual_seed(0)
    seqs = Sequences()
    for i in range(24):
        emb = torch.randn(20, 32, generator=gen)
        blended = np.zeros(20, bool)
        if i % 2:
            blended[10:] = True
            emb[10:] += 1.5
        seqs.add(emb, float(i % 2), blended, "splice" if i % 2 else "real", np.zeros(20),
                 cut_mask(20, [10] if i % 2 else []))
    model = TemporalModel(TemporalConfig(**config.temporal))
    idx = list(range(len(seqs)))
    x = torch.stack(seqs.embeddings)
    none = torch.zeros(len(idx), 20, dtype=torch.bool)

    def kl() -> float:
        with torch.no_grad():
            return float(attention_loss(model.eval()(x, none).attentions, none,
                                        _targets(seqs, idx, 20)))

    before = kl()
    model, history = train_temporal(model, seqs, seqs, config, tmp_path,
                                    RunLog(tmp_path, printer=lambda _line: None))
    assert kl() < 0.7 * before, (before, kl())
    assert history[-1]["train_attention_loss"] < history[0]["train_attention_loss"]
    assert history[-1]["val_auc"] > 0.8


def test_retraining_the_temporal_model_keeps_the_spatial_model_and_its_calibration(
        tmp_path, monkeypatch):
    import json

    from tiny_model import load_tiny, make_tiny_model

    from forensics_app.core.models.registry import CARD_FILE
    from forensics_app.core.train import trainer

    base = make_tiny_model(tmp_path / "base")
    card = json.loads((base / CARD_FILE).read_text())
    card["temperature_spatial"] = 1.3
    card["training"] = {"val_clips": ["v"], "command": "the spatial recipe"}
    card["metrics"] = {"validation_frames_dfdc": {"auc": 0.9}, "heldout": {"stale": 1},
                       "validation_sequences": {"auc": 0.1}}
    (base / CARD_FILE).write_text(json.dumps(card))
    clips = [synthetic_clip("a", 40, 0), synthetic_clip("b", 40, 1), synthetic_clip("v", 40, 2)]
    monkeypatch.setattr(trainer, "load_clips", lambda config, log: clips)
    config = tiny_config(tmp_path / "run", temporal_epochs=2, temporal_sequences=1,
                         version="0.0.2", command="forensics-app train --temporal-from base",
                         temporal_attention_weight=0.5)
    config.temporal["distance_bias"] = True
    out = trainer.retrain_temporal(config, base, printer=lambda _line: None)
    old, new = load_tiny(base), load_tiny(out)  # load_model checks the new card's SHA-256
    for key, value in old.spatial.state_dict().items():
        assert torch.equal(value, new.spatial.state_dict()[key]), key
    assert any(not torch.equal(v, new.temporal.state_dict()[k])
               for k, v in old.temporal.state_dict().items())
    assert new.card.version == "0.0.2" and new.card.temperature_spatial == 1.3
    assert set(new.card.metrics) == {"validation_frames_dfdc", "validation_sequences"}
    assert new.card.metrics["validation_sequences"]["count_by_kind"]["real"] > 0
    retrain = new.card.training["temporal_retrain"]
    assert retrain["base"] == {"name": "tiny-test", "version": "0.0.1", "sha256": old.card.sha256}
    assert retrain["command"] == config.command and retrain["temporal_attention_weight"] == 0.5
    assert new.card.training["command"] == "the spatial recipe"
    assert "attention supervised" in new.card.description
    assert new.card.temporal["distance_bias"] and "by their distance" in new.card.description
    # resumed: the sequences (most of the stage's time) are reused, not built again
    lines: list[str] = []
    trainer.retrain_temporal(config, base, resume=True, printer=lines.append)
    assert any("temporal sequences reused" in line for line in lines)
    assert not any("temporal sequences: " in line for line in lines)


def _base_with_recipe(folder: Path, **training) -> Path:
    """A tiny saved model whose card carries the recipe fields a continuation reads."""
    import json

    from tiny_model import make_tiny_model

    from forensics_app.core.models.registry import CARD_FILE

    base = make_tiny_model(folder)
    card = json.loads((base / CARD_FILE).read_text())
    card["training"] = {"val_clips": ["v"], "command": "the base recipe", "margin": 0.25,
                        "frames_per_clip": 40, "cache_size": 96, "seed": 5,
                        "face_val_fraction": 0.2, "dfdc_val_fraction": 0.3, "epochs_run": 3,
                        "total_minutes": 12.5, "calibration": {"shift_spatial": 0.4},
                        **training}
    (base / CARD_FILE).write_text(json.dumps(card))
    return base


def test_a_continued_spatial_model_starts_from_its_base_and_keeps_its_split(tmp_path):
    from tiny_model import load_tiny

    from forensics_app.core.train.trainer import build_spatial, continued_config, data_epochs_of

    base = load_tiny(_base_with_recipe(tmp_path / "base"))
    flags = tiny_config(tmp_path / "run", seed=0, margin=0.3, val_clips=["x", "y"],
                        face_val_fraction=0.08, spatial_from=str(tmp_path / "base"))
    config = continued_config(flags, base)
    # the base trained on everyone outside its split: the continuation validates on the same
    assert (config.val_clips, config.seed, config.face_val_fraction,
            config.dfdc_val_fraction) == (["v"], 5, 0.2, 0.3)
    assert (config.margin, config.frames_per_clip, config.cache_size) == (0.25, 40, 96)
    assert data_epochs_of(base.card) == 3
    model = build_spatial(config, base)
    for key, value in base.spatial.state_dict().items():
        expected = value - 0.4 if key == "head.bias" else value  # the calibration shift undone
        assert torch.allclose(model.state_dict()[key], expected), key


def test_a_continuation_may_change_the_input_size_and_caches_its_clips_at_least_as_large(
        tmp_path):
    from tiny_model import load_tiny

    from forensics_app.core.train.trainer import build_spatial, continued_config

    base = load_tiny(_base_with_recipe(tmp_path / "base", cache_size=128))
    flags = tiny_config(tmp_path / "run", spatial_from=str(tmp_path / "base"))
    kept = continued_config(flags, base)
    assert (kept.input_size, kept.cache_size) == (96, 128)  # the base's, whatever the flags
    config = continued_config(replace(flags, continue_at_size=128), base)
    model = build_spatial(config, base)
    assert (config.input_size, config.cache_size) == (128, 128)
    assert model.config.input_size == 128 and model.pos_embed.shape[1] == 1 + 4 * 4
    larger = continued_config(replace(flags, continue_at_size=160), base)
    assert (larger.input_size, larger.cache_size) == (160, 160)  # no upsampled clip face


def test_continued_training_draws_new_images_and_leaves_plain_weights(tmp_path, monkeypatch):
    from forensics_app.core.train.finetune import sbi_val_set

    config = tiny_config(tmp_path, epochs=2, steps_per_epoch=2, loader_workers=0, bf16=True)
    faces = clip_face_set([synthetic_clip("a", 4, 0)], config.input_size)
    data = MixedPairs(faces, faces.select(np.zeros(0, np.int64)),
                      config.steps_per_epoch * config.batch_pairs, seed=0, augment_data=False)
    drawn: list[int] = []
    monkeypatch.setattr(data, "set_epoch", drawn.append)
    val = sbi_val_set(clip_face_set([synthetic_clip("v", 4, 9)], config.input_size), 4, 0)
    model, history = train_on_images(tiny_spatial(config), data, [val], config, tmp_path,
                                     RunLog(tmp_path, printer=lambda _line: None),
                                     first_data_epoch=7)
    assert drawn == [7, 8]  # the base saw data epochs 0-6
    assert all(np.isfinite(h["train_loss"]) for h in history)  # bfloat16 autocast trains
    # trained channels-last, handed back in the default layout (safetensors needs it)
    assert all(p.is_contiguous() for p in model.parameters())


def test_run_training_from_a_base_model_records_the_chain(tmp_path, monkeypatch):
    import json

    from tiny_model import load_tiny

    from forensics_app.core.train import trainer

    base_dir = _base_with_recipe(tmp_path / "base", data_epochs=9)
    clips = [synthetic_clip("a", 30, 0), synthetic_clip("b", 30, 1), synthetic_clip("v", 30, 2)]
    monkeypatch.setattr(trainer, "load_clips", lambda config, log: clips)
    config = tiny_config(tmp_path / "run", epochs=1, steps_per_epoch=2, loader_workers=0,
                         temporal_epochs=1, temporal_sequences=1, spatial_from=str(base_dir),
                         val_clips=["a"], version="0.0.2")
    out = trainer.run_training(config, printer=lambda _line: None)
    new, base = load_tiny(out), load_tiny(base_dir)
    assert new.card.training["val_clips"] == ["v"]
    assert new.card.training["data_epochs"] == 10
    init = new.card.training["spatial_init"]
    assert init["base"] == {"name": "tiny-test", "version": "0.0.1", "sha256": base.card.sha256}
    assert init["base_command"] == "the base recipe" and init["base_data_epochs"] == 9
    assert "continued from tiny-test 0.0.1" in new.card.description
    assert json.loads((out / "train_config.json").read_text())["seed"] == 5
    from forensics_app.core.train.publish import render_markdown

    text = render_markdown(new.card)
    assert "continues a chain of earlier runs" in text and "the base recipe" in text
    assert "tiny-test 0.0.1 (SHA-256" in text
    assert f"trained in about 12.5 + {new.card.training['total_minutes']} minutes" in text
    assert new.card.training["quality_probs"] == sbi.QUALITY_PROBS
    assert "Quality augmentation, drawn alike for reals and fakes" in text
    assert "Epoch choice: epoch 1 of 1 kept" in text


def test_the_cards_training_scale_counts_every_run_of_the_chain():
    from forensics_app.core.train.publish import chain_minutes, scale_limitation

    training = {"total_minutes": 60.0, "data_epochs": 17, "epochs_run": 10,
                "steps_per_epoch": 250, "batch_images": 32,
                "spatial_init": {"base_total_minutes": 162.0,
                                 "base_spatial_init": {"base_total_minutes": 30.0}},
                "temporal_retrain": {"minutes": 8.0}}
    assert chain_minutes(training) == 260.0
    line = scale_limitation(training)
    assert "in about 4.3 hours" in line and "about 136,000 training images" in line
    assert chain_minutes({"total_minutes": 5.0, "spatial_init": {}}) == 5.0
    assert "in a few hours" in scale_limitation({"steps_per_epoch": 1})


def test_train_uses_bfloat16_where_the_device_runs_it_natively(tmp_path, monkeypatch):
    import torch as _torch

    from forensics_app.cli import main
    from forensics_app.core.devices import fast_bfloat16
    from forensics_app.core.train import trainer

    seen: list[TrainConfig] = []
    monkeypatch.setattr(trainer, "run_training", lambda config, **_: seen.append(config))
    base = ["train", "--real", str(tmp_path), "--out", str(tmp_path / "r")]
    for flags in ([], ["--bf16"], ["--fp32"]):
        assert main(base + flags) == 0
    assert [c.bf16 for c in seen] == [fast_bfloat16(_torch.device("cpu")), True, False]
    assert not fast_bfloat16(_torch.device("meta"))
    assert main([*base, "--bf16", "--fp32"]) == 64  # one or the other


def test_the_card_lists_every_run_of_a_chain_base_first() -> None:
    """A model continued twice: both earlier commands, in the order they must be run."""
    from forensics_app.core.train.publish import _spatial_init_markdown

    def base(version: str) -> dict:
        return {"name": "m", "version": version, "sha256": version * 32}
    training = {"data_epochs": 24, "spatial_init": {
        "base": base("05"), "base_command": "second command", "base_data_epochs": 16,
        "base_total_minutes": 85.0, "base_spatial_init": {
            "base": base("04"), "base_command": "first command", "base_data_epochs": 7,
            "base_total_minutes": 162.0}}}
    text = "\n".join(_spatial_init_markdown(training))
    assert text.index("first command") < text.index("second command")
    assert text.index("m 04 (") < text.index("m 05 (")
    assert "7 epochs of images in all, this run 162.0 min" in text
    assert "24 epochs of images in all" in text
    assert _spatial_init_markdown({"data_epochs": 3}) == []


def test_the_cards_description_names_the_backbone_trained():
    """The description was hard-coded "EfficientNet-Lite0 (ImageNet init…)", wrong for
    --backbone tf_efficientnet_lite2."""
    from forensics_app.core.train.config import TrainConfig, backbone_label

    assert backbone_label("tf_efficientnet_lite2") == "EfficientNet-Lite2"
    assert backbone_label("tf_efficientnet_lite0") == "EfficientNet-Lite0"
    assert backbone_label("resnet18") == "resnet18"
    assert TrainConfig(real="r", out="o").version.startswith("0.0.0")  # never a release's
