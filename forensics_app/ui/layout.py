"""The window's docks: which view goes where, their default proportions, and the saved
layout (restored at start, View → Reset layout back to the default)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QWidget

LAYOUT_VERSION = 2  # bump when the docks change: an older saved layout is then ignored
Area = Qt.DockWidgetArea
# key, title, area; the bottom docks sit side by side
DOCKS = (
    ("verdict", "Verdict", Area.RightDockWidgetArea),
    ("relevancy", "Face relevancy", Area.RightDockWidgetArea),
    ("attention", "Temporal attention", Area.BottomDockWidgetArea),
    ("curves", "Curves", Area.BottomDockWidgetArea),
    ("notes", "Notes", Area.BottomDockWidgetArea),
)
WINDOW_MINIMUM = (1024, 640)  # below this the views cannot show their content legibly
FIRST_SIZE = (1600, 1000)  # the first window's size where the screen has room for it
# A window manager's title bar and borders, before the window is shown and they can be
# measured: the status bar (progress, Cancel) must stay on screen below them.
FRAME_ESTIMATE = (8, 38)


def build_docks(window: QMainWindow, views: dict[str, QWidget]) -> dict[str, QDockWidget]:
    docks: dict[str, QDockWidget] = {}
    for key, title, area in DOCKS:
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(scrolling(views[key]))
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        window.addDockWidget(area, dock)
        docks[key] = dock
    window.splitDockWidget(docks["attention"], docks["curves"], Qt.Orientation.Horizontal)
    window.splitDockWidget(docks["curves"], docks["notes"], Qt.Orientation.Horizontal)
    window.setCorner(Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)
    window.setMinimumSize(*WINDOW_MINIMUM)
    return docks


def scrolling(view: QWidget) -> QScrollArea:
    """The view in a scroll area: a dock smaller than the view's minimum scrolls it instead
    of squeezing it (labels overprinting) or pushing into the neighbouring dock."""
    area = QScrollArea()
    area.setObjectName(f"{view.objectName() or type(view).__name__}Scroll")
    area.setWidget(view)
    area.setWidgetResizable(True)  # the view fills the dock whenever the dock is larger
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def apply_default_sizes(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """Dock sizes in proportion to the window (only effective once it is shown)."""
    w, h = max(window.width(), WINDOW_MINIMUM[0]), max(window.height(), WINDOW_MINIMUM[1])
    d = docks
    window.resizeDocks([d["verdict"], d["relevancy"]], [int(h * 0.5), int(h * 0.4)],
                       Qt.Orientation.Vertical)
    window.resizeDocks([d["verdict"]], [int(w * 0.27)], Qt.Orientation.Horizontal)
    bottom = int(w * 0.73)
    window.resizeDocks([d["attention"], d["curves"], d["notes"]],
                       [int(bottom * 0.45), int(bottom * 0.35), int(bottom * 0.2)],
                       Qt.Orientation.Horizontal)
    window.resizeDocks([d["attention"]], [int(h * 0.36)], Qt.Orientation.Vertical)


def fit_to_screen(window: QMainWindow, size: tuple[int, int] | None = None,
                  available: QRect | None = None) -> None:
    """Size the window to `size` (default: its own), shrunk to the screen's available area
    with its title bar and frame included, and place it wholly on that area (centred when
    it is moved). `available`: the area to fit (default: the screen the window is on)."""
    if available is None:
        screen = window.screen() or QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
    if window.isVisible():  # measured: what the window manager actually added
        frame_w = window.frameGeometry().width() - window.geometry().width()
        frame_h = window.frameGeometry().height() - window.geometry().height()
    else:
        frame_w, frame_h = FRAME_ESTIMATE
    want_w, want_h = size or (window.width(), window.height())
    width = max(min(want_w, available.width() - frame_w), window.minimumWidth())
    height = max(min(want_h, available.height() - frame_h), window.minimumHeight())
    window.resize(width, height)
    outer = QRect(window.frameGeometry().topLeft(), QSize(width + frame_w, height + frame_h))
    if not available.contains(outer):
        window.move(available.x() + max(0, (available.width() - outer.width()) // 2),
                    available.y() + max(0, (available.height() - outer.height()) // 2))


class LayoutStore:
    """The window's geometry and dock layout in QSettings."""

    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        self.window, self.settings = window, settings
        self.default = window.saveState(LAYOUT_VERSION)

    @property
    def saved(self) -> bool:
        return self.settings.value("window/state") is not None

    def restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        layout = self.settings.value("window/state")
        if geometry is not None:
            self.window.restoreGeometry(geometry)
            fit_to_screen(self.window)  # saved on a larger screen, or on one gone since
        if layout is not None and not self.window.restoreState(layout, LAYOUT_VERSION):
            self.settings.remove("window/state")  # from an older layout version

    def save(self) -> None:
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset(self, docks: dict[str, QDockWidget]) -> None:
        self.window.restoreState(self.default, LAYOUT_VERSION)
        for dock in docks.values():
            dock.setFloating(False)
            dock.show()
        apply_default_sizes(self.window, docks)
        self.save()  # a squeezed layout must not come back after a restart
