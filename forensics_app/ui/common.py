"""Small shared pieces of the views: colours, formatting, a clickable image item."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

NOT_PROOF = "Attention shows where the model looked, not proof of manipulation."
HEAT = pg.colormap.get("inferno")
ATTENTION = pg.colormap.get("viridis")


def score_color(p_fake: float | None) -> QColor:
    """Green (real) → amber → red (fake); grey when the face was not scored."""
    if p_fake is None:
        return QColor(160, 160, 160)
    p = float(np.clip(p_fake, 0.0, 1.0))
    if p < 0.5:
        t = p / 0.5
        return QColor(int(40 + t * 215), int(200 - t * 10), 60)
    t = (p - 0.5) / 0.5
    return QColor(255, int(190 - t * 160), int(60 - t * 20))


def timecode(seconds: float) -> str:
    seconds = max(0.0, seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def heat_rgba(values: np.ndarray, cmap: pg.ColorMap = HEAT) -> np.ndarray:
    """Values in [0, 1] → H×W×4 uint8 colours."""
    lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=True)
    idx = np.clip((np.nan_to_num(values) * 255).round(), 0, 255).astype(np.intp)
    return lut[idx]


def upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a small h×w map to size×size (cell centres aligned)."""
    h, w = grid.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - wx) + grid[y0][:, x1] * wx
    bottom = grid[y1][:, x0] * (1 - wx) + grid[y1][:, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


class CompactCanvas(pg.GraphicsLayoutWidget):
    """A plot canvas that asks for the height its plots need and no more: a dock's scroll
    area sizes a view with a wrapped label by its preferred height, and pyqtgraph's (480 px)
    would push the plots out of a laptop-sized dock, while too little squashes them into
    strips. The text below them scrolls first."""

    def __init__(self, min_height: int) -> None:
        super().__init__()
        self.min_height = min_height
        self.setMinimumHeight(min_height)

    def sizeHint(self) -> QSize:
        return QSize(240, self.min_height)


class ClickableImage(pg.ImageItem):
    """An ImageItem that reports left clicks in image (column, row) coordinates."""

    sigCellClicked = Signal(int, int)  # column, row

    def mouseClickEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.image is None:
            return
        pos = ev.pos()
        col, row = int(np.floor(pos.x())), int(np.floor(pos.y()))
        rows, cols = self.image.shape[:2]
        if 0 <= row < rows and 0 <= col < cols:
            ev.accept()
            self.sigCellClicked.emit(col, row)


class WrapLabel(QLabel):
    """A word-wrapped label that claims the height its text needs at its current width.

    Qt gives a wrapped label in a form layout (and in a dock or scroll area, which ignore
    height-for-width) the height of one line, cutting the rest off; this one raises its
    minimum height to what the wrapped text needs whenever its width or text changes.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(self.width()) if self.width() > 0 else -1
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)
