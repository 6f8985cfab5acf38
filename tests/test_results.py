"""The results folder as one sealed unit: one writer at a time, never over existing results,
and a reader that refuses a folder that is not sealed, was changed, mixed, or contradicts
itself (issue 13)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from media_factory import make_video

from forensics_app.core.analysis import results as results_module
from forensics_app.core.analysis.results import (
    ATTENTION_FILE,
    EXPLAIN_METHODS,
    MANIFEST_FILE,
    RELEVANCY_FILE,
    RESULTS_FILE,
    SEALED_FILES,
    Evidence,
    FaceBox,
    FaceMaps,
    Identity,
    ModelInfo,
    OutputLock,
    Prediction,
    Results,
    RunSettings,
    ToolInfo,
    read_results,
    write_results,
)
from forensics_app.core.errors import ForensicsError, ResultsError, ResultsExistError
from forensics_app.core.explain.attention import (
    attention_range,
    average_attention,
    self_attention_strength,
)
from forensics_app.core.media import VideoSource, hash_file


def make_bundle(evidence_dir: Path, frames: int = 6, seed: int = 0
                ) -> tuple[Results, np.ndarray, FaceMaps]:
    """Consistent results over a small generated clip (one face per frame), no model."""
    evidence_dir.mkdir(parents=True, exist_ok=True)
    video = evidence_dir / "clip.mp4"
    if not video.exists():
        make_video(video, n_frames=frames, width=64, height=48, bframes=False)
    with VideoSource(video) as source:
        info = source.info
    hashes = hash_file(video)
    rng = np.random.default_rng(seed)
    sampled = list(range(frames))
    attention = rng.random((2, 4, frames, frames)).astype(np.float32)
    attention /= attention.sum(-1, keepdims=True)
    mean = average_attention(attention.astype(np.float64))
    scores = rng.uniform(0.1, 0.9, frames).tolist()
    box = [10.0, 5.0, 40.0, 40.0]
    results = Results(
        evidence=Evidence(str(video.resolve()), video.name, hashes.sha256, hashes.md5,
                          hashes.size_bytes, info.container, info.codec, info.width,
                          info.height, info.fps, info.frame_count, info.duration_s),
        tool=ToolInfo("forensics-app", "test", "abc"),
        model=ModelInfo("m", "1", "ab" * 32, threshold=0.5),
        settings=RunSettings(frames=frames),
        sampled_frames=sampled, sampled_times_s=[f / 25 for f in sampled],
        faces=[[FaceBox(0, box, 0.9, s)] for s in scores], frame_scores=scores,
        identities=[Identity(0, sampled, float(np.mean(scores)), 0.5, 0.5)],
        prediction=Prediction("real", 0.3, 0.7, "moderate", 0.5, 0, "test"),
        attention_frames=sampled, frame_relevancy=rng.random(frames).tolist(),
        self_attention=self_attention_strength(mean).tolist(),
        attention_range=attention_range(mean).tolist(), unusual_frames=[],
        indicators=[], created_utc="2026-01-01T00:00:00+00:00")
    maps = FaceMaps(np.array(sampled, np.int64), np.zeros(frames, np.int64),
                    np.tile(np.array(box, np.float32), (frames, 1)),
                    {m: rng.random((frames, 3, 3)).astype(np.float32) for m in EXPLAIN_METHODS})
    return results, attention, maps


@pytest.fixture()
def sealed(tmp_path) -> Path:
    return write_results(tmp_path / "out" / "results", *make_bundle(tmp_path / "evidence"))


def reseal(folder: Path) -> None:
    """Recompute the manifest's hashes, as a forger with this code could: what is left to
    catch is the folder's inconsistency."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    for name in SEALED_FILES:
        manifest["files"][name]["sha256"] = hashlib.sha256((folder / name).read_bytes()
                                                           ).hexdigest()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def edit_json(folder: Path, change) -> None:
    data = json.loads((folder / RESULTS_FILE).read_text())
    change(data)
    (folder / RESULTS_FILE).write_text(json.dumps(data))


def one_line(err: BaseException, folder: Path) -> str:
    text = str(err)
    assert "\n" not in text and str(folder) in text
    return text


# -- writing -----------------------------------------------------------------------------------
def test_written_as_one_sealed_unit(sealed: Path) -> None:
    names = sorted(p.name for p in sealed.iterdir())
    assert names == sorted([MANIFEST_FILE, *SEALED_FILES])
    manifest = json.loads((sealed / MANIFEST_FILE).read_text())
    results = read_results(sealed).results
    assert manifest["evidence_sha256"] == results.evidence.sha256
    assert manifest["tool"]["version"] == "test" and manifest["model"]["sha256"] == "ab" * 32
    for name in SEALED_FILES:
        digest = hashlib.sha256((sealed / name).read_bytes()).hexdigest()
        assert manifest["files"][name]["sha256"] == digest
    # nothing left beside it: no temporary folder, no lock file
    assert [p.name for p in sealed.parent.iterdir()] == ["results"]


