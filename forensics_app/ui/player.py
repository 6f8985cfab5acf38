"""The player: frame-exact display, face boxes coloured by score, transport controls.

The picture is a pyqtgraph ImageItem with fixed levels (0-255, no auto-levels) in an
aspect-locked view. Frames arrive asynchronously from the `FrameServer`; the player shows a
frame only if it is still the current one, so a fast scrub never paints stale pictures.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from forensics_app.ui.common import score_color, timecode
from forensics_app.ui.frames import FrameServer
from forensics_app.ui.state import AppState

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class PlayerView(QWidget):
    frameShown = Signal(int)  # emitted after a frame is painted

    def __init__(self, state: AppState, frames: FrameServer, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.state = state
        self.frames = frames
        self.shown_index: int | None = None
        self.shown_rgb: np.ndarray | None = None
        self._face_items: list = []
        self._speed = 1.0
        self._direction = 1
        self._play_anchor: tuple[float, float] | None = None  # (wall clock, video time)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("playerCanvas")
        self.graphics.setBackground("#111")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(x=False, y=False)
        # uint8 RGB with levels None is drawn as is: fixed 0-255, never auto-levelled, and
        # pyqtgraph skips its per-pixel rescale (≈ 8 ms per 1080p frame).
        self.image = pg.ImageItem(axisOrder="row-major", autoLevels=False)
        self.view.addItem(self.image)
        self.placeholder = pg.TextItem("File → Open video, or drop a video here",
                                       color="#aaa", anchor=(0.5, 0.5))
        self.view.addItem(self.placeholder)
        self.view.setRange(QRectF(-1, -1, 2, 2))

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(self._transport())

        state.frameChanged.connect(self._on_frame_changed)
        state.videoChanged.connect(self._on_video)
        state.resultsChanged.connect(lambda _b: self._draw_faces())
        frames.frameReady.connect(self._on_frame_ready)
        self._update_labels()

    # -- controls --------------------------------------------------------------------------
    def _transport(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 4, 2)
        style = self.style()
        icons = QStyle.StandardPixmap

        def button(name: str, icon, tip: str, slot) -> QToolButton:
            b = QToolButton()
            b.setObjectName(name)
            b.setIcon(style.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            row.addWidget(b)
            return b

        button("toStart", icons.SP_MediaSkipBackward, "Jump to start (Home)", self.to_start)
        button("backSecond", icons.SP_MediaSeekBackward, "Back 1 s (Shift+←)",
               lambda: self.state.step_seconds(-1.0))
        button("backFrame", icons.SP_ArrowLeft, "Back 1 frame (←)", lambda: self.state.step(-1))
        self.play_button = button("playPause", icons.SP_MediaPlay, "Play / pause (Space)",
                                  self.toggle_play)
        button("forwardFrame", icons.SP_ArrowRight, "Forward 1 frame (→)",
               lambda: self.state.step(1))
        button("forwardSecond", icons.SP_MediaSeekForward, "Forward 1 s (Shift+→)",
               lambda: self.state.step_seconds(1.0))
        button("toEnd", icons.SP_MediaSkipForward, "Jump to end (End)", self.to_end)
        self.speed_box = QComboBox()
        self.speed_box.setObjectName("speed")
        self.speed_box.setToolTip("Playback speed (J/K/L: reverse, pause, forward)")
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(
            lambda i: self.set_speed(SPEEDS[i], self._direction))
        row.addWidget(self.speed_box)
        row.addSpacing(12)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self.frame_label = QLabel()
        self.frame_label.setObjectName("frameLabel")
        self.time_label = QLabel()
        self.time_label.setObjectName("timecodeLabel")
        self.pts_label = QLabel()
        self.pts_label.setObjectName("ptsLabel")
        templates = ("frame 0000000 / 0000000", "00:00:00.000", "pts 00000000000")
        for label, template in zip((self.frame_label, self.time_label, self.pts_label),
                                   templates, strict=True):
            label.setFont(mono)
            # Fixed widths: a new frame number must not re-layout the window on every step.
            label.setFixedWidth(label.fontMetrics().horizontalAdvance(template) + 4)
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            row.addWidget(label)
            row.addSpacing(10)
        row.addStretch(1)
        self.score_label = QLabel()
        self.score_label.setObjectName("frameScoreLabel")
        row.addWidget(self.score_label)
        return row

    # -- transport -------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play(self._direction if self._direction else 1)

    def play(self, direction: int = 1) -> None:
        if not self.state.frame_count:
            return
        self._direction = direction
        if direction > 0 and self.state.frame >= self.state.frame_count - 1:
            self.state.set_frame(0)
        self._play_anchor = (time.perf_counter(), self.state.timestamp(self.state.frame))
        self.timer.start(max(4, int(500 / (self.state.fps * self._speed))))
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))

    def pause(self) -> None:
        self.timer.stop()
        self._play_anchor = None
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def set_speed(self, speed: float, direction: int | None = None) -> None:
        self._speed = speed
        if direction is not None:
            self._direction = direction
        if self.speed_box.currentData() != speed:
            self.speed_box.blockSignals(True)
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))
            self.speed_box.blockSignals(False)
        if self.playing:
            self.play(self._direction)

    def shuttle(self, direction: int) -> None:
        """J/L: start playing that way, or go faster if already doing so."""
        if self.playing and self._direction == direction:
            faster = [s for s in SPEEDS if s > self._speed]
            self.set_speed(faster[0] if faster else self._speed)
        else:
            self.set_speed(1.0, direction)
            self.play(direction)

    def to_start(self) -> None:
        self.state.set_frame(0)

    def to_end(self) -> None:
        self.state.set_frame(self.state.frame_count - 1)

    def _tick(self) -> None:
        if self._play_anchor is None:
            return
        if self.frames.requested is not None and self.shown_index != self.frames.requested:
            return  # the decoder is behind: skip this tick rather than pile up requests
        start_wall, start_video = self._play_anchor
        elapsed = (time.perf_counter() - start_wall) * self._speed * self._direction
        target = self.state.index_at_time(start_video + elapsed)
        last = self.state.frame_count - 1
        self.state.set_frame(target)
        if (self._direction > 0 and self.state.frame >= last) or \
                (self._direction < 0 and self.state.frame <= 0):
            self.pause()

    # -- state → view ----------------------------------------------------------------------
    def _on_video(self, info) -> None:
        self.pause()
        self.shown_index = None
        self.shown_rgb = None
        self.image.clear()
        self.placeholder.setVisible(info is None)
        if info is not None:
            self.view.setRange(QRectF(0, 0, info.width, info.height), padding=0.01)
        self._draw_faces()
        self._update_labels()

    def _on_frame_changed(self, index: int) -> None:
        self.frames.request(index)
        self._update_labels()

    def _on_frame_ready(self, index: int, rgb: np.ndarray) -> None:
        if index != self.state.frame:
            return  # stale: the user has moved on
        first = self.shown_rgb is None or self.shown_rgb.shape != rgb.shape
        self.image.setImage(rgb, autoLevels=False)  # levels stay None: as is
        if first:
            self.view.setRange(QRectF(0, 0, rgb.shape[1], rgb.shape[0]), padding=0.01)
        self.shown_index, self.shown_rgb = index, rgb
        self._draw_faces()
        self.frameShown.emit(index)

    def _update_labels(self) -> None:
        st = self.state
        if not st.frame_count:
            self.frame_label.setText("frame –")
            self.time_label.setText("--:--:--.---")
            self.pts_label.setText("pts –")
            self.score_label.setText("")
            return
        width = len(str(st.frame_count - 1))
        self.frame_label.setText(f"frame {st.frame:>{width}d} / {st.frame_count - 1}")
        self.time_label.setText(timecode(st.timestamp(st.frame)))
        pts = st.pts(st.frame)
        self.pts_label.setText("pts –" if pts is None else f"pts {pts}")
        self.score_label.setText(self._score_text())

    def _score_text(self) -> str:
        hit = self.state.nearest_sampled()
        if hit is None:
            return ""
        pos, frame = hit
        score = self.state.bundle.results.frame_scores[pos]
        where = "this frame" if frame == self.state.frame else f"nearest analysed frame {frame}"
        value = "no face" if score is None else f"p_fake {score:.2f}"
        return f"{value} ({where})"

    def faces_for_current(self) -> tuple[list, bool]:
        """Face boxes to draw: the current frame's, else the nearest analysed frame's within
        half a sampling step (drawn dashed); exact = True when they are this frame's own."""
        faces, frame = self.state.boxed_faces()
        return faces, frame == self.state.frame

    def _draw_faces(self) -> None:
        for item in self._face_items:
            self.view.removeItem(item)
        self._face_items = []
        faces, exact = self.faces_for_current()
        for face in faces:
            x0, y0, x1, y1 = face.box
            color = score_color(face.p_fake)
            pen = QPen(color, 2)
            pen.setCosmetic(True)
            if not exact:
                pen.setStyle(Qt.PenStyle.DashLine)
            rect = QGraphicsRectItem(x0, y0, x1 - x0, y1 - y0)
            rect.setPen(pen)
            score = "–" if face.p_fake is None else f"{face.p_fake:.2f}"
            label = pg.TextItem(f"id {face.track_id} · p_fake {score}", color=color,
                                fill=pg.mkBrush(0, 0, 0, 160), anchor=(0, 1))
            label.setPos(x0, y0)
            for item in (rect, label):
                self.view.addItem(item)
                self._face_items.append(item)
