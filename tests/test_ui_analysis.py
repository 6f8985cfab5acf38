"""The window with the analysis engine (tiny random-weight model) on a shared clip.

Run the analysis from the GUI, see the docks fill, seek by clicking markers and heatmap
cells, step frames while a job runs, cancel a job, reopen results without re-running.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
import numpy as np
from PySide6.QtCore import QSettings, Qt

from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
from forensics_app.core.analysis.results import RESULTS_FILE, read_results, write_results
from forensics_app.core.models.registry import load_model
from forensics_app.ui import dialogs
from forensics_app.ui.frames import LIVE_THREADS
from forensics_app.ui.main_window import MainWindow
from forensics_app.ui.workers import WorkerPool

CLIP = "videos/real/liveportrait_d18.mp4"
T = 8


@pytest.fixture(scope="module")
def clip(shared_data) -> Path:
    return shared_data / CLIP


@pytest.fixture(scope="module")
def analysed(clip, tiny_model_dir, tmp_path_factory) -> Path:
    """A results folder of the clip (T = 8), with two frames marked unusual, so that the
    markers exist whatever the random weights do."""
    raw = tmp_path_factory.mktemp("analysed") / "raw"
    job = run_analysis(clip, raw, AnalysisSettings(frames=T), load_model(tiny_model_dir))
    for _ in job:
        pass
    # Edited results must be sealed again (the reader refuses an edited results.json).
    bundle = read_results(raw)
    tokens = bundle.results.attention_frames
    results = replace(bundle.results, unusual_frames=[tokens[5], tokens[2]])
    return write_results(raw.parent / "results", results, bundle.attention, bundle.face_maps)


@pytest.fixture
def errors(monkeypatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error",
                        lambda parent, message, title="": seen.append((title, message)))
    return seen


def make_window(qtbot, tmp_path: Path, model_spec) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    pool = WorkerPool(devices=["cpu"], model_spec=model_spec)
    window = MainWindow(settings=settings, pool=pool, output_root=tmp_path / "analyses")
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, tmp_path, tiny_model_dir):
    win = make_window(qtbot, tmp_path, tiny_model_dir)
    yield win
    win.close()
    running = [t.objectName() or repr(t) for t in list(LIVE_THREADS) if t.isRunning()]
    assert not running, f"threads left running: {running}"


def wait_shown(qtbot, win: MainWindow, index: int) -> None:
    qtbot.waitUntil(lambda: win.player.shown_index == index, timeout=5000)
    assert win.state.frame == index


def click_scene(qtbot, view, scene_pos_fn) -> None:
    """A real left click at a scene position of a pyqtgraph GraphicsView (computed after the
    view has laid itself out: pyqtgraph updates view ranges lazily)."""
    qtbot.wait(100)
    pos = view.mapFromScene(scene_pos_fn())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_analysis_from_the_gui_fills_the_docks(qtbot, window, clip, errors):
    assert window.open_video(clip)
    window.frames_spin.setValue(T)
    with qtbot.waitSignal(window.pool.jobFinished, timeout=90000) as finished:
        job = window.analyse_current()
        assert job is not None
    assert not errors
    assert job.status == "done" and job.device == "cpu"
    bundle = finished.args[1]
    assert window.state.bundle is bundle
    r = bundle.results
    assert (job.out_dir / RESULTS_FILE).exists()
    assert Path(r.evidence.path) == clip.resolve()
    # verdict
    assert window.verdict_view.label.text() == r.prediction.label.upper()
    assert window.verdict_view.model.text().startswith("tiny-test 0.0.1")
    assert f"{r.prediction.p_fake:.3f}" in window.verdict_view.p_fake.text()
    assert window.verdict_view.table.rowCount() == len(r.indicators) > 0
    # timeline and curves
    x, _ = window.timeline.scores.getData()
    assert list(x) == r.sampled_frames and len(x) == T
    sx, sy = window.curves_view.strength.getData()
    assert list(sx) == r.attention_frames
    assert all(plot.getAxis("left").style["showValues"] for plot in window.curves_view.plots)
    np.testing.assert_allclose(sy, r.self_attention)
    # temporal attention: 4 layers, 8 heads of T×T, the average
    att = window.attention_view
    assert len(att.layer_buttons) == 4
    t = len(r.attention_frames)
    assert att.average.image.image.shape == (t, t)
    np.testing.assert_allclose(att.heads[3].image.image, bundle.attention[0, 3])
    att.layer_buttons[2].click()
    np.testing.assert_allclose(att.heads[3].image.image, bundle.attention[2, 3])
    # face relevancy follows the current frame
    window.state.set_frame(r.sampled_frames[3])
    qtbot.waitUntil(lambda: window.relevancy_view.shown is not None
                    and window.relevancy_view.shown[0] == r.sampled_frames[3], timeout=5000)
    qtbot.waitUntil(lambda: window.relevancy_view.face.image is not None, timeout=5000)
    window.relevancy_view.set_method("gradcam++")
    assert window.relevancy_view.shown[2] == "gradcam++"
    # the player draws this frame's face boxes
    wait_shown(qtbot, window, r.sampled_frames[3])
    faces, exact = window.player.faces_for_current()
    assert exact and len(faces) == len(r.faces[3])


def test_stepping_works_while_a_job_runs_and_cancel_stops_it(qtbot, window, clip, errors):
    assert window.open_video(clip)
    window.frames_spin.setValue(100)  # a longer job, so it is surely still running
    started = []
    window.pool.jobProgress.connect(lambda job, p: started.append(p.stage))
    job = window.analyse_current()
    qtbot.waitUntil(lambda: "faces" in started, timeout=30000)
    assert window.job_label.isVisible() and "frame" in window.job_label.text()
    for expected in range(1, 6):
        qtbot.keyClick(window, Qt.Key.Key_Right)
        wait_shown(qtbot, window, expected)
    assert job.status == "running"  # the frames were stepped while the analysis ran
    with qtbot.waitSignal(window.pool.jobCancelled, timeout=30000):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert job.status == "cancelled"
    assert window.state.bundle is None and not errors
    qtbot.waitUntil(lambda: not window.pool.busy, timeout=5000)
    # a queued job that is cancelled never starts
    first, second = window.queue_videos([clip, clip])
    window.pool.cancel(second)
    assert second.status == "cancelled"
    window.pool.cancel(first)
    qtbot.waitUntil(lambda: first.status == "cancelled", timeout=30000)


def test_clicking_a_red_marker_seeks(qtbot, window, analysed):
    bundle = window.load_results(analysed)
    assert bundle is not None
    target = bundle.results.unusual_frames[0]
    assert window.state.frame != target
    curves = window.curves_view
    assert len(curves.markers.points()) == 2
    click_scene(qtbot, curves.graphics, lambda: curves.marker_scene_pos(target))
    wait_shown(qtbot, window, target)
    # every view follows
    assert round(window.timeline.playhead.value()) == target
    assert curves.playheads[0].value() == target
    token = bundle.results.attention_frames.index(target)
    assert window.attention_view.average.row_line.value() == token + 0.5
    assert "unusual" in curves.readout.text()
    # next / previous unusual frame from the keyboard
    window.state.set_frame(0)
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.state.frame == min(bundle.results.unusual_frames)


def test_clicking_a_heatmap_cell_seeks(qtbot, window, analysed):
    bundle = window.load_results(analysed)
    frames = bundle.results.attention_frames
    att = window.attention_view
    click_scene(qtbot, att.average_graphics,
                lambda: att.cell_scene_pos(att.average, col=6, row=1))
    wait_shown(qtbot, window, frames[6])
    click_scene(qtbot, att.graphics, lambda: att.cell_scene_pos(att.heads[5], col=3, row=0))
    wait_shown(qtbot, window, frames[3])
    assert att.heads[0].col_line.value() == 3.5  # the current frame is marked


def test_the_mean_maps_axes_name_video_frames_inside_the_map(qtbot, window, analysed):
    """The mean map's ticks sit on token centres, only over the map (the locked aspect leaves
    empty view beside it), and read as the video frames the player and curves show."""
    bundle = window.load_results(analysed)
    frames = bundle.results.attention_frames
    att = window.attention_view
    att.average_graphics.resize(400, 400)
    qtbot.wait(50)
    for axis in att.average.axes:
        ticks = axis.tickValues(axis.range[0], axis.range[1], 200)
        positions = [p for _step, level in ticks for p in level]
        assert positions, axis.orientation
        assert all(0 < p < len(frames) and p % 1 == 0.5 for p in positions)
        assert axis.tickStrings(positions, 1, 1) == [str(frames[int(p)]) for p in positions]
    assert frames[-1] != len(frames) - 1  # sampled: a token number would read differently


def test_clicking_a_relevancy_point_seeks(qtbot, window, analysed):
    bundle = window.load_results(analysed)
    r = bundle.results
    curves = window.curves_view
    x, y = curves.relevancy_curve.getData()
    assert list(x) == r.attention_frames
    np.testing.assert_allclose(y, r.frame_relevancy)
    ex, ey = curves.expected_curve.getData()  # r̂ dashed beside r
    assert list(ex) == r.attention_frames
    np.testing.assert_allclose(ey, r.expected_range)
    target = r.attention_frames[4]
    assert window.state.frame != target
    click_scene(qtbot, curves.graphics, lambda: curves.relevancy_scene_pos(target))
    wait_shown(qtbot, window, target)
    assert f"relevancy {r.frame_relevancy[4]:.2f}" in curves.readout.text()


def _bar_numbers(bar) -> tuple[float, float]:
    """What a colour bar says: its levels, which its axis labels with numbers."""
    low, high = bar.levels()
    axis_low, axis_high = sorted(bar.axis.range)
    assert (axis_low, axis_high) == pytest.approx((low, high))
    return low, high


def test_colour_scale_numbers_match_the_data(qtbot, window, analysed):
    from dataclasses import replace as dc_replace

    bundle = window.load_results(analysed)
    att = window.attention_view
    t = bundle.attention.shape[-1]
    mean = bundle.attention.astype(np.float64).mean(axis=(0, 1))
    # the mean map: 0 to its largest weight, or 0 to 2/T when near uniform
    even = np.abs(mean * t - 1).max() < 0.1
    assert _bar_numbers(att.average.bar) == pytest.approx((0, 2 / t if even else mean.max()))
    assert ("near uniform" in att.scale_text.text()) == even
    # shared (the default): one bar for the heads, the largest weight of every layer
    assert att.scale_mode == "shared" and att.heads[0].bar is None
    flat = np.abs(bundle.attention * t - 1).max() < 0.1
    top = 2 / t if flat else float(bundle.attention.max())
    assert _bar_numbers(att.shared_bar) == pytest.approx((0, top), rel=1e-5)
    assert att.heads[2].image.levels == pytest.approx([0, top], rel=1e-5)
    # per map: each head its own bar and numbers
    att.set_scale_mode("per map")
    att.layer_buttons[1].click()
    assert att.shared_bar is None
    for h, head in enumerate(att.heads):
        data = bundle.attention[1, h]
        uniform = np.abs(data * t - 1).max() < 0.1
        expected = 2 / t if uniform else float(data.max())
        assert _bar_numbers(head.bar) == pytest.approx((0, expected), rel=1e-5)
        assert ("≈" in head.plot.titleLabel.text) == uniform
    # a near-uniform attention (±1 % ripple) is said to be so, not stretched to full colour
    rng = np.random.default_rng(0)
    ripple = np.full(bundle.attention.shape, 1 / t) * (1 + rng.uniform(-0.01, 0.01,
                                                                       bundle.attention.shape))
    window.state.set_results(dc_replace(bundle, attention=ripple.astype(np.float32)))
    assert _bar_numbers(att.heads[0].bar) == pytest.approx((0, 2 / t))
    assert _bar_numbers(att.average.bar) == pytest.approx((0, 2 / t))
    assert "near uniform: every weight within ±" in att.scale_text.text()
    assert "8 of 8 heads ≈ uniform" in att.scale_text.text()
    # a peaked attention: the bar runs to its largest weight
    peaked = np.array(ripple, np.float32)
    peaked[1, 0, 3] = 0.0
    peaked[1, 0, 3, 5] = 1.0
    window.state.set_results(dc_replace(bundle, attention=peaked))
    assert _bar_numbers(att.heads[0].bar) == pytest.approx((0, 1.0))
    assert "≈" not in att.heads[0].plot.titleLabel.text
    att.set_scale_mode("shared")
    assert _bar_numbers(att.shared_bar) == pytest.approx((0, 1.0))


def test_the_verdicts_model_row_opens_the_card_of_the_results_model(qtbot, window, analysed):
    from PySide6.QtWidgets import QDialog, QTextBrowser

    window.load_results(analysed)
    assert 'href="card"' in window.verdict_view.model.text()
    window.verdict_view.model.linkActivated.emit("card")
    dialog = window.findChild(QDialog, "modelCardDialog")
    assert dialog is not None and dialog.isVisible()
    text = dialog.findChild(QTextBrowser).toPlainText()
    assert "tiny-test 0.0.1" in text  # the model that made these results
    dialog.close()


def test_indicator_frame_link_seeks(qtbot, window, analysed):
    bundle = window.load_results(analysed)
    table = window.verdict_view.table
    with_frames = [i for i, ind in enumerate(bundle.results.indicators) if ind.frames]
    if not with_frames:
        pytest.skip("no indicator points at frames for these weights")
    row = with_frames[0]
    label = table.cellWidget(row, 3)
    label.linkActivated.emit(str(bundle.results.indicators[row].frames[0]))
    assert window.state.frame == bundle.results.indicators[row].frames[0]


def test_results_and_case_reopen_without_rerunning(qtbot, window, analysed, tmp_path,
                                                   tiny_model_dir, errors):
    window.load_results(analysed)
    window.state.set_frame(10)
    window.notes_view.add("checked mouth region", frame=10)
    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        window.save_case_to(tmp_path / "case", "C-7", "examiner")
    case = saved.args[0]
    assert not errors
    analysis_dir = case.analysis_dir(window.state.evidence_id)
    assert (analysis_dir / RESULTS_FILE).exists()
    window.close()
    again = make_window(qtbot, tmp_path / "second", tiny_model_dir)
    try:
        submitted = []
        again.pool.jobQueued.connect(submitted.append)
        with qtbot.waitSignal(again.caseOpened, timeout=10000):
            assert again.open_path(tmp_path / "case")
        assert again.state.bundle is not None and not submitted  # loaded, not re-run
        assert again.state.bundle.folder == analysis_dir
        assert again.verdict_view.label.text() != "no analysis"
        assert again.notes_view.list.count() == 1
        events = [e["event"] for e in again.state.case.audit_log()]
        assert "case opened" in events and "evidence verified" in events
    finally:
        again.close()


def test_missing_model_says_so(qtbot, tmp_path, clip, errors):
    win = make_window(qtbot, tmp_path, tmp_path / "no-such-model")
    try:
        win.open_video(clip)
        assert win.analyse_current() is None
        assert "no detection model" in errors[-1][1]
    finally:
        win.close()


def test_failed_job_shows_its_one_line_reason(qtbot, window, tmp_path, errors):
    # A file that opens as a video but is gone by the time the job hashes it.
    from media_factory import make_video

    video = make_video(tmp_path / "short.mp4", n_frames=5)
    assert window.open_video(video)
    video.unlink()
    with qtbot.waitSignal(window.pool.jobFailed, timeout=30000):
        window.analyse_current()
    qtbot.waitUntil(lambda: bool(errors), timeout=2000)
    title, message = errors[-1]
    assert "short.mp4" in title and "short.mp4" in message and "\n" not in message


def test_export_report_from_the_gui_after_an_analysis_in_a_case(qtbot, window, clip, tmp_path,
                                                                 errors, monkeypatch):
    """File → Export report against the real exporter: PDF (evidence SHA-256, verdict),
    its .sha256 and the results sidecar; one audit line per export; the analysis recorded."""
    import hashlib

    from pypdf import PdfReader

    from forensics_app.core.case import Note

    assert window.open_video(clip)
    window.notes_view.add("held before the case existed", frame=3)
    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        window.save_case_to(tmp_path / "case", "C-9", "R. Examiner")
    case = saved.args[0]
    evidence_id = window.state.evidence_id
    window.notes_view.add("written straight into the case", frame=None)
    window.frames_spin.setValue(T)
    # inside a case the job is queued once the evidence is hashed into it
    with qtbot.waitSignal(window.pool.jobFinished, timeout=90000) as finished:
        window.analyse_current()
    job, bundle = finished.args
    assert job.out_dir == case.analysis_dir(evidence_id) and window.state.bundle is bundle
    analysed = [e for e in case.audit_log() if e["event"] == "analysed"]
    assert len(analysed) == 1 and analysed[0]["evidence_id"] == evidence_id
    assert analysed[0]["verdict"] == bundle.results.prediction.label
    assert analysed[0]["sha256"] == bundle.results.evidence.sha256
    window.notes_view.pending.append(  # a note not saved in the case yet
        Note("2024-01-01T00:00:00+00:00", "unsaved remark about the chin", None, 7))

    offered = []
    target = tmp_path / "out" / "clip-report"  # no suffix: the window adds .pdf

    def answer(parent, title, start="", filters=""):
        offered.append(start)
        return str(target)

    monkeypatch.setattr(dialogs, "ask_save_file", answer)
    assert window.act_report.isEnabled()
    with qtbot.waitSignal(window.reportExported, timeout=60000) as exported:
        window.act_report.trigger()
    assert not errors
    assert Path(offered[0]).parent == case.folder / "reports"
    assert Path(offered[0]).parent.is_dir()  # else the dialog opens the last folder used
    out = exported.args[0]
    pdf = target.with_suffix(".pdf")
    assert out.pdf == pdf and pdf.exists() and out.evidence_status == "ok"
    reader = PdfReader(pdf)
    text = "".join(page.extract_text() for page in reader.pages)
    flat = "".join(text.split())
    r = bundle.results
    assert r.evidence.sha256 in flat
    assert r.prediction.label.upper() in text
    for note in ("held before the case existed", "written straight into the case",
                 "unsaved remark about the chin"):
        assert flat.count("".join(note.split())) == 1, note
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert (tmp_path / "out" / "clip-report.pdf.sha256").read_text() == \
        f"{digest}  clip-report.pdf\n"
    sidecar = tmp_path / "out" / "clip-report.results.json"
    assert sidecar.read_bytes() == (job.out_dir / RESULTS_FILE).read_bytes()
    events = [e["event"] for e in case.audit_log()]
    assert events.count("report exported") == 1 and events.count("analysed") == 1
    assert case.audit_chain_ok()
    assert not window.task_label.isVisible()


def test_relevancy_is_blank_where_the_identity_is_not(qtbot, window, analysed):
    from dataclasses import replace as dc_replace

    from forensics_app.core.analysis.results import FaceMaps

    bundle = window.load_results(analysed)
    view = window.relevancy_view
    track = view.current_track()
    assert track is not None
    sampled = bundle.results.sampled_frames
    fm = bundle.face_maps
    frames = sorted({int(f) for f in fm.frame_index[fm.track_id == track]})
    assert len(frames) >= 5, "the clip's face is expected in most sampled frames"
    # an analysed frame: its own map
    window.state.set_frame(frames[2])
    assert view.shown == (frames[2], track, view.method.currentData()) and not view.absent
    # between two consecutive samples that both hold the identity: the nearer map
    a, b = frames[2], frames[3]
    assert sampled.index(b) - sampled.index(a) == 1
    window.state.set_frame(a + 1)
    assert view.shown[0] == a and not view.absent
    assert f"between analysed frames {a} and {b}" in view.caption.text()
    window.state.set_frame(b - 1)
    assert view.shown[0] == b
    # just after its last analysed frame, where the player still boxes it (dashed): that
    # frame's map; beyond half a sampling step, where the player boxes nothing: blank
    step = (sampled[-1] - sampled[0]) / (len(sampled) - 1)
    window.state.set_frame(frames[-1] + 1)
    assert view.shown[0] == frames[-1] and not view.absent
    assert f"analysed frame {frames[-1]} (nearest" in view.caption.text()
    beyond = frames[-1] + int(step / 2) + 1
    if beyond < window.state.frame_count:
        window.state.set_frame(beyond)
        qtbot.wait(50)
        assert view.absent and view.shown is None
        assert view.face.image is None and view.heat.image is None
        assert f"Identity {track} is not in this frame" in view.caption.text()
    # the identity missing from one sample: the frames around that sample are blank too
    gone = frames[3]
    keep = ~((fm.track_id == track) & (fm.frame_index == gone))
    holed = FaceMaps(fm.frame_index[keep], fm.track_id[keep], fm.crop_box[keep],
                     {m: v[keep] for m, v in fm.maps.items()})
    at = sampled.index(gone)  # the sample's faces lose it too, as a real analysis has it
    faces = [[f for f in frame if not (i == at and f.track_id == track)]
             for i, frame in enumerate(bundle.results.faces)]
    window.state.set_results(dc_replace(bundle, face_maps=holed, results=dc_replace(
        bundle.results, faces=faces)))
    view.tabs.setCurrentIndex(view.tracks.index(track))
    for frame in (gone, gone + 1, gone - 1):  # the player boxes the sample without it
        window.state.set_frame(frame)
        assert view.absent and view.shown is None, frame
        assert "not in this frame" in view.caption.text()
    window.state.set_frame(frames[2] + 1)  # nearer the sample with it: its map, not between
    assert view.shown[0] == frames[2] and "between" not in view.caption.text()
    window.state.set_frame(frames[2])
    assert view.shown[0] == frames[2] and not view.absent
    window.state.set_frame(frames[2])  # the picture comes back once the frame is decoded
    qtbot.waitUntil(lambda: view.face.image is not None, timeout=5000)


def test_provisional_scores_show_grey_until_the_results_load(qtbot, window, clip, analysed,
                                                              tmp_path):
    from forensics_app.core.analysis.job import Progress
    from forensics_app.ui.workers import AnalysisJob

    assert window.open_video(clip)
    job = AnalysisJob(clip, tmp_path / "running")
    timeline = window.timeline
    # per face, in detection order; two faces on frame 0: the frame shows the higher score
    partial = {"face_p_fake": [0.2, 0.9, 0.4], "face_frames": [0, 0, 27, 54]}
    window.pool.jobProgress.emit(job, Progress("spatial", 3, 4, "", 1.0, partial))
    x, y = timeline.partial.getData()
    assert list(x) == [0, 27] and list(y) == [0.9, 0.4]
    assert timeline.partial_label.isVisible()
    assert timeline.scores.getData()[0] is None or len(timeline.scores.getData()[0]) == 0
    # scores without their frames cannot be placed: nothing new is drawn
    window.pool.jobProgress.emit(job, Progress("spatial", 4, 4, "", 1.0,
                                               {"face_p_fake": [0.1, 0.1, 0.1, 0.1]}))
    assert list(timeline.partial.getData()[0]) == [0, 27]
    # another video's job does not draw on this timeline
    other = AnalysisJob(tmp_path / "other.mp4", tmp_path / "other")
    window.pool.jobProgress.emit(other, Progress("spatial", 1, 1, "", 1.0,
                                                 {"face_p_fake": [0.5], "face_frames": [99]}))
    assert list(timeline.partial.getData()[0]) == [0, 27]
    # the final results replace the provisional ones
    bundle = window.load_results(analysed)
    px, _ = timeline.partial.getData()
    assert px is None or len(px) == 0
    assert not timeline.partial_label.isVisible()
    assert list(timeline.scores.getData()[0]) == bundle.results.sampled_frames


# -- identity views (workstation issue, item 11) ----------------------------------------------
def _spread_over(bundle, people: int):
    """The bundle with its faces dealt out to `people` identities in turn, sampled frame by
    sampled frame: a several-person results set without a several-person analysis."""
    from forensics_app.core.analysis.results import FaceMaps

    r = bundle.results
    position = {f: i for i, f in enumerate(r.sampled_frames)}
    faces = [[replace(face, track_id=i % people) for face in frame]
             for i, frame in enumerate(r.faces)]
    fm = bundle.face_maps
    tracks = np.array([position[int(f)] % people for f in fm.frame_index], np.int64)
    identities = [replace(r.identities[0], track_id=t,
                          frames=[f for f in r.sampled_frames if position[f] % people == t])
                  for t in range(people)]
    results = replace(r, faces=faces, identities=identities,
                      prediction=replace(r.prediction, decided_by_track=people - 1))
    maps = FaceMaps(fm.frame_index, tracks, fm.crop_box, fm.maps)
    return replace(bundle, results=results, face_maps=maps)


def test_relevancy_shows_exactly_the_identities_the_player_boxes(qtbot, window, clip,
                                                                 analysed):
    window.open_video(clip)
    bundle = _spread_over(window.load_results(analysed), people=3)
    window.state.set_results(bundle)
    view = window.relevancy_view
    checked = 0
    for frame in range(0, window.state.frame_count, 7):
        window.state.set_frame(frame)
        boxed = {f.track_id for f in window.player.faces_for_current()[0]}
        for i, track in enumerate(view.tracks):
            view.tabs.setCurrentIndex(i)
            assert view.absent == (track not in boxed), (frame, track, boxed)
            if view.absent:
                assert f"Identity {track} is not in this frame" in view.caption.text()
                for other in boxed:
                    assert f"identity {other}" in view.caption.text()
            checked += 1
    assert checked > 3 * 10


def test_every_identity_tab_stays_whole_in_view(qtbot, window, analysed):
    window.resize(1366, 768)
    window.reset_layout()
    window.state.set_results(_spread_over(window.load_results(analysed), people=6))
    qtbot.wait(100)
    tabs = window.relevancy_view.tabs
    assert tabs.count() == 6 and tabs.currentIndex() == 5  # the deciding identity, the last
    for i in range(tabs.count()):
        assert tabs.rect().contains(tabs.tabRect(i)), (i, tabs.tabRect(i), tabs.rect())


def _in_viewport(widget, scroll) -> bool:
    """Whether the widget lies wholly inside the scroll area's visible part."""
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, widget.rect().topLeft())
    return viewport.rect().contains(widget.rect().translated(top_left))


