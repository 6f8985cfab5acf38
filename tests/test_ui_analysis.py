"""The window with the analysis engine (tiny random-weight model) on a shared clip.

Run the analysis from the GUI, see the docks fill, seek by clicking markers and heatmap
cells, step frames while a job runs, cancel a job, reopen results without re-running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
import numpy as np
from PySide6.QtCore import QSettings, Qt

from forensics_app.core.analysis.job import AnalysisSettings, run_analysis
from forensics_app.core.analysis.results import RESULTS_FILE
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
    out = tmp_path_factory.mktemp("analysed") / "results"
    job = run_analysis(clip, out, AnalysisSettings(frames=T), load_model(tiny_model_dir))
    for _ in job:
        pass
    data = json.loads((out / RESULTS_FILE).read_text())
    data["unusual_frames"] = [data["attention_frames"][5], data["attention_frames"][2]]
    (out / RESULTS_FILE).write_text(json.dumps(data))
    return out


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
    case = window.save_case_to(tmp_path / "case", "C-7", "examiner")
    assert case is not None and not errors
    analysis_dir = case.analysis_dir(window.state.evidence_id)
    assert (analysis_dir / RESULTS_FILE).exists()
    window.close()
    again = make_window(qtbot, tmp_path / "second", tiny_model_dir)
    try:
        submitted = []
        again.pool.jobQueued.connect(submitted.append)
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
