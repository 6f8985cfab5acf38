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


def test_import_contracts_hold():
    """The layers of pyproject.toml's [tool.importlinter] (also run by `make lint`)."""
    import pytest

    pytest.importorskip("importlinter")
    root = CORE.parents[1]
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint)], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def test_base_install_is_qt_free_and_the_version_has_one_home():
    import pytest

    tomllib = pytest.importorskip("tomllib")

    from forensics_app import __version__

    project = tomllib.loads((CORE.parents[1] / "pyproject.toml").read_text())["project"]
    qt = ("pyside6", "pyqt", "pyqtgraph", "superqt", "qtpy")
    assert not [d for d in project["dependencies"] if d.lower().startswith(qt)]
    assert any(d.lower().startswith("pyside6") for d in project["optional-dependencies"]["gui"])
    assert "version" not in project and "version" in project["dynamic"]
    from importlib.metadata import version

    assert version("forensics-app") == __version__
