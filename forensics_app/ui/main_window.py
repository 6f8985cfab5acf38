"""The main window: player and timeline in the centre, the analysis views in docks.

The window is a view of one `Session` (core/session.py, no Qt), which owns the rules:
where results go, what is audited, how notes and cases are kept. The window opens files
into the shared `AppState`, runs the session's slow calls on `TaskRunner` (case tasks) and
`WorkerPool` (analyses), and routes every failure through `dialogs`. Its commands are the
data table in `actions.py`; its docks and layout live in `layout.py`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QSpinBox, QSplitter, QVBoxLayout, QWidget

from forensics_app import TOOL_NAME
from forensics_app.core.analysis.results import RESULTS_FILE, ResultsBundle, read_results
from forensics_app.core.analysis.settings import AnalysisSettings
from forensics_app.core.errors import ResultsError
from forensics_app.core.options import spec
from forensics_app.core.session import Session
from forensics_app.ui import about, dialogs
from forensics_app.ui.actions import install_actions
from forensics_app.ui.attention_view import AttentionView
from forensics_app.ui.curves_view import CurvesView
from forensics_app.ui.dialogs import VIDEO_FILTER
from forensics_app.ui.frames import FrameServer
from forensics_app.ui.job_status import JobStatus
from forensics_app.ui.layout import (
    FIRST_SIZE,
    LayoutStore,
    apply_default_sizes,
    build_docks,
    fit_to_screen,
)
from forensics_app.ui.notes_view import NotesView
from forensics_app.ui.player import PlayerView
from forensics_app.ui.recent import RecentFiles
from forensics_app.ui.relevancy_view import RelevancyView
from forensics_app.ui.resources import icon
from forensics_app.ui.state import AppState
from forensics_app.ui.timeline import TimelineView
from forensics_app.ui.verdict_view import VerdictView
from forensics_app.ui.window_cases import CaseCommands
from forensics_app.ui.window_jobs import AnalysisCommands
from forensics_app.ui.workers import BackgroundTask, TaskRunner, WorkerPool


def default_output_root() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".local/share" / TOOL_NAME) / "analyses"


class MainWindow(CaseCommands, AnalysisCommands, QMainWindow):
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
        fit_to_screen(self, FIRST_SIZE)  # a laptop's 1366×768 gets a window that fits it
        self.settings = settings or QSettings(TOOL_NAME, TOOL_NAME)
        self.session = Session(output_root or default_output_root())
        self.analysis_settings = self.session.settings  # what the toolbar edits

        self.state = AppState(self)
        self.frames = FrameServer(self)
        self.frames.frameFailed.connect(
            lambda i, msg: self.statusBar().showMessage(f"frame {i}: {msg}", 8000))
        self.pool = pool or WorkerPool(self)
        self.pool.setParent(self)
        self._connect_pool()
        self.tasks = TaskRunner(self)  # hashing and report writing, off the GUI thread

        self.player = PlayerView(self.state, self.frames)
        self.timeline = TimelineView(self.state)
        self.player.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # where the keyboard rests
        self._build_centre()
        self.attention_view = AttentionView(self.state)
        self.curves_view = CurvesView(self.state)
        self.relevancy_view = RelevancyView(self.state, self.frames)
        self.verdict_view = VerdictView(self.state)
        self.verdict_view.cardRequested.connect(self.show_model_card)
        self.notes_view = NotesView(self.state, self.session)
        self.notes_view.done.connect(self.focus_player)
        self.docks = build_docks(self, {
            "verdict": self.verdict_view, "relevancy": self.relevancy_view,
            "attention": self.attention_view, "curves": self.curves_view,
            "notes": self.notes_view})
        self.status = JobStatus(self.statusBar(), self.cancel_current)
        self.tasks.busyChanged.connect(self._on_tasks_busy)
        self.actions_by_id = install_actions(
            self, [d.toggleViewAction() for d in self.docks.values()])
        for name, action in self.actions_by_id.items():  # act_open, act_save_case, ...
            setattr(self, "act_" + _snake(name[3:]), action)
        self.recent = RecentFiles(self.settings, self.open_path)
        self.recent_menu = self.recent.menu
        self.menus["File"].insertMenu(self.act_open_case, self.recent.menu)
        self._build_toolbar()
        self.layout_store = LayoutStore(self, self.settings)
        self.layout_store.restore()
        self._shown_once = False
        for signal in (self.state.videoChanged, self.state.caseChanged,
                       self.state.resultsChanged):
            signal.connect(lambda *_a: (self._update_title(), self._update_actions()))
        self._update_actions()

    # == building ==========================================================================
    def _build_centre(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("mismatchBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#8b1a1a; color:white; font-weight:bold; "
                                  "padding:6px;")
        self.banner.setVisible(False)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("centreSplitter")
        splitter.addWidget(self.player)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(centre)

    def _build_toolbar(self) -> None:
        tools = self.addToolBar("Main")
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        for name in ("actOpen", "actOpenCase", None, "actAnalyse"):
            if name is None:
                tools.addSeparator()
            else:
                tools.addAction(self.actions_by_id[name])
        frames = spec(AnalysisSettings, "frames")
        tools.addWidget(QLabel(" frames: "))
        self.frames_spin = QSpinBox()
        self.frames_spin.setObjectName("framesSpin")
        self.frames_spin.setRange(*(int(b) for b in frames.bounds))
        self.frames_spin.setValue(self.analysis_settings.frames)
        self.frames_spin.setToolTip(frames.help)
        self.frames_spin.setKeyboardTracking(False)
        self.frames_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never focused by default
        self.frames_spin.valueChanged.connect(
            lambda v: setattr(self.analysis_settings, "frames", int(v)))
        # Enter (or leaving the box) hands the keyboard back to the player: ←/→ step frames
        self.frames_spin.editingFinished.connect(self.focus_player)
        tools.addWidget(self.frames_spin)
        for name in ("actCancel", None, "actReport", "actHelp"):
            if name is None:
                tools.addSeparator()
            else:
                tools.addAction(self.actions_by_id[name])

    def focus_player(self) -> None:
        """The keyboard goes to the player: ←/→, Space, J/K/L act on the video."""
        self.player.setFocus(Qt.FocusReason.OtherFocusReason)

    # == layout ============================================================================
    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if not self._shown_once:
            self._shown_once = True
            self.focus_player()
            if not self.layout_store.saved:
                apply_default_sizes(self, self.docks)

    def save_layout(self) -> None:
        self.layout_store.save()

    def reset_layout(self) -> None:
        self.layout_store.reset(self.docks)

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
        # the notes and the title follow the evidence
        self.state.evidence_id = self.session.show_video(path)
        self.state.set_video(path, self.frames.info, self.frames.times)
        self.settings.setValue("paths/lastDir", str(path.parent))
        self.recent.add(path)
        folder = self.session.results_folder_for(path)
        if folder is not None:
            self.load_results(folder, quiet=True)
        info = self.frames.info
        self.statusBar().showMessage(f"opened {path.name}: {info.width}×{info.height}, "
                                     f"{info.frame_count} frames at {info.fps:.3f} fps", 6000)
        return True

    def load_results(self, folder: str | Path, quiet: bool = False) -> ResultsBundle | None:
        """Show the results in `folder` (for the open video; opens the evidence if needed)."""
        try:
            bundle = read_results(folder)
        except ResultsError as err:  # tampered, unsealed, inconsistent: refused, and said
            self._guarded("Cannot write to the case", self.session.results_refused,
                          Path(folder), str(err))
            self.state.set_results(None, refused=str(err))
            self._update_banner()
            dialogs.report(self, err, "Results refused")  # even unasked: it must be seen
            return None
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
        self.session.results_by_video[str(evidence.resolve())] = Path(folder)
        self.state.set_results(bundle)
        self._update_banner()
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

    def recent_files(self) -> list[str]:
        return self.recent.files()

    def _fill_recent(self) -> None:
        self.recent.fill()

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
        if len(paths) == 1:
            self.open_path(paths[0])
            return
        videos = [p for p in paths if p.is_file()]
        if videos and self.open_video(videos[0]):
            self.queue_videos(videos)

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
        self.status.task(label)
        self._update_actions()

    # == report, help, about ===============================================================
    def show_help(self):
        return about.show_help(self)

    def about_text(self) -> str:
        return about.about_text(self.state.bundle, self.pool.model_spec, self.pool.devices)

    def show_about(self):
        return about.show_about(self, self.about_text())

    def show_model_card(self):
        return about.show_model_card(self, self.state.bundle, self.pool.model_spec)

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
            evidence = f"{self.state.evidence_id} " if self.state.evidence_id else ""
            outside = " (not in the case)" if self.state.case is not None \
                and not self.state.evidence_id else ""
            parts.append(f"{evidence}{self.state.video_path.name}{outside}")
        self.setWindowTitle(" — ".join(parts))

    def _update_actions(self) -> None:
        self.act_analyse.setEnabled(self.state.video_path is not None)
        self.act_report.setEnabled(self.state.bundle is not None)
        for action in (self.act_save_case, self.act_open_case, self.act_new_case):
            action.setEnabled(not self.tasks.busy)  # one case operation at a time
        self.act_close_case.setEnabled(self.state.case is not None and not self.tasks.busy)
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

    # shortcuts kept for the status-bar widgets (tests and the app read them by name)
    job_label = property(lambda self: self.status.job_label)
    job_progress = property(lambda self: self.status.job_progress)
    cancel_button = property(lambda self: self.status.cancel_button)
    task_label = property(lambda self: self.status.task_label)
    task_progress = property(lambda self: self.status.task_progress)


def _snake(name: str) -> str:
    """"SaveCase" → "save_case" (action ids → the window's act_* attributes)."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


def deferred(fn) -> None:
    """Run `fn` once the event loop is running (used to open files given on the command line)."""
    QTimer.singleShot(0, fn)
