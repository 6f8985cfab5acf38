"""Starting the desktop application."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.errors import ForensicsError
from forensics_app.ui import dialogs
from forensics_app.ui.resources import icon, resource_text


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        use_pyside_plugins()
        require_display()
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationName(TOOL_NAME)
    app.setOrganizationName(TOOL_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(TOOL_NAME)
    app.setWindowIcon(icon("forensics-app"))
    apply_theme(app)
    return app


def use_pyside_plugins() -> None:
    """Drop the Qt plugin paths that importing cv2 (opencv-contrib, a mediapipe dependency)
    points at its own bundled Qt: PySide6 would load that Qt's xcb plugin and fail to start."""
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if "cv2" in Path(os.environ.get(name, "")).parts:
            del os.environ[name]


def require_display() -> None:
    """Say in one line why no window can open, instead of Qt's abort (exit code 134)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ForensicsError("no display to open the window on (DISPLAY is not set); run it "
                             "in a desktop session, under `xvfb-run`, or use the command line "
                             "(forensics-app analyze --help)")


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme: heatmaps and video read better on dark grey."""
    pg.setConfigOptions(antialias=True, background="#1b1d21", foreground="#d0d3d8")
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#25282d", QPalette.ColorRole.WindowText: "#e0e3e8",
        QPalette.ColorRole.Base: "#1b1d21", QPalette.ColorRole.AlternateBase: "#2b2f35",
        QPalette.ColorRole.Text: "#e0e3e8", QPalette.ColorRole.Button: "#2f3339",
        QPalette.ColorRole.ButtonText: "#e0e3e8", QPalette.ColorRole.Highlight: "#2f7fd1",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2f35",
        QPalette.ColorRole.ToolTipText: "#e0e3e8", QPalette.ColorRole.Link: "#4fc3f7",
        QPalette.ColorRole.PlaceholderText: "#8a9099",
    }
    for role, color in roles.items():
        pal.setColor(role, QColor(color))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#70757d"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#70757d"))
    app.setPalette(pal)
    app.setStyleSheet(resource_text("style.qss"))


def run_gui(path: str | Path | None = None, smoke_test: bool = False,
            screenshot: Path | None = None, model: str | None = None,
            frames: int | None = None, size: tuple[int, int] = (1600, 1000)) -> int:
    """Start the window, open `path` (video, case or results folder) if given, run.

    `smoke_test`: open the path, wait for its first frame to be painted, print one line and
    quit (the packaged build's self-check). `screenshot`: analyse the opened video, show an
    interesting frame, save the window to that file and quit (how docs/screenshot_1366.png is
    made). `model`: a model folder or name instead of the default model.
    """
    app = make_app()
    from forensics_app.ui.main_window import MainWindow
    from forensics_app.ui.workers import WorkerPool

    window = MainWindow(pool=WorkerPool(model_spec=model))
    dialogs.install_excepthook(lambda: window)
    if frames is not None:
        window.frames_spin.setValue(frames)
    window.show()
    exit_code = 0

    def finish(code: int) -> None:
        nonlocal exit_code
        exit_code = code
        app.quit()

    if smoke_test:
        def shown(index: int) -> None:
            info = window.state.info
            print(f"{TOOL_NAME} {__version__}: shown frame {index} of {window.state.video_path}"
                  f" ({info.width}×{info.height}, {info.frame_count} frames)")
            finish(0)

        window.player.frameShown.connect(shown)
        QTimer.singleShot(60000, lambda: finish(1))
    elif screenshot is not None:
        window.resize(*size)
        window.reset_layout()
        _screenshot_when_done(window, screenshot, finish)
    if path is not None:
        def analyse_if_needed(*_args) -> None:
            if window.state.bundle is None and window.analyse_current() is None \
                    and not window.tasks.busy:  # inside a case it is queued after hashing
                finish(3)

        def open_it() -> None:
            if not window.open_path(path):
                if smoke_test or screenshot is not None:
                    finish(2)
            elif screenshot is not None:
                if window.tasks.busy:  # a case: its evidence is verified first
                    window.caseOpened.connect(analyse_if_needed)
                else:
                    analyse_if_needed()
        QTimer.singleShot(0, open_it)
    elif smoke_test or screenshot is not None:
        QTimer.singleShot(0, lambda: finish(2))
    app.exec()
    window.close()
    return exit_code


def _screenshot_when_done(window, png: Path, finish) -> None:
    """After the analysis: go to the first unusual frame (else the middle analysed frame),
    let every view catch up, save the window."""

    def show(bundle) -> None:
        if bundle is None:
            return
        r = bundle.results
        frames = r.unusual_frames or r.sampled_frames[len(r.sampled_frames) // 2:][:1]
        target = frames[0] if frames else window.state.frame
        # save once that frame is painted (decoding may lag on a busy machine), then let
        # every view catch up; at most 60 s
        window.player.frameShown.connect(
            lambda index: QTimer.singleShot(1500, save) if index == target else None)
        QTimer.singleShot(60000, save)
        if target != window.state.frame:
            window.state.set_frame(target)
        elif window.player.shown_index == target:
            QTimer.singleShot(1500, save)

    saved = []

    def save() -> None:
        if saved:
            return
        saved.append(True)
        png.parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab().save(str(png))
        print(f"screenshot {'saved' if ok else 'NOT saved'}: {png}")
        finish(0 if ok else 1)

    window.state.resultsChanged.connect(show)
    window.pool.jobFailed.connect(lambda _job, message: (print(message), finish(1)))
