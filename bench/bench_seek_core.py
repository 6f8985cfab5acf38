"""CPU cost of a random seek in `VideoSource`, with and without the scrub cache.

    python bench/bench_seek_core.py VIDEO [--seeks 40] [--json OUT]

Builds the scrub cache (`FrameStore`) in one pass, then seeks to the same random frames with
the cache attached and without it. Figures are process CPU time (every thread), so they
hold on a busy machine too; on an idle one the wall time of a seek is about the same or less
(the forward decode runs on two frame threads).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forensics_app.core.media import VideoSource
from forensics_app.core.media.framestore import FrameStore


def seeks(path: Path, store: FrameStore | None, count: int) -> dict[str, float]:
    rng = random.Random(1)
    cpu = []
    with VideoSource(path, cache_size=0) as source:
        source.attach_store(store)
        for _ in range(count):
            target = rng.randrange(len(source))
            start = time.process_time()
            source.frame(target)
            cpu.append((time.process_time() - start) * 1000)
    cpu.sort()
    return {"median_cpu_ms": round(cpu[len(cpu) // 2], 1),
            "p95_cpu_ms": round(cpu[round(0.95 * (len(cpu) - 1))], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--seeks", type=int, default=40)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    store = FrameStore()
    with VideoSource(args.video, cache_size=0) as builder:
        cpu, wall = time.process_time(), time.perf_counter()
        builder.fill_store(store)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        info = builder.info
    raw = info.frame_count * info.width * info.height * 1.5
    result = {
        "video": str(args.video), "size": f"{info.width}x{info.height}",
        "frames": info.frame_count,
        "store": {"complete": store.complete, "mbytes": round(store.nbytes / 1e6, 1),
                  "ratio_vs_raw_yuv420": round(raw / max(1, store.nbytes), 2),
                  "build_cpu_ms_per_frame": round(cpu / info.frame_count * 1000, 1),
                  "build_wall_s": round(wall, 1)},
        "seek_with_store": seeks(args.video, store, args.seeks),
        "seek_without_store": seeks(args.video, None, args.seeks),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
