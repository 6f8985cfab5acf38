"""Synthetic evidence for tests: tiny videos whose pixels say which frame they are.

Each frame is a 4×4 grid of flat grey cells. The four corner cells are orientation markers
(top-left white, the other three black); the twelve inner/edge cells carry the frame number
in binary (white = 1). Cells are large and flat, so the number survives lossy compression,
and any wrong rotation or flip moves the white marker to another corner, which
`read_frame_number` rejects. Frames are drawn in their *displayed* orientation; when a
rotation is requested the stored (coded) picture is the display picture turned back, so a
reader that applies the display matrix correctly gets the original picture back.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

GRID = 4
CORNERS = ((0, 0), (0, GRID - 1), (GRID - 1, 0), (GRID - 1, GRID - 1))
BIT_CELLS = tuple((r, c) for r in range(GRID) for c in range(GRID) if (r, c) not in CORNERS)
MAX_FRAME_NUMBER = (1 << len(BIT_CELLS)) - 1
WHITE, BLACK = 230, 25


def draw_frame_number(number: int, width: int, height: int) -> np.ndarray:
    """RGB uint8 picture (height × width) encoding `number` for `read_frame_number`."""
    if not 0 <= number <= MAX_FRAME_NUMBER:
        raise ValueError(f"frame number {number} does not fit in {len(BIT_CELLS)} bits")
    grid = np.full((GRID, GRID), BLACK, dtype=np.uint8)
    grid[0, 0] = WHITE
    for bit, (r, c) in enumerate(BIT_CELLS):
        if number >> bit & 1:
            grid[r, c] = WHITE
    rows = np.arange(height) * GRID // height
    cols = np.arange(width) * GRID // width
    grey = grid[rows[:, None], cols[None, :]]
    return np.repeat(grey[:, :, None], 3, axis=2)


def _cell_mean(rgb: np.ndarray, r: int, c: int) -> float:
    # The central half of a cell: away from the blurred (compressed) borders.
    h, w = rgb.shape[:2]
    y0, y1 = (4 * r + 1) * h // (4 * GRID), (4 * r + 3) * h // (4 * GRID)
    x0, x1 = (4 * c + 1) * w // (4 * GRID), (4 * c + 3) * w // (4 * GRID)
    return float(rgb[y0:y1, x0:x1].mean())


def read_frame_number(rgb: np.ndarray) -> int:
    """Decode the number drawn by `draw_frame_number`; ValueError if the markers are wrong."""
    threshold = (WHITE + BLACK) / 2
    markers = [_cell_mean(rgb, r, c) > threshold for r, c in CORNERS]
    if markers != [True, False, False, False]:
        raise ValueError(f"orientation markers not found (corners white: {markers})")
    return sum(
        1 << bit for bit, (r, c) in enumerate(BIT_CELLS) if _cell_mean(rgb, r, c) > threshold
    )


def _x264_options(gop: int | None, bframes: bool) -> dict[str, str]:
    # b-adapt=0 forces B-frames even on easy content, so reordering is really exercised;
    # scenecut=0 keeps the GOP length exactly as asked.
    params = ["scenecut=0", "bframes=3:b-adapt=0" if bframes else "bframes=0"]
    if gop:
        params.append(f"keyint={gop}:min-keyint={gop}")
    return {
        "preset": "ultrafast" if not bframes else "veryfast",
        "crf": "18",
        "x264-params": ":".join(params),
    }


def _frame_pts(n_frames: int, fps: float, vfr_pts: Sequence[int] | None) -> list[int]:
    if vfr_pts is None:
        return [round(i * 1000 / fps) for i in range(n_frames)]
    if len(vfr_pts) != n_frames or any(b <= a for a, b in pairwise(vfr_pts)):
        raise ValueError("vfr_pts needs one strictly increasing pts per frame")
    return list(vfr_pts)


def make_video(
    path: str | Path,
    n_frames: int = 30,
    width: int = 160,
    height: int = 120,
    fps: float = 25,
    codec: str = "libx264",
    vfr_pts: Sequence[int] | None = None,
    gop: int | None = None,
    bframes: bool = True,
    rotation: int = 0,
    with_audio: bool = False,
    face: bool = False,
) -> Path:
    """Encode `n_frames` numbered frames; width/height are the DISPLAYED size.

    `vfr_pts` gives explicit presentation times in milliseconds (time base 1/1000) for a
    variable-frame-rate clip. `rotation` (0/90/180/270, clockwise for display) is written
    as the container display matrix. The moov atom is written at the front (faststart) so
    that `make_truncated` yields a file with a complete index but missing media data.
    `face` is accepted for signature compatibility and ignored (faces come from elsewhere).
    """
    del face
    path = Path(path)
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90")
    quarter_turns = rotation // 90 % 4
    coded_w, coded_h = (height, width) if quarter_turns % 2 else (width, height)
    options = {"movflags": "faststart"} if path.suffix.lower() in {".mp4", ".mov"} else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = coded_w, coded_h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if codec == "libx264":
            stream.codec_context.options = _x264_options(gop, bframes)
        elif gop:
            stream.codec_context.gop_size = gop
        if quarter_turns:
            # PyAV's angle is counter-clockwise (as VideoFrame.rotation reads it back).
            stream.set_display_rotation(-90 * quarter_turns)
        audio = out.add_stream("aac", rate=16000) if with_audio else None
        for i, pts in enumerate(_frame_pts(n_frames, fps, vfr_pts)):
            # Store the display picture turned back counter-clockwise; display turns it cw.
            coded = np.rot90(draw_frame_number(i, width, height), k=quarter_turns)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(coded), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if audio is not None:
            _write_tone(out, audio, seconds=n_frames / fps)
    return path


def _write_tone(
    out: av.container.OutputContainer, audio: av.audio.AudioStream, seconds: float
) -> None:
    rate = audio.codec_context.sample_rate
    samples = np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * 440 / rate) * 0.2
    chunk = audio.codec_context.frame_size or 1024
    for start in range(0, len(samples), chunk):
        block = samples[start : start + chunk].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode())


def make_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An .mp4 (or other container) with one AAC stream and no video."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        _write_tone(out, out.add_stream("aac", rate=16000), seconds)
    return path


def make_truncated(src: str | Path, dst: str | Path, keep_fraction: float = 0.5) -> Path:
    """Copy the first `keep_fraction` of `src`'s bytes: a download or copy cut short."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def make_still(path: str | Path, number: int = 7, width: int = 64, height: int = 48) -> Path:
    """A PNG/JPEG picture (format from the suffix) drawn like a video frame."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(draw_frame_number(number, width, height)).save(path)
    return path


def make_trimmed_copy(src: str | Path, dst: str | Path, skip_frames: int) -> Path:
    """Remux `src` starting mid-GOP, as `ffmpeg -ss … -c copy` does: an mp4 edit list.

    Packets before the new start keep negative timestamps, so the mp4 muxer writes an edit
    list and the demuxer hands them back flagged as discard: the file holds more packets
    than the decoder outputs frames. The first kept frame is `skip_frames` of `src`.
    """
    with av.open(str(src)) as inp:
        ins = inp.streams.video[0]
        packets = [p for p in inp.demux(ins) if p.size]
        cut = sorted(p.pts for p in packets)[skip_frames]
        with av.open(str(dst), "w") as out:
            outs = out.add_stream_from_template(ins)
            for p in packets:
                p.pts -= cut
                p.dts -= cut
                p.stream = outs
                out.mux(p)
    return Path(dst)


def make_headless_copy(src: str | Path, dst: str | Path, drop_packets: int) -> Path:
    """Remux `src` without its first `drop_packets` packets (decode order), no edit list.

    The copy starts mid-GOP: its first packets have pts but reference pictures that are
    gone, so the decoder outputs nothing until the next keyframe. The demuxed packet table
    then promises frames that never come out. Use a .mkv `dst` (mp4 flags some of them).
    """
    with av.open(str(src)) as inp:
        ins = inp.streams.video[0]
        packets = [p for p in inp.demux(ins) if p.size][drop_packets:]
        with av.open(str(dst), "w") as out:
            outs = out.add_stream_from_template(ins)
            for p in packets:
                p.stream = outs
                out.mux(p)
    return Path(dst)


def make_zero_frames(path: str | Path) -> Path:
    """A Matroska file with a video track that holds no frames (and one audio packet).

    (An mp4 cannot serve: its demuxer drops empty tracks, so that is "no video stream".)
    """
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        _write_tone(out, out.add_stream("aac", rate=16000), seconds=0.05)
    return path


def make_no_decoder(path: str | Path) -> Path:
    """A Matroska file whose video track names a codec ffmpeg does not know."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(draw_frame_number(i, 64, 48), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = path.read_bytes()
    # Same-length rename of the codec id keeps the EBML structure valid.
    if data.count(b"V_FFV1") != 1:
        raise RuntimeError("could not find the codec id to patch")
    path.write_bytes(data.replace(b"V_FFV1", b"V_XXXX"))
    return path


