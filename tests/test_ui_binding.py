"""Guards against Qt binding releases that corrupt the interpreter under this Python."""

from __future__ import annotations

import os
import sys


def test_void_calls_keep_none_reference_count(qtbot):
    """PySide6 6.12.0 on CPython 3.11 dropped a reference to None on every void call, so a
    long session died with 'Fatal Python error: none_dealloc' (pyproject pins below it)."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(500):
        label.setText("x")
    assert sys.getrefcount(None) - before > -50


def test_no_display_is_one_line_not_an_abort(monkeypatch):
    import pytest

    from forensics_app.core.errors import ForensicsError
    from forensics_app.ui.app import require_display, use_pyside_plugins

    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    if sys.platform.startswith("linux"):
        with pytest.raises(ForensicsError, match="no display"):
            require_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    require_display()  # an explicit platform (offscreen, vnc ...) needs no display

    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", "/x/site-packages/cv2/qt/plugins")
    use_pyside_plugins()
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
