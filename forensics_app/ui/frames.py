"""Frame decoding off the GUI thread, latest request wins, with a GUI-side frame cache.

The player, the timeline scrubber and every click ask for frames through `FrameServer.request`.

- A frame already in the cache is delivered at once, synchronously, inside `request`: a step
  onto a cached frame costs no thread hop and no decode, only the paint.
- Otherwise one decoder thread, which owns the `VideoSource` (not thread-safe), decodes it.
  While it decodes, newer requests overwrite the pending one, so a fast drag never queues
  up stale decode work.
- When idle, the decoder decodes a block of frames ahead in the direction of travel in one
  forward pass (backwards too: one keyframe seek, then forward over the block), checking
  for new requests between frames; those frames go into the cache.
- A second, low-priority thread decodes the whole clip once into a `FrameStore` (the scrub
  cache: lossless copies in memory). Once a frame is stored, a seek to it costs one small
  decode instead of a decode forward from its keyframe (up to 249 frames at x264's default
  GOP), with the same pixels.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from forensics_app.core.errors import ForensicsError
from forensics_app.core.media import VideoSource
from forensics_app.core.media.framestore import FrameStore

# Every QThread the UI starts registers here, so tests can assert none is left running.
LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()

PREFETCH = 8  # frames decoded ahead when idle
CACHE_BYTES = 320 * 1024 * 1024  # GUI-side frame cache budget (≈ 50 frames at 1080p)


class _DecodeThread(QThread):
    decoded = Signal(int, object, float, bool)  # index, RGB, decode seconds, was requested
    failed = Signal(int, str)

    def __init__(self, source: VideoSource) -> None:
        super().__init__()
        self.source = source
        self._cond = threading.Condition()
        self._pending: int | None = None
        self._stop = False
        self._hint: int | None = None
        self._direction = 1
        self._last = 0
        self.known: set[int] = set()  # frames the GUI cache already holds (hint only)
        LIVE_THREADS.add(self)

    def request(self, index: int) -> None:
        """Decode `index` (replacing any request not started yet), then prefetch after it."""
        with self._cond:
            self._turn(index)
            self._pending = index
            self._cond.notify()

    def prefetch_from(self, index: int) -> None:
        """`index` is already shown from the cache: only decode the frames after it."""
        with self._cond:
            self._turn(index)
            self._hint = index
            self._cond.notify()

    def _turn(self, index: int) -> None:
        delta = index - self._last
        if delta:
            # Only stepping back prefetches backwards. A far jump is followed by playing or
            # stepping forward far more often, and a backward block after it would re-decode
            # the whole GOP (uninterruptible per frame) before the next seek could start.
            self._direction = -1 if -PREFETCH <= delta < 0 else 1
        self._last = index

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def _interrupted(self, upcoming: list[int] | None = None) -> bool:
        """A stop, or a request the rest of the prefetch pass will not reach."""
        with self._cond:
            if self._stop:
                return True
            return self._pending is not None and self._pending not in (upcoming or ())

    def run(self) -> None:
        try:
            self._loop()
        finally:
            self.source.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._pending is None and self._hint is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                index, self._pending = self._pending, None
                hint, self._hint = self._hint, None
            if index is None:
                if hint is not None:
                    self._prefetch(self._ahead(hint))
                continue
            if index in self.known:  # emitted moments ago, still on its way to the GUI
                self._prefetch(self._ahead(index))
                continue
            start = time.perf_counter()
            try:
                rgb = self.source.frame(index)
            except ForensicsError as err:
                self.failed.emit(index, str(err))
                continue
            self.known.add(index)
            self.decoded.emit(index, rgb, time.perf_counter() - start, True)
            if not self._interrupted():
                self._prefetch(self._ahead(index))

    def _ahead(self, index: int) -> list[int]:
        step = self._direction
        return [i for i in (index + step * k for k in range(1, PREFETCH + 1))
                if 0 <= i < len(self.source) and i not in self.known]

    def _prefetch(self, wanted: list[int]) -> None:
        """Decode `wanted` in one forward pass; stop as soon as a real request arrives."""
        if not wanted:
            return
        upcoming = sorted(wanted)
        try:
            for i, rgb in self.source.iter_frames(upcoming):
                upcoming.remove(i)
                with self._cond:
                    hit = self._pending == i  # asked for while this pass was heading there
                    if hit:
                        self._pending = None
                self.known.add(i)
                self.decoded.emit(i, rgb, 0.0, hit)
                if self._interrupted(upcoming):
                    return
        except ForensicsError:
            return


class _StoreThread(QThread):
    """Fills the scrub cache from its own VideoSource, at the lowest CPU priority."""

    def __init__(self, path: Path, store: FrameStore,
                 focus: Callable[[], int | None] | None = None) -> None:
        super().__init__()
        self.path, self.store, self.focus = path, store, focus
        self.cancel = threading.Event()
        self.error: str | None = None
        LIVE_THREADS.add(self)

    def run(self) -> None:
        # Linux nices threads one by one; the decoder's own threads, started from here,
        # inherit it. Interactive decoding and the analysis then go first.
        if hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            with VideoSource(self.path, cache_size=0) as source:
                source.fill_store(self.store, self.cancel, self.focus)
        except ForensicsError as err:  # the player still decodes from the evidence
            self.error = str(err)

    def stop(self) -> None:
        self.cancel.set()
        self.wait()


class FrameServer(QObject):
    """Frames of one video; `frameReady(index, rgb)` answers `request(index)` (at once from
    the cache, else when decoded)."""

    frameReady = Signal(int, object)
    frameFailed = Signal(int, str)

    def __init__(self, parent: QObject | None = None, cache_bytes: int = CACHE_BYTES,
                 scrub_cache: bool = True) -> None:
        super().__init__(parent)
        self.cache_bytes = cache_bytes
        self.scrub_cache = scrub_cache  # build the FrameStore on open (off: a baseline)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_limit = 8
        self._thread: _DecodeThread | None = None
        self._store_thread: _StoreThread | None = None
        self.store: FrameStore | None = None
        self.last_decode_s = 0.0
        self.requested: int | None = None
        self.info = None
        self.times: list[float] = []

    def open(self, path: str | Path) -> None:
        """Open `path` (EvidenceError on bad input) and start decoding it. `info` and `times`
        (seconds of every frame) are read here; the source then belongs to the thread."""
        source = VideoSource(path, cache_size=2)
        # Read everything the GUI thread needs before the decoder thread owns the source.
        self.info = source.info
        self.times = [source.timestamp(i) for i in range(len(source))]
        self.close()
        frame_bytes = max(1, source.info.width * source.info.height * 3)
        self._cache_limit = int(min(240, max(8, self.cache_bytes // frame_bytes)))
        self.store = FrameStore()
        source.attach_store(self.store)
        thread = _DecodeThread(source)
        thread.setObjectName(f"decoder-{Path(path).name}")
        thread.decoded.connect(self._on_decoded)
        thread.failed.connect(self.frameFailed)
        self._thread = thread
        thread.start()
        if self.scrub_cache and len(source) > 1:
            # The playhead's GOP first: a seek far into a long clip gets cached soonest.
            self._store_thread = _StoreThread(Path(path), self.store, lambda: self.requested)
            self._store_thread.setObjectName(f"scrub-cache-{Path(path).name}")
            self._store_thread.start()

    @property
    def scrub_cache_done(self) -> bool:
        """The scrub cache is built (every frame stored) or has stopped (full, failed)."""
        thread = self._store_thread
        return thread is not None and thread.isFinished()

    def request(self, index: int) -> None:
        if self._thread is None:
            return
        self.requested = index
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            self.last_decode_s = 0.0
            self._thread.prefetch_from(index)  # cheap when the frames ahead are cached
            self.frameReady.emit(index, cached)
            return
        self._thread.request(index)

    def cached(self, index: int) -> bool:
        return index in self._cache

    def close(self) -> None:
        thread, self._thread = self._thread, None
        store_thread, self._store_thread = self._store_thread, None
        if store_thread is not None:
            store_thread.stop()
        self.store = None
        self._cache.clear()
        self.requested = None
        if thread is not None:
            thread.decoded.disconnect(self._on_decoded)
            thread.stop()
            thread.wait()

    def _on_decoded(self, index: int, rgb: np.ndarray, seconds: float, requested: bool) -> None:
        thread = self._thread
        if self.sender() is not thread or thread is None:  # a frame of a video closed since
            return
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_limit:
            old, _ = self._cache.popitem(last=False)
            thread.known.discard(old)
        if requested or index == self.requested:
            self.last_decode_s = seconds
            self.frameReady.emit(index, rgb)
