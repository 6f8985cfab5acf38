"""Player latency: frame step and random seek, measured through the real window.

    python bench/bench_player.py [--video CLIP] [--frames 1800] [--gop 250] [--json OUT]
                                 [--keep-clip PATH] [--no-scrub-cache]

Without --video a 1920×1080 30 fps H.264 clip with moving, textured content is encoded
(GOP --gop frames, x264's default 250, B-frames on; 60 s by default: slow to encode on a
small CPU, so --keep-clip saves it for the next run). Each latency is the time from
`AppState.set_frame` (what a key press or a click calls) to the player having the new
frame on its ImageItem *and repainted* (a synchronous repaint of the player canvas), so
decode, the thread hop, the RGB upload and the paint are all in it.

- step, sequential: → through the clip one frame at a time (the decoder prefetches ahead);
- step, cached: ← back over frames decoded moments before (in the LRU cache);
- seek, cold: random frames right after opening, while the scrub cache is being built;
- seek: random frames anywhere in the clip once the scrub cache is built (one lossless
  frame decode), or with --no-scrub-cache, as before it existed (keyframe seek + decode
  forward). The build time of the scrub cache (a background pass over the whole clip) and
  its size are reported too.
Targets (issues 4, 14): cached step ≤ 16 ms p95, seek ≤ 150 ms p95.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
from PySide6.QtCore import QEventLoop, QSettings, QTimer

from forensics_app.ui.app import make_app
from forensics_app.ui.main_window import MainWindow


def make_clip(path: Path, frames: int, gop: int, width: int = 1920, height: int = 1080,
              fps: int = 30) -> Path:
    """Textured, moving content (so the encoder produces realistic frame sizes)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(texture, 8, axis=0), 8, axis=1)
    _yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.options = {
            "preset": "veryfast", "crf": "23",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=2"}
        for i in range(frames):
            shift = np.roll(texture, (i * 3, i * 5), axis=(0, 1))
            wave = ((np.sin((xx + i * 12) / 90.0) + 1) * 60).astype(np.uint8)[..., None]
            img = np.clip(shift.astype(np.int16) // 2 + wave, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def make_clip_from(source: Path, path: Path, frames: int, gop: int) -> Path:
    """Re-encode `source`, looped, into `frames` frames with a `gop`-frame GOP (x264 preset
    ultrafast, 3 B-frames, no scene-cut keyframes): camera footage, cheap to make."""
    with av.open(str(path), "w") as out:
        stream = None
        done = 0
        while done < frames:
            with av.open(str(source)) as src:  # decoded again per loop: little memory
                for decoded in src.decode(video=0):
                    if stream is None:
                        rate = src.streams.video[0].average_rate or Fraction(30)
                        stream = out.add_stream("libx264", rate=rate)
                        stream.width, stream.height = decoded.width, decoded.height
                        stream.pix_fmt = "yuv420p"
                        stream.codec_context.time_base = 1 / Fraction(rate)
                        stream.codec_context.options = {
                            "preset": "ultrafast", "crf": "23",
                            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:"
                                           "bframes=3"}
                    frame = decoded.reformat(format="yuv420p")
                    frame.pts, frame.time_base = done, stream.codec_context.time_base
                    out.mux(stream.encode(frame))
                    done += 1
                    if done >= frames:
                        break
        out.mux(stream.encode())
    return path


class Harness:
    def __init__(self, video: Path, settings_dir: Path, scrub_cache: bool = True) -> None:
        self.app = make_app()
        settings = QSettings(str(settings_dir / "bench.ini"), QSettings.Format.IniFormat)
        self.window = MainWindow(settings=settings, output_root=settings_dir / "out")
        self.window.resize(1600, 1000)
        self.window.show()
        self.window.frames.scrub_cache = scrub_cache
        self.opened = time.perf_counter()
        self.cpu_s: list[float] = []  # process CPU seconds of each show_frame
        if not self.window.open_video(video):
            raise SystemExit(f"cannot open {video}")
        self.player = self.window.player
        self.state = self.window.state
        self.show_frame(0)

    timeout_s = 10.0  # per frame shown (--timeout: raise it on a busy machine)

    def show_frame(self, index: int, timeout_s: float | None = None) -> float:
        """Seconds from set_frame(index) to that frame painted."""
        loop = QEventLoop()
        shown = []

        def on_shown(i: int) -> None:
            if i == index:
                shown.append(time.perf_counter())
                loop.quit()

        self.player.frameShown.connect(on_shown)
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        cpu = time.process_time()  # CPU of every thread of this process: load-independent
        start = time.perf_counter()
        if self.state.frame == index and self.player.shown_index == index:
            shown.append(start)
        else:
            self.state.set_frame(index)
            if not shown:
                loop.exec()
        self.player.frameShown.disconnect(on_shown)
        if not shown:
            raise RuntimeError(f"frame {index} not shown within {timeout_s} s")
        self.player.graphics.viewport().repaint()  # the paint is part of the latency
        self.cpu_s.append(time.process_time() - cpu)
        return time.perf_counter() - start

    def wait_scrub_cache(self, timeout_s: float = 1800.0) -> float:
        """Seconds from opening the video until the scrub cache was built."""
        end = time.perf_counter() + timeout_s
        while not self.window.frames.scrub_cache_done and time.perf_counter() < end:
            self.settle(0.1)
        return time.perf_counter() - self.opened

    def random_seeks(self, rng: random.Random, count: int) -> list[float]:
        n = self.state.info.frame_count
        seeks = []
        del self.cpu_s[:]
        for _ in range(count):
            target = rng.randrange(n)
            while target == self.state.frame:
                target = rng.randrange(n)
            seeks.append(self.show_frame(target))
            self.settle(0.05)
        return seeks

    def settle(self, seconds: float = 0.3) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.005)


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2),
            "p95_ms": round(p95, 2), "max_ms": round(ms[-1], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=1800, help="length of the generated clip")
    ap.add_argument("--gop", type=int, default=250,
                    help="keyframe interval of the generated clip (x264's default)")
    ap.add_argument("--keep-clip", type=Path, default=None, help="save the generated clip here")
    ap.add_argument("--from-clip", type=Path, default=None,
                    help="generate by re-encoding this clip (looped) instead of synthetic "
                    "texture: real footage, and much cheaper to encode")
    ap.add_argument("--no-scrub-cache", action="store_true",
                    help="baseline: no background scrub cache (every seek decodes forward)")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--seeks", type=int, default=40)
    ap.add_argument("--cold-seeks", type=int, default=10,
                    help="seeks right after opening, while the scrub cache is built")
    ap.add_argument("--step-pause", type=float, default=0.040,
                    help="seconds between steps (a held arrow key repeats every ~30-40 ms)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per frame")
    args = ap.parse_args()
    Harness.timeout_s = args.timeout

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = args.video
        if video is None:
            t0 = time.perf_counter()
            target = args.keep_clip or tmp / "bench_1080p.mp4"
            if args.from_clip:
                video = make_clip_from(args.from_clip, target, args.frames, args.gop)
            else:
                video = make_clip(target, args.frames, args.gop)
            print(f"encoded {video.name}: {args.frames} frames, GOP {args.gop} "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        h = Harness(video, tmp, scrub_cache=not args.no_scrub_cache)
        info = h.state.info
        n = info.frame_count
        steps = min(args.steps, n - 1)
        rng = random.Random(1)
        cold = h.random_seeks(rng, args.cold_seeks)
        build_s = None if args.no_scrub_cache else round(h.wait_scrub_cache(), 1)
        store = h.window.frames.store
        h.show_frame(0)

        sequential = []
        for i in range(1, steps + 1):
            sequential.append(h.show_frame(i))
            h.settle(args.step_pause)
        cached = []
        back = min(20, steps)  # the LRU holds the frames just stepped through
        for i in range(steps - 1, steps - 1 - back, -1):
            cached.append(h.show_frame(i))
            h.settle(args.step_pause)
        seeks = h.random_seeks(rng, args.seeks)
        seek_cpu = summary(h.cpu_s)
        h.window.close()

    result = {
        "video": str(args.video or f"generated 1920x1080 h264, GOP {args.gop}"),
        "resolution": f"{info.width}x{info.height}", "frames": n, "fps": info.fps,
        "step_sequential": summary(sequential), "step_cached": summary(cached),
        "seek_random_cold": summary(cold) if cold else None,
        "seek_random": summary(seeks),
        "seek_random_process_cpu": seek_cpu,
        "scrub_cache": None if build_s is None else {
            "build_s": build_s, "frames_stored": len(store), "complete": store.complete,
            "mbytes": round(store.nbytes / 1e6, 1)},
        "targets": {"step_cached_p95_ms": 16, "seek_p95_ms": 150},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform(terse=True)}",
        "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