_MP4_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _mp4_boxes(data: bytes | bytearray, start: int, end: int, path: tuple[bytes, ...] = ()):
    """(box path, offset of its payload, payload end) of every box, depth first."""
    at = start
    while at + 8 <= end:
        size, kind = int.from_bytes(data[at:at + 4], "big"), bytes(data[at + 4:at + 8])
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[at + 8:at + 16], "big"), 16
        elif size == 0:
            size = end - at
        yield (*path, kind), at + header, at + size
        if kind in _MP4_CONTAINER_BOXES:
            yield from _mp4_boxes(data, at + header, at + size, (*path, kind))
        at += size


def _video_track_boxes(data: bytearray) -> dict[bytes, int]:
    """The payload offsets of the first video track's boxes (mdhd, stts, hdlr, ...)."""
    tracks: list[dict[bytes, int]] = []
    for path, payload, _end in _mp4_boxes(data, 0, len(data)):
        if path[-1] == b"trak":
            tracks.append({})
        elif b"trak" in path and tracks:
            tracks[-1].setdefault(path[-1], payload)
    for boxes in tracks:
        hdlr = boxes.get(b"hdlr")
        if hdlr is not None and data[hdlr + 8:hdlr + 12] == b"vide":
            return boxes
    raise ValueError("no video track")


def make_damaged_timing(src: str | Path, dst: str | Path, damage: str) -> Path:
    """A byte copy of mp4 `src` with its video track's timing broken, samples untouched:
    damage "timescale0" zeroes the media header's time scale (mdhd), "stts0" every sample
    delta of the decoding-time table (stts)."""
    data = bytearray(Path(src).read_bytes())
    boxes = _video_track_boxes(data)
    if damage == "timescale0":
        mdhd = boxes[b"mdhd"]
        at = mdhd + (20 if data[mdhd] == 1 else 12)  # after version/flags and the two times
        data[at:at + 4] = bytes(4)
    elif damage == "stts0":
        stts = boxes[b"stts"]
        for entry in range(int.from_bytes(data[stts + 4:stts + 8], "big")):
            at = stts + 8 + 8 * entry + 4  # (sample count, sample delta): the delta
            data[at:at + 4] = bytes(4)
    else:
        raise ValueError(damage)
    Path(dst).write_bytes(data)
    return Path(dst)
