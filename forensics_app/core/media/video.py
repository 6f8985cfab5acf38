"""Frame-exact, read-only access to video evidence over PyAV.

Frame numbering is the contract every other layer relies on: frame N is the N-th frame in
presentation order, and it must be the same picture whether it is reached by stepping,
by a random seek or in an analysis pass. So the index ↔ pts table is built once, up front:

1. Demux every packet of the video stream (no decoding: milliseconds even for 1080p) and
   sort the pts of the packets the decoder will output into presentation order. That
   handles B-frames (decode order ≠ presentation order) and variable frame rate.
   Packets flagged *discard* (pre-roll before an mp4 edit list start) are left out,
   because the decoder drops their frames too.
2. Check the table against reality by decoding the first few frames from the start.
   If their pts differ (packets without pts, streams that start with undecodable frames,
   edit lists the demuxer does not flag, ...), fall back to a table built by decoding
   every frame once. If even the decoded frames carry no usable pts, frames are
   identified by decode count from the start (every access then decodes from the start).

Random access seeks to the keyframe at or before the target (by its pts: ffmpeg seeks by
presentation time, mp4 included) and decodes forward until a frame's pts equals the
target's. A seek that lands past the target (MPEG-TS seeks by byte position) is retried
from the previous keyframe, then from the true start (the file reopened), before the file
is called corrupt. Stepping forward, or any target before the next keyframe, just decodes
on without seeking.
While decoding forward, H.264 packets that present before the first frame wanted are
decoded with skip_frame=NONREF: the decoder drops the pictures no other picture references
(nal_ref_idc 0, most B-frames), which saves their decode time and cannot change any other
picture. Every packet presenting at or after the wanted frame is decoded in full, so the
target (even a non-reference one) and the frames after it, for stepping on, are all there.
Nothing is ever written: the file is opened read-only and nothing is cached on disk.
A VideoSource is not thread-safe: give each thread (player, analysis) its own.

For instant scrubbing a player attaches a `FrameStore` (framestore.py) that a second source
fills in one background pass (`fill_store`); a stored frame is then decoded from its lossless
copy instead of from its keyframe, with the same pixels.
"""

from __future__ import annotations

import bisect
import operator
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

from forensics_app.core.errors import EvidenceError
from forensics_app.core.media.evidence import check_evidence_file
from forensics_app.core.media.framestore import FrameStore

# Frames decoded at open to check the demuxed table; covers any B-frame reorder depth.
_HEAD_CHECK_FRAMES = 8
# ffmpeg demuxers that read single pictures (image2 by file name, *_pipe by probing).
_IMAGE_DEMUXERS = ("image2", "image2pipe")
_MP4_DEMUXER = "mov,mp4,m4a,3gp,3g2,mj2"
# Frames kept in the cache when stepping backwards (bounded by half the cache).
_BACKWARD_PREFETCH = 8
# Rate assumed when a stream carries no timing at all (ffmpeg assumes the same).
_DEFAULT_RATE = Fraction(25)
# Frame rates a camera, a screen recorder or a time-lapse writes; outside them the file's
# time scale is broken (an mp4 whose media time scale is 0 reads as 1/512 fps).
_PLAUSIBLE_RATES = (0.1, 1000.0)
# Codecs whose decoder's skip_frame=NONREF only drops pictures that nothing references.
# H.264: nal_ref_idc 0 means "not used for inter prediction". Not HEVC: its "sub-layer
# non-reference" pictures may still be referenced from higher temporal sub-layers.
_SKIP_NONREF_CODECS = frozenset({"h264"})


@dataclass(frozen=True)
class VideoInfo:
    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation: int
    is_still_image: bool
    time_base: float
    pts: tuple[int, ...]
    # Integrity: what the file promises against what it holds (results and report show it).
    stream: int = 0  # which video stream (0 = the first; cover art is not counted)
    video_streams: tuple[str, ...] = ()  # one description per video stream of the file
    frames_declared: int = 0  # the container header's frame count (0: it gives none)
    frames_in_file: int = 0  # frame packets demuxed (what a decoder is offered)
    # Why the container's own timing was set aside, and what was used ("": it was used).
    timing_warning: str = ""

    def integrity_warnings(self) -> list[str]:
        """Plain-language warnings about the file's structure (empty when it is whole)."""
        warnings = []
        promised = max(self.frames_declared, self.frames_in_file)
        if promised > self.frame_count:
            what = ("the header declares" if self.frames_declared >= self.frames_in_file
                    else "the file holds")
            warnings.append(f"{what} {promised} frames but only {self.frame_count} decode: "
                            f"the file is damaged; frames are missing from the analysis")
        if self.timing_warning:
            warnings.append(self.timing_warning)
        if len(self.video_streams) > 1:
            warnings.append(f"the file has {len(self.video_streams)} video streams; stream "
                            f"{self.stream} was analysed ({'; '.join(self.video_streams)}); "
                            "choose another with --stream N")
        return warnings


