"""Guards against Qt binding releases that corrupt the interpreter under this Python."""

from __future__ import annotations

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
