"""Face relevancy: the current frame's face crop with an explanation heatmap over it.

One tab per identity; method relevancy / rollout / Grad-CAM++; opacity slider. Maps exist
for analysed frames only. The view shows the selected identity where the player boxes it
(AppState.boxed_faces: the frame's own faces, else the nearest analysed frame's within half
a sampling step, same shot), so the two always agree on who is in the frame:
- on a frame where that identity was analysed: that frame's crop and map;
- between two analysed frames of that identity that are consecutive samples: the current
  frame cropped at the box interpolated between theirs, with the nearer one's map;
- near one analysed frame only: that frame's box and map (the caption says which);
- anywhere else: a blank view whose caption says the identity is not in this frame and names
  the identities the player boxes there; their tabs are drawn bright, the others dim.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from forensics_app.core.analysis.settings import EXPLAIN_METHODS
from forensics_app.core.faces.shots import same_shot
from forensics_app.ui.common import NOT_PROOF, heat_rgba, upsample
from forensics_app.ui.frames import FrameServer
from forensics_app.ui.state import AppState

METHOD_LABELS = {"relevancy": "relevancy (Chefer)", "rollout": "rollout",
                 "gradcam++": "Grad-CAM++"}
CROP_SIZE = 224


def crop(rgb: np.ndarray, box) -> np.ndarray:
    """The square crop `box` (x0, y0, x1, y1, video pixels) of `rgb`, black outside the frame,
    resized to CROP_SIZE² by nearest neighbour (cheap; it is only for display)."""
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    h, w = rgb.shape[:2]
    out = np.zeros((max(y1 - y0, 1), max(x1 - x0, 1), 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    ys = (np.arange(CROP_SIZE) * out.shape[0] // CROP_SIZE)
    xs = (np.arange(CROP_SIZE) * out.shape[1] // CROP_SIZE)
    return out[ys[:, None], xs[None, :]]


def locate(sampled: list[int], analysed: list[int], frame: int, cuts: Sequence[int] = ()
           ) -> tuple[int, int, int, float] | None:
    """Where an identity analysed at the (ascending) video frames `analysed` is at `frame`.

    (map frame, frame before, frame after, t) with t in [0, 1] the position of `frame`
    between the two, when `frame` is analysed itself (before = after = frame) or lies
    between two analysed frames that are consecutive entries of `sampled` in one shot (no
    shot cut in `cuts` between them: an identity is a person, seen across cuts, and its face
    is not carried from one shot into the next); else None."""
    pos = bisect.bisect_left(analysed, frame)
    if pos < len(analysed) and analysed[pos] == frame:
        return frame, frame, frame, 0.0
    if pos == 0 or pos == len(analysed):
        return None
    before, after = analysed[pos - 1], analysed[pos]
    order = {f: i for i, f in enumerate(sampled)}
    if before not in order or after not in order or order[after] - order[before] != 1:
        return None
    if not same_shot(before, after, list(cuts)):
        return None
    t = (frame - before) / (after - before)
    return (before if t <= 0.5 else after), before, after, t


class RelevancyView(QWidget):
    def __init__(self, state: AppState, frames: FrameServer, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.state = state
        self.tracks: list[int] = []
        self.last_rgb: tuple[int, np.ndarray] | None = None
        self.shown: tuple[int, int, str] | None = None  # (map frame, track, method)
        self._analysis_key: tuple[str, str] | None = None  # of the results shown
        self.absent = False  # the selected identity is not in the current frame

        self.tabs = QTabBar()
        self.tabs.setObjectName("identityTabs")
        self.tabs.setExpanding(False)
        # Every identity's tab stays in view, however many: they share the width, their
        # labels elided (the tooltip has it whole), rather than scrolling the first ones off.
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        self.tabs.currentChanged.connect(lambda _i: self.refresh())
        self.method = QComboBox()
        self.method.setObjectName("explainMethod")
        for m in EXPLAIN_METHODS:
            self.method.addItem(METHOD_LABELS[m], m)
        self.method.currentIndexChanged.connect(lambda _i: self.refresh())
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("heatOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setMaximumWidth(140)
        self.opacity.valueChanged.connect(lambda v: self.heat.setOpacity(v / 100))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Method:"))
        controls.addWidget(self.method)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Opacity:"))
        controls.addWidget(self.opacity)
        controls.addStretch(1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("relevancyCanvas")
        self.graphics.setBackground("#111")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(x=False, y=False)
        self.face = pg.ImageItem(axisOrder="row-major", autoLevels=False, levels=(0, 255))
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setOpacity(self.opacity.value() / 100)
        self.view.addItem(self.face)
        self.view.addItem(self.heat)
        self.view.setRange(QRectF(0, 0, CROP_SIZE, CROP_SIZE), padding=0)
        self.caption = QLabel()
        self.caption.setObjectName("relevancyCaption")
        self.caption.setWordWrap(True)
        note = QLabel(f"Bright: tokens that drove the face's score. {NOT_PROOF}")
        note.setObjectName("hint")
        note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.caption)
        layout.addWidget(note)
        state.resultsChanged.connect(self._on_results)
        state.frameChanged.connect(lambda _i: self.refresh())
        frames.frameReady.connect(self._on_frame_ready)
        self._on_results(state.bundle)

    def set_method(self, method: str) -> None:
        self.method.setCurrentIndex(EXPLAIN_METHODS.index(method))

    def _on_results(self, bundle) -> None:
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        self.tracks = []
        if bundle is not None:
            fm = bundle.face_maps
            scores = {i.track_id: i.p_fake for i in bundle.results.identities}
            self.tracks = sorted({int(t) for t in fm.track_id})
            for t in self.tracks:
                p = scores.get(t)
                i = self.tabs.addTab(f"identity {t}" + ("" if p is None else f" · {p:.2f}"))
                self.tabs.setTabToolTip(i, f"identity {t} (id {t} in the player): p_fake "
                                        + ("–" if p is None else f"{p:.2f}") + " over the whole "
                                        "clip; the player's box shows its score in each frame")
            default = bundle.results.settings.explain
            # the same analysis again (e.g. its copy in the case just saved): keep the method
            # the examiner chose; a new analysis starts from its own default
            same = _analysis_key(bundle) == self._analysis_key
            self._analysis_key = _analysis_key(bundle)
            if default in EXPLAIN_METHODS and not same:
                self.method.blockSignals(True)
                self.set_method(default)
                self.method.blockSignals(False)
            deciding = bundle.results.prediction.decided_by_track
            if deciding in self.tracks:
                self.tabs.setCurrentIndex(self.tracks.index(deciding))
        self.tabs.blockSignals(False)
        self.refresh()

    def _on_frame_ready(self, index: int, rgb: np.ndarray) -> None:
        self.last_rgb = (index, rgb)
        if index == self.state.frame:
            self.refresh()

    def _mark_tabs(self, present: list[int]) -> None:
        """Bright tabs for the identities the player boxes in this frame, dim for the rest."""
        palette = self.tabs.palette()
        for i, track in enumerate(self.tracks):
            role = palette.ColorRole.WindowText if track in present else palette.ColorRole.Mid
            self.tabs.setTabTextColor(i, palette.color(role))

    def current_track(self) -> int | None:
        i = self.tabs.currentIndex()
        return self.tracks[i] if 0 <= i < len(self.tracks) else None

    def _blank(self, caption: str) -> None:
        self.face.clear()
        self.heat.clear()
        self.shown = None
        self.caption.setText(caption)

    def refresh(self) -> None:
        bundle, track = self.state.bundle, self.current_track()
        self.absent = False
        if bundle is None or track is None:
            self._blank("no analysis loaded" if bundle is None else
                        "no face was analysed in this clip")
            return
        fm = bundle.face_maps
        rows = np.flatnonzero(fm.track_id == track)
        analysed = sorted({int(f) for f in fm.frame_index[rows]})
        frame = self.state.frame
        boxed, near = self.state.boxed_faces()
        here = sorted({f.track_id for f in boxed})
        self._mark_tabs(here)
        if track not in here:
            self.absent = True
            nearest = min(analysed, key=lambda f: (abs(f - frame), f)) if analysed else None
            others = (f"The player boxes {_identities(here)} here: choose its tab (bright)."
                      if here else "No face is boxed in this frame.")
            self._blank(f"Identity {track} is not in this frame as far as the analysis knows "
                        f"(its nearest analysed frame: {nearest}). {others}")
            return
        where = locate(bundle.results.sampled_frames, analysed, frame,
                       bundle.results.shot_cuts) or (near, near, near, 0.0)
        map_frame, before, after, t = where
        method = self.method.currentData()
        heat, box = fm.lookup(map_frame, track, method)
        if before != after:  # follow the face between the two samples
            box0, box1 = fm.lookup(before, track, method)[1], fm.lookup(after, track, method)[1]
            box = (1 - t) * np.asarray(box0, np.float64) + t * np.asarray(box1, np.float64)
        rgb = self.last_rgb[1] if self.last_rgb and self.last_rgb[0] == frame else None
        if rgb is not None:
            self.face.setImage(crop(rgb, box), autoLevels=False, levels=(0, 255))
            self.face.setRect(QRectF(0, 0, CROP_SIZE, CROP_SIZE))
        self.heat.setImage(heat_rgba(upsample(np.asarray(heat, np.float32), CROP_SIZE)),
                           autoLevels=False, levels=(0, 255))
        self.heat.setRect(QRectF(0, 0, CROP_SIZE, CROP_SIZE))
        self.shown = (map_frame, track, method)
        if map_frame == frame:
            text = "map of this frame"
        elif before == after:  # near one analysed frame only: its box, as the player draws it
            text = (f"map and face box of analysed frame {map_frame} (nearest; the player's "
                    "box is dashed)")
        else:
            text = (f"map of analysed frame {map_frame} (nearest); the face of this frame, "
                    f"between analysed frames {before} and {after}")
        self.caption.setText(f"identity {track}, {METHOD_LABELS[method]}: {text}")


def _identities(tracks: list[int]) -> str:
    names = [f"identity {t}" for t in tracks]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _analysis_key(bundle) -> tuple[str, str]:
    """One analysis, wherever its folder was copied: evidence hash and creation time."""
    return bundle.results.evidence.sha256, bundle.results.created_utc