def test_at_1366x768_the_curves_and_the_note_editor_need_no_scrolling(qtbot, window, clip,
                                                                       analysed):
    """A laptop-sized window shows all three curves over the whole clip and the note editor
    with its button: pyqtgraph's and the list's preferred heights (480 / 192 px) pushed
    them below the docks' edges, and a one-line label widened the notes into a scroll."""
    window.open_video(clip)
    window.load_results(analysed)
    window.resize(1366, 768)
    window.reset_layout()
    qtbot.wait(200)
    curves = window.docks["curves"].widget()
    assert _in_viewport(window.curves_view.graphics, curves)
    assert not curves.horizontalScrollBar().isVisible()
    notes = window.docks["notes"].widget()
    for part in (window.notes_view.editor, window.notes_view.add_button):
        assert _in_viewport(part, notes), part.objectName()
    assert not notes.horizontalScrollBar().isVisible()


def test_curves_readout_names_the_current_frame(qtbot, window, clip, analysed):
    window.open_video(clip)
    results = window.load_results(analysed).results
    readout = window.curves_view.readout
    token = results.attention_frames[3]
    window.state.set_frame(token)
    assert readout.text().startswith(f"frame {token}:")
    window.state.set_frame(token + 1)
    assert readout.text().startswith(
        f"frame {token + 1} (values of the nearest analysed frame, {token})")


