"""Self-attention strength and attention range against frame, with unusual-frame markers.

s_i = Ā[i,i] and r_i = Σ_j Ā[i,j]·|i−j| (sampled-frame units); red markers are the frames
whose range lies more than 2σ from the mean. Clicking a marker seeks to that frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from forensics_app.ui.common import NOT_PROOF
from forensics_app.ui.state import AppState

UNUSUAL = "#e53935"


class CurvesView(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("curvesCanvas")
        self.strength_plot = self.graphics.addPlot(row=0, col=0, enableMenu=False)
        self.range_plot = self.graphics.addPlot(row=1, col=0, enableMenu=False)
        self.range_plot.setXLink(self.strength_plot)
        self.strength_plot.setLabel("left", "self-attention")
        self.range_plot.setLabel("left", "attention range")
        self.range_plot.setLabel("bottom", "video frame")
        self.playheads = []
        for plot in (self.strength_plot, self.range_plot):
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.getAxis("left").setWidth(58)
            line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#4fc3f7", width=1.5))
            plot.addItem(line)
            self.playheads.append(line)
        self.strength = self.strength_plot.plot(pen=pg.mkPen("#80cbc4", width=2), symbol="o",
                                                symbolSize=4, symbolBrush="#80cbc4",
                                                symbolPen=None)
        self.range_curve = self.range_plot.plot(pen=pg.mkPen("#ce93d8", width=2), symbol="o",
                                                symbolSize=4, symbolBrush="#ce93d8",
                                                symbolPen=None)
        self.mean_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888", dash=[4, 4]))
        self.range_plot.addItem(self.mean_line)
        self.markers = pg.ScatterPlotItem(size=13, brush=pg.mkBrush(UNUSUAL),
                                          pen=pg.mkPen("w", width=1), hoverable=True,
                                          hoverSize=16, tip=lambda x, y, data: f"frame {int(x)}")
        self.markers.setZValue(5)
        self.range_plot.addItem(self.markers)
        self.markers.sigClicked.connect(self._on_marker)
        self.readout = QLabel()
        self.readout.setObjectName("curvesReadout")
        note = QLabel(f"Red: attention range more than 2σ from its mean (click to jump). "
                      f"{NOT_PROOF}")
        note.setObjectName("hint")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        layout.addWidget(note)
        state.resultsChanged.connect(self._on_results)
        state.frameChanged.connect(self._on_frame)
        state.videoChanged.connect(lambda _i: self._on_results(state.bundle))
        self._on_results(state.bundle)

    def _on_results(self, bundle) -> None:
        r = None if bundle is None else bundle.results
        if r is None or not r.attention_frames:
            for item in (self.strength, self.range_curve):
                item.setData([], [])
            self.markers.setData([], [])
            self.mean_line.setVisible(False)
            self.readout.setText("no temporal attention" if r is not None else "no analysis loaded")
            return
        x = np.array(r.attention_frames, float)
        rng = np.array(r.attention_range, float)
        self.strength.setData(x, np.array(r.self_attention, float))
        self.range_curve.setData(x, rng)
        self.mean_line.setValue(float(rng.mean()))
        self.mean_line.setVisible(True)
        pos = {f: i for i, f in enumerate(r.attention_frames)}
        unusual = [f for f in r.unusual_frames if f in pos]
        self.markers.setData(x=np.array(unusual, float),
                             y=np.array([rng[pos[f]] for f in unusual], float),
                             data=unusual)
        count = max(self.state.frame_count - 1, int(x.max()), 1)
        self.strength_plot.setXRange(0, count, padding=0.02)
        self._on_frame(self.state.frame)

    @staticmethod
    def _range_in_frames(r) -> np.ndarray:
        """Attention range in video frames: sampled-frame units × mean spacing of the tokens."""
        rng = np.array(r.attention_range, float)
        frames = r.attention_frames
        spacing = (frames[-1] - frames[0]) / (len(frames) - 1) if len(frames) > 1 else 1.0
        return rng * spacing

    def _on_frame(self, index: int) -> None:
        for line in self.playheads:
            line.setValue(index)
        hit = self.state.nearest_token(index)
        r = self.state.bundle.results if self.state.bundle else None
        if hit is None or r is None:
            return
        tok, frame = hit
        rng_frames = self._range_in_frames(r)[tok]
        self.readout.setText(
            f"frame {frame}: self-attention {r.self_attention[tok]:.3f}, range "
            f"{r.attention_range[tok]:.2f} sampled frames ≈ {rng_frames:.0f} video frames "
            f"({rng_frames / max(self.state.fps, 1e-6):.2f} s)"
            + ("  — unusual" if frame in r.unusual_frames else ""))

    def _on_marker(self, _item, points, _ev=None) -> None:
        if len(points):
            self.state.set_frame(int(points[0].data()))

    def marker_scene_pos(self, frame: int):
        """Scene position of the marker at `frame` (for tests)."""
        for point in self.markers.points():
            if int(point.data()) == frame:
                return self.range_plot.vb.mapViewToScene(point.pos())
        raise KeyError(frame)
