"""The timeline: per-sampled-frame fake score, unusual frames, a draggable playhead.

While an analysis of the open video runs, the per-frame scores arrive as the spatial stage
yields them (`Progress.partial`): they are drawn grey and marked provisional until the final
results replace them.

Dragging the playhead (or clicking anywhere on the track) moves the one current frame; the
frame server decodes only the latest position, so scrubbing stays smooth on long videos.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from forensics_app.ui.state import AppState

UNUSUAL = "#e53935"
PROVISIONAL = "#8a9099"


class TimelineView(pg.PlotWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)
        self.setObjectName("timeline")
        self.state = state
        self.setMinimumHeight(110)
        self.setMaximumHeight(180)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.showGrid(x=True, y=False, alpha=0.2)
        plot.setLabel("left", "p_fake")
        plot.setLabel("bottom", "video frame")
        plot.setYRange(0, 1, padding=0.05)
        plot.getAxis("left").setTicks([[(0, "0"), (0.5, ".5"), (1, "1")]])
        self.threshold = pg.InfiniteLine(0.5, angle=0,
                                         pen=pg.mkPen("#888", style=Qt.PenStyle.DotLine))
        plot.addItem(self.threshold)
        self.unusual = pg.ScatterPlotItem(symbol="t1", size=11, brush=pg.mkBrush(UNUSUAL),
                                          pen=pg.mkPen(None))
        plot.addItem(self.unusual)
        self.scores = pg.PlotDataItem(pen=pg.mkPen("#ffb300", width=2), symbol="o", symbolSize=5,
                                      symbolBrush="#ffb300", symbolPen=None, connect="finite")
        plot.addItem(self.scores)
        self.partial = pg.PlotDataItem(pen=pg.mkPen(PROVISIONAL, width=1,
                                                    style=Qt.PenStyle.DashLine),
                                       symbol="o", symbolSize=5, symbolBrush=PROVISIONAL,
                                       symbolPen=None)
        plot.addItem(self.partial)
        self.partial_label = pg.TextItem("provisional scores: analysis running",
                                         color=PROVISIONAL, anchor=(0, 0))
        self.partial_label.setPos(0, 1.0)
        self.partial_label.setVisible(False)
        plot.addItem(self.partial_label)
        self.playhead = pg.InfiniteLine(0, angle=90, movable=True,
                                        pen=pg.mkPen("#4fc3f7", width=2),
                                        hoverPen=pg.mkPen("#b3e5fc", width=3))
        self.playhead.setZValue(10)
        plot.addItem(self.playhead)
        self.playhead.sigPositionChanged.connect(self._on_drag)
        plot.scene().sigMouseClicked.connect(self._on_click)

        state.videoChanged.connect(self._on_video)
        state.resultsChanged.connect(self._on_results)
        state.frameChanged.connect(self._on_frame)
        self._on_video(state.info)

    def _on_video(self, info) -> None:
        count = info.frame_count if info else 1
        self.getPlotItem().setXRange(0, max(count - 1, 1), padding=0.01)
        # No video, no frame numbers: a 0-1 axis would read as fractions of a frame.
        self.getPlotItem().getAxis("bottom").setStyle(showValues=info is not None)
        self.playhead.setBounds((0, max(count - 1, 0)))
        self.clear_partial()
        self._on_results(self.state.bundle)

    def set_partial(self, frames: list[int], p_fake: list[float]) -> None:
        """Provisional per-face scores of a running analysis: per video frame, the highest
        score of its faces (as `frame_scores` will be), drawn grey."""
        best: dict[int, float] = {}
        for frame, p in zip(frames, p_fake, strict=False):
            best[int(frame)] = max(float(p), best.get(int(frame), 0.0))
        x = sorted(best)
        self.partial.setData(np.array(x, float), np.array([best[f] for f in x], float))
        self.partial_label.setVisible(bool(x))

    def clear_partial(self) -> None:
        self.partial.setData([], [])
        self.partial_label.setVisible(False)

    def _on_results(self, bundle) -> None:
        if bundle is not None:
            self.clear_partial()
        if bundle is None:
            self.scores.setData([], [])
            self.unusual.setData([], [])
            return
        r = bundle.results
        y = np.array([np.nan if s is None else s for s in r.frame_scores], float)
        self.scores.setData(np.array(r.sampled_frames, float), y)
        self.threshold.setValue(r.prediction.threshold)
        self.unusual.setData(x=np.array(r.unusual_frames, float),
                             y=np.full(len(r.unusual_frames), 1.0))

    def _on_frame(self, index: int) -> None:
        if round(self.playhead.value()) != index:
            self.playhead.blockSignals(True)
            self.playhead.setValue(index)
            self.playhead.blockSignals(False)

    def _on_drag(self) -> None:
        self.state.set_frame(round(self.playhead.value()))

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or not self.state.frame_count:
            return
        vb = self.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        self.state.set_frame(round(vb.mapSceneToView(ev.scenePos()).x()))