def test_a_still_image_after_a_clip_keeps_nothing_of_its_axes(qtbot, window, clip, analysed,
                                                              shared_data):
    window.open_video(clip)
    window.load_results(analysed)
    qtbot.wait(50)
    window.open_video(shared_data / "images" / "real" / "obama.jpg")
    qtbot.waitUntil(lambda: window.state.bundle is None and window.state.frame_count == 1)
    qtbot.wait(50)
    (_, x_max), _ = window.curves_view.strength_plot.vb.viewRange()
    assert x_max < 2, x_max  # not the clip's frame axis
    assert not any(plot.getAxis("left").style["showValues"]  # no values of nothing
                   for plot in window.curves_view.plots)
    attention = window.attention_view
    assert attention.shared_bar is None or not attention.shared_bar.isVisible()
    assert all(m.bar is None or not m.bar.isVisible() for m in [*attention.heads,
                                                                 attention.average])
    from PySide6.QtWidgets import QPushButton

    assert not [b for b in attention.findChildren(QPushButton) if b.isVisible()]  # no layers
    assert all(axis.tickValues(0, 1, 200) == [] for axis in attention.average.axes)


def test_wrapped_verdict_rows_get_their_whole_height(qtbot, window, analysed):
    window.resize(1366, 768)
    window.reset_layout()
    window.load_results(analysed)
    qtbot.wait(100)
    view = window.verdict_view
    for row in (view.band, view.reason, view.model):
        assert row.height() >= row.heightForWidth(row.width()), (row.objectName(),
                                                                 row.text())
    # The attention maps are whole in their dock, not squashed into strips: nothing to scroll
    # to find the mean map (the text under the maps may scroll).
    area = window.docks["attention"].widget()
    attention = window.attention_view
    assert attention.width() <= area.viewport().width()
    for canvas in (attention.graphics, attention.average_graphics):
        bottom = canvas.mapTo(attention, canvas.rect().bottomLeft()).y()
        assert bottom <= area.viewport().height(), (bottom, area.viewport().height())
    # Each map at least 36 px square (8 heads share the dock at 1366×768; the 40 px they
    # once measured came from titles wider than their cell, which pushed a map over the next).
    for plot_map in (*attention.heads, attention.average):
        rect = plot_map.plot.vb.sceneBoundingRect()
        assert rect.height() >= 36 and rect.width() >= 36, (plot_map.title, rect)
        assert plot_map.image.sceneBoundingRect().width() <= rect.width() + 1