def test_existing_results_are_never_overwritten(sealed: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in sealed.iterdir()}
    other = make_bundle(tmp_path / "other", seed=1)
    with pytest.raises(ResultsExistError, match="already holds results") as info:
        write_results(sealed, *other)
    assert info.value.exit_code == 5
    one_line(info.value, sealed)
    assert {p.name: p.read_bytes() for p in sealed.iterdir()} == before
    assert sorted(p.name for p in sealed.parent.iterdir()) == ["results"]


def test_empty_folder_is_filled_other_content_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "evidence")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_results(write_results(empty, *bundle)).results.faces == bundle[0].faces
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ResultsExistError, match="not empty"):
        write_results(busy, *bundle)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]


def test_a_held_lock_refuses_a_second_writer(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "evidence")
    out = tmp_path / "out"
    with OutputLock(out), pytest.raises(ResultsExistError, match="another analysis"):
        write_results(out, *bundle)
    assert not out.exists()
    write_results(out, *bundle)  # released: the folder can be written


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    bundles = [make_bundle(tmp_path / f"evidence{i}", seed=i) for i in range(4)]
    out = tmp_path / "out"
    outcomes: list[object] = []
    start = threading.Barrier(len(bundles))

    def writer(bundle) -> None:
        start.wait()
        try:
            write_results(out, *bundle)
            outcomes.append(bundle[0].evidence.sha256)
        except ResultsExistError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=writer, args=(b,)) for b in bundles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, str)]
    assert len(winners) == 1 and len(outcomes) == len(bundles)
    assert read_results(out).results.evidence.sha256 == winners[0]  # one analysis, whole


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    bundle = make_bundle(tmp_path / "evidence")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module, "_save_face_maps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path / "out" / "r", *bundle)
    assert list((tmp_path / "out").iterdir()) == []


def test_the_writer_refuses_to_seal_inconsistent_results(tmp_path: Path) -> None:
    results, attention, maps = make_bundle(tmp_path / "evidence")
    with pytest.raises(ResultsError, match="shape"):
        write_results(tmp_path / "a", results, attention[:, :, :3, :3], maps)
    with pytest.raises(ResultsError, match="p_fake"):
        write_results(tmp_path / "b", replace(results, prediction=replace(
            results.prediction, p_fake=float("nan"))), attention, maps)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- reading: the seal ---------------------------------------------------------------------------
def test_edited_value_is_refused(sealed: Path) -> None:
    edit_json(sealed, lambda d: d["prediction"].update(p_fake=0.99))
    with pytest.raises(ResultsError, match="changed after the results were sealed") as info:
        read_results(sealed)
    assert info.value.exit_code == 6
    one_line(info.value, sealed)


def test_mixed_folder_is_refused(sealed: Path, tmp_path: Path) -> None:
    other = write_results(tmp_path / "other", *make_bundle(tmp_path / "ev2", seed=3))
    (sealed / ATTENTION_FILE).write_bytes((other / ATTENTION_FILE).read_bytes())
    with pytest.raises(ResultsError, match=ATTENTION_FILE):
        read_results(sealed)


@pytest.mark.parametrize("damage", ["no manifest", "missing file", "extra file",
                                    "garbage manifest"])
def test_broken_seal_is_refused(sealed: Path, damage: str) -> None:
    expected = {"no manifest": "not sealed", "missing file": "missing",
                "extra file": "not part of the sealed results",
                "garbage manifest": "seal unreadable"}[damage]
    if damage == "no manifest":
        (sealed / MANIFEST_FILE).unlink()
    elif damage == "missing file":
        (sealed / RELEVANCY_FILE).unlink()
    elif damage == "extra file":
        (sealed / "attention_old.npy").write_bytes(b"x")
    else:
        (sealed / MANIFEST_FILE).write_bytes(b"\xff\x00[")
    with pytest.raises(ResultsError, match=expected) as info:
        read_results(sealed)
    one_line(info.value, sealed)


def test_report_products_may_lie_in_the_folder(sealed: Path) -> None:
    for name in ("report.pdf", "report.pdf.sha256", "report.results.json"):
        (sealed / name).write_bytes(b"x")
    read_results(sealed)


