"""Temporal attention: the 2×4 head heatmaps of one layer, and the average over all.

Each map is T×T over the analysed frames of the deciding identity: row = query frame (the
frame doing the looking), column = key frame (the frame looked at). The current frame is
marked as a row and a column; clicking a cell seeks to that cell's key frame. Every map has a
colour bar with its numbers: one shared scale for all maps (default) or one per map; the
limits and the near-uniform criterion come from core.explain.attention.colour_scale.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from forensics_app.core.explain.attention import (
    NEAR_UNIFORM,
    ColourScale,
    average_attention,
    colour_scale,
)
from forensics_app.ui.common import ATTENTION, NOT_PROOF, ClickableImage, CompactCanvas
from forensics_app.ui.state import AppState

GRID_ROWS, GRID_COLS = 2, 4
MAPS_MIN_HEIGHT = 180
SCALES = {"shared": "one scale for all maps", "per map": "each map on its own scale"}


def _colour_bar(width: int) -> pg.ColorBarItem:
    bar = pg.ColorBarItem(values=(0.0, 1.0), width=width, colorMap=ATTENTION,
                          interactive=False, colorMapMenu=False)
    bar.getAxis("right").enableAutoSIPrefix(False)
    return bar


def tick_step(count: int, max_ticks: int) -> int:
    """The smallest step of 1, 2 or 5 × 10^k that puts at most `max_ticks` ticks on `count`
    tokens (a reader counts in round steps)."""
    max_ticks = max(max_ticks, 1)
    magnitude = 1
    while True:
        for unit in (1, 2, 5):
            step = unit * magnitude
            if -(-count // step) <= max_ticks:
                return step
        magnitude *= 10


class _FrameAxis(pg.AxisItem):
    """The mean map's axis: ticks only over the map (the locked aspect leaves empty view
    beyond it, where a frame number would mean nothing), at token centres, labelled with the
    video frame each token is, the number the player and the curves show; as many as fit."""

    LABEL_PX = 32  # room one label needs: four digits at 8 pt and a gap

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.frames: list[int] = []
        # Let the first and last frame's labels reach past the map's edge (pyqtgraph allows
        # 15 px, half a four-digit label) instead of vanishing.
        self.setStyle(hideOverlappingLabels=False)

    def set_frames(self, frames: list[int]) -> None:
        self.frames = list(frames)
        self.picture = None  # pyqtgraph redraws the ticks from tickValues
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):
        low, high = sorted((minVal, maxVal))  # the query axis runs downwards (inverted)
        count = len(self.frames)
        if count == 0 or high <= low or size <= 0:
            return []
        units_per_px = (high - low) / size
        step = tick_step(count, int(count / units_per_px // self.LABEL_PX))
        centres = [i + 0.5 for i in range(0, count, step)]
        return [(float(step), [c for c in centres if low <= c <= high])]

    def tickStrings(self, values, scale, spacing):
        return [str(self.frames[int(v)]) if 0 <= int(v) < len(self.frames) else ""
                for v in values]


class _Map:
    """One heatmap: image, title, its colour bar (when it has its own), and the current-frame
    row/column lines."""

    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int,
                 axes: bool = False, own_bar: bool = False, bar_col: int | None = None
                 ) -> None:
        self.title = title
        # A head's cell is ~50 px wide on a laptop: "head 3 · ≈ uniform" pushed its map over
        # the next one. The grid says "3" and "3 ≈"; the text below names them in full.
        self.label = title.removeprefix("head ") if not axes else title
        axis_items = {side: _FrameAxis(side) for side in ("bottom", "left")} if axes else {}
        self.axes: list[_FrameAxis] = list(axis_items.values())
        self.plot = layout.addPlot(row=row, col=col, enableMenu=False, axisItems=axis_items)
        self.plot.setMinimumSize(20, 20)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.title_size = "9pt" if axes else "8pt"
        self.plot.setTitle(self.label, size=self.title_size)
        if axes:
            self.plot.setLabel("bottom", "Key: video frame")
            self.plot.setLabel("left", "Query: video frame")
        else:
            for side in ("bottom", "left"):
                self.plot.hideAxis(side)
        self.image = ClickableImage(axisOrder="row-major")
        self.image.setLookupTable(ATTENTION.getLookupTable(0.0, 1.0, 256))
        self.plot.addItem(self.image)
        self.bar: pg.ColorBarItem | None = None
        if own_bar:
            self.bar = _colour_bar(8 if not axes else 12)
            if bar_col is None:
                self.bar.setImageItem(self.image, insert_in=self.plot)
            else:
                # A head map's bar takes a grid cell of its own, a thin strip without tick
                # labels: a bar with numbers inside the square map's cell drew them over the
                # next map, and four of them leave no width for the maps. The numbers are
                # listed under the maps instead (`AttentionView._describe`).
                self.bar.getAxis("right").setStyle(showValues=False)
                self.bar.getAxis("right").setWidth(2)
                self.bar.setFixedWidth(12)
                layout.addItem(self.bar, row=row, col=bar_col)
                self.bar.setImageItem(self.image)
        self.scale: ColourScale | None = None
        pen = pg.mkPen((255, 255, 255, 170), width=1)
        self.row_line = pg.InfiniteLine(angle=0, pen=pen)
        self.col_line = pg.InfiniteLine(angle=90, pen=pen)
        for line in (self.row_line, self.col_line):
            line.setVisible(False)
            self.plot.addItem(line)

    def set(self, matrix: np.ndarray | None, scale: ColourScale | None = None,
            frames: list[int] | None = None) -> None:
        """Show `matrix` on `scale`; `frames` (the video frame of each token) label the axes
        of a map that has them."""
        self.scale = scale
        shown = not (matrix is None or matrix.size == 0 or scale is None)
        for axis in self.axes:
            axis.set_frames(frames if shown and frames is not None else [])
        if not shown:
            # Nothing of a previous clip stays: no numbers on the bar, no frame axis.
            self.image.clear()
            self.plot.setTitle(self.label, size=self.title_size)
            if self.bar is not None:
                self.bar.setVisible(False)
            self.plot.setRange(QRectF(0, 0, 1, 1), padding=0.0)
            return
        self.image.setImage(matrix, levels=(scale.low, scale.high), autoLevels=False)
        if self.bar is not None:
            self.bar.setVisible(True)
            self.bar.setLevels((scale.low, scale.high))
        self.image.setRect(QRectF(0, 0, matrix.shape[1], matrix.shape[0]))
        uniform = (" ≈" if self.label != self.title else " · ≈ uniform") \
            if scale.near_uniform else ""
        self.plot.setTitle(self.label + uniform, size=self.title_size)
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
        self.mean: np.ndarray | None = None

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        self.layer_group = QButtonGroup(self)
        self.layer_group.setExclusive(True)
        self.layer_buttons: list[QPushButton] = []
        self._layer_row = top
        self.layer_group.idClicked.connect(self.set_layer)
        top.addStretch(1)
        top.addWidget(QLabel("Colours:"))
        self.scale_choice = QComboBox()
        self.scale_choice.setObjectName("attentionScale")
        for key, tip in SCALES.items():
            self.scale_choice.addItem(key, key)
            self.scale_choice.setItemData(self.scale_choice.count() - 1, tip,
                                          Qt.ItemDataRole.ToolTipRole)
        self.scale_choice.currentIndexChanged.connect(lambda _i: self._rebuild())
        top.addWidget(self.scale_choice)
        # Below the maps with the scale's description, not beside the buttons: a laptop's
        # dock keeps the maps whole (its scroll area sizes the view by its preferred height).
        self.info = QLabel()
        self.info.setObjectName("attentionInfo")
        self.info.setWordWrap(True)

        # Two canvases side by side: the 2×4 heads of one layer, and the mean of them all.
        self.graphics = CompactCanvas(MAPS_MIN_HEIGHT)
        self.graphics.setObjectName("attentionCanvas")
        self.average_graphics = CompactCanvas(MAPS_MIN_HEIGHT)
        self.average_graphics.setObjectName("attentionAverageCanvas")
        self.heads: list[_Map] = []
        self.shared_bar: pg.ColorBarItem | None = None
        self.average = _Map(self.average_graphics.ci, "mean (all)", 0, 0, axes=True,
                            own_bar=True)
        self.average.image.sigCellClicked.connect(self._on_cell)
        self._build_heads()
        canvases = QHBoxLayout()
        canvases.setSpacing(4)
        canvases.addWidget(self.graphics, 3)
        canvases.addWidget(self.average_graphics, 2)

        self.scale_text = QLabel()
        self.scale_text.setObjectName("attentionScaleText")
        self.scale_text.setWordWrap(True)
        self.note = note = QLabel()
        note.setWordWrap(True)
        note.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(canvases, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.scale_text)
        layout.addWidget(note)
        state.resultsChanged.connect(self._on_results)
        state.frameChanged.connect(self._on_frame)
        self._on_results(state.bundle)

    @property
    def scale_mode(self) -> str:
        return self.scale_choice.currentData()

    def set_scale_mode(self, mode: str) -> None:
        self.scale_choice.setCurrentIndex(self.scale_choice.findData(mode))

    def _build_heads(self) -> None:
        """The 2×4 grid: per map, each head with its own colour bar; shared, one bar beside."""
        grid = self.graphics.ci
        grid.clear()
        grid.setSpacing(2)
        per_map = self.scale_mode == "per map"
        # per map, each head's bar takes the column after it: map, bar, map, bar, …
        self.heads = [_Map(grid, f"head {r * GRID_COLS + c + 1}", r,
                           2 * c if per_map else c, own_bar=per_map,
                           bar_col=2 * c + 1 if per_map else None)
                      for r in range(GRID_ROWS) for c in range(GRID_COLS)]
        for m in self.heads:
            m.image.sigCellClicked.connect(self._on_cell)
        self.shared_bar = None
        if not per_map:
            self.shared_bar = _colour_bar(12)
            grid.addItem(self.shared_bar, row=0, col=GRID_COLS, rowspan=GRID_ROWS)
            self.shared_bar.setImageItem([m.image for m in self.heads])

    def _rebuild(self) -> None:
        self._build_heads()
        self._on_results(self.state.bundle)

    def _note_text(self) -> str:
        how = ("heads of every layer on one scale" if self.scale_mode == "shared"
               else "each map on its own scale: compare the numbers")
        return (f"Rows: query, columns: key frame; {how}; ≈ uniform: within {NEAR_UNIFORM:.0%} "
                "of 1/T; click a cell to jump. " + NOT_PROOF)

    def _build_layer_buttons(self, layers: int) -> None:
        for b in self.layer_buttons:
            self.layer_group.removeButton(b)
            self._layer_row.removeWidget(b)
            b.hide()  # at once: deleteLater waits for the event loop
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
        self.note.setText(self._note_text())
        if att is None:
            self.mean = None
            for m in [*self.heads, self.average]:
                m.set(None)
                m.mark(None)
            self.info.show()
            self.info.setText("no temporal attention (no analysis, or fewer than 2 face frames)"
                              if bundle is not None else "no analysis loaded")
            self.scale_text.setText("")
            if self.shared_bar is not None:
                self.shared_bar.setVisible(False)
            return
        self.mean = average_attention(att.astype(np.float64))
        # The mean is an average, much flatter than any head: always on its own scale.
        self.average.set(self.mean, colour_scale(self.mean),
                         frames=list(bundle.results.attention_frames))
        self.set_layer(self.layer)

    def scale_of(self, matrix: np.ndarray) -> ColourScale:
        """The colour scale of one map under the chosen mode (shared: over every head of every
        layer, so switching layers keeps the colours comparable)."""
        shared = self.attention if self.scale_mode == "shared" else None
        return colour_scale(matrix, shared=shared)

    def set_layer(self, layer: int) -> None:
        self.layer = layer
        if 0 <= layer < len(self.layer_buttons):
            self.layer_buttons[layer].setChecked(True)
        if self.attention is None:
            return
        heads = self.attention.shape[1]
        for h, m in enumerate(self.heads):
            matrix = self.attention[layer, h] if h < heads else None
            m.set(matrix, None if matrix is None else self.scale_of(matrix))
        if self.shared_bar is not None and self.heads[0].scale is not None:
            self.shared_bar.setVisible(True)
            self.shared_bar.setLevels((self.heads[0].scale.low, self.heads[0].scale.high))
        self._describe(layer)
        self._on_frame(self.state.frame)

    def _describe(self, layer: int) -> None:
        """Say in words and numbers what the colours mean, near-uniform maps first."""
        t = self.attention.shape[-1]
        even = [m.title for m in self.heads if m.scale is not None and m.scale.near_uniform]
        mean = self.average.scale
        heads = (f"{len(even)} of {len(self.heads)} heads ≈ uniform" if even
                 else "no head ≈ uniform")
        self.info.setText("")
        self.info.hide()  # its line goes to the maps; the sizes open the description
        per_map = ""
        if self.scale_mode == "per map":  # each head's bar, in numbers: compare these
            per_map = " Colour scales: " + ", ".join(
                f"{m.title} 0–{m.scale.high:.3g}" for m in self.heads if m.scale is not None) + "."
        self.scale_text.setText(f"{self.attention.shape[0]} layers × {self.attention.shape[1]} "
                                f"heads over {t} frames. Layer {layer + 1}: {heads}.{per_map} "
                                f"Mean (all): {mean.describe()}.")

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
