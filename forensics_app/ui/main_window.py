"""The main window: player and timeline in the centre, the analysis views in docks.

The window is thin: it opens files into the shared `AppState`, starts jobs on the
`WorkerPool`, and routes every failure through `dialogs`. The views do the rest by
following the state.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pyqtgraph as pg
import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
)

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.analysis.job import AnalysisSettings, Progress
from forensics_app.core.analysis.results import RESULTS_FILE, ResultsBundle, read_results
from forensics_app.core.devices import describe_device, resolve_device
from forensics_app.core.errors import ForensicsError
from forensics_app.core.models.registry import read_card, resolve_model_folder
from forensics_app.ui import dialogs
from forensics_app.ui.attention_view import AttentionView
from forensics_app.ui.curves_view import CurvesView
from forensics_app.ui.frames import FrameServer
from forensics_app.ui.notes_view import NotesView
from forensics_app.ui.player import PlayerView
from forensics_app.ui.relevancy_view import RelevancyView
from forensics_app.ui.resources import icon, resource_text
from forensics_app.ui.state import AppState
from forensics_app.ui.timeline import TimelineView
from forensics_app.ui.verdict_view import VerdictView
from forensics_app.ui.workers import AnalysisJob, BackgroundTask, TaskRunner, WorkerPool

VIDEO_FILTER = ("Videos (*.mp4 *.mov *.m4v *.mkv *.avi *.webm *.mts *.m2ts *.ts *.wmv "
                "*.flv *.3gp *.mpg *.mpeg);;Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff);;"
                "All files (*)")
MAX_RECENT = 10
LAYOUT_VERSION = 1


def default_output_root() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".local/share" / TOOL_NAME) / "analyses"


class MainWindow(QMainWindow):
    caseSaved = Signal(object)  # Case, once the evidence is hashed into it
    caseOpened = Signal(object)  # Case, once its evidence is verified
    reportExported = Signal(object)  # ReportOutput

    def __init__(self, settings: QSettings | None = None, pool: WorkerPool | None = None,
                 output_root: Path | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(TOOL_NAME)
        self.setWindowIcon(icon("forensics-app"))
        self.setAcceptDrops(True)
        self.resize(1600, 1000)
        self.settings = settings or QSettings(TOOL_NAME, TOOL_NAME)
        self.output_root = output_root or default_output_root()
        self.analysis_settings = AnalysisSettings()
        self.results_by_video: dict[str, Path] = {}  # resolved video path → results folder

        self.state = AppState(self)
        self.frames = FrameServer(self)
        self.frames.frameFailed.connect(
            lambda i, msg: self.statusBar().showMessage(f"frame {i}: {msg}", 8000))
        self.pool = pool or WorkerPool(self)
        self.pool.setParent(self)
        self._connect_pool()
        self.tasks = TaskRunner(self)  # hashing and report writing, off the GUI thread
        self._deferred_case_writes: list = []

        self.player = PlayerView(self.state, self.frames)
        self.timeline = TimelineView(self.state)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("centreSplitter")
        splitter.addWidget(self.player)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.attention_view = AttentionView(self.state)
        self.curves_view = CurvesView(self.state)
        self.relevancy_view = RelevancyView(self.state, self.frames)
        self.verdict_view = VerdictView(self.state)
        self.notes_view = NotesView(self.state)
        self.docks: dict[str, QDockWidget] = {}
        self._shown_once = False
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._default_layout = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        self.state.videoChanged.connect(lambda _i: self._update_title())
        self.state.caseChanged.connect(lambda _c: self._update_title())
        self.state.resultsChanged.connect(lambda _b: self._update_actions())
        self.state.videoChanged.connect(lambda _i: self._update_actions())
        self._update_actions()

    # == building ==========================================================================
    def _build_docks(self) -> None:
        specs = [
            ("verdict", "Verdict", self.verdict_view, Qt.DockWidgetArea.RightDockWidgetArea),
            ("relevancy", "Face relevancy", self.relevancy_view,
             Qt.DockWidgetArea.RightDockWidgetArea),
            ("attention", "Temporal attention", self.attention_view,
             Qt.DockWidgetArea.BottomDockWidgetArea),
            ("curves", "Curves", self.curves_view, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("notes", "Notes", self.notes_view, Qt.DockWidgetArea.BottomDockWidgetArea),
        ]
        for key, title, widget, area in specs:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.splitDockWidget(self.docks["attention"], self.docks["curves"],
                             Qt.Orientation.Horizontal)
        self.splitDockWidget(self.docks["curves"], self.docks["notes"],
                             Qt.Orientation.Horizontal)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

    def apply_default_sizes(self) -> None:
        """Dock sizes in proportion to the window (only effective once it is shown)."""
        w, h = max(self.width(), 1000), max(self.height(), 700)
        d = self.docks
        self.resizeDocks([d["verdict"], d["relevancy"]], [int(h * 0.5), int(h * 0.4)],
                         Qt.Orientation.Vertical)
        self.resizeDocks([d["verdict"]], [int(w * 0.27)], Qt.Orientation.Horizontal)
        bottom = int(w * 0.73)
        self.resizeDocks([d["attention"], d["curves"], d["notes"]],
                         [int(bottom * 0.45), int(bottom * 0.35), int(bottom * 0.2)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([d["attention"]], [int(h * 0.36)], Qt.Orientation.Vertical)

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if not self._shown_once:
            self._shown_once = True
            if self.settings.value("window/state") is None:
                self.apply_default_sizes()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.job_label = QLabel()
        self.job_label.setObjectName("jobLabel")
        self.job_progress = QProgressBar()
        self.job_progress.setObjectName("jobProgress")
        self.job_progress.setRange(0, 1000)
        self.job_progress.setMaximumWidth(220)
        self.job_progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.clicked.connect(self.cancel_current)
        for w in (self.job_label, self.job_progress, self.cancel_button):
            bar.addPermanentWidget(w)
        self._show_job_widgets(False)
        self.task_label = QLabel()
        self.task_label.setObjectName("taskLabel")
        self.task_progress = QProgressBar()
        self.task_progress.setObjectName("taskProgress")
        self.task_progress.setRange(0, 0)  # busy, no known end
        self.task_progress.setMaximumWidth(120)
        self.task_progress.setTextVisible(False)
        for w in (self.task_label, self.task_progress):
            bar.addPermanentWidget(w)
            w.setVisible(False)
        self.tasks.busyChanged.connect(self._on_tasks_busy)

    def _action(self, text: str, slot, shortcut=None, name: str | None = None,
                menu_role=None) -> QAction:
        action = QAction(text, self)
        if name:
            action.setObjectName(name)
        if shortcut is not None:
            if isinstance(shortcut, list | tuple):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        if menu_role is not None:
            action.setMenuRole(menu_role)
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        p, st = self.player, self.state
        self.act_open = self._action("&Open video…", self.open_video_dialog,
                                     QKeySequence.StandardKey.Open, "actOpen")
        self.act_open_case = self._action("Open &case…", self.open_case_dialog, "Ctrl+Shift+O",
                                          "actOpenCase")
        self.act_open_results = self._action("Open &results folder…", self.open_results_dialog,
                                             None, "actOpenResults")
        self.act_save_case = self._action("&Save case…", self.save_case_dialog,
                                          QKeySequence.StandardKey.Save, "actSaveCase")
        self.act_report = self._action("&Export report…", self.export_report_dialog, "Ctrl+E",
                                       "actReport")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit,
                                     "actQuit")
        self.act_analyse = self._action("&Analyse this video", self.analyse_current,
                                        ["Ctrl+R", "F5"], "actAnalyse")
        self.act_queue = self._action("&Queue videos for analysis…", self.queue_dialog, None,
                                      "actQueue")
        self.act_cancel = self._action("&Cancel current analysis", self.cancel_current,
                                       "Ctrl+.", "actCancel")
        self.act_cancel_all = self._action("Cancel &all analyses", self.pool.cancel_all, None,
                                           "actCancelAll")
        self.act_play = self._action("Play / pause", p.toggle_play, "Space", "actPlay")
        self.act_next = self._action("Next frame", lambda: st.step(1), "Right", "actNext")
        self.act_prev = self._action("Previous frame", lambda: st.step(-1), "Left", "actPrev")
        self.act_next_s = self._action("Forward 1 s", lambda: st.step_seconds(1.0),
                                       "Shift+Right", "actNextSecond")
        self.act_prev_s = self._action("Back 1 s", lambda: st.step_seconds(-1.0),
                                       "Shift+Left", "actPrevSecond")
        self.act_start = self._action("Jump to start", p.to_start, "Home", "actStart")
        self.act_end = self._action("Jump to end", p.to_end, "End", "actEnd")
        self.act_j = self._action("Play backwards / faster (J)", lambda: p.shuttle(-1), "J",
                                  "actJ")
        self.act_k = self._action("Pause (K)", p.pause, "K", "actK")
        self.act_l = self._action("Play forwards / faster (L)", lambda: p.shuttle(1), "L",
                                  "actL")
        self.act_next_unusual = self._action("Next unusual frame", lambda: self.jump_unusual(1),
                                             "Ctrl+Right", "actNextUnusual")
        self.act_prev_unusual = self._action("Previous unusual frame",
                                             lambda: self.jump_unusual(-1), "Ctrl+Left",
                                             "actPrevUnusual")
        self.act_reset_layout = self._action("&Reset layout", self.reset_layout, None,
                                             "actResetLayout")
        self.act_help = self._action("&How to read the views", self.show_help,
                                     QKeySequence.StandardKey.HelpContents, "actHelp")
        self.act_about = self._action("&About", self.show_about, None, "actAbout",
                                      QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        for a in (self.act_open_case, self.act_save_case, self.act_open_results):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.act_report)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        analysis = bar.addMenu("&Analysis")
        for a in (self.act_analyse, self.act_queue, self.act_cancel, self.act_cancel_all):
            analysis.addAction(a)
        playback = bar.addMenu("&Playback")
        for a in (self.act_play, self.act_prev, self.act_next, self.act_prev_s, self.act_next_s,
                  self.act_start, self.act_end, self.act_j, self.act_k, self.act_l):
            playback.addAction(a)
        playback.addSeparator()
        playback.addAction(self.act_prev_unusual)
        playback.addAction(self.act_next_unusual)
        view = bar.addMenu("&View")
        view.setObjectName("viewMenu")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self.act_reset_layout)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_help)
        help_menu.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tools = self.addToolBar("Main")
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        tools.addAction(self.act_open)
        tools.addAction(self.act_open_case)
        tools.addSeparator()
        tools.addAction(self.act_analyse)
        tools.addWidget(QLabel(" frames: "))
        self.frames_spin = QSpinBox()
        self.frames_spin.setObjectName("framesSpin")
        self.frames_spin.setRange(1, 100)
        self.frames_spin.setValue(self.analysis_settings.frames)
        self.frames_spin.setToolTip("Frames sampled uniformly over the clip (T ≤ 100)")
        self.frames_spin.valueChanged.connect(
            lambda v: setattr(self.analysis_settings, "frames", int(v)))
        tools.addWidget(self.frames_spin)
        tools.addAction(self.act_cancel)
        tools.addSeparator()
        tools.addAction(self.act_report)
        tools.addAction(self.act_help)

    # == layout ============================================================================
    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        layout = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if layout is not None:
            self.restoreState(layout, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_layout, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.apply_default_sizes()

    # == opening ===========================================================================
    def open_video_dialog(self) -> None:
        start = self.settings.value("paths/lastDir", str(Path.home()))
        path = dialogs.ask_open_file(self, "Open video evidence", start, VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path) -> bool:
        """Open a video (read-only); a bad file gets the one-line reason in a dialog."""
        path = Path(path)
        try:
            self.frames.open(path)
        except Exception as err:
            dialogs.report(self, err, "Cannot open the video")
            return False
        self.state.set_video(path, self.frames.info, self.frames.times)
        self.settings.setValue("paths/lastDir", str(path.parent))
        self._add_recent(path)
        folder = self.results_by_video.get(str(path.resolve()))
        if folder is None and self.state.case is not None:
            folder = self._case_results_for(path)
        if folder is not None and (folder / RESULTS_FILE).exists():
            self.load_results(folder, quiet=True)
        self.statusBar().showMessage(f"opened {path.name}: {self.frames.info.width}×"
                                     f"{self.frames.info.height}, {self.frames.info.frame_count} "
                                     f"frames at {self.frames.info.fps:.3f} fps", 6000)
        return True

    def load_results(self, folder: str | Path, quiet: bool = False) -> ResultsBundle | None:
        """Show the results in `folder` (for the open video; opens the evidence if needed)."""
        try:
            bundle = read_results(folder)
        except Exception as err:
            if not quiet:
                dialogs.report(self, err, "Cannot open the results")
            return None
        evidence = Path(bundle.results.evidence.path)
        current = self.state.video_path
        if current is None or current.resolve() != evidence.resolve():
            if not evidence.exists():
                dialogs.show_error(self, f"the evidence of these results is missing: {evidence}",
                                   "Cannot open the results")
                return None
            if not self.open_video(evidence):
                return None
        self.results_by_video[str(evidence.resolve())] = Path(folder)
        self.state.set_results(bundle)
        return bundle

    def open_results_dialog(self) -> None:
        folder = dialogs.ask_folder(self, "Open a results folder",
                                    self.settings.value("paths/lastDir", ""))
        if folder:
            self.load_results(folder)

    def open_path(self, path: str | Path) -> bool:
        """A video, a case folder or a results folder, whichever `path` is."""
        path = Path(path)
        if path.is_dir():
            if (path / RESULTS_FILE).exists():
                return self.load_results(path) is not None
            return self.open_case(path)
        return self.open_video(path)

    # -- recent files ----------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        entry = str(path.resolve())
        files = [entry, *[f for f in self.recent_files() if f != entry]][:MAX_RECENT]
        self.settings.setValue("recent/files", files)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            action = self.recent_menu.addAction(f)
            action.triggered.connect(lambda _c=False, f=f: self.open_path(f))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                lambda: self.settings.setValue("recent/files", []))

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in ev.mimeData().urls() if u.isLocalFile()]
        ev.acceptProposedAction()
        self.drop_paths(paths)

    def drop_paths(self, paths: list[Path]) -> None:
        """One file or folder: open it. Several videos: open the first, queue all of them."""
        if not paths:
            return
        if len(paths) == 1:
            self.open_path(paths[0])
            return
        videos = [p for p in paths if p.is_file()]
        if videos and self.open_video(videos[0]):
            self.queue_videos(videos)

    # == cases =============================================================================
    def open_case_dialog(self) -> None:
        folder = dialogs.ask_folder(self, "Open a case folder (or results folder)",
                                    self.settings.value("paths/lastCase", ""))
        if folder:
            self.open_path(folder)

    def open_case(self, folder: str | Path) -> bool:
        """Open a case folder. Its evidence is re-hashed against the intake hashes off the
        GUI thread; the case is shown (and `caseOpened(case)` emitted) when that is done.
        False when it cannot start (another case operation is running)."""
        from forensics_app.core.case import Case

        if self.tasks.busy:
            dialogs.show_error(self, "another case operation is still running (see the status "
                               "bar); try again when it is done", "Cannot open the case")
            return False

        def work(cancel):
            case = Case.open(folder)
            return case, case.verify_evidence(cancel=cancel), case.evidence()

        self._start_task(f"verifying the evidence of {Path(folder).name}…", work,
                         lambda outcome: self._show_case(Path(folder), *outcome),
                         "Cannot open the case")
        return True

    def _show_case(self, folder: Path, case, checks, records) -> None:
        self.settings.setValue("paths/lastCase", str(folder))
        self._add_recent(Path(folder))
        bad = [c for c in checks if c.status != "ok"]
        if bad:
            dialogs.show_error(self, "; ".join(
                f"{c.record.evidence_id} {Path(c.record.path).name}: {c.status}" for c in bad),
                "Evidence does not match its intake hash")
        self.state.set_case(case)
        self.notes_view.reload()
        usable = [r for r in records if Path(r.path).exists()]
        if not usable:
            self.statusBar().showMessage(f"case {case.case_id}: no evidence to show", 8000)
            self.caseOpened.emit(case)
            return
        record = usable[0]
        if len(usable) > 1:
            names = [f"{r.evidence_id}: {Path(r.path).name}" for r in usable]
            choice = dialogs.ask_item(self, "Open evidence", "Evidence:", names)
            if choice is not None:
                record = usable[names.index(choice)]
        self.state.evidence_id = record.evidence_id
        if self.open_video(record.path):
            results = case.analysis_dir(record.evidence_id)
            if (results / RESULTS_FILE).exists():
                self.load_results(results)
        self.caseOpened.emit(case)

    def _case_results_for(self, path: Path) -> Path | None:
        case = self.state.case
        for record in case.evidence():
            if Path(record.path).resolve() == path.resolve():
                return case.analysis_dir(record.evidence_id)
        return None

    def save_case_dialog(self) -> None:
        if self.state.case is not None:
            self.save_case_to(None)
            return
        folder = dialogs.ask_folder(self, "New (empty) folder for the case")
        if not folder:
            return
        case_id = dialogs.ask_text(self, "Save case", "Case id:")
        if case_id is None:
            return
        examiner = dialogs.ask_text(self, "Save case", "Examiner:")
        if examiner is not None:
            self.save_case_to(folder, case_id, examiner)

    def save_case_to(self, folder: str | Path | None, case_id: str = "", examiner: str = ""
                     ) -> BackgroundTask | None:
        """Create the case (unless one is open), add the open video as evidence, move its
        results into the case and write the notes taken so far.

        The evidence is hashed off the GUI thread: this returns the running task at once;
        `caseSaved(case)` follows when it is done (a dialog when it fails)."""
        from forensics_app.core.case import Case

        existing, video, bundle = self.state.case, self.state.video_path, self.state.bundle

        def work(cancel):
            case = existing or Case.create(folder, case_id, examiner)
            record = copied = None
            if video is not None:
                record = case.add_evidence(video, cancel=cancel)
                target = case.analysis_dir(record.evidence_id)
                if bundle is not None and Path(bundle.folder).resolve() != target.resolve() \
                        and not (target / RESULTS_FILE).exists():
                    shutil.copytree(bundle.folder, target)
                    case.audit("analysis added to case", evidence_id=record.evidence_id,
                               source=str(bundle.folder))
                    if not case.analysis_recorded(record.evidence_id):
                        case.record_analysis(record.evidence_id, bundle.results)
                    copied = target
            return case, record, copied

        def done(outcome) -> None:
            case, record, copied = outcome
            evidence_id = record.evidence_id if record is not None else self.state.evidence_id
            try:
                self.notes_view.flush_to_case(case)
            except Exception as err:
                dialogs.report(self, err, "Cannot save the notes into the case")
            self.state.set_case(case, evidence_id)
            if copied is not None:
                self.load_results(copied, quiet=True)
            self.statusBar().showMessage(f"case {case.case_id} saved in {case.folder}", 6000)
            self.caseSaved.emit(case)

        what = f"hashing {video.name} into the case…" if video is not None else "saving case…"
        return self._start_task(what, work, done, "Cannot save the case")

    # == background work ===================================================================
    def _start_task(self, label: str, work, done, error_title: str) -> BackgroundTask:
        """Run `work(cancel)` off the GUI thread, then `done(result)` on it; a failure gets
        its one-line reason in a dialog titled `error_title`."""
        task = self.tasks.start(label, work)
        task.finished.connect(done)
        task.failed.connect(lambda err: dialogs.report(self, err, error_title))
        self._update_actions()
        return task

    def _on_tasks_busy(self, label: str) -> None:
        self.state.case_busy = bool(label)
        self.task_label.setText(label)
        for w in (self.task_label, self.task_progress):
            w.setVisible(bool(label))
        if not label:
            self._flush_case_writes()
        self._update_actions()

    def _case_write(self, fn) -> None:
        """Write to the open case now, or once the running background task (which may be
        writing the same case) has ended: audit lines must never interleave."""
        self._deferred_case_writes.append(fn)
        if not self.tasks.busy:
            self._flush_case_writes()

    def _flush_case_writes(self) -> None:
        writes, self._deferred_case_writes = self._deferred_case_writes, []
        for fn in writes:
            try:
                fn()
            except Exception as err:
                dialogs.report(self, err, "Cannot write to the case")
        case = self.state.case
        if case is not None and self.notes_view.pending:
            try:
                self.notes_view.flush_to_case(case)
            except Exception as err:
                dialogs.report(self, err, "Cannot save the notes into the case")

    # == analysis ==========================================================================
    def _connect_pool(self) -> None:
        self.pool.jobQueued.connect(lambda _j: self._refresh_jobs())
        self.pool.jobStarted.connect(lambda _j: self._refresh_jobs())
        self.pool.jobProgress.connect(self._on_progress)
        self.pool.jobFinished.connect(self._on_finished)
        self.pool.jobFailed.connect(self._on_failed)
        self.pool.jobCancelled.connect(self._on_cancelled)

    def model_available(self) -> bool:
        if self.pool.model_factory is not None:
            return True
        try:
            resolve_model_folder(self.pool.model_spec)
        except ForensicsError as err:
            dialogs.show_error(self, f"no detection model installed ({err}); install the default "
                               "model under models/ or set FORENSICS_MODELS_DIR",
                               "Cannot analyse")
            return False
        return True

    def output_dir_for(self, video: Path) -> Path:
        """A fresh results folder under the output root (analyses outside a case)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = self.output_root / f"{video.stem}-{stamp}"
        n = 1
        while out.exists():
            n += 1
            out = self.output_root / f"{video.stem}-{stamp}-{n}"
        return out

    def analyse_current(self) -> AnalysisJob | None:
        """Analyse the open video. Returns the job, or None when it could not be queued or
        (inside a case) when it is queued once the evidence has been hashed into the case."""
        if self.state.video_path is None:
            dialogs.show_error(self, "open a video first", "Cannot analyse")
            return None
        jobs = self.queue_videos([self.state.video_path])
        return jobs[0] if jobs else None

    def queue_dialog(self) -> None:
        files = dialogs.ask_open_files(self, "Videos to analyse",
                                       self.settings.value("paths/lastDir", ""), VIDEO_FILTER)
        if files:
            self.queue_videos([Path(f) for f in files])

    def queue_videos(self, videos: list[Path]) -> list[AnalysisJob]:
        """Queue analyses. Outside a case they are queued at once and returned; inside one,
        each video is first hashed into the case off the GUI thread, and the jobs are queued
        (`pool.jobQueued`) when that is done: then this returns []."""
        if not self.model_available():
            return []
        try:
            settings = replace(self.analysis_settings)
            settings.validate()
        except Exception as err:
            dialogs.report(self, err, "Cannot analyse")
            return []
        videos = [Path(v) for v in videos]
        case = self.state.case
        if case is not None:
            def intake(cancel):
                return [(video, case.analysis_dir(case.add_evidence(video, cancel=cancel)
                                                  .evidence_id)) for video in videos]

            def submit(pairs) -> None:
                for video, out in pairs:
                    self.pool.submit(AnalysisJob(video, out, replace(settings)))
                    case.audit("analysis queued", video=str(video), out=str(out))

            names = ", ".join(v.name for v in videos)
            self._start_task(f"hashing {names} into the case…", intake, submit, "Cannot analyse")
            return []
        jobs = []
        for video in videos:
            jobs.append(self.pool.submit(AnalysisJob(video, self.output_dir_for(video),
                                                     replace(settings))))
        return jobs

    def cancel_current(self) -> None:
        running = self.pool.running_jobs()
        for job in running or self.pool.active_jobs()[:1]:
            self.pool.cancel(job)
        if running:
            self.job_label.setText(f"{running[0].name}: cancelling…")

    def _on_progress(self, job: AnalysisJob, p: Progress) -> None:
        eta = job.eta_s()
        eta_text = "" if eta is None else f" · ETA {eta:.0f} s"
        step = f"{p.stage} {p.done}/{p.total}"
        if p.stage == "faces":
            step = f"frame {p.done}/{p.total}"
        self.job_label.setText(f"{job.name} [{job.device}]: {p.stage_index + 1}/6 {step}"
                               f"{eta_text}{self._queued_text()}")
        self.job_progress.setValue(round(p.fraction * 1000))
        self._show_job_widgets(True)
        if p.stage == "spatial" and self._is_current(job):
            scores, frames = p.partial.get("face_p_fake"), p.partial.get("face_frames")
            # face_p_fake is per face, in the order the faces stage found them: without
            # face_frames (the video frame of each) there is no honest place to draw it
            if scores is not None and frames is not None:
                self.timeline.set_partial(list(frames)[:len(scores)], list(scores))

    def _is_current(self, job: AnalysisJob) -> bool:
        current = self.state.video_path
        return current is not None and current.resolve() == job.video.resolve()

    def _queued_text(self) -> str:
        queued = sum(1 for j in self.pool.jobs if j.status == "queued")
        return f" (+{queued} queued)" if queued else ""

    def _refresh_jobs(self) -> None:
        running = self.pool.running_jobs()
        active = self.pool.active_jobs()
        self._show_job_widgets(bool(active))
        if running:
            self.job_label.setText(f"{running[0].name}: starting…{self._queued_text()}")
            self.job_progress.setValue(0)
        self._update_actions()

    def _on_finished(self, job: AnalysisJob, bundle: ResultsBundle) -> None:
        self.results_by_video[str(job.video.resolve())] = job.out_dir
        case = self.state.case
        if case is not None:
            self._case_write(lambda: self._record_analysis(case, job, bundle))
        current = self.state.video_path
        if current is not None and current.resolve() == job.video.resolve():
            self.state.set_results(bundle)
        pred = bundle.results.prediction
        self.statusBar().showMessage(f"{job.name}: {pred.label} ({pred.band}) — results in "
                                     f"{job.out_dir}", 10000)
        self._refresh_jobs()

    def _record_analysis(self, case, job: AnalysisJob, bundle: ResultsBundle) -> None:
        """Audit a finished analysis in the case: `record_analysis` (settings, model, verdict)
        when it was written into the case's folder for one evidence, else one line."""
        for record in case.evidence():
            if case.analysis_dir(record.evidence_id).resolve() == job.out_dir.resolve():
                case.record_analysis(record.evidence_id, bundle.results)
                return
        case.audit("analysis finished outside the case", video=str(job.video),
                   out=str(job.out_dir), label=bundle.results.prediction.label)

    def _on_failed(self, job: AnalysisJob, message: str) -> None:
        if self._is_current(job):
            self.timeline.clear_partial()
        self._refresh_jobs()
        dialogs.show_error(self, message, f"Analysis of {job.name} failed")

    def _on_cancelled(self, job: AnalysisJob) -> None:
        if self._is_current(job):
            self.timeline.clear_partial()
        self.statusBar().showMessage(f"{job.name}: analysis cancelled", 6000)
        self._refresh_jobs()

    def _show_job_widgets(self, visible: bool) -> None:
        for w in (self.job_label, self.job_progress, self.cancel_button):
            w.setVisible(visible)

    # == report, help, about ===============================================================
    def default_report_path(self) -> Path:
        bundle, case = self.state.bundle, self.state.case
        stem = Path(bundle.results.evidence.file_name).stem
        if case is not None:
            prefix = f"{self.state.evidence_id}-" if self.state.evidence_id else ""
            return case.folder / "reports" / f"{prefix}{stem}-report.pdf"
        return Path(bundle.folder) / f"{stem}-report.pdf"

    def export_report_dialog(self) -> BackgroundTask | None:
        if self.state.bundle is None:
            dialogs.show_error(self, "analyse the video (or open its results) first",
                               "Cannot export a report")
            return None
        path = dialogs.ask_save_file(self, "Export evidence report",
                                     str(self.default_report_path()), "PDF (*.pdf)")
        if not path:
            return None
        if Path(path).suffix.lower() != ".pdf":
            path = f"{path}.pdf"
        return self.export_report(path)

    def export_report(self, pdf_path: str | Path) -> BackgroundTask | None:
        """Write the PDF evidence report (+ its .sha256 and results sidecar) off the GUI
        thread (the exporter re-hashes the evidence); `reportExported(ReportOutput)` follows.
        `export_report` prints the case's saved notes and audits the export itself: only
        the notes not saved in a case yet are passed along."""
        if self.state.bundle is None:
            return None
        from forensics_app.core.report import export_report

        folder, case = Path(self.state.bundle.folder), self.state.case
        notes = list(self.notes_view.pending)
        pdf_path = Path(pdf_path)

        def work(_cancel):
            return export_report(folder, pdf_path, case=case, notes=notes)

        def done(output) -> None:
            self.statusBar().showMessage(
                f"report written: {output.pdf} ({output.pages} pages; SHA-256 in "
                f"{output.sha256_file.name})", 10000)
            if output.evidence_status != "ok":
                dialogs.show_error(self, f"the evidence is {output.evidence_status} since its "
                                   "analysis; the report says so", "Report written")
            self.reportExported.emit(output)

        return self._start_task(f"writing report {pdf_path.name}…", work, done,
                                "Cannot export a report")

    def show_help(self) -> QDialog:
        dialog = QDialog(self)
        dialog.setObjectName("helpDialog")
        dialog.setWindowTitle("How to read the views")
        dialog.resize(760, 720)
        browser = QTextBrowser()
        browser.setOpenExternalLinks(False)
        browser.setMarkdown(resource_text("help.md"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(browser)
        layout.addWidget(buttons)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def about_text(self) -> str:
        bundle = self.state.bundle
        if bundle is not None:
            model = f"{bundle.results.model.get('name')} {bundle.results.model.get('version')}"
        else:
            try:
                card = read_card(resolve_model_folder(self.pool.model_spec))
                model = f"{card.name} {card.version}" + (" (placeholder)" if card.placeholder
                                                         else "")
            except ForensicsError:
                model = "none installed"
        devices = ", ".join(describe_device(resolve_device(d)) for d in self.pool.devices)
        cuda = torch.version.cuda or "not built with CUDA"
        return (f"<b>{TOOL_NAME} {__version__}</b><br>Offline, explainable deepfake analysis "
                f"of video evidence.<br><br>model: {model}<br>torch: {torch.__version__} "
                f"(CUDA {cuda})<br>devices: {devices}<br>PySide6: {pyside_version} · "
                f"pyqtgraph: {pg.__version__}<br>Python {platform.python_version()} on "
                f"{platform.platform(terse=True)}<br><br>Attention maps show where the model "
                "looked, not proof of manipulation.")

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, f"About {TOOL_NAME}", self.about_text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("aboutBox")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # == misc ==============================================================================
    def jump_unusual(self, direction: int) -> None:
        bundle = self.state.bundle
        if bundle is None or not bundle.results.unusual_frames:
            return
        frames = sorted(bundle.results.unusual_frames)
        now = self.state.frame
        ahead = [f for f in frames if f > now] if direction > 0 else \
            [f for f in reversed(frames) if f < now]
        if ahead:
            self.state.set_frame(ahead[0])

    def _update_title(self) -> None:
        parts = [TOOL_NAME]
        if self.state.case is not None:
            parts.append(f"case {self.state.case.case_id}")
        if self.state.video_path is not None:
            parts.append(self.state.video_path.name)
        self.setWindowTitle(" — ".join(parts))

    def _update_actions(self) -> None:
        has_video = self.state.video_path is not None
        self.act_analyse.setEnabled(has_video)
        self.act_report.setEnabled(self.state.bundle is not None)
        case_busy = self.tasks.busy  # one case operation at a time
        for action in (self.act_save_case, self.act_open_case):
            action.setEnabled(not case_busy)
        busy = bool(self.pool.active_jobs())
        self.act_cancel.setEnabled(busy)
        self.act_cancel_all.setEnabled(busy)

    def shutdown(self) -> None:
        """Stop playback, jobs and threads (idempotent)."""
        self.player.pause()
        self.tasks.shutdown()
        self.pool.shutdown()
        self.frames.close()

    def closeEvent(self, ev: QCloseEvent) -> None:
        self.save_layout()
        self.shutdown()
        super().closeEvent(ev)


def deferred(fn) -> None:
    """Run `fn` once the event loop is running (used to open files given on the command line)."""
    QTimer.singleShot(0, fn)