def test_not_a_results_folder(tmp_path: Path) -> None:
    with pytest.raises(ForensicsError, match="not a results folder"):
        read_results(tmp_path)
    with pytest.raises(ForensicsError, match="not a results folder"):
        read_results(tmp_path / "nowhere")


# -- reading: schema and consistency of a re-sealed folder -----------------------------------------
MUTATIONS = {
    "null p_fake": lambda d: d["identities"][0].update(p_fake=None),
    "string threshold": lambda d: d["prediction"].update(threshold="0.5"),
    "string frame list": lambda d: d.update(sampled_frames="0,1,2"),
    "short frame scores": lambda d: d["frame_scores"].pop(),
    "empty faces": lambda d: d.update(faces=[]),
    "faces not lists": lambda d: d.update(faces=[1] * len(d["faces"])),
    "p_fake beyond 1": lambda d: d["prediction"].update(p_fake=3.0),
    "unknown label": lambda d: d["prediction"].update(label="definitely"),
    "bool as int": lambda d: d["identities"][0].update(track_id=True),
    "whole file a list": lambda d: (d.clear(), d.update(schema=None)),
    "self-attention edited": lambda d: d["self_attention"].__setitem__(0, 0.999),
    "unsampled attention frame": lambda d: d["attention_frames"].__setitem__(0, 10_000),
    "short range list": lambda d: d["attention_range"].pop(),
    "missing field": lambda d: d.pop("prediction"),
    "decided by nobody": lambda d: d["prediction"].update(decided_by_track=42),
    "evidence hash not hex": lambda d: d["evidence"].update(sha256="zz"),
    "frames past the temporal model": lambda d: d["settings"].update(frames=500),
    "unknown explanation": lambda d: d["settings"].update(explain="saliency"),
    "segment of three": lambda d: d["settings"].update(segment=[0, 1, 2]),
    "tool without a version": lambda d: d["tool"].pop("version"),
    "model hash a number": lambda d: d["model"].update(sha256=12),
}

