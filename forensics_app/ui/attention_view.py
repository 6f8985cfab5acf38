"""Temporal attention: the 2×4 head heatmaps of one layer, and the average over all.

Each map is T×T over the analysed frames of the deciding identity: row = query frame (the
frame doing the looking), column = key frame (the frame looked at). The current frame is
marked as a row and a column; clicking a cell seeks to that cell's key frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from forensics_app.core.explain.attention import average_attention
from forensics_app.ui.common import ATTENTION, NOT_PROOF, ClickableImage
from forensics_app.ui.state import AppState

GRID_ROWS, GRID_COLS = 2, 4


class _Map:
    """One heatmap: image, title, and the current-frame row/column lines."""

    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int,
                 rowspan: int = 1, colspan: int = 1, axes: bool = False) -> None:
        self.plot = layout.addPlot(row=row, col=col, rowspan=rowspan, colspan=colspan,
                                   enableMenu=False)
        self.plot.setTitle(title, size="8pt" if not axes else "9pt")
        self.plot.setMinimumSize(20, 20)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        if axes:
            self.plot.setLabel("bottom", "Key frame")
            self.plot.setLabel("left", "Query frame")
        else:
            for side in ("bottom", "left"):
                self.plot.hideAxis(side)
        self.image = ClickableImage(axisOrder="row-major")
        self.image.setLookupTable(ATTENTION.getLookupTable(0.0, 1.0, 256))
        self.plot.addItem(self.image)
        pen = pg.mkPen((255, 255, 255, 170), width=1)
        self.row_line = pg.InfiniteLine(angle=0, pen=pen)
        self.col_line = pg.InfiniteLine(angle=90, pen=pen)
        for line in (self.row_line, self.col_line):
            line.setVisible(False)
            self.plot.addItem(line)

    def set(self, matrix: np.ndarray | None) -> None:
        if matrix is None or matrix.size == 0:
            self.image.clear()
            return
        top = float(matrix.max()) or 1.0
        self.image.setImage(matrix, levels=(0.0, top), autoLevels=False)
        self.image.setRect(QRectF(0, 0, matrix.shape[1], matrix.shape[0]))
        # Auto-range keeps the whole map in view when the dock is resized (aspect locked).
        self.plot.vb.setDefaultPadding(0.0)
        self.plot.enableAutoRange()

    def mark(self, token: int | None) -> None:
        visible = token is not None and self.image.image is not None
        for line in (self.row_line, self.col_line):
            line.setVisible(visible)
        if visible:
            self.row_line.setValue(token + 0.5)
            self.col_line.setValue(token + 0.5)


class AttentionView(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.layer = 0
        self.attention: np.ndarray | None = None

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        self.layer_group = QButtonGroup(self)
        self.layer_group.setExclusive(True)
        self.layer_buttons: list[QPushButton] = []
        self._layer_row = top
        self.layer_group.idClicked.connect(self.set_layer)
        top.addStretch(1)
        self.info = QLabel()
        self.info.setObjectName("attentionInfo")
        top.addWidget(self.info)

        # Two canvases side by side: the 2×4 heads of one layer, and the mean of them all.
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("attentionCanvas")
        self.average_graphics = pg.GraphicsLayoutWidget()
        self.average_graphics.setObjectName("attentionAverageCanvas")
        grid = self.graphics.ci
        grid.setSpacing(2)
        self.heads = [_Map(grid, f"head {r * GRID_COLS + c + 1}", r, c)
                      for r in range(GRID_ROWS) for c in range(GRID_COLS)]
        self.average = _Map(self.average_graphics.ci, "mean (all)", 0, 0,
                            axes=True)
        for m in [*self.heads, self.average]:
            m.image.sigCellClicked.connect(self._on_cell)
        canvases = QHBoxLayout()
        canvases.setSpacing(4)
        canvases.addWidget(self.graphics, 3)
        canvases.addWidget(self.average_graphics, 2)

        self.note = note = QLabel(self._note_text(""))
        note.setWordWrap(True)
        note.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(canvases, 1)
        layout.addWidget(note)
        state.resultsChanged.connect(self._on_results)
        state.frameChanged.connect(self._on_frame)
        self._on_results(state.bundle)

    @staticmethod
    def _note_text(scale: str) -> str:
        return ("Rows: query frame, columns: key frame. Colours: dark = 0, bright = the map's "
                f"largest weight, each map scaled on its own{scale}. Click a cell to jump to "
                f"its key frame. {NOT_PROOF}")

    def _build_layer_buttons(self, layers: int) -> None:
        for b in self.layer_buttons:
            self.layer_group.removeButton(b)
            b.deleteLater()
        self.layer_buttons = []
        for i in range(layers):
            b = QPushButton(str(i + 1))
            b.setObjectName(f"layer{i + 1}")
            b.setCheckable(True)
            b.setFixedWidth(34)
            self.layer_group.addButton(b, i)
            self._layer_row.insertWidget(1 + i, b)
            self.layer_buttons.append(b)
        if self.layer_buttons:
            self.layer_buttons[min(self.layer, layers - 1)].setChecked(True)

    def _on_results(self, bundle) -> None:
        att = None if bundle is None else bundle.attention
        if att is not None and (att.ndim != 4 or att.shape[-1] == 0):
            att = None
        self.attention = att
        layers = att.shape[0] if att is not None else 0
        if len(self.layer_buttons) != layers:
            self._build_layer_buttons(layers)
        self.layer = min(self.layer, max(layers - 1, 0))
        if att is None:
            for m in [*self.heads, self.average]:
                m.set(None)
                m.mark(None)
            self.note.setText(self._note_text(""))
            self.info.setText("no temporal attention (no analysis, or fewer than 2 face frames)"
                              if bundle is not None else "no analysis loaded")
            return
        mean = average_attention(att)
        self.average.set(mean)
        # Each map is coloured from 0 to its own maximum: say what bright means, so that an
        # even spread (every cell ≈ 1/T) is not read as strong attention everywhere.
        t = att.shape[-1]
        even = ", nearly even" if float(mean.max() - mean.min()) < 0.1 / t else ""
        self.note.setText(self._note_text(f" (mean: {float(mean.min()):.3f} to "
                                          f"{float(mean.max()):.3f}{even})"))
        self.set_layer(self.layer)
        self.info.setText(f"{att.shape[0]} layers × {att.shape[1]} heads over {t} frames")

    def set_layer(self, layer: int) -> None:
        self.layer = layer
        if 0 <= layer < len(self.layer_buttons):
            self.layer_buttons[layer].setChecked(True)
        if self.attention is None:
            return
        for h, m in enumerate(self.heads):
            m.set(self.attention[layer, h] if h < self.attention.shape[1] else None)
        self._on_frame(self.state.frame)

    def _on_frame(self, _index: int) -> None:
        hit = self.state.nearest_token()
        token = hit[0] if hit and self.attention is not None else None
        for m in [*self.heads, self.average]:
            m.mark(token)

    def _on_cell(self, col: int, _row: int) -> None:
        bundle = self.state.bundle
        if bundle is None or not (0 <= col < len(bundle.results.attention_frames)):
            return
        self.state.set_frame(bundle.results.attention_frames[col])

    def cell_scene_pos(self, plot_map: _Map, col: int, row: int):
        """Scene position of a cell's centre (used by tests to click it)."""
        return plot_map.image.mapToScene(pg.Point(col + 0.5, row + 0.5))

