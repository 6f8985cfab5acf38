"""The core must run without Qt: importing every core module must not pull Qt in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "forensics_app" / "core"


def test_core_imports_no_qt():
    modules = sorted(
        ".".join(p.relative_to(CORE.parents[1]).with_suffix("").parts)
        for p in CORE.rglob("*.py") if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'superqt', 'qtpy')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(modules) > 10


def test_core_sources_do_not_mention_qt():
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("PySide6", "PyQt", "pyqtgraph", "superqt"):
            assert f"import {name}" not in text and f"from {name}" not in text, path
