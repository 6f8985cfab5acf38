"""A scrub cache: every decoded frame of a video, losslessly compressed in memory.

An H.264 stream can only be entered at a keyframe, so a random seek in a clip with a
250-frame GOP decodes up to 249 frames it does not show (≈ 1 s on 2 cores). Decoder state
cannot be saved and restored, and raw 1080p frames are 3 MB each (a minute is 5.6 GB). So one
background pass decodes the clip once, in order, and re-encodes each decoded picture on its
own with MagicYUV, a lossless intra-only codec (≈ 6× smaller on camera footage, ≈ 5 ms to
decode at 1080p). Any stored frame is then one packet away.

Exactness: the picture is stored in the decoder's own pixel format, bit for bit (lossless,
no conversion), and the decoded copy gets the original's colour matrix and range, so the RGB
conversion the player applies gives the same pixels as a decode of the evidence. Frames in a
pixel format MagicYUV cannot hold (10-bit, NV12, JPEG-range variants, ...) are not stored:
the source then decodes them from the evidence as before. The store is bounded by a byte
budget; frames past it are not stored either. Nothing touches the disk.

Thread safety: `add` (one builder thread) and `frame` (one reader thread) may run at the same
time; each side owns its codec context.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction

import av

_CODEC = "magicyuv"
# Left prediction: the cheapest to encode, and the build pass runs while the user works.
_OPTIONS = {"pred": "left"}
# Colour attributes copied onto a stored frame so that the RGB conversion matches.
_COLOUR = ("colorspace", "color_range")


def default_budget_bytes() -> int:
    """A quarter of the memory available now, at most 4 GiB: a minute of 1080p camera
    footage takes about 0.9 GB, of noise-like texture (which compresses worst) about 2.6 GB;
    the quarter keeps a small machine's memory for the analysis and the rest."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            fields = dict(line.split(":", 1) for line in fh)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = 4 << 30
    return min(4 << 30, available // 4)


class FrameStore:
    """Lossless copies of decoded frames by frame index, within `budget_bytes`."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else budget_bytes
        self._packets: dict[int, tuple[bytes, tuple]] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._encoder: av.CodecContext | None = None
        self._encoder_format: str | None = None
        self._decoder: av.CodecContext | None = None
        self.full = False  # the budget ran out, or a frame could not be stored
        self.complete = False  # the builder stored every frame

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._packets)

    def __contains__(self, index: int) -> bool:
        return index in self._packets

    def add(self, index: int, frame: av.VideoFrame) -> bool:
        """Store `frame` as frame `index`; False (and `full` set) when it cannot be stored."""
        if self.full:
            return False
        encoder = self._encoder_for(frame)
        if encoder is None:
            self.full = True
            return False
        frame.pts = index
        data = b"".join(bytes(p) for p in encoder.encode(frame))
        if not data or self._bytes + len(data) > self.budget_bytes:
            self.full = True
            return False
        colour = tuple(getattr(frame, name) for name in _COLOUR)
        with self._lock:
            self._packets[index] = (data, colour)
            self._bytes += len(data)
        return True

    def frame(self, index: int) -> av.VideoFrame | None:
        """The stored frame `index` (same format and pixels as decoded), None if not stored."""
        with self._lock:
            entry = self._packets.get(index)
        if entry is None:
            return None
        data, colour = entry
        if self._decoder is None:
            assert self._encoder is not None  # something was stored, so it exists
            self._decoder = av.CodecContext.create(_CODEC, "r")
            self._decoder.width = self._encoder.width
            self._decoder.height = self._encoder.height
        frames = self._decoder.decode(av.Packet(data))
        if len(frames) != 1:
            return None  # cannot happen with an intra-only codec; decode from the evidence
        out = frames[0]
        for name, value in zip(_COLOUR, colour, strict=True):
            setattr(out, name, value)
        return out

    def _encoder_for(self, frame: av.VideoFrame) -> av.CodecContext | None:
        fmt = frame.format.name
        if self._encoder is not None:
            return self._encoder if fmt == self._encoder_format else None
        codec = av.Codec(_CODEC, "w")
        if fmt not in {f.name for f in codec.video_formats}:
            return None
        encoder = av.CodecContext.create(codec)
        encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, fmt
        encoder.time_base = Fraction(1, 1000)
        encoder.thread_count = min(2, os.cpu_count() or 1)
        encoder.options = dict(_OPTIONS)
        encoder.open()
        self._encoder, self._encoder_format = encoder, fmt
        return encoder