def test_save_case_dialog_takes_a_typed_new_folder(qtbot, tmp_path):
    from forensics_app.ui.case_dialog import NewCaseDialog

    dialog = NewCaseDialog(start=str(tmp_path / "cases" / "not-yet"))
    qtbot.addWidget(dialog)
    dialog.case_id.setText("C-9")
    dialog.examiner.setText("A. Examiner")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    dialog.folder.setText(str(busy))
    dialog._accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "not empty" in dialog.problem.text()
    dialog.folder.setText(str(tmp_path / "cases" / "not-yet"))  # typed, does not exist yet
    dialog._accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.answer() == (str(tmp_path / "cases" / "not-yet"), "C-9", "A. Examiner")


def test_saving_a_case_creates_the_typed_folder_and_keeps_the_method(qtbot, window, clip,
                                                                     analysed, tmp_path):
    window.open_video(clip)
    window.load_results(analysed)
    view = window.relevancy_view
    view.set_method("rollout")
    target = tmp_path / "cases" / "typed-new"
    with qtbot.waitSignal(window.caseSaved, timeout=60000):
        window.save_case_to(target, "C-10", "A. Examiner")
    assert (target / "case.json").is_file()
    assert window.state.bundle.folder == target / "analyses" / "E001"  # now the case's copy
    assert view.method.currentData() == "rollout"


