"""The workstation as an investigator uses it (issue 12): notes keep their time and evidence
through a save and reopen, every view follows the frame after reopening, the keyboard keeps
stepping frames after Cancel, the spin box and a note, a mismatch stays on screen, the
layout holds at 1366×768, the headline carries the band, actions are declared as data."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from media_factory import make_video
from PySide6.QtCore import QMargins, QSettings, Qt

from forensics_app.core.case import Case, Note
from forensics_app.ui import dialogs
from forensics_app.ui.actions import ACTIONS
from forensics_app.ui.frames import LIVE_THREADS
from forensics_app.ui.layout import FIRST_SIZE, FRAME_ESTIMATE, fit_to_screen
from forensics_app.ui.main_window import MainWindow

N_FRAMES = 40


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return (make_video(folder / "first.mp4", n_frames=N_FRAMES, fps=25, gop=10),
            make_video(folder / "second.mp4", n_frames=N_FRAMES, fps=25, gop=10))


@pytest.fixture
def errors(monkeypatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error",
                        lambda parent, message, title="": seen.append((title, message)))
    return seen


def make_window(qtbot, folder: Path, size=(1500, 950)) -> MainWindow:
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, output_root=folder / "analyses")
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def windows(qtbot, tmp_path):
    made: list[MainWindow] = []

    def make(name: str = "w", size=(1500, 950)) -> MainWindow:
        made.append(make_window(qtbot, tmp_path / name, size))
        return made[-1]

    yield make
    for w in made:
        w.close()
    running = [t.objectName() for t in list(LIVE_THREADS) if t.isRunning()]
    assert not running, f"threads left running: {running}"


def save_case(qtbot, window: MainWindow, folder: Path) -> Case:
    with qtbot.waitSignal(window.caseSaved, timeout=60000) as saved:
        window.save_case_to(folder, "K-12", "R. Examiner")
    return saved.args[0]


def reopen(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.caseOpened, timeout=60000):
        assert window.open_path(folder)


def press(qtbot, window: MainWindow, key) -> None:
    """A key press on the window, as the other window tests send them."""
    qtbot.keyClick(window, key)


def test_notes_keep_their_time_and_evidence_through_save_and_reopen(qtbot, windows, clips,
                                                                    tmp_path, errors,
                                                                    monkeypatch):
    first, second = clips
    window = windows()
    assert window.open_video(first)
    window.state.set_frame(25)
    written = "2026-12-01T20:13:33+00:00"  # taken well before the case is saved
    window.notes_view.pending.append(Note(written, "mouth edge flickers", None, 25))
    case = save_case(qtbot, window, tmp_path / "case")
    assert not errors and window.notes_view.pending == []
    (note,) = Case.open(case.folder).notes()
    assert (note.utc, note.frame, note.evidence_id) == (written, 25, "E001")
    # a second clip in the case: the frame note of the first is not shown with it
    assert window.open_video(second)
    save_case(qtbot, window, None)
    assert window.state.evidence_id == "E002"
    assert window.notes_view.list.count() == 0
    window.notes_view.add("about the second clip", frame=3)
    assert Case.open(case.folder).notes()[-1].evidence_id == "E002"
    again = windows("again")
    offered = []
    monkeypatch.setattr(dialogs, "ask_item", lambda _p, _t, _l, items: offered.append(items)
                        or items[0])
    reopen(qtbot, again, case.folder)  # the first of the two clips is chosen
    assert len(offered[0]) == 2
    assert again.state.evidence_id == "E001"
    items = [again.notes_view.list.item(i).text() for i in range(again.notes_view.list.count())]
    assert len(items) == 1 and written in items[0] and "E001 · frame 25" in items[0]
    assert "case K-12" in again.windowTitle() and "E001 first.mp4" in again.windowTitle()


def test_every_view_follows_the_frame_after_reopening_a_case(qtbot, windows, clips, tmp_path):
    window = windows()
    window.open_video(clips[0])
    case = save_case(qtbot, window, tmp_path / "case")
    window.state.set_frame(30)
    again = windows("again")
    again.open_video(clips[1])
    again.state.set_frame(17)
    reopen(qtbot, again, case.folder)
    qtbot.waitUntil(lambda: again.player.shown_index == again.state.frame, timeout=10000)
    assert round(again.timeline.playhead.value()) == again.state.frame
    again.notes_view.add("look here", frame=12)
    again.notes_view._on_activated(again.notes_view.list.item(0))  # a note's frame
    qtbot.waitUntil(lambda: again.player.shown_index == 12, timeout=10000)
    assert round(again.timeline.playhead.value()) == 12 == again.state.frame


def test_arrow_keys_step_frames_after_cancel_the_spin_box_and_a_note(qtbot, windows, clips):
    """Cancel, Enter in the frames spin box and adding a note hand the keyboard back to the
    player, so ←/→ step frames again (before, the focus stayed where ↓ changes the next
    analysis's frame count or ← moves a text cursor)."""
    window = windows()
    window.open_video(clips[0])
    qtbot.waitUntil(lambda: window.player.shown_index == 0, timeout=10000)
    assert window.focusWidget() is window.player  # where the keyboard rests from the start
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.state.frame == 1
    window.status.show_job(True)  # as while an analysis runs
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert window.focusWidget() is window.player
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.state.frame == 2
    spin = window.frames_spin
    spin.setFocus()
    assert window.focusWidget() is spin
    before = spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Down)
    assert spin.value() == before - 1 and window.analysis_settings.frames == before - 1
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert window.focusWidget() is window.player
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.state.frame == 3
    editor = window.notes_view.editor
    editor.setFocus()
    qtbot.keyClicks(editor, "chin")
    qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.notes_view.list.count() == 1 and window.focusWidget() is window.player
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.state.frame == 4


