"""Face-folder data (LFW, UTKFace, DFDC crops), the splits by person / source video, the
engine-geometry crops, and the synthetic temporal fakes, asserted on what they alter."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from forensics_app.core.train.faces import (
    FaceRecord,
    read_face_folder,
    split_by_group,
    subsample_groups,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_index(root: Path, source: str, rows: list[dict]) -> None:
    folder = root / "faces" / source
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "index.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_readers_label_and_group_each_folder(tmp_path):
    _write_index(tmp_path, "lfw", [{"path": "faces/lfw/A/A_1.jpg", "identity": "A"},
                                   {"path": "faces/lfw/A/A_2.jpg", "identity": "A"}])
    _write_index(tmp_path, "utkface", [{"path": "faces/utkface/30_1_0_x.jpg", "age": "30",
                                        "gender": "female", "race_code": "0"}])
    _write_index(tmp_path, "dfdc_crops", [
        {"path": "faces/dfdc_crops/real/v1.jpg", "label": "real", "source_video": "v1"},
        {"path": "faces/dfdc_crops/fake/f1.jpg", "label": "fake", "source_video": "v1"}])
    lfw = read_face_folder(tmp_path, "lfw")
    assert [(r.label, r.group) for r in lfw] == [(0, "lfw:A"), (0, "lfw:A")]
    assert lfw[0].path == tmp_path / "faces/lfw/A/A_1.jpg"
    utk = read_face_folder(tmp_path, "utkface")
    assert utk[0].label == 0 and utk[0].group == "utk:30_1_0_x"
    dfdc = read_face_folder(tmp_path, "dfdc_crops")
    assert [(r.label, r.group) for r in dfdc] == [(0, "dfdc:v1"), (1, "dfdc:v1")]
    with pytest.raises(ValueError):
        read_face_folder(tmp_path, "celebdf")
    with pytest.raises(FileNotFoundError):
        read_face_folder(tmp_path / "nowhere", "lfw")


def _records(groups: int, per_group: int) -> list[FaceRecord]:
    return [FaceRecord(Path(f"{g}_{i}.jpg"), i % 2, f"dfdc:g{g}", "dfdc_crops")
            for g in range(groups) for i in range(per_group)]


def test_split_keeps_every_group_on_one_side_and_is_stable():
    records = _records(400, 3)
    train, val = split_by_group(records, 0.1, seed=0)
    assert len(train) + len(val) == len(records)
    assert not {r.group for r in train} & {r.group for r in val}
    assert 0.06 < len(val) / len(records) < 0.14
    # Stable: a subset (or another order) of the records puts each group on the same side.
    sub_train, sub_val = split_by_group(list(reversed(records[::2])), 0.1, seed=0)
    assert {r.group for r in sub_val} <= {r.group for r in val}
    assert {r.group for r in sub_train} <= {r.group for r in train}
    # Another seed, another split.
    assert {r.group for r in split_by_group(records, 0.1, seed=1)[1]} != {r.group for r in val}
    with pytest.raises(ValueError):
        split_by_group(records, 1.5)


def test_subsample_takes_whole_groups_independently_of_the_split():
    records = _records(300, 2)
    kept = subsample_groups(records, 50, seed=0)
    assert len({r.group for r in kept}) == 50 and len(kept) == 100
    _, val = split_by_group(kept, 0.2, seed=0)
    assert 0.08 < len(val) / len(kept) < 0.35, "subsample and split hashes are independent"


@pytest.mark.shared
def test_shared_face_folders_split_by_person_and_source_video(shared_data):
    lfw = read_face_folder(shared_data, "lfw")
    dfdc = read_face_folder(shared_data, "dfdc_crops")
    assert len(lfw) == 7429 and len({r.group for r in lfw}) == 5749
    assert len(dfdc) == 20000 and sum(r.label for r in dfdc) == 10000
    for records, fraction in ((lfw, 0.08), (dfdc, 0.1)):
        train, val = split_by_group(records, fraction, seed=0)
        assert not {r.group for r in train} & {r.group for r in val}
    # Every DFDC fake sits on the side of the real crop it was made from.
    train, val = split_by_group(dfdc, 0.1, seed=0)
    val_groups = {r.group for r in val}
    assert all((r.group in val_groups) == (r in val) for r in dfdc[:2000])


@pytest.mark.shared
def test_engine_crop_gives_tight_crops_the_engines_black_margin(shared_data):
    import cv2

    from forensics_app.core.faces import FaceDetector
    from forensics_app.core.train.faces import engine_crop

    record = read_face_folder(shared_data, "dfdc_crops")[0]
    rgb = cv2.imread(str(record.path))[..., ::-1].copy()
    with FaceDetector("full", 0.5, tile_fallback=False) as detector:
        crop = engine_crop(rgb, detector, 224, 0.3)
    assert crop is not None and crop.shape == (224, 224, 3)
    # The face fills the DFDC crop, so the engine's 30 % margin falls outside it: black.
    assert crop[:6].max() == 0 and crop[:, :6].max() == 0
    assert crop[90:130, 90:130].mean() > 30, "the face is in the middle"


# --------------------------------------------------------------------------- temporal fakes

@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    """Temporal fakes of two synthetic identities, embedded by a tiny random model."""
    from test_train import synthetic_clip, tiny_config, tiny_spatial

    from forensics_app.core.train.loop import RunLog
    from forensics_app.core.train.temporal_stage import build_sequences

    tmp = tmp_path_factory.mktemp("seq")
    config = tiny_config(tmp, temporal_sequences=2)
    model = tiny_spatial(config).eval()
    clips = [synthetic_clip("a", 40, 0), synthetic_clip("b", 40, 1)]
    seqs = build_sequences(model, clips, config, salt=0, augment_data=False,
                           log=RunLog(tmp, printer=lambda _line: None))
    return seqs, model, clips, config


def test_every_temporal_fake_kind_is_made_and_labelled(sequences):
    from forensics_app.core.train.temporal_stage import TEMPORAL_KINDS

    seqs, *_ = sequences
    kinds = np.asarray(seqs.kinds)
    assert set(kinds.tolist()) == set(TEMPORAL_KINDS)
    labels = np.asarray(seqs.labels)
    assert (labels[kinds == "real"] == 0).all() and (labels[kinds != "real"] == 1).all()
    assert abs((kinds == "real").mean() - 0.5) < 0.1, "reals balance the fakes"
    for emb, mask, kind in zip(seqs.embeddings, seqs.blended, seqs.kinds, strict=True):
        assert len(emb) == len(mask) and 8 <= len(emb) <= 100
        assert mask.any() == (kind != "real")


def test_temporal_fakes_alter_exactly_the_frames_they_mark(sequences):
    seqs, model, clips, config = sequences
    from forensics_app.core.train.temporal_stage import clip_outputs

    clean = {name: emb for name, (_, emb) in clip_outputs(model, clips, config, 0).items()}
    real_rows = torch.cat(list(clean.values()))

    def is_real_frame(vec: torch.Tensor) -> bool:
        return bool((real_rows - vec).abs().amax(1).min() < 1e-4)

    for emb, mask, kind in zip(seqs.embeddings, seqs.blended, seqs.kinds, strict=True):
        if kind in ("flicker", "splice"):
            # blended frames are new images; every other frame is a real one
            assert all(not is_real_frame(emb[i]) for i in np.flatnonzero(mask))
            assert all(is_real_frame(emb[i]) for i in np.flatnonzero(~mask))
        elif kind == "freeze":
            first = int(np.flatnonzero(mask)[0]) - 1
            for i in np.flatnonzero(mask):
                assert torch.equal(emb[i], emb[first]), "a frozen stretch repeats one frame"
            assert all(is_real_frame(e) for e in emb)
        elif kind == "identity":
            at = int(np.flatnonzero(mask)[0])
            assert mask[at:].all() and not mask[:at].any()

            def owner(vec: torch.Tensor) -> str:
                return min(clean, key=lambda n: float((clean[n] - vec).abs().amax(1).min()))

            assert len({owner(e) for e in emb[:at]}) == 1
            assert {owner(e) for e in emb[at:]} != {owner(emb[0])}, "another identity"
        elif kind == "drop":
            assert all(is_real_frame(e) for e in emb)
            assert mask.sum() == 2, "the two frames after the jump are marked"


def test_temporal_fakes_mark_where_other_footage_starts(sequences):
    seqs, *_ = sequences
    for mask, cuts, kind in zip(seqs.blended, seqs.cuts, seqs.kinds, strict=True):
        assert len(cuts) == len(mask) and not cuts[0], "frame 0 has nothing before it"
        starts = np.flatnonzero(cuts).tolist()
        marked = np.flatnonzero(mask)
        if kind in ("real", "flicker"):
            assert starts == [], kind  # a flicker alters frames, it cuts nothing
        elif kind in ("identity", "drop"):
            assert starts == [marked[0]], kind  # the first frame of the other footage
        else:  # splice: into and out of the blend; freeze: first repeat, first frame after
            ends = (marked[0], marked[-1] + 1)
            assert starts == [at for at in ends if 0 < at < len(mask)], kind


def test_heldout_splice_metrics_measure_localisation_on_a_tiny_model(tmp_path):
    from test_train import synthetic_clip
    from tiny_model import load_tiny, make_tiny_model

    from forensics_app.core.train.heldout import splice_metrics, splice_windows

    model = load_tiny(make_tiny_model(tmp_path / "m"))
    clip = synthetic_clip("held", 40, 3)
    windows = splice_windows(clip, 0, 4, seed=0, size=model.input_size)
    for k, (rows, faces, mask) in enumerate(windows):
        assert len(rows) == len(faces) == len(mask) == 40
        assert 0 < mask.sum() < len(mask)
        if k % 2:  # the second half blended
            assert mask[20:].all() and not mask[:20].any()
        else:  # one contiguous stretch inside
            edges = np.flatnonzero(np.diff(mask.astype(int)))
            assert len(edges) == 2
    figures = splice_metrics(model, [clip], seed=0, windows_per_identity=2)
    assert figures["windows"] == 2
    assert 0.0 <= figures["relevancy_localisation_auc_mean"] <= 1.0
    assert 0.0 < figures["real_windows_mean_attention_row_entropy"] <= 1.0
    assert figures["marker_near_boundary_share"] in (0.0, 0.5, 1.0)
    assert figures["real_windows_with_a_marker_share"] in (0.0, 0.5, 1.0)
    precision = figures["marker_precision"]
    assert precision is None or 0.0 <= precision <= 1.0