def test_analyse_folder_runs_the_batch_beside_the_player(qtbot, window, tmp_path, monkeypatch,
                                                         errors):
    from media_factory import make_video

    from forensics_app.ui import batch as gui_batch

    opened: list[str] = []
    monkeypatch.setattr(gui_batch.QDesktopServices, "openUrl",
                        lambda url: opened.append(url.toLocalFile()))
    folder = tmp_path / "seized"
    folder.mkdir()
    make_video(folder / "a.mp4", n_frames=6)
    make_video(folder / "b.mp4", n_frames=6)
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    window.frames_spin.setValue(2)
    out = tmp_path / "batch"
    assert gui_batch.analyse_folder(window, folder, out) is not None
    qtbot.waitUntil(lambda: bool(opened), timeout=120000)
    assert opened == [str(out / "index.html")]
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 4  # header + three files: the broken one failed, the batch went on
    assert sum("failed" in r for r in rows[1:]) == 1 and sum(",done," in r for r in rows) == 2
    assert "2 analysed" in window.statusBar().currentMessage()
    assert not errors  # a file that fails is a row, not a dialog


def test_the_curves_note_weighs_markers_by_the_cards_held_out_rates(qtbot, window, analysed,
                                                                    tmp_path):
    window.load_results(analysed)
    assert "red marker on" not in window.curves_view.note.text()  # the tiny card has none
    bundle = read_results(analysed)
    splices = {"real_windows_with_a_marker_share": 0.39, "marker_near_boundary_share": 0.58}
    model = replace(bundle.results.model, metrics={"heldout": {"splices": splices}})
    rated = write_results(tmp_path / "rated", replace(bundle.results, model=model),
                          bundle.attention, bundle.face_maps)
    window.load_results(rated)
    note = window.curves_view.note.text()
    assert "red marker on 39% of real windows" in note and "on 58% of spliced ones" in note


