"""`forensics-app gui --smoke-test`: the window starts offscreen, opens a clip, paints it.

Runs from the source tree, and against the packaged build when dist/forensics-app exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from media_factory import make_video

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "forensics-app" / "forensics-app"


def _env() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", n_frames=10)


def test_gui_smoke_test_from_source(clip):
    run = subprocess.run([sys.executable, "-m", "forensics_app", "gui", "--smoke-test",
                          str(clip)], capture_output=True, text=True, timeout=120, env=_env())
    assert run.returncode == 0, run.stderr[-2000:]
    assert "shown frame 0 of" in run.stdout and "160×120, 10 frames" in run.stdout


def test_gui_smoke_test_bad_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nope")
    run = subprocess.run([sys.executable, "-m", "forensics_app", "gui", "--smoke-test",
                          str(bad)], capture_output=True, text=True, timeout=120, env=_env())
    assert run.returncode == 2
    assert "bad.mp4" in run.stderr


@pytest.mark.skipif(not BUNDLE.exists(), reason="no packaged build (run `make package`)")
def test_packaged_build_opens_a_clip(clip):
    run = subprocess.run([str(BUNDLE), "gui", "--smoke-test", str(clip)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "shown frame 0 of" in run.stdout
