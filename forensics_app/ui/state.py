"""The one current-frame state every view follows, with the loaded video, results and case.

Whoever moves the frame (player, timeline, heatmap click, marker click) calls `set_frame`;
every view listens to `frameChanged`. Views never talk to each other directly.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from forensics_app.core.analysis.results import FaceBox, ResultsBundle
from forensics_app.core.faces.shots import same_shot
from forensics_app.core.media import VideoInfo


class AppState(QObject):
    frameChanged = Signal(int)
    videoChanged = Signal(object)  # VideoInfo | None
    resultsChanged = Signal(object)  # ResultsBundle | None
    caseChanged = Signal(object)  # Case | None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.frame = 0
        self.info: VideoInfo | None = None
        self.video_path: Path | None = None
        self.bundle: ResultsBundle | None = None
        self.case = None  # forensics_app.core.case.Case | None
        self.evidence_id: str | None = None
        self.refused = ""  # why the last results asked for were refused ("" none)
        self._times: list[float] = []

    # -- video -----------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return self.info.frame_count if self.info else 0

    @property
    def fps(self) -> float:
        return self.info.fps if self.info and self.info.fps > 0 else 25.0

    def set_video(self, path: Path | None, info: VideoInfo | None,
                  times: list[float] | None = None) -> None:
        self.video_path = path
        self.info = info
        self._times = list(times or [])
        self.frame = 0
        self.bundle, self.refused = None, ""
        self.videoChanged.emit(info)
        self.resultsChanged.emit(None)
        self.frameChanged.emit(0)

    def timestamp(self, index: int) -> float:
        if 0 <= index < len(self._times):
            return self._times[index]
        return index / self.fps

    def pts(self, index: int) -> int | None:
        if self.info and 0 <= index < len(self.info.pts):
            return self.info.pts[index]
        return None

    def index_at_time(self, seconds: float) -> int:
        if not self._times:
            return self.clamp(round(seconds * self.fps))
        return self.clamp(bisect.bisect_right(self._times, seconds + 1e-9) - 1)

    def clamp(self, index: int) -> int:
        return max(0, min(int(index), max(self.frame_count - 1, 0)))

    def set_frame(self, index: int) -> None:
        """Move the current frame (clamped to the video); every view follows."""
        index = self.clamp(index)
        if index != self.frame:
            self.frame = index
            self.frameChanged.emit(index)

    def step(self, delta: int) -> None:
        self.set_frame(self.frame + delta)

    def step_seconds(self, seconds: float) -> None:
        target = self.index_at_time(self.timestamp(self.frame) + seconds)
        if target == self.frame:  # a clip shorter than the step, or timing gaps
            frames = max(1, round(abs(seconds) * self.fps))
            target = self.frame + (frames if seconds > 0 else -frames)
        self.set_frame(target)

    # -- results and case ------------------------------------------------------------------
    def set_results(self, bundle: ResultsBundle | None, refused: str = "") -> None:
        """Show `bundle` (None: none). `refused`: why the results asked for were refused
        (which file, what failed), shown instead of a plain "no analysis"."""
        self.bundle, self.refused = bundle, refused if bundle is None else ""
        self.resultsChanged.emit(bundle)

    def set_case(self, case, evidence_id: str | None = None) -> None:
        self.case = case
        self.evidence_id = evidence_id
        self.caseChanged.emit(case)

    # -- mapping video frames onto the analysis --------------------------------------------
    def nearest_sampled(self, index: int | None = None) -> tuple[int, int] | None:
        """(position in sampled_frames, video frame) of the sampled frame nearest `index`."""
        if self.bundle is None or not self.bundle.results.sampled_frames:
            return None
        return nearest(self.bundle.results.sampled_frames, self.frame if index is None else index)

    def boxed_faces(self, index: int | None = None) -> tuple[list[FaceBox], int | None]:
        """The faces shown at `index` (default: the current frame) and the analysed frame they
        come from: that frame's own, else the nearest analysed frame's within half a sampling
        step and in the same shot; ([], None) when no analysed frame is that close. The
        player boxes these and the relevancy view shows the same identities: one rule."""
        hit = self.nearest_sampled(index)
        if hit is None:
            return [], None
        results = self.bundle.results
        here = self.frame if index is None else index
        pos, frame = hit
        sampled = results.sampled_frames
        step = (sampled[-1] - sampled[0]) / max(len(sampled) - 1, 1) if len(sampled) > 1 else 1
        if abs(frame - here) > max(step / 2, 0.5) or not same_shot(frame, here,
                                                                  results.shot_cuts):
            return [], None
        return results.faces[pos], frame

    def nearest_token(self, index: int | None = None) -> tuple[int, int] | None:
        """(temporal token, video frame) nearest `index` in the attention views."""
        if self.bundle is None or not self.bundle.results.attention_frames:
            return None
        return nearest(self.bundle.results.attention_frames, self.frame if index is None else index)


def nearest(frames: list[int], index: int) -> tuple[int, int]:
    """Position and value of the element of the ascending list `frames` nearest `index`."""
    pos = bisect.bisect_left(frames, index)
    candidates = [p for p in (pos - 1, pos) if 0 <= p < len(frames)]
    best = min(candidates, key=lambda p: (abs(frames[p] - index), p))
    return best, frames[best]