def test_tick_steps_are_round_and_fit():
    from forensics_app.ui.attention_view import tick_step

    assert tick_step(100, 2) == 50
    assert tick_step(100, 5) == 20
    assert tick_step(100, 10) == 10
    assert tick_step(32, 4) == 10
    assert tick_step(7, 0) == 10  # no room: one tick
    assert tick_step(3, 10) == 1


def test_the_verdict_headline_names_the_band_without_repeating_it():
    from types import SimpleNamespace

    from forensics_app.ui.verdict_view import headline_band

    line = headline_band(SimpleNamespace(band="confident", confidence=0.832))
    assert line == "· confidence band: confident (83%)"
    assert "confident confidence" not in line
    assert headline_band(SimpleNamespace(band="none", confidence=None)) == "· no usable evidence"


def test_notes_on_a_second_exhibit_stay_with_it_through_save_and_reopen(
        qtbot, window, clip, shared_data, tmp_path, errors, monkeypatch):
    """Issue 33 (1): with a case open, a second video analysed into it (Ctrl+R) became E002,
    but a note at one of its frames was written with no exhibit id and, once the case was
    reopened, listed under E001 (and printed in E001's report)."""
    second = shared_data / "videos/real/grid_bbaf2n.mpg"
    assert window.open_video(clip)
    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        window.save_case_to(tmp_path / "case", "C-11", "examiner")
    case = saved.args[0]
    window.notes_view.add("about the first clip", frame=3)
    assert window.open_video(second)
    assert window.state.evidence_id is None  # not an exhibit yet
    window.notes_view.add("about the second clip, before it is an exhibit", frame=2)
    assert "(held: goes into the case with its video)" in window.notes_view.list.item(
        window.notes_view.list.count() - 1).text()
    window.frames_spin.setValue(T)
    with qtbot.waitSignal(window.pool.jobFinished, timeout=90000):
        window.act_analyse.trigger()
    assert window.state.evidence_id == "E002" and "E002" in window.windowTitle()
    window.notes_view.add("about the second clip as E002", frame=5)
    written = [(n.text, n.evidence_id) for n in case.notes()]
    assert written == [("about the first clip", "E001"),
                       ("about the second clip, before it is an exhibit", "E002"),
                       ("about the second clip as E002", "E002")]
    noted = [r["evidence_id"] for r in case.audit_log() if r["event"] == "note added"]
    assert noted == ["E001", "E002", "E002"]

    monkeypatch.setattr(dialogs, "ask_item", lambda parent, title, label, items: items[0])
    with qtbot.waitSignal(window.caseOpened, timeout=20000):
        window.open_case(case.folder)
    assert window.state.evidence_id == "E001"
    listed = [window.notes_view.list.item(i).text()
              for i in range(window.notes_view.list.count())]
    assert len(listed) == 1 and "about the first clip" in listed[0], listed
    assert not errors