def test_a_hash_mismatch_shows_a_lasting_banner(qtbot, windows, clips, tmp_path, errors):
    import shutil

    evidence = tmp_path / "evidence" / "clip.mp4"
    evidence.parent.mkdir()
    shutil.copy(clips[0], evidence)
    window = windows()
    window.open_video(evidence)
    case = save_case(qtbot, window, tmp_path / "case")
    assert not window.banner.isVisible()
    with open(evidence, "ab") as handle:  # changed after intake (still plays)
        handle.write(b"\0" * 16)
    again = windows("again")
    reopen(qtbot, again, case.folder)
    assert again.banner.isVisible() and "MISMATCH" in again.banner.text()
    assert "E001" in again.banner.text() and "changed" in again.banner.text()
    assert errors and "intake hash" in errors[-1][0]
    again.state.set_frame(10)  # still there after working on
    assert again.banner.isVisible()


def test_layout_at_1366x768_keeps_docks_apart_and_verdict_rows_visible(qtbot, windows):
    window = windows("small", size=(1366, 768))
    window.reset_layout()
    qtbot.wait(200)
    docks = [d for d in window.docks.values() if d.isVisible()]
    assert len(docks) == 5
    rects = {d.objectName(): d.geometry() for d in docks}
    names = list(rects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not rects[a].intersects(rects[b]), (a, b, rects[a], rects[b])
    view = window.verdict_view
    for row in (view.label, view.real_bar, view.fake_bar, view.p_fake, view.band, view.model):
        assert row.height() >= row.minimumSizeHint().height(), row.objectName()
        assert view.rect().contains(row.geometry().translated(
            row.parentWidget().mapTo(view, row.parentWidget().rect().topLeft()))), \
            row.objectName()
    assert window.minimumWidth() >= 1024 and window.minimumHeight() >= 640


def test_reset_layout_is_kept_after_a_restart(qtbot, windows, tmp_path):
    window = windows("w")
    window.docks["notes"].close()
    window.reset_layout()
    assert window.docks["notes"].isVisible()
    window.close()
    again = windows("w")
    assert again.docks["notes"].isVisible()


def test_actions_are_declared_as_data(windows):
    window = windows()
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    for spec in ACTIONS:
        action = window.actions_by_id[spec.id]
        assert action.text() == spec.title and action in window.menus[spec.menu].actions()
    assert window.act_next.shortcut().toString() == "Right"
    assert window.menus["View"].actions()[-1] is window.act_reset_layout


def test_a_video_on_the_command_line_opens_the_app(monkeypatch, tmp_path):
    """`forensics-app VIDEO` is `forensics-app gui VIDEO` (as the README says)."""
    import forensics_app.ui.app as app
    from forensics_app.cli import main

    opened = []
    monkeypatch.setattr(app, "run_gui", lambda path, **_kw: opened.append(path) or 0)
    assert main([str(tmp_path / "clip.mp4")]) == 0
    assert opened == [tmp_path / "clip.mp4"]


def test_the_first_window_fits_the_screen_it_opens_on(qtbot, tmp_path):
    """Issue 34 (1): the first window was 1600×1000 whatever the screen; at 1366×768 the
    Verdict dock's right half, the bottom docks and the status bar (progress, Cancel) were
    off-screen. The test platform's screen is 800×800: the window must fit its height, title
    bar included (its width cannot go below the 1024 px minimum)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, output_root=tmp_path / "analyses")
    qtbot.addWidget(window)
    area = window.screen().availableGeometry()
    assert window.height() + FRAME_ESTIMATE[1] <= area.height()
    window.close()


@pytest.mark.parametrize("screen", [(1366, 768), (1280, 720)])
def test_a_window_is_fitted_whole_onto_a_laptop_screen(qtbot, tmp_path, screen):
    """A window sized for a larger screen (the first size, or a geometry restored from
    another monitor) is shrunk and moved so that its frame lies wholly on the available
    area (a 28 px panel below)."""
    from PySide6.QtCore import QRect

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, output_root=tmp_path / "analyses")
    qtbot.addWidget(window)
    available = QRect(0, 0, screen[0], screen[1] - 28)
    window.resize(1600, 1000)
    window.move(700, 400)  # as restored from a monitor to the right
    fit_to_screen(window, FIRST_SIZE, available)
    outer = QRect(window.pos(), window.size().grownBy(QMargins(0, 0, *FRAME_ESTIMATE)))
    assert available.contains(outer), (outer, available)
    assert window.width() >= screen[0] - FRAME_ESTIMATE[0] - 1
    window.close()