# Fields this version does not define: refused, never dropped (a reader that drops them would
# show a file as whole when part of it was not read), each named with its place.
UNKNOWN_FIELDS = {
    "top level": (lambda d: d.update(verdict="fake"), "verdict: unknown field"),
    "tool": (lambda d: d["tool"].update(signed_by="x"), "tool.signed_by: unknown field"),
    "model": (lambda d: d["model"].update(auc=0.99), "model.auc: unknown field"),
    "settings": (lambda d: d["settings"].update(fast=True), "settings.fast: unknown field"),
    "prediction": (lambda d: d["prediction"].update(note="x"),
                   "prediction.note: unknown field"),
    "a face": (lambda d: d["faces"][0][0].update(age=3), r"faces\[0\]\[0\].age: unknown field"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_resealed_damage_is_refused(sealed: Path, name: str) -> None:
    edit_json(sealed, MUTATIONS[name])
    reseal(sealed)
    with pytest.raises(ResultsError) as info:
        read_results(sealed)
    one_line(info.value, sealed)


@pytest.mark.parametrize("name", sorted(UNKNOWN_FIELDS))
def test_unknown_fields_are_refused_by_name(sealed: Path, name: str) -> None:
    change, message = UNKNOWN_FIELDS[name]
    edit_json(sealed, change)
    reseal(sealed)
    with pytest.raises(ResultsError, match=message) as info:
        read_results(sealed)
    one_line(info.value, sealed)


def test_sections_are_read_back_typed(tmp_path: Path) -> None:
    results, attention, maps = make_bundle(tmp_path / "evidence")
    results.settings.segment = (0, 6)
    folder = write_results(tmp_path / "out", results, attention, maps)
    read = read_results(folder).results
    assert (read.tool, read.model, read.settings) == (results.tool, results.model,
                                                      results.settings)
    assert isinstance(read.tool, ToolInfo) and isinstance(read.model, ModelInfo)
    assert isinstance(read.settings, RunSettings) and read.settings.segment == (0, 6)
    assert read.settings.asked().command_line()[:2] == ["--frames", str(results.settings.frames)]


@pytest.mark.parametrize("shape", [(6,), (2, 4, 6, 5), (2, 4, 3, 3), (0,)])
def test_wrong_shape_attention_is_refused(sealed: Path, shape: tuple[int, ...]) -> None:
    rows = np.full(shape, 1.0 / shape[-1] if shape[-1] else 0.0, np.float32)
    np.save(sealed / ATTENTION_FILE, rows)
    reseal(sealed)
    with pytest.raises(ResultsError, match=r"attention\.npy"):
        read_results(sealed)


def test_face_maps_must_match_the_faces(sealed: Path) -> None:
    with np.load(sealed / RELEVANCY_FILE) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays = {k: v[:-1] for k, v in arrays.items()}  # one face's maps gone
    with open(sealed / RELEVANCY_FILE, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    reseal(sealed)
    with pytest.raises(ResultsError, match=r"relevancy\.npz"):
        read_results(sealed)


def test_cli_report_refuses_a_tampered_folder(sealed: Path, tmp_path: Path, capsys) -> None:
    from forensics_app.cli import main

    edit_json(sealed, lambda d: d["prediction"].update(p_fake=0.01, label="real"))
    code = main(["report", str(sealed), "--out", str(tmp_path / "r" / "report.pdf")])
    err = capsys.readouterr().err
    assert code == 6
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "changed after the results were sealed" in lines[0]
    assert not (tmp_path / "r" / "report.pdf").exists()


# -- warnings, caps and faces too small ---------------------------------------------------------
def test_cap_never_leaves_a_confident_band() -> None:
    from forensics_app.core.analysis.verdict import cap_confidence

    confident = Prediction("fake", 0.97, 0.97, "very confident", 0.5, 0, "identity 0 scores")
    capped = cap_confidence(confident, ["the header declares 216 frames but only 1 decode"])
    assert capped.band == "moderate" and capped.label == "fake"
    assert capped.capped and "216" in capped.reason
    assert cap_confidence(confident, []) == confident
    low = replace(confident, band="low", confidence=0.4)
    assert cap_confidence(low, ["x"]).band == "low"


def test_small_faces_make_the_deciding_identity_too_small_to_judge() -> None:
    from forensics_app.core.analysis.verdict import (
        MIN_FACE_PX,
        is_too_small,
        small_faces_reason,
    )

    tiny = [0.0, 0.0, MIN_FACE_PX - 1.0, MIN_FACE_PX + 50.0]
    big = [0.0, 0.0, MIN_FACE_PX + 1.0, MIN_FACE_PX + 1.0]
    assert is_too_small(tiny) and not is_too_small(big)
    faces = [[FaceBox(0, tiny, 0.9, 0.9, too_small=True), FaceBox(1, big, 0.9, 0.2)]
             for _ in range(4)]
    assert "too small to judge" in small_faces_reason(faces, 0)
    assert small_faces_reason(faces, 1) is None


def test_media_warnings_from_the_file_structure() -> None:
    from forensics_app.core.media.video import VideoInfo

    base = dict(path="x.mp4", container="mov", codec="h264", width=64, height=48, fps=25.0,
                duration_s=8.6, rotation=0, is_still_image=False, time_base=0.001, pts=(0,))
    whole = VideoInfo(frame_count=216, frames_declared=216, frames_in_file=216, **base)
    assert whole.integrity_warnings() == []
    damaged = VideoInfo(frame_count=1, frames_declared=216, frames_in_file=216, **base)
    assert "declares 216 frames but only 1 decode" in damaged.integrity_warnings()[0]
    two = VideoInfo(frame_count=216, video_streams=("0: h264", "1: mpeg4"), **base)
    assert "2 video streams" in two.integrity_warnings()[0]


def test_report_prints_the_warnings_first(tmp_path: Path) -> None:
    from pypdf import PdfReader

    from forensics_app.core.report import export_report

    results, attention, maps = make_bundle(tmp_path / "evidence")
    warning = "the header declares 216 frames but only 1 decode: the file is damaged"
    folder = write_results(tmp_path / "r", replace(results, warnings=[warning]), attention, maps)
    out = export_report(folder, tmp_path / "out" / "report.pdf")
    first = PdfReader(out.pdf).pages[0].extract_text()
    assert "WARNING:" in first and "216" in first


@pytest.mark.parametrize("metrics, expected", [
    ({"heldout": {"splices": {"real_windows_with_a_marker_share": 0.389,
                              "marker_near_boundary_share": 0.583}}}, ("39%", "58%")),
    ({}, None),
    ({"heldout": "not a table"}, None),
    ({"heldout": {"splices": {"marker_near_boundary_share": 0.5}}}, None),  # half the figures
    ({"heldout": {"splices": {"real_windows_with_a_marker_share": "n/a",
                              "marker_near_boundary_share": 0.5}}}, None),
])
def test_the_marker_record_reads_the_cards_held_out_splice_rates(metrics, expected):
    record = ModelInfo("m", "1", "ab" * 32, metrics=metrics).marker_record()
    if expected is None:
        assert record == ""
    else:
        assert f"red marker on {expected[0]} of real windows" in record
        assert f"on {expected[1]} of spliced ones" in record