def test_a_tampered_analysis_in_a_case_is_shown_as_refused_and_audited(
        qtbot, window, analysed, tmp_path, tiny_model_dir, errors):
    """Issue 33 (4): the dialog was precise, but after OK the dock said "no analysis": no
    banner, no audit line. Now the banner and the verdict dock say the results were refused,
    which file and why, and the case's audit log has the line, as for a changed exhibit."""
    window.load_results(analysed)
    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        window.save_case_to(tmp_path / "case", "C-14", "examiner")
    case = saved.args[0]
    results = case.analysis_dir("E001") / RESULTS_FILE
    text = results.read_text(encoding="utf-8")
    results.write_text(text.replace('"label": "', '"label": "x', 1), encoding="utf-8")
    window.close()
    again = make_window(qtbot, tmp_path / "second", tiny_model_dir)
    try:
        with qtbot.waitSignal(again.caseOpened, timeout=10000):
            assert again.open_path(case.folder)
        assert [title for title, _ in errors] == ["Results refused"]
        assert again.state.bundle is None
        assert again.banner.isVisible() and "RESULTS REFUSED" in again.banner.text()
        assert RESULTS_FILE in again.banner.text()
        assert again.verdict_view.label.text() == "RESULTS REFUSED"
        assert RESULTS_FILE in again.verdict_view.reason.text()
        refused = [e for e in again.state.case.audit_log() if e["event"] == "results refused"]
        assert len(refused) == 1 and refused[0]["evidence_id"] == "E001"
        assert refused[0]["folder"] == str(case.analysis_dir("E001").resolve())
        assert again.state.case.audit_chain_ok()
    finally:
        again.close()