@dataclass(frozen=True)
class _Packet:
    pts: int | None
    keyframe: bool
    discard: bool
    duration: int


@dataclass(frozen=True)
class _FrameIndex:
    pts: tuple[int, ...]  # presentation order
    keyframes: tuple[int, ...]  # presentation indices where decoding may start
    seek_ts: tuple[int, ...]  # for each keyframe: timestamp to seek to (stream time base)
    start_ts: int  # seek target for the start of the stream
    last_duration: int  # display duration of the last frame (stream time base), 0 if unknown
    by_count: bool = False  # no usable pts: frames are identified by decode order


def sample_indices(
    frame_count: int, count: int, start: int = 0, end: int | None = None
) -> list[int]:
    """`count` frame indices spread uniformly over [start, end), first = start.

    Strictly increasing; the whole segment when it is shorter than `count`.
    """
    end = frame_count if end is None else end
    if frame_count < 0 or count < 1:
        raise ValueError(f"need frame_count >= 0 and count >= 1, got {frame_count}, {count}")
    if not 0 <= start < end <= frame_count:
        raise ValueError(f"empty or invalid segment [{start}, {end}) of {frame_count} frames")
    length = end - start
    if length <= count:
        return list(range(start, end))
    # Integer arithmetic: exact, and the step length/count > 1 keeps indices distinct.
    return [start + i * length // count for i in range(count)]


class VideoSource:
    """One video (or still image) opened read-only; see the module docstring."""

    def __init__(self, path: str | Path, cache_size: int = 32, threads: int = 0,
                 stream: int = 0) -> None:
        self._path = Path(path)
        self._stream_choice = stream  # among the video streams, cover art not counted
        # Decoder failures met so far (packets that did not decode, frames marked corrupt).
        self.decode_errors = 0
        self._threads = threads
        self._cache_size = max(0, cache_size)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames_iter: Iterator[av.VideoFrame] | None = None
        self._pos: int | None = None  # index of the next frame the decoder will output
        self._count: int | None = None  # frames output since a restart from the start
        self._hard_start = False  # the current decoding run began by reopening the file
        self._can_skip = False  # set once the index is known (see _SKIP_NONREF_CODECS)
        # Packets with a pts below this may skip non-reference pictures (None: decode all).
        self._skip_below: int | None = None
        self._last_requested: int | None = None
        self._store: FrameStore | None = None
        self._seeks = 0
        self._decoded = 0
        self._ignore_editlist = False  # set when the mp4's times are broken (see _setup)
        self._timing_warning = ""
        # Held while the decoder runs and while closing: a close from another thread (an
        # analysis unwinding) waits for the decode in flight instead of freeing it under it.
        self._decoding = threading.RLock()
        _check_file(self._path)
        self._container = self._open()
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # ---- public API -------------------------------------------------------------------

    @property
    def info(self) -> VideoInfo:
        return self._info

    def __len__(self) -> int:
        return self._info.frame_count

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def seek_count(self) -> int:
        """How many times decoding restarted (seek or reopen): a cost diagnostic."""
        return self._seeks

    @property
    def frames_decoded(self) -> int:
        """How many frames have been decoded so far: a cost diagnostic."""
        return self._decoded

    def close(self) -> None:
        """Release the file; safe to call twice, and from another thread than the decoder's."""
        with self._decoding:
            self._frames_iter = None
            container = getattr(self, "_container", None)
            if container is not None:
                container.close()
                self._container = None
            self._cache.clear()

    def timestamp(self, index: int) -> float:
        """Seconds from the first frame to frame `index`."""
        return self._times[self._check_index(index)]

    def pts(self, index: int) -> int:
        """Presentation timestamp of frame `index`, in `info.time_base` units."""
        return self._index.pts[self._check_index(index)]

    def index_at_time(self, seconds: float) -> int:
        """The frame shown at `seconds`: the last one starting at or before it (clamped)."""
        # The tolerance lets timestamp(i) round-trip to i despite float rounding.
        return max(0, bisect.bisect_right(self._times, seconds + 1e-9) - 1)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as H×W×3 uint8 RGB, display rotation applied (a private copy)."""
        index = self._check_index(index)
        backward = self._last_requested is not None and index < self._last_requested
        self._last_requested = index
        rgb = self._cache.get(index)
        if rgb is not None:
            self._cache.move_to_end(index)
        elif (stored := self._stored(index)) is not None:
            rgb = self._to_rgb(stored, index)
            self._remember(index, rgb)
        else:
            # Each step back re-decodes from a keyframe; keep the frames just before the
            # target from that same pass, so the next few steps back are cache hits.
            keep = min(_BACKWARD_PREFETCH, self._cache_size // 2) if backward else 0
            rgb = self._to_rgb(self._decode_to(index, keep_from=index - keep), index)
            self._remember(index, rgb)
        return rgb.copy()  # the caller may draw on it; the cached one must stay intact

    def iter_frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, RGB frame) for the requested indices, ascending, in one forward pass.

        Decodes forward and seeks only when the next wanted frame lies beyond a keyframe
        the decoder has not reached yet. Frames are not added to the cache (an analysis
        pass would only evict what the player needs).
        """
        for index in sorted({self._check_index(i) for i in indices}):
            cached = self._cache.get(index)
            if cached is not None:
                yield index, cached.copy()
            else:
                stored = self._stored(index)
                frame = self._decode_to(index) if stored is None else stored
                yield index, self._to_rgb(frame, index)

    def attach_store(self, store: FrameStore | None) -> None:
        """Read frames from `store` where it holds them (filled by another source)."""
        self._store = store

    def fill_store(self, store: FrameStore, cancel: threading.Event | None = None,
                   focus: Callable[[], int | None] | None = None) -> bool:
        """Decode the clip once into `store`; True when every frame is in.

        `focus()` names the frame the user is at (the player's playhead): the keyframe
        interval (GOP) holding it is filled first, then the ones after it, wrapping round to
        the start, and the order follows the playhead whenever it moves to a GOP not stored
        yet. Without `focus` (or for a stream without usable timestamps) the clip is filled
        in order from its true start. Stops early when the store is full (budget, pixel
        format) or `cancel` is set.
        """
        stored: set[int] = set()
        keyframes = self._index.keyframes
        around = focus is not None and not self._index.by_count and len(keyframes) > 1
        if not around or self._fill_around(store, cancel, focus, stored):
            self._fill_in_order(store, cancel, stored)
        return self._finish_fill(store, stored)

    def _finish_fill(self, store: FrameStore, stored: set[int]) -> bool:
        self._frames_iter, self._pos = None, None
        store.complete = len(stored) == self._info.frame_count
        return store.complete

    def _fill_in_order(self, store: FrameStore, cancel: threading.Event | None,
                       stored: set[int]) -> bool:
        """From the true start to the end, skipping what is stored; False once it must stop."""
        with self._decoding:
            self._require_open()
            self._restart(None, hard=True)  # the true start, whatever the demuxer's seeking does
        while (frame := self._fill_frame(cancel, len(stored))) is not None:
            index = self._identify(frame)
            if index is None or index in stored:
                continue
            if not store.add(index, frame):
                return False
            stored.add(index)
        return cancel is None or not cancel.is_set()

    def _fill_frame(self, cancel: threading.Event | None, at: int) -> av.VideoFrame | None:
        """The next decoded frame for a fill; None at the end, on cancel, or once closed."""
        if cancel is not None and cancel.is_set():
            return None
        with self._decoding:  # a frame at a time, so a close need not wait for the clip
            if self._container is None:
                return None
            return self._next_frame(at)

    def _fill_around(self, store: FrameStore, cancel: threading.Event | None,
                     focus: Callable[[], int | None], stored: set[int]) -> bool:
        """GOP by GOP from the one holding `focus()`; False when the fill must stop (store
        full, cancelled, closed), True when the rest is left to an in-order pass (every GOP
        visited, or a seek that does not land where the index says)."""
        keyframes, count = self._index.keyframes, self._info.frame_count
        bounds = list(pairwise([*keyframes, count]))
        if keyframes[0] > 0:  # frames before the first keyframe: only the in-order pass
            return True
        left = set(range(len(bounds)))
        at = None  # the GOP the decoder continues into without a seek
        while left:
            gop = _next_gop(left, keyframes, focus(), at)
            start, end = bounds[gop]
            if gop != at:
                with self._decoding:
                    if self._container is None:
                        return False
                    self._restart(self._index.seek_ts[gop])
                trusted = start  # after a seek, a frame shown before its keyframe may
                # reference pictures never decoded: it is not stored
            first, have = True, sum(1 for i in range(start, end) if i in stored)
            while have < end - start:
                frame = self._fill_frame(cancel, start)
                if frame is None:
                    if (cancel is not None and cancel.is_set()) or self._container is None:
                        return False
                    left.clear()  # the stream ended short: the in-order pass finishes
                    break
                index = self._identify(frame)
                if index is None or index < trusted or index in stored:
                    continue
                if first and gop != at and index > start:
                    return True  # the seek landed past the keyframe: decode in order
                first = False
                if not store.add(index, frame):
                    return False
                stored.add(index)
                have += start <= index < end
            left.discard(gop)
            at = gop + 1  # decoding on from here reaches the next GOP's frames exactly
        return True
    def decode_all(self, callback: Callable[[int, av.VideoFrame], None] | None = None) -> int:
        """Decode every frame without converting it (a decode-only baseline); return the count.

        `callback(index, frame)` receives each decoded av.VideoFrame. Raises EvidenceError
        when the decoder delivers fewer frames than the index holds.
        """
        self._require_open()
        self._restart(None)
        count = 0
        while (frame := self._next_frame(count)) is not None:
            if callback is not None:
                callback(count, frame)
            count += 1
        self._frames_iter, self._pos = None, None
        if count < self._info.frame_count:
            raise EvidenceError(f"truncated or corrupt at frame {count}", self._path)
        return count

    # ---- opening ----------------------------------------------------------------------

    def _open(self) -> av.container.InputContainer:
        try:
            options = {"ignore_editlist": "1"} if self._ignore_editlist else {}
            return av.open(str(self._path), mode="r", metadata_errors="replace",
                           options=options)
        except av.FFmpegError as exc:
            raise _open_error(exc, self._path) from exc
        except OSError as exc:
            raise EvidenceError(
                f"cannot read evidence file ({exc.strerror or exc})", self._path
            ) from exc

    def _setup(self) -> None:
        first = self._read_table()
        problem = self._timing_problem()
        if problem is not None and self._container.format.name == _MP4_DEMUXER:
            # An mp4's edit list is read in its (broken) media time scale and then hides
            # most samples as "discard": read every sample the file holds instead.
            self._ignore_editlist = True
            self._container.close()
            self._container = self._open()
            first = self._read_table()
        if problem is not None:
            self._timing_warning = self._retime(problem)
        self._info = self._make_info(first)
        self._can_skip = (
            not self._index.by_count and self._stream.codec_context.name in _SKIP_NONREF_CODECS
        )
        if self._cache_size:
            self._remember(0, self._to_rgb(first, 0))

    def _read_table(self) -> av.VideoFrame:
        """Pick the stream, build the frame table; returns the first frame."""
        self._stream = _pick_video_stream(self._container, self._path, self._stream_choice)
        self._configure_stream()
        packets = _demux_packets(self._container, self._stream, self._path)
        self._frames_in_file = sum(not p.discard for p in packets)
        # Only the mp4/mov sample table counts frames reliably (see _demux_packets); its
        # count includes edit-list pre-roll, which is never shown.
        header = self._stream.frames if self._container.format.name == _MP4_DEMUXER else 0
        self._frames_declared = max(0, (header or 0) - (len(packets) - self._frames_in_file))
        index = _index_from_packets(packets)
        first = self._check_head(index) if index is not None else None
        if first is None:
            index, first = self._index_by_decoding()
        self._set_index(index)
        return first

    def _span_seconds(self) -> float:
        index = self._index
        return float((index.pts[-1] - index.pts[0] + index.last_duration) * self._time_base)

    def _timing_problem(self) -> str | None:
        """Why the container's timing cannot be believed, in words (None: it can). A
        still image has no timing to judge."""
        if len(self._index.pts) == 1 and _is_image_demuxer(self._container.format.name):
            return None
        if self._index.by_count:
            return "its frame timestamps are missing or do not increase"
        seconds, n = self._span_seconds(), len(self._index.pts)
        rate = n / seconds if seconds > 0 else 0.0
        low, high = _PLAUSIBLE_RATES
        if not low <= rate <= high:
            return (f"its time scale gives {n} frame{'s' if n != 1 else ''} over "
                    f"{seconds:.4g} s ({rate:.3g} frames a second)")
        # The container spans every stream: a video stream longer than it is impossible.
        whole = (self._container.duration or 0) / av.time_base
        if whole > 0 and seconds > whole + max(1.0, 0.5 * whole):
            return f"its frames span {seconds:.1f} s but the file lasts {whole:.1f} s"
        return None

    def _retime(self, problem: str) -> str:
        """Time the frames one frame period apart at the stream's plausible nominal rate
        (else 25 fps); the warning that says so, and where the frames were counted."""
        low, high = _PLAUSIBLE_RATES
        named = [(self._stream.average_rate, "the stream's average rate"),
                 (self._stream.codec_context.framerate, "the rate the codec declares")]
        rate, source = next(((Fraction(r), why) for r, why in named
                             if r and low <= float(r) <= high),
                            (_DEFAULT_RATE, "assumed: the file gives none that is plausible"))
        step = _median_step(self._index.pts) or 1
        self._time_base = 1 / (rate * step)
        self._times = [float((p - self._index.pts[0]) * self._time_base)
                       for p in self._index.pts]
        counted = "decoded frames" if self._index.by_count else "frame packets"
        return (f"the container's timing is implausible ({problem}): the "
                f"{len(self._index.pts)} frames were counted from the {counted}"
                + (", the mp4 edit list ignored" if self._ignore_editlist else "")
                + f", and timed at {float(rate):g} frames a second ({source}); the frame "
                "times and durations in this analysis are not the file's own")

    def _configure_stream(self) -> None:
        # Frame threading: decodes several frames in parallel, the big win on 1080p h264.
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = self._threads

    def _reopen(self) -> None:
        stream_index = self._stream.index
        self._container.close()
        self._container = self._open()
        self._stream = self._container.streams[stream_index]
        self._configure_stream()

    def _check_head(self, index: _FrameIndex) -> av.VideoFrame | None:
        """Decode the first frames; return the first one if their pts match `index`."""
        self._set_index(index)
        wanted = index.pts[:_HEAD_CHECK_FRAMES]
        # A seek back to the start can land late (MPEG-TS seeks by byte position): then
        # reopen the file before concluding that the table is wrong.
        for hard in (False, True):
            self._restart(None, hard=hard)
            decoded = self._decode_some(len(wanted))
            if tuple(f.pts for f in decoded) == wanted:
                self._pos = len(decoded)  # in step with the table: decode on from here
                return decoded[0]
        return None

    def _decode_some(self, count: int) -> list[av.VideoFrame]:
        decoded: list[av.VideoFrame] = []
        while len(decoded) < count and (frame := self._next_frame(len(decoded))) is not None:
            decoded.append(frame)
        return decoded

    def _index_by_decoding(self) -> tuple[_FrameIndex, av.VideoFrame]:
        """The fallback table: decode every frame once and record what comes out."""
        self._reopen()
        self._frames_iter = self._decode_packets()
        first: av.VideoFrame | None = None
        pts_list: list[int | None] = []
        keyframes: list[int] = []
        while (frame := self._next_frame(len(pts_list))) is not None:
            first = frame if first is None else first
            if frame.key_frame:
                keyframes.append(len(pts_list))
            pts_list.append(frame.pts)
        self._frames_iter, self._pos = None, None
        if first is None:
            raise EvidenceError("truncated or corrupt at frame 0 (no frame decodes)", self._path)
        return _index_from_decoded(pts_list, keyframes), first

    def _set_index(self, index: _FrameIndex) -> None:
        self._index = index
        self._pts_to_index = {p: i for i, p in enumerate(index.pts)}
        self._time_base = self._effective_time_base(index)
        self._times = [float((p - index.pts[0]) * self._time_base) for p in index.pts]

    def _effective_time_base(self, index: _FrameIndex) -> Fraction:
        if not index.by_count and self._stream.time_base:
            return self._stream.time_base
        # Synthetic pts 0, 1, 2, ...: one tick per frame at the stream's nominal rate.
        return 1 / (self._stream.average_rate or self._stream.guessed_rate or _DEFAULT_RATE)

    def _make_info(self, first: av.VideoFrame) -> VideoInfo:
        index, n = self._index, len(self._index.pts)
        rotation = _display_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        still = n == 1 and _is_image_demuxer(self._container.format.name)
        span = index.pts[-1] - index.pts[0] + index.last_duration
        duration = 0.0 if still else float(span * self._time_base)
        fps = 1.0 if still or duration <= 0 else n / duration
        return VideoInfo(
            path=str(self._path),
            container=self._container.format.name,
            codec=self._stream.codec_context.name,
            width=width,
            height=height,
            fps=fps,
            frame_count=n,
            duration_s=duration,
            rotation=rotation,
            is_still_image=still,
            time_base=float(self._time_base),
            pts=index.pts,
            stream=self._stream_choice,
            video_streams=tuple(_describe(i, v) for i, v in
                                enumerate(_video_streams(self._container))),
            frames_declared=self._frames_declared,
            frames_in_file=self._frames_in_file,
            timing_warning=self._timing_warning,
        )

    # ---- decoding ---------------------------------------------------------------------

    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        # demux() ends with an empty packet whose decode() drains the decoder.
        codec = self._stream.codec_context
        mode = codec.skip_frame
        for packet in self._container.demux(self._stream):
            # The decoder reads skip_frame when the packet is sent (frame threads included),
            # so the choice is per packet; _skip_below is read afresh for each one.
            below = self._skip_below
            wanted = "NONREF" if below is not None and _pts_before(packet.pts, below) else "DEFAULT"
            if wanted != mode:
                codec.skip_frame = mode = wanted
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # One damaged packet: its picture is lost, the rest of the stream may still
                # decode. Counted (results warn); a wanted frame that never comes out is
                # still an error ("truncated or corrupt at frame N").
                self.decode_errors += 1
                continue
            for frame in frames:
                self.decode_errors += bool(frame.is_corrupt)
                yield frame

    def _next_frame(self, at: int) -> av.VideoFrame | None:
        """Next decoded frame, None at the end; `at` names the frame in error messages."""
        assert self._frames_iter is not None
        try:
            frame = next(self._frames_iter, None)
        except av.error.DecoderNotFoundError as exc:
            raise EvidenceError(
                "unsupported video codec (no decoder available)", self._path
            ) from exc
        except av.FFmpegError as exc:
            self._frames_iter, self._pos = None, None
            raise EvidenceError(f"truncated or corrupt at frame {at}", self._path) from exc
        self._decoded += frame is not None
        return frame

    def _restart(self, seek_ts: int | None, hard: bool = False) -> None:
        """Reset decoding at the keyframe seek point `seek_ts`, or at the start (None).

        `hard` reopens the file instead of seeking: the one way to reach the true start
        whatever the demuxer's seeking does (needed to count frames, and as last resort).
        """
        self._frames_iter, self._pos = None, None
        self._skip_below = None
        self._seeks += 1
        hard = hard or (seek_ts is None and self._index.by_count)
        if not hard:
            target = self._index.start_ts if seek_ts is None else seek_ts
            try:
                self._container.seek(target, backward=True, stream=self._stream)
            except av.FFmpegError:
                hard = True  # unseekable input: the start is always reachable
        if hard:
            self._reopen()
        self._hard_start = hard
        self._count = 0 if hard else None
        self._frames_iter = self._decode_packets()

    def _stored(self, index: int) -> av.VideoFrame | None:
        return None if self._store is None else self._store.frame(index)

    def _keyframe_before(self, index: int) -> int:
        """Position in `keyframes` of the last keyframe at or before `index`, -1 if none."""
        return bisect.bisect_right(self._index.keyframes, index) - 1

    def _can_continue(self, target: int) -> bool:
        # Decoding on is cheaper than seeking unless a keyframe lies between us and target.
        pos = self._pos
        if self._frames_iter is None or pos is None or target < pos:
            return False
        if self._index.by_count:
            return True
        k = self._keyframe_before(target)
        return k < 0 or self._index.keyframes[k] <= pos

    def _decode_to(self, target: int, keep_from: int | None = None) -> av.VideoFrame:
        """Decode frame `target`, seeking first when that is needed or cheaper.

        Frames in [keep_from, target) met on the way are converted and cached.
        """
        with self._decoding:
            self._require_open()
            return self._decode_locked(target, keep_from)

    def _decode_locked(self, target: int, keep_from: int | None) -> av.VideoFrame:
        if self._can_continue(target):
            frame = self._scan_forward(target, keep_from)
            if frame is not None:
                return frame
        for seek_ts in self._seek_plan(target):
            self._restart(seek_ts)
            frame = self._scan_forward(target, keep_from)
            if frame is not None:
                return frame
        # Every seek landed past the target, or the frame never came out: decode from the
        # true start before calling the file corrupt.
        self._restart(None, hard=True)
        frame = self._scan_forward(target, keep_from)
        if frame is None:
            raise EvidenceError(f"truncated or corrupt at frame {target}", self._path)
        return frame

    def _seek_plan(self, target: int) -> list[int | None]:
        """Seek points to try for `target`: its keyframe, then the one before.

        The second covers demuxers whose seek lands a little past the asked time (MPEG-TS
        seeks by byte position): from the previous keyframe, decoding reaches `target`.
        """
        k = self._keyframe_before(target)
        if k < 0:
            return [None]  # before the first usable keyframe: the stream start
        return [self._index.seek_ts[j] for j in (k, k - 1) if j >= 0]

    def _scan_forward(self, target: int, keep_from: int | None) -> av.VideoFrame | None:
        """Decode until frame `target`; None if the stream ends or passes it."""
        if self._can_skip:
            # Frames before the first one wanted are never returned: their packets may skip
            # non-reference pictures. From the first wanted one on, everything is decoded.
            first = target if keep_from is None else max(0, min(keep_from, target))
            self._skip_below = self._index.pts[first]
        while (frame := self._next_frame(target)) is not None:
            index = self._identify(frame)
            if index is None:
                continue  # a frame outside the table (leading/pre-roll): not ours
            self._pos = index + 1
            if index == target:
                return frame
            if index > target:
                return None
            if keep_from is not None and keep_from <= index and index not in self._cache:
                self._remember(index, self._to_rgb(frame, index))
        self._frames_iter, self._pos = None, None
        return None

    def _identify(self, frame: av.VideoFrame) -> int | None:
        if not self._index.by_count:
            return self._pts_to_index.get(frame.pts)
        if self._count is None:
            return None
        self._count += 1
        return self._count - 1

    def _to_rgb(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        try:
            rgb = frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, ValueError) as exc:
            fmt = frame.format.name
            raise EvidenceError(
                f"frame {index} cannot be converted to RGB ({fmt})", self._path
            ) from exc
        rotation = self._info.rotation
        if rotation:
            # rotation is clockwise; np.rot90 turns counter-clockwise for positive k.
            rgb = np.ascontiguousarray(np.rot90(rgb, k=-rotation // 90))
        return rgb

    def _remember(self, index: int, rgb: np.ndarray) -> None:
        if not self._cache_size:
            return
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _require_open(self) -> None:
        if self._container is None:
            raise ValueError("VideoSource is closed")

    def _check_index(self, index: int) -> int:
        index = operator.index(index)  # accepts numpy integers, rejects floats
        if not 0 <= index < self._info.frame_count:
            raise IndexError(f"frame {index} out of range 0..{self._info.frame_count - 1}")
        return index


# ---- helpers ------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    """Fail early, with a precise message, on problems ffmpeg would report vaguely (or hang
    on: a FIFO or a device)."""
    check_evidence_file(path)


def _open_error(exc: av.FFmpegError, path: Path) -> EvidenceError:
    if isinstance(exc, FileNotFoundError):
        return EvidenceError("evidence file not found", path)
    if isinstance(exc, PermissionError):
        return EvidenceError("evidence file cannot be read (permission denied)", path)
    if isinstance(exc, EOFError):
        return EvidenceError("file ends before any media data (truncated or empty)", path)
    if isinstance(exc, av.error.InvalidDataError):
        if _looks_like_mp4(path):
            return EvidenceError("truncated or corrupt MP4/MOV file (frame index missing)", path)
        return EvidenceError("not a video or image file (format not recognised)", path)
    return EvidenceError(f"cannot open as video ({exc.strerror or type(exc).__name__})", path)


def _looks_like_mp4(path: Path) -> bool:
    # An ISO-BMFF file starts with a box whose type is ftyp (or a moov/mdat/free box).
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide")


def _next_gop(left: set[int], keyframes: Sequence[int], focus: int | None,
              at: int | None) -> int:
    """The GOP to fill next: the one holding `focus` if not filled yet, else the next one
    after it not filled (wrapping round); with no focus, the one decoding continues into."""
    if focus is None:
        ahead = at if at in left else None
        return ahead if ahead is not None else min(left)
    here = bisect.bisect_right(keyframes, focus) - 1
    return min(left, key=lambda g: (g - here) % len(keyframes))


def _video_streams(container: av.container.InputContainer) -> list[av.VideoStream]:
    # Cover art in audio files is a one-picture "video" stream: not evidence video.
    return [s for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic]


def _describe(number: int, stream: av.VideoStream) -> str:
    ctx = stream.codec_context
    codec = ctx.name if ctx is not None else "unknown codec"
    size = f" {ctx.width}×{ctx.height}" if ctx is not None and ctx.width else ""
    frames = f", {stream.frames} frames" if stream.frames else ""
    return f"{number}: {codec}{size}{frames}"


def video_stream_count(path: str | Path) -> int:
    """How many video streams (cover art not counted) the file holds; EvidenceError when it
    cannot be opened."""
    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            return len(_video_streams(container))
    except av.FFmpegError as exc:
        raise _open_error(exc, path) from exc


def _pick_video_stream(container: av.container.InputContainer, path: Path, choice: int = 0
                       ) -> av.VideoStream:
    videos = _video_streams(container)
    if not container.streams and _looks_like_mp4(path):
        # The mp4 demuxer opens a file cut inside its header and finds no tracks.
        raise EvidenceError("truncated or corrupt MP4/MOV file (no readable tracks)", path)
    if not videos:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        art = " besides cover art" if container.streams.video else ""
        raise EvidenceError(f"no video stream{art} (streams: {', '.join(kinds)})", path)
    if not 0 <= choice < len(videos):
        raise EvidenceError(f"no video stream {choice} (the file has {len(videos)}, numbered "
                            "from 0)", path)
    if videos[choice].codec_context is None:
        raise EvidenceError("unsupported video codec (no decoder available)", path)
    return videos[choice]


def _demux_packets(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path
) -> list[_Packet]:
    packets: list[_Packet] = []
    try:
        for p in container.demux(stream):
            if p.size == 0 and p.pts is None and p.dts is None:
                continue  # PyAV's end-of-stream flush packet, not a frame
            packets.append(_Packet(p.pts, p.is_keyframe, p.is_discard, p.duration or 0))
    except av.FFmpegError as exc:
        raise EvidenceError(f"truncated or corrupt at frame {len(packets)}", path) from exc
    if not any(not p.discard for p in packets):
        raise EvidenceError("video stream has no frames", path)
    # Only the mp4/mov sample table counts frames reliably (AVI's count is in time-base
    # units, Matroska has none); elsewhere a cut-short file just looks shorter.
    declared = stream.frames if container.format.name == _MP4_DEMUXER else 0
    if declared and len(packets) < declared:
        raise EvidenceError(
            f"truncated or corrupt at frame {len(packets)} "
            f"(header lists {declared} frames, file holds {len(packets)})",
            path,
        )
    return packets


def _index_from_packets(packets: list[_Packet]) -> _FrameIndex | None:
    """Presentation-order table from demuxed packets; None when pts are unusable."""
    kept = [p for p in packets if not p.discard]
    if any(p.pts is None for p in kept):
        return None
    kept.sort(key=lambda p: p.pts)
    pts = tuple(int(p.pts) for p in kept)  # type: ignore[arg-type]
    if len(set(pts)) != len(pts):
        return None
    keyframes = tuple(i for i, p in enumerate(kept) if p.keyframe)
    # ffmpeg seeks by presentation time (mp4 included: it maps pts to its dts index), so
    # seeking to a keyframe's pts lands on it. Its dts would land a whole GOP early.
    seek_ts = tuple(pts[i] for i in keyframes)
    # The earliest pts, discarded pre-roll included: the stream's first keyframe.
    start_ts = min((p.pts for p in packets if p.pts is not None), default=pts[0])
    last_duration = kept[-1].duration or _median_step(pts)
    return _FrameIndex(pts, keyframes, seek_ts, start_ts, last_duration)


def _index_from_decoded(pts_list: list[int | None], keyframes: list[int]) -> _FrameIndex:
    """Table from decoded frames; by decode count when their pts are missing or disordered."""
    if None in pts_list or any(a >= b for a, b in pairwise(pts_list)):
        return _FrameIndex(tuple(range(len(pts_list))), (), (), 0, 1, by_count=True)
    pts = tuple(int(p) for p in pts_list if p is not None)
    # Should a seek to a keyframe's pts land past it, _decode_to retries from the start:
    # correct, only slower for such files.
    seek_ts = tuple(pts[k] for k in keyframes)
    return _FrameIndex(pts, tuple(keyframes), seek_ts, pts[0], _median_step(pts))


def _pts_before(pts: int | None, limit: int) -> bool:
    # A packet without pts cannot be placed: decode it in full.
    return pts is not None and pts < limit


def _median_step(pts: tuple[int, ...]) -> int:
    steps = [b - a for a, b in pairwise(pts)]
    return int(statistics.median(steps)) if steps else 0


def _display_rotation(frame: av.VideoFrame) -> int:
    """Clockwise display rotation (0/90/180/270) from the frame's display matrix."""
    # PyAV reports the matrix angle counter-clockwise; ffmpeg's player turns the picture
    # by its negation (clockwise). Flips and odd angles are ignored (rounded to 90°).
    return round(-frame.rotation / 90) % 4 * 90


def _is_image_demuxer(name: str) -> bool:
    return name in _IMAGE_DEMUXERS or name.endswith("_pipe")
