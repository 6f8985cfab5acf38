"""Regenerate docs/temporal_docks.png: the Temporal attention and Curves docks of one results
folder, rendered offscreen side by side.

    forensics-app analyze ../shared/data/videos/real/liveportrait_d3.mp4 --frames 32 --out DIR
    .venv/bin/python docs/make_dock_screenshot.py DIR [docs/temporal_docks.png]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtGui import QColor, QPainter, QPixmap  # noqa: E402

from forensics_app.core.analysis.results import read_results  # noqa: E402
from forensics_app.ui.app import make_app  # noqa: E402
from forensics_app.ui.attention_view import AttentionView  # noqa: E402
from forensics_app.ui.curves_view import CurvesView  # noqa: E402
from forensics_app.ui.state import AppState  # noqa: E402


def main(folder: str, target: str = str(ROOT / "docs" / "temporal_docks.png")) -> int:
    app = make_app()
    state = AppState()
    state.set_results(read_results(folder))
    frames = state.bundle.results.attention_frames
    if frames:  # no video is open, so set_frame would clamp to 0: set the playhead directly
        state.frame = frames[len(frames) // 2]
    views = [AttentionView(state), CurvesView(state)]
    for view, width in zip(views, (1000, 600), strict=True):
        view.resize(width, 560)
        view.show()
    for _ in range(30):  # let pyqtgraph lay out and range its plots
        app.processEvents()
    shots = [v.grab() for v in views]
    out = QPixmap(sum(s.width() for s in shots) + 6, max(s.height() for s in shots))
    out.fill(QColor("#1b1d21"))
    painter = QPainter(out)
    painter.drawPixmap(0, 0, shots[0])
    painter.drawPixmap(shots[0].width() + 6, 0, shots[1])
    painter.end()
    ok = out.save(target)
    print(f"{'saved' if ok else 'NOT saved'}: {target}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