def test_new_and_close_case_and_saving_asks_before_adding_an_outside_clip(
        qtbot, window, clip, analysed, shared_data, tmp_path, errors, monkeypatch):
    """Issue 33 (6): the File menu had no New or Close case, and with a case open, Ctrl+S
    on a results folder from outside it added that clip as a new exhibit without a word."""
    answers = [(str(tmp_path / "new"), "C-16", "examiner B")]
    monkeypatch.setattr(dialogs, "ask_new_case", lambda parent: answers.pop(0))
    assert window.open_video(clip)
    assert window.act_new_case.isEnabled() and not window.act_close_case.isEnabled()
    window.act_new_case.trigger()
    case = window.state.case
    assert case is not None and case.case_id == "C-16" and case.evidence() == []
    assert "(not in the case)" in window.windowTitle()

    asked = []
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda parent, title, text: asked.append(text)
                        or False)
    window.load_results(analysed)  # results of a clip from outside the case
    window.act_save_case.trigger()
    assert len(asked) == 1 and "not in case C-16" in asked[0]
    assert case.evidence() == [] and not window.tasks.busy  # No: nothing added

    monkeypatch.setattr(dialogs, "ask_yes_no", lambda parent, title, text: True)
    with qtbot.waitSignal(window.caseSaved, timeout=10000):
        window.act_save_case.trigger()
    assert [r.evidence_id for r in case.evidence()] == ["E001"]
    assert "E001" in window.windowTitle()

    assert window.act_close_case.isEnabled()
    window.act_close_case.trigger()
    assert window.state.case is None and "case C-16" not in window.windowTitle()
    assert window.state.video_path is not None  # the clip stays open
    assert [e["event"] for e in case.audit_log()][-1] == "case closed"
    assert not errors


def test_indicator_values_carry_their_unit_and_the_tooltips_end_their_sentence(
        qtbot, window, analysed):
    """Issue 34 (6): the frozen stretch showed "1.500 / 1" with no unit; an identity tab's
    tooltip ended mid-sentence ("…the player's box shows each frame's")."""
    window.load_results(analysed)
    table = window.verdict_view.table
    rows = {table.item(r, 0).text().removeprefix("⚑ ").split(" (")[0]: r
            for r in range(table.rowCount())}
    frozen = rows["frozen stretch"]
    assert table.item(frozen, 1).text().endswith(" s") and table.item(frozen, 2).text() == "1 s"
    share = rows["unusual frame share"]
    assert not table.item(share, 1).text().endswith(" s")
    tabs = window.relevancy_view.tabs
    assert all(tabs.tabToolTip(i).endswith("in each frame") for i in range(tabs.count()))


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_per_map_colour_bars_and_numbers_stay_beside_their_own_map(qtbot, window, analysed,
                                                                   size):
    """Issue 34 (2): in "per map" mode each head map's colour bar and its numbers were drawn
    over the next map, at both sizes, while Help says to compare the numbers in that mode."""
    window.resize(*size)
    window.reset_layout()
    window.load_results(analysed)
    att = window.attention_view
    att.set_scale_mode("per map")
    qtbot.wait(200)
    for i, head in enumerate(att.heads):
        bar = head.bar.sceneBoundingRect()
        for j, other in enumerate(att.heads):  # no bar on any map's picture, its own included
            assert not bar.intersects(other.image.sceneBoundingRect()), (i, j)
        assert head.bar.getAxis("right").style["showValues"] is False
        high = head.scale.high
        assert f"{head.title} 0–{high:.3g}" in att.scale_text.text()  # the numbers, listed
