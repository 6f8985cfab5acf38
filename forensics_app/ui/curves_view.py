"""Self-attention strength, attention range and frame relevancy against frame.

s_i = Ā[i,i]; r_i = Σ_j Ā[i,j]·|i−j| (sampled-frame units) with, dashed, r̂_i, the range
expected at that position if the attention were stationary (core.explain.attention); red
markers are the frames whose r − r̂ lies beyond 2σ. The relevancy curve says how much each
frame drove the clip score. Clicking a marker or a relevancy point seeks to that frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from forensics_app.ui.common import NOT_PROOF, CompactCanvas
from forensics_app.ui.state import AppState

UNUSUAL = "#e53935"
RANGE = "#ce93d8"
RELEVANCY = "#ffb74d"
PLOTS_MIN_HEIGHT = 240  # three plots of about 70 px: a laptop's dock shows all three


def _clickable_points(color: str, size: int) -> pg.ScatterPlotItem:
    points = pg.ScatterPlotItem(size=size, brush=pg.mkBrush(color), pen=pg.mkPen("w", width=1),
                                hoverable=True, hoverSize=size + 3,
                                tip=lambda x, y, data: f"frame {int(x)}: {y:.3f}")
    points.setZValue(5)
    return points


class CurvesView(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.graphics = CompactCanvas(PLOTS_MIN_HEIGHT)
        self.graphics.setObjectName("curvesCanvas")
        self.strength_plot = self.graphics.addPlot(row=0, col=0, enableMenu=False)
        self.range_plot = self.graphics.addPlot(row=1, col=0, enableMenu=False)
        self.relevancy_plot = self.graphics.addPlot(row=2, col=0, enableMenu=False)
        self.plots = (self.strength_plot, self.range_plot, self.relevancy_plot)
        for plot in self.plots[1:]:
            plot.setXLink(self.strength_plot)
        # Short labels: a laptop's dock gives each plot about 70 px, and a rotated label
        # longer than its plot runs into the next one (the readout names them in full).
        self.strength_plot.setLabel("left", "self-attn.")
        self.range_plot.setLabel("left", "range")
        self.relevancy_plot.setLabel("left", "relevancy")
        self.relevancy_plot.setLabel("bottom", "video frame")
        for plot in self.plots[:-1]:  # x-linked: the bottom plot's frame axis serves all three
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.getAxis("bottom").setHeight(6)
        self.playheads = []
        for plot in self.plots:
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
        self.range_curve = self.range_plot.plot(pen=pg.mkPen(RANGE, width=2), symbol="o",
                                                symbolSize=4, symbolBrush=RANGE,
                                                symbolPen=None, name="r")
        self.expected_curve = self.range_plot.plot(
            pen=pg.mkPen("#b0b0b0", width=1.5, style=Qt.PenStyle.DashLine),
            name="r̂ expected")
        self.markers = _clickable_points(UNUSUAL, 13)
        self.range_plot.addItem(self.markers)
        self.markers.sigClicked.connect(self._on_point)
        self.relevancy_curve = self.relevancy_plot.plot(pen=pg.mkPen(RELEVANCY, width=1.5))
        self.relevancy_points = _clickable_points(RELEVANCY, 8)
        self.relevancy_plot.addItem(self.relevancy_points)
        self.relevancy_points.sigClicked.connect(self._on_point)
        self.relevancy_plot.setYRange(0, 1.05, padding=0)
        self.readout = QLabel()
        self.readout.setObjectName("curvesReadout")
        self.readout.setWordWrap(True)  # a long readout must not widen the dock into a scroll
        self.note = note = QLabel(self._note(None))
        note.setToolTip("r̂ is the range a frame would have if the attention were the same "
                        "everywhere: the clip's ends can only look one way, so both rise there. "
                        "Unusual: r − r̂ more than 2σ and one sampled frame from its mean. "
                        "Relevancy: how much each frame drove the clip score.")
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

    @staticmethod
    def _note(results) -> str:
        record = results.model.marker_record() if results is not None else ""
        return ("Dashed: expected range r̂. Red: r − r̂ beyond 2σ. Click a marker or a "
                f"relevancy point to jump there. {NOT_PROOF}" + (f" {record}" if record else ""))

    def _show_axis_values(self, frames: bool, values: bool) -> None:
        """Numbers only where there is something to number: empty plots would otherwise read
        as curves at 0-1 over fractions of a frame."""
        self.relevancy_plot.getAxis("bottom").setStyle(showValues=frames)
        for plot in self.plots:
            plot.getAxis("left").setStyle(showValues=values)

    def _on_results(self, bundle) -> None:
        r = None if bundle is None else bundle.results
        self.note.setText(self._note(r))
        if r is None or not r.attention_frames:
            for item in (self.strength, self.range_curve, self.expected_curve,
                         self.relevancy_curve):
                item.setData([], [])
            for points in (self.markers, self.relevancy_points):
                points.setData([], [])
            self.readout.setText("no temporal attention" if r is not None else "no analysis loaded")
            # Nothing of the previous clip stays: its frame axis and value ranges go too.
            self.strength_plot.setXRange(0, max(self.state.frame_count - 1, 1), padding=0.02)
            for plot in self.plots:
                plot.setYRange(0, 1, padding=0.02)
            self._show_axis_values(frames=self.state.frame_count > 0, values=False)
            return
        self._show_axis_values(frames=True, values=True)
        x = np.array(r.attention_frames, float)
        rng = np.array(r.attention_range, float)
        self.strength.setData(x, np.array(r.self_attention, float))
        self.range_curve.setData(x, rng)
        expected = r.expected_range or []
        self.expected_curve.setData(x[:len(expected)], np.array(expected, float))
        pos = {f: i for i, f in enumerate(r.attention_frames)}
        unusual = [f for f in r.unusual_frames if f in pos]
        self.markers.setData(x=np.array(unusual, float),
                             y=np.array([rng[pos[f]] for f in unusual], float),
                             data=unusual)
        relevancy = np.array(r.frame_relevancy, float)
        frames = list(r.attention_frames[:relevancy.size])
        self.relevancy_curve.setData(x[:relevancy.size], relevancy)
        self.relevancy_points.setData(x=x[:relevancy.size], y=relevancy, data=frames)
        count = max(self.state.frame_count - 1, int(x.max()), 1)
        self.strength_plot.setXRange(0, count, padding=0.02)
        for plot in self.plots:  # values decide the ranges again (a still image fixed them)
            plot.enableAutoRange(axis=pg.ViewBox.YAxis)
        self._on_frame(self.state.frame)

    @staticmethod
    def _frames_per_token(r) -> float:
        """Mean spacing of the tokens in video frames (sampled-frame units → video frames)."""
        frames = r.attention_frames
        return (frames[-1] - frames[0]) / (len(frames) - 1) if len(frames) > 1 else 1.0

    def _on_frame(self, index: int) -> None:
        for line in self.playheads:
            line.setValue(index)
        hit = self.state.nearest_token(index)
        r = self.state.bundle.results if self.state.bundle else None
        if hit is None or r is None:
            return
        tok, frame = hit
        # The values belong to the analysed frame nearest the playhead: name both when they
        # differ, so the readout never seems to speak of a frame it does not.
        where = (f"frame {frame}" if frame == index
                 else f"frame {index} (values of the nearest analysed frame, {frame})")
        spacing = self._frames_per_token(r)
        rng_frames = r.attention_range[tok] * spacing
        expected = (f", expected {r.expected_range[tok]:.2f}"
                    if r.expected_range and tok < len(r.expected_range) else "")
        relevancy = (f"; relevancy {r.frame_relevancy[tok]:.2f}"
                     if tok < len(r.frame_relevancy) else "")
        self.readout.setText(
            f"{where}: self-attention {r.self_attention[tok]:.3f}, range "
            f"{r.attention_range[tok]:.2f}{expected} sampled frames (≈ {rng_frames:.0f} video "
            f"frames, {rng_frames / max(self.state.fps, 1e-6):.2f} s){relevancy}"
            + ("  — unusual" if frame in r.unusual_frames else ""))

    def _on_point(self, _item, points, _ev=None) -> None:
        if len(points):
            self.state.set_frame(int(points[0].data()))

    def _point_scene_pos(self, points: pg.ScatterPlotItem, plot, frame: int):
        for point in points.points():
            if int(point.data()) == frame:
                return plot.vb.mapViewToScene(point.pos())
        raise KeyError(frame)

    def marker_scene_pos(self, frame: int):
        """Scene position of the red marker at `frame` (for tests)."""
        return self._point_scene_pos(self.markers, self.range_plot, frame)

    def relevancy_scene_pos(self, frame: int):
        """Scene position of the relevancy point at `frame` (for tests)."""
        return self._point_scene_pos(self.relevancy_points, self.relevancy_plot, frame)
