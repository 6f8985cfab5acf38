"""The analysis job end to end: results files, the attention maths re-derived from disk,
evidence untouched, identities, cancellation and progress."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from media_factory import make_video

from forensics_app.core.analysis.drive import run_to_end
from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
from forensics_app.core.analysis.results import SCHEMA_ID, read_results
from forensics_app.core.errors import CancelledError, OutputError
from forensics_app.core.models.registry import load_model


def drive(job):
    progress = []
    return run_to_end(job, progress.append), progress


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def analysed(shared_data, tiny_model_dir, tmp_path_factory):
    clip = shared_data / "videos" / "real" / "liveportrait_d18.mp4"
    before = sha256(clip)
    out = tmp_path_factory.mktemp("analysis") / "case"
    bundle, progress = drive(run_analysis(clip, out, AnalysisSettings(frames=24),
                                          load_model(tiny_model_dir)))
    return clip, before, out, bundle, progress


def test_results_files_and_schema(analysed):
    clip, _, out, bundle, _ = analysed
    data = json.loads((out / "results.json").read_text())
    assert data["schema"] == SCHEMA_ID
    ev = data["evidence"]
    assert ev["sha256"] == sha256(clip) and ev["md5"] == hashlib.md5(clip.read_bytes()).hexdigest()
    assert (ev["width"], ev["height"], ev["frame_count"]) == (480, 480, 216)
    assert data["model"]["name"] == "tiny-test" and len(data["model"]["sha256"]) == 64
    assert len(data["sampled_frames"]) == 24 == len(data["faces"]) == len(data["frame_scores"])
    assert data["sampled_frames"][0] == 0 and data["sampled_frames"] == sorted(
        set(data["sampled_frames"]))
    assert data["prediction"]["label"] in ("real", "fake")
    assert data["tool"]["name"] == "forensics-app"
    assert all(0 <= s <= 1 for s in data["frame_scores"])
    read = read_results(out)
    assert read.results == bundle.results


def test_one_face_tracked_through_the_clip(analysed):
    _, _, _, bundle, _ = analysed
    results = bundle.results
    assert all(len(frame) == 1 for frame in results.faces)  # one talking head in every frame
    assert len(results.identities) == 1
    assert results.identities[0].frames == results.sampled_frames
    assert results.prediction.decided_by_track == results.identities[0].track_id


def test_metrics_recomputed_from_attention_npy(analysed):
    _, _, out, _, _ = analysed
    data = json.loads((out / "results.json").read_text())
    attention = np.load(out / "attention.npy")
    t = len(data["attention_frames"])
    assert attention.shape == (4, 8, t, t) and attention.dtype == np.float32
    assert np.allclose(attention.sum(axis=-1), 1.0, atol=1e-4)
    # Independent re-derivation with plain loops, straight from DESIGN.md.
    mean = attention.astype(np.float64).mean(axis=(0, 1))
    strength = [mean[i][i] for i in range(t)]
    ranges = [sum(mean[i][j] * abs(i - j) for j in range(t)) for i in range(t)]
    # k(d): mean of Ā[i, i+d] where i+d exists; q_i(j) = k(j−i) / Σ_j' k(j'−i); r̂_i
    k = {d: np.mean([mean[i][i + d] for i in range(t) if 0 <= i + d < t])
         for d in range(-(t - 1), t)}
    expected = [sum(k[j - i] * abs(i - j) for j in range(t)) / sum(k[j - i] for j in range(t))
                for i in range(t)]
    residual = [ranges[i] - expected[i] for i in range(t)]
    mu, sd = np.mean(residual), np.std(residual)
    unusual = [data["attention_frames"][i] for i in range(t)
               if abs(residual[i] - mu) > 2 * sd and abs(residual[i] - mu) >= 1]
    assert np.allclose(data["self_attention"], strength, atol=1e-6)
    assert np.allclose(data["attention_range"], ranges, atol=1e-6)
    assert np.allclose(data["expected_range"], expected, atol=1e-6)
    assert data["unusual_frames"] == unusual


def test_reader_round_trips_expected_range_and_fills_it_for_older_files(analysed, tmp_path):
    from dataclasses import replace

    from forensics_app.core.analysis.results import write_results

    _, _, out, bundle, _ = analysed
    written = json.loads((out / "results.json").read_text())["expected_range"]
    assert len(written) == len(bundle.results.attention_frames) > 0
    assert read_results(out).results.expected_range == written == bundle.results.expected_range
    # Results without it (written before it existed): the reader derives it from attention.npy.
    older = replace(bundle.results, expected_range=None)
    folder = write_results(tmp_path / "older", older, bundle.attention, bundle.face_maps)
    assert json.loads((folder / "results.json").read_text())["expected_range"] is None
    assert np.allclose(read_results(folder).results.expected_range, written, atol=1e-9)


def test_relevancy_maps_per_face(analysed):
    _, _, out, bundle, _ = analysed
    with np.load(out / "relevancy.npz") as npz:
        assert set(npz.files) >= {"frame_index", "track_id", "crop_box", "relevancy", "rollout",
                                  "gradcampp"}
        n = len(npz["frame_index"])
        assert n == sum(len(f) for f in bundle.results.faces)
        for key in ("relevancy", "rollout", "gradcampp"):
            maps = npz[key]
            assert maps.shape == (n, 3, 3) and maps.min() >= 0 and maps.max() <= 1
    heatmap, box = bundle.face_maps.lookup(bundle.results.sampled_frames[3],
                                           bundle.results.faces[3][0].track_id, "relevancy")
    assert heatmap.shape == (3, 3) and box[2] > box[0]


def test_evidence_untouched_and_nothing_written_beside_it(analysed):
    clip, before, _, _, _ = analysed
    assert sha256(clip) == before
    assert sorted(p.name for p in clip.parent.iterdir()) == sorted(
        p.name for p in clip.parent.iterdir() if not p.name.startswith("."))


def test_progress_covers_every_stage_in_order(analysed):
    *_, progress = analysed
    stages = [p.stage for p in progress]
    assert stages[0] == "hash" and stages[-1] == "write"
    order = ["hash", "open", "faces", "spatial", "temporal", "write"]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == order
    faces = [p for p in progress if p.stage == "faces"]
    assert [p.done for p in faces] == list(range(1, 25))
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_no_face_is_inconclusive(tmp_path, tiny_model_dir):
    (tmp_path / "evidence").mkdir()  # --out may not lie in the evidence's folder
    clip = make_video(tmp_path / "evidence" / "noface.mp4", n_frames=12)
    bundle, _ = drive(run_analysis(clip, tmp_path / "out", AnalysisSettings(frames=6),
                                   load_model(tiny_model_dir)))
    pred = bundle.results.prediction
    assert pred.label == "inconclusive" and pred.p_fake is None
    assert "no face" in pred.reason
    assert np.load(tmp_path / "out" / "attention.npy").shape == (4, 8, 0, 0)


def test_cancel_stops_between_steps(tmp_path, tiny_model_dir):
    (tmp_path / "evidence").mkdir()  # --out may not lie in the evidence's folder
    clip = make_video(tmp_path / "evidence" / "clip.mp4", n_frames=12)
    cancel = threading.Event()
    job = run_analysis(clip, tmp_path / "out", AnalysisSettings(frames=6),
                       load_model(tiny_model_dir), cancel)
    next(job)
    cancel.set()
    with pytest.raises(CancelledError):
        drive(job)
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("stop", ["cancel", "close"])
def test_stopping_in_the_faces_stage_stops_decoding_before_the_clip_closes(
        tmp_path, tiny_model_dir, stop):
    # The prefetch thread decodes ahead; a cancel (or a dropped job) unwinds through the
    # faces stage and closes the clip. Left to the garbage collector, the traceback kept the
    # decoding thread running while PyAV was closed under it: a segfault in CI.
    (tmp_path / "evidence").mkdir()
    clip = make_video(tmp_path / "evidence" / "clip.mp4", n_frames=60)
    cancel = threading.Event()
    job = run_analysis(clip, tmp_path / "out", AnalysisSettings(frames=40),
                       load_model(tiny_model_dir), cancel)
    while (step := next(job)).stage != "faces" or step.done < 2:
        pass
    if stop == "cancel":
        cancel.set()
        with pytest.raises(CancelledError):
            drive(job)
    else:
        job.close()
    assert not [t for t in threading.enumerate() if t.name == "frame-prefetch"]
    assert not (tmp_path / "out" / "results.json").exists()


def test_refuses_to_write_beside_the_evidence(tmp_path, tiny_model_dir):
    clip = make_video(tmp_path / "clip.mp4", n_frames=4)
    with pytest.raises(OutputError, match="beside the evidence"):
        drive(run_analysis(clip, tmp_path, AnalysisSettings(frames=2),
                           load_model(tiny_model_dir)))


def test_placeholder_model_gives_no_verdict(shared_data, tmp_path):
    from tiny_model import make_tiny_model

    model = load_model(make_tiny_model(tmp_path / "placeholder", placeholder=True))
    clip = shared_data / "videos" / "real" / "liveportrait_d0.mp4"
    bundle, _ = drive(run_analysis(clip, tmp_path / "out", AnalysisSettings(frames=4), model))
    assert bundle.results.prediction.label == "inconclusive"
    assert "placeholder" in bundle.results.prediction.reason
    assert bundle.results.model.placeholder is True


def test_prefetch_keeps_order_raises_errors_and_stops_early():
    from forensics_app.core.analysis.faces_stage import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("decoder failed")

    with pytest.raises(ValueError, match="decoder failed"):
        list(prefetch(broken()))
    taken = []
    for item in prefetch(iter(range(1000)), depth=2):
        taken.append(item)
        if item == 3:
            break  # the producer thread must wind down, not hang
    assert taken == [0, 1, 2, 3]
    assert not [t for t in threading.enumerate() if t.name == "frame-prefetch"]


def test_frozen_stretch_reads_a_frozen_third_from_the_pixels(analysed, tiny_model_dir,
                                                             tmp_path):
    """The indicator_rates bench's frozen fake (the middle third of the sampled frames frozen
    on one, re-encoded at the rate that keeps the clip's duration) triggers `frozen_stretch`
    on exactly the frozen frames; the real clip not."""
    import importlib.util

    from forensics_app.core.media.video import VideoSource

    spec = importlib.util.spec_from_file_location(
        "indicator_rates", Path(__file__).resolve().parents[1] / "bench" / "indicator_rates.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    clip, _, _, bundle, _ = analysed
    real = {i.name: i for i in bundle.results.indicators}["frozen_stretch"]
    assert real.value < 0.5 and not real.triggered
    frames, fps = bench.sampled_frames(clip, 24)
    with VideoSource(clip) as source:
        assert fps == pytest.approx(24 * source.info.fps / source.info.frame_count)
    (tmp_path / "evidence").mkdir()
    frozen = bench.write_clip(tmp_path / "evidence" / "frozen.mp4", bench.freeze_fake(frames),
                              fps)
    results = run_to_end(run_analysis(frozen, tmp_path / "out", AnalysisSettings(frames=24),
                                      load_model(tiny_model_dir))).results
    row = {i.name: i for i in results.indicators}["frozen_stretch"]
    stretch = bench.middle_third(24)
    assert row.triggered and row.frames == list(stretch)[1:]
    assert row.value == pytest.approx((len(stretch) - 1) / fps, abs=0.01)
