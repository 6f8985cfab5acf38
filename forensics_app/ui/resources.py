"""Finding the files under resources/ (help text, style sheet, icons) in a checkout, an
installed copy or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resource_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    dirs = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        dirs.append(Path(bundle) / "resources")
    dirs += [here.parents[2] / "resources", here.parents[1] / "resources"]
    return dirs


def resource_path(name: str) -> Path | None:
    for folder in resource_dirs():
        candidate = folder / name
        if candidate.exists():
            return candidate
    return None


def resource_text(name: str, default: str = "") -> str:
    path = resource_path(name)
    return path.read_text(encoding="utf-8") if path else default


def icon(name: str) -> QIcon:
    for ext in ("svg", "png"):
        path = resource_path(f"icons/{name}.{ext}")
        if path:
            return QIcon(str(path))
    return QIcon()
