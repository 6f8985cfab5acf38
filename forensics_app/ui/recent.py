"""File → Open recent: the last videos, cases and results folders opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10


class RecentFiles:
    def __init__(self, settings: QSettings, open_path: Callable[[str], object]) -> None:
        self.settings, self.open_path = settings, open_path
        self.menu = QMenu("Open &recent")
        self.menu.setObjectName("recentMenu")
        self.menu.aboutToShow.connect(self.fill)

    def files(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: Path) -> None:
        entry = str(Path(path).resolve())
        files = [entry, *[f for f in self.files() if f != entry]][:MAX_RECENT]
        self.settings.setValue("recent/files", files)

    def fill(self) -> None:
        self.menu.clear()
        files = self.files()
        for f in files:
            action = self.menu.addAction(f)
            action.triggered.connect(lambda _c=False, f=f: self.open_path(f))
        if not files:
            self.menu.addAction("(none)").setEnabled(False)
        else:
            self.menu.addSeparator()
            self.menu.addAction("Clear list").triggered.connect(
                lambda: self.settings.setValue("recent/files", []))
