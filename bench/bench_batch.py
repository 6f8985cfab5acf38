"""Batch throughput: clips per minute at 1 and 2 workers, and local vs Ray results.

    python bench/bench_batch.py [--clips N] [--frames 16] [--workers 1 2] [--ray] [--json OUT]

Analyses the first N shared GRID clips (../shared/data/videos/real/grid_*.mpg: 3 s, 360×288,
one face) with the default model, no PDF reports, once per worker count, each into a fresh
batch folder; the time includes starting the workers and loading the model (what a user
waits for). With --ray, the same batch runs again as Ray tasks on a local Ray instance
started here, and its verdicts, p_fake and sampled frames are compared with the 1-worker run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forensics_app.core.analysis.drive import run_to_end
from forensics_app.core.batch import plan_batch, run_batch

SHARED = Path(os.environ.get("FORENSICS_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))


consume = run_to_end


def run(videos: list[Path], out: Path, frames: int, workers: int = 1,
        ray_address: str | None = None) -> tuple[float, object]:
    items = plan_batch(videos, out, {"frames": frames, "device": "cpu"}, None, reports=False,
                       workers=workers)
    start = time.perf_counter()
    summary = consume(run_batch(items, out, workers=workers, ray_address=ray_address))
    return time.perf_counter() - start, summary


def fingerprint(summary) -> list[tuple]:
    rows = []
    for item in summary.items:
        r = item.bundle.results if item.bundle else None
        rows.append((item.name, item.status, r and r.prediction.label,
                     r and r.prediction.p_fake, r and tuple(r.sampled_frames)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ray", action="store_true", help="also run on a local Ray instance")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    videos = sorted((SHARED / "videos" / "real").glob("grid_*.mpg"))[:args.clips]
    if not videos:
        raise SystemExit(f"no GRID clips under {SHARED}")
    result: dict = {"clips": len(videos), "frames": args.frames, "runs": {},
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                               f"load average {os.getloadavg()[0]:.1f} at start"}
    with tempfile.TemporaryDirectory() as tmp:
        summaries = {}
        for workers in args.workers:
            seconds, summary = run(videos, Path(tmp) / f"w{workers}", args.frames, workers)
            summaries[workers] = summary
            result["runs"][f"workers_{workers}"] = {
                "seconds": round(seconds, 1), "done": summary.count("done"),
                "failed": summary.count("failed"),
                "clips_per_minute": round(60 * summary.count("done") / seconds, 2)}
            print(json.dumps(result["runs"][f"workers_{workers}"]), file=sys.stderr)
        if args.ray:
            import ray

            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
            try:
                seconds, summary = run(videos, Path(tmp) / "ray", args.frames, 1,
                                       ray_address="auto")
            finally:
                ray.shutdown()
            local = fingerprint(summaries[args.workers[0]])
            result["runs"]["ray_local_instance"] = {
                "seconds": round(seconds, 1), "done": summary.count("done"),
                "identical_to_local": fingerprint(summary) == local}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
