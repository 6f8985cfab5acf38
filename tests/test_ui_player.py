"""The window without a model: opening, stepping, scrubbing, bad input, layout, notes, case.

The synthetic clips draw their frame number into the pixels, so every assertion about
"which frame is shown" reads the picture the player actually painted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from media_factory import make_video, read_frame_number
from PySide6.QtCore import QSettings, Qt

from forensics_app.ui import dialogs
from forensics_app.ui.app import apply_theme
from forensics_app.ui.frames import LIVE_THREADS
from forensics_app.ui.main_window import MainWindow
from forensics_app.ui.workers import WorkerPool

N_FRAMES, FPS = 40, 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "numbered.mp4", n_frames=N_FRAMES,
                      fps=FPS, gop=10)


@pytest.fixture
def errors(monkeypatch) -> list[tuple[str, str]]:
    """Every error dialog the window asks for: (title, message)."""
    seen: list[tuple[str, str]] = []

    def fake(parent, message, title="Cannot do that"):
        seen.append((title, message))

    monkeypatch.setattr(dialogs, "show_error", fake)
    return seen


def make_window(qtbot, tmp_path: Path, pool: WorkerPool | None = None) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, pool=pool, output_root=tmp_path / "analyses")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def assert_no_threads_running() -> None:
    running = [t.objectName() or repr(t) for t in list(LIVE_THREADS) if t.isRunning()]
    assert not running, f"threads left running: {running}"


@pytest.fixture
def window(qtbot, tmp_path, qapp):
    apply_theme(qapp)
    win = make_window(qtbot, tmp_path)
    yield win
    win.close()
    assert_no_threads_running()


def shown_number(win: MainWindow) -> int:
    return read_frame_number(win.player.shown_rgb)


def wait_shown(qtbot, win: MainWindow, index: int) -> None:
    qtbot.waitUntil(lambda: win.player.shown_index == index, timeout=5000)
    assert win.state.frame == index
    assert shown_number(win) == index  # the pixels really are that frame


def test_open_and_step_with_keys(qtbot, window, clip):
    assert window.open_video(clip)
    wait_shown(qtbot, window, 0)
    assert window.state.frame_count == N_FRAMES
    qtbot.keyClick(window, Qt.Key.Key_Right)
    wait_shown(qtbot, window, 1)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    wait_shown(qtbot, window, 2)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    wait_shown(qtbot, window, 1)
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    wait_shown(qtbot, window, 1 + FPS)  # +1 s
    qtbot.keyClick(window, Qt.Key.Key_End)
    wait_shown(qtbot, window, N_FRAMES - 1)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # clamped at the end
    assert window.state.frame == N_FRAMES - 1
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    wait_shown(qtbot, window, N_FRAMES - 1 - FPS)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    wait_shown(qtbot, window, 0)
    # frame number, timecode and pts are always on screen
    assert window.player.frame_label.text().split()[1] == "0"
    assert window.player.time_label.text() == "00:00:00.000"
    assert window.player.pts_label.text().startswith("pts ")


def test_transport_buttons_and_labels(qtbot, window, clip):
    window.open_video(clip)
    wait_shown(qtbot, window, 0)
    from PySide6.QtWidgets import QToolButton

    buttons = {b.objectName(): b for b in window.player.findChildren(QToolButton)}
    qtbot.mouseClick(buttons["forwardFrame"], Qt.MouseButton.LeftButton)
    wait_shown(qtbot, window, 1)
    qtbot.mouseClick(buttons["forwardSecond"], Qt.MouseButton.LeftButton)
    wait_shown(qtbot, window, 1 + FPS)
    assert window.player.time_label.text() == "00:00:01.040"
    assert window.player.pts_label.text() == f"pts {window.state.info.pts[1 + FPS]}"
    qtbot.mouseClick(buttons["toStart"], Qt.MouseButton.LeftButton)
    wait_shown(qtbot, window, 0)


def test_play_pause_and_jkl(qtbot, window, clip):
    window.open_video(clip)
    wait_shown(qtbot, window, 0)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.player.playing
    qtbot.waitUntil(lambda: window.state.frame >= 5, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert not window.player.playing
    stopped = window.state.frame
    qtbot.wait(150)
    assert window.state.frame == stopped
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.keyClick(window, Qt.Key.Key_L)  # L again: faster
    assert window.player.playing and window.player._speed == 2.0
    qtbot.waitUntil(lambda: not window.player.playing, timeout=8000)  # stops at the end
    assert window.state.frame == N_FRAMES - 1
    qtbot.keyClick(window, Qt.Key.Key_J)  # backwards
    qtbot.waitUntil(lambda: window.state.frame < N_FRAMES - 4, timeout=5000)
    window.player.pause()


def test_timeline_scrub_latest_position_wins(qtbot, window, clip):
    window.open_video(clip)
    wait_shown(qtbot, window, 0)
    for x in range(0, N_FRAMES, 2):  # a fast drag: many positions, one decoder
        window.timeline.playhead.setValue(x)
    window.timeline.playhead.setValue(23)
    wait_shown(qtbot, window, 23)
    # and the other way round: moving the frame moves the playhead
    window.state.set_frame(7)
    assert round(window.timeline.playhead.value()) == 7
    wait_shown(qtbot, window, 7)


def test_timeline_click_seeks(qtbot, window, clip):
    window.open_video(clip)
    wait_shown(qtbot, window, 0)
    vb = window.timeline.getPlotItem().vb
    scene_pos = vb.mapViewToScene(__import__("pyqtgraph").Point(30, 0.5))
    pos = window.timeline.mapFromScene(scene_pos)
    qtbot.mouseClick(window.timeline.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: abs(window.state.frame - 30) <= 1, timeout=3000)


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 100,
                                     b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500])
def test_bad_file_shows_dialog_and_app_survives(qtbot, window, clip, tmp_path, errors,
                                                content):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(content)
    assert not window.open_video(bad)
    assert len(errors) == 1
    _title, message = errors[0]
    assert "broken.mp4" in message and "\n" not in message
    assert window.state.video_path is None
    # still alive: a good file opens afterwards, and a dropped bad file is refused the same way
    assert window.open_video(clip)
    wait_shown(qtbot, window, 0)
    window.drop_paths([bad])
    assert len(errors) == 2 and window.state.video_path == clip


def test_missing_file_and_analyse_without_video(window, tmp_path, errors):
    assert not window.open_video(tmp_path / "nowhere.mp4")
    assert "nowhere.mp4" in errors[-1][1]
    window.analyse_current()
    assert "open a video first" in errors[-1][1]


def test_real_error_dialog_is_non_blocking(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    box = dialogs.show_error(window, "bad thing: /x.mp4")
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert dialogs.shown[-1] == ("Cannot do that", "bad thing: /x.mp4")
    box.close()


def test_docks_close_and_restore_and_layout_is_remembered(qtbot, window, tmp_path):
    assert set(window.docks) == {"attention", "curves", "relevancy", "verdict", "notes"}
    dock = window.docks["curves"]
    dock.close()
    assert not dock.isVisible()
    dock.toggleViewAction().trigger()  # View menu
    assert dock.isVisible()
    window.docks["notes"].close()
    window.save_layout()
    again = make_window(qtbot, tmp_path)
    try:
        assert not again.docks["notes"].isVisible()
        assert again.docks["curves"].isVisible()
        again.reset_layout()
        assert again.docks["notes"].isVisible()
    finally:
        again.close()


def test_recent_files(window, clip, tmp_path):
    window.open_video(clip)
    assert window.recent_files()[0] == str(clip.resolve())
    window._fill_recent()
    assert any(a.text() == str(clip.resolve()) for a in window.recent_menu.actions())


def test_help_and_about(qtbot, window):
    dialog = window.show_help()
    from PySide6.QtWidgets import QTextBrowser

    text = dialog.findChild(QTextBrowser).toPlainText()
    assert "not proof" in text and "attention range" in text.lower()
    dialog.close()
    import torch

    about = window.about_text()
    assert torch.__version__ in about and "0.1" in about
    box = window.show_about()
    box.close()


def test_the_model_card_dialog_shows_the_installed_card(qtbot, window):
    """Help → The model and how well it does: with no results open, the MODEL_CARD.md of the
    model analyses would use, held-out figures and targets first."""
    from PySide6.QtWidgets import QTextBrowser

    from forensics_app.core.models.registry import read_card, resolve_model_folder

    card = read_card(resolve_model_folder(window.pool.model_spec))
    dialog = window.show_model_card()
    browser = dialog.findChild(QTextBrowser)
    text = browser.toPlainText()
    assert "Read this first" in text and "held-out measurement" in text
    assert card.sha256 in text and card.version in text
    # Issue 34 (8): the reliability diagram showed a broken-image icon, and the training
    # commands ran past the window's right edge.
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    image = browser.document().resource(QTextDocument.ResourceType.ImageResource,
                                        QUrl("reliability.png"))
    assert image is not None and not image.isNull(), "the diagram loads beside the card"
    block, unbreakable = browser.document().begin(), 0
    while block.isValid():
        unbreakable += block.blockFormat().nonBreakableLines()
        block = block.next()
    assert unbreakable == 0
    dialog.close()


def test_the_model_card_of_results_from_another_build_is_what_the_results_recorded():
    """Results made by a model whose installed build differs (another SHA-256) must not be
    shown beside the installed card's figures: the dialog says so and shows the recorded
    ones."""
    from types import SimpleNamespace

    from forensics_app.core.analysis.results import ModelInfo
    from forensics_app.core.models.registry import DEFAULT_MODEL, REPO_MODELS_DIR, read_card
    from forensics_app.ui.about import model_card_text

    card = read_card(REPO_MODELS_DIR / DEFAULT_MODEL)
    metrics = {**card.metrics, "heldout": {**card.metrics["heldout"]}}
    metrics["heldout"]["heldout_dfdc"] = {**metrics["heldout"]["heldout_dfdc"], "auc": 0.5}
    recorded = ModelInfo(DEFAULT_MODEL, "0.0.9", "0" * 64, metrics=metrics,
                         limitations=["an old limitation"])
    text = model_card_text(SimpleNamespace(results=SimpleNamespace(model=recorded)), None)
    assert "another build of it is installed here" in text and "0" * 64 in text
    assert "| 0.500 |" in text and "- an old limitation" in text
    assert card.sha256 not in text
    gone = ModelInfo("retired-model", "1.0", "1" * 64)
    text = model_card_text(SimpleNamespace(results=SimpleNamespace(model=gone)), None)
    assert "it is not installed here" in text and "records no held-out figures" in text


def test_an_unreadable_model_card_document_falls_back_to_the_cards_figures(tmp_path):
    import shutil

    from forensics_app.core.models.registry import DEFAULT_MODEL, REPO_MODELS_DIR
    from forensics_app.ui.about import model_card_text

    folder = tmp_path / DEFAULT_MODEL
    shutil.copytree(REPO_MODELS_DIR / DEFAULT_MODEL, folder)
    (folder / "MODEL_CARD.md").write_bytes(b"\xff\xfe not utf-8 \x80")
    text = model_card_text(None, folder)
    assert "MODEL_CARD.md could not be read" in text and "| held-out measurement" in text
    (folder / "MODEL_CARD.md").unlink()
    assert "It has no MODEL_CARD.md" in model_card_text(None, folder)


def test_notes_then_save_case_and_reopen(qtbot, window, clip, tmp_path, errors):
    from forensics_app.core.case import Case

    window.open_video(clip)
    window.state.set_frame(5)
    window.notes_view.editor.setPlainText("lips blur at this frame")
    note = window.notes_view.add_current()
    assert note is not None and note.frame == 5 and note.utc.endswith("+00:00")
    assert window.notes_view.list.count() == 1
    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        assert window.save_case_to(tmp_path / "case", "CASE-1", "A. Examiner") is not None
    case = saved.args[0]
    assert window.state.case is case and not errors
    assert [n.text for n in Case.open(tmp_path / "case").notes()] == ["lips blur at this frame"]
    window.notes_view.add("second note", frame=None)  # goes straight into the case now
    assert len(case.notes()) == 2
    again = make_window(qtbot, tmp_path / "w2")
    try:
        with qtbot.waitSignal(again.caseOpened, timeout=10000):
            assert again.open_path(tmp_path / "case")
        assert again.state.case.case_id == "CASE-1"
        assert again.state.video_path.resolve() == clip.resolve()
        assert again.notes_view.list.count() == 2
    finally:
        again.close()


def test_hashing_evidence_into_a_case_keeps_the_window_responsive(qtbot, window, tmp_path,
                                                                   errors):
    """Save case hashes the evidence on a worker thread: the event loop keeps running (a
    timer ticks), a busy indicator shows, and a note taken meanwhile is not lost."""
    import hashlib

    from PySide6.QtCore import QTimer

    with qtbot.waitSignal(window.caseSaved, timeout=10000) as saved:
        window.save_case_to(tmp_path / "case", "BIG-1", "examiner")  # no video: no evidence
    case = saved.args[0]
    assert case.evidence() == []
    big = tmp_path / "big.bin"
    size = 200 * 1024 * 1024
    with open(big, "wb") as f:  # sparse: costs no disk, reads as zeros
        f.truncate(size)
    window.state.video_path = big  # "the open video" as far as Save case is concerned
    ticks: list[bool] = []  # per tick: was the hashing task still running?
    timer = QTimer()
    timer.setInterval(5)

    def tick() -> None:
        running = window.tasks.current is not None
        ticks.append(running)
        if running and len(ticks) == 3:
            assert window.task_label.isVisible() and "big.bin" in window.task_label.text()
            assert window.task_progress.isVisible() and not window.act_save_case.isEnabled()
            window.notes_view.add("noted while hashing", frame=None)

    timer.timeout.connect(tick)
    timer.start()
    try:
        with qtbot.waitSignal(window.caseSaved, timeout=60000):
            task = window.save_case_to(None)
            assert task is not None and task.status == "running"  # returned before hashing
    finally:
        timer.stop()
    assert sum(ticks) >= 3, f"the event loop stalled while hashing ({sum(ticks)} ticks)"
    assert not errors
    expected = hashlib.sha256()
    block = bytes(8 * 1024 * 1024)
    for _ in range(size // len(block)):
        expected.update(block)
    (record,) = case.evidence()
    assert record.sha256 == expected.hexdigest() and record.size_bytes == size
    assert window.state.evidence_id == record.evidence_id
    assert [n.text for n in case.notes()] == ["noted while hashing"]
    assert window.notes_view.pending == [] and case.audit_chain_ok()
    assert not window.task_label.isVisible() and window.act_save_case.isEnabled()


def test_dropping_files_on_the_window_opens_and_queues_them(qtbot, window, clip, tmp_path,
                                                            monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    def drop(paths: list[Path]) -> QDropEvent:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        enter = QDragEnterEvent(QPointF(50, 50).toPoint(), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        window.dragEnterEvent(enter)
        assert enter.isAccepted()
        event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        window.dropEvent(event)
        return event

    drop([clip])
    assert window.state.video_path == clip and window.state.frame_count > 0
    assert clip.name in window.windowTitle()
    queued: list[list[Path]] = []
    monkeypatch.setattr(window, "queue_videos", lambda videos: queued.append(list(videos)))
    second = make_video(tmp_path / "second.mp4", n_frames=5)
    drop([second, clip])  # several: the first opens, all are queued for analysis
    assert window.state.video_path == second and queued == [[second, clip]]
