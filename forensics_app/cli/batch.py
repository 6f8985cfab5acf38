"""`forensics-app batch INPUTS... --out DIR`: analyse every video of a case, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forensics_app.core.analysis.job import AnalysisSettings
from forensics_app.core.analysis.settings import EXPLAIN_METHODS
from forensics_app.core.batch import (
    BatchProgress,
    BatchSummary,
    collect_inputs,
    plan_batch,
    run_batch,
    settings_dict,
)
from forensics_app.core.errors import UsageError

EPILOG = """\
INPUTS are folders (searched recursively for video files), list files (.txt/.lst/.list: one
path per line, # starts a comment, relative paths from the list's folder) or video files.

DIR gets results/<name>/ (one sealed results folder per file, with report.pdf),
thumbs/<name>.jpg, summary.csv and index.html. Run the same command again to resume: a
finished, sealed result is never redone; failed files are tried again. A file that fails
never stops the batch: its one-line error is in the summary, and the exit status is 1."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="analyse many videos (folders, list files) into one folder",
                       description="Analyse every video in INPUTS; results, reports and a "
                       "summary table go to --out.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUTS")
    p.add_argument("--out", type=Path, required=True, help="batch folder (created)")
    p.add_argument("--workers", type=int, default=1,
                   help="analyses at once on this machine (1: in this process)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (host:port, or auto); needs the ray extra")
    p.add_argument("--frames", type=int, default=100, help="frames to sample, 1-100 (100)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    p.add_argument("--explain", choices=EXPLAIN_METHODS, default="relevancy")
    p.add_argument("--detector", choices=("short", "full"), default="full")
    p.add_argument("--model", default=None, help="model folder or name (default model)")
    p.add_argument("--no-reports", action="store_true", help="skip the PDF report per file")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    settings = AnalysisSettings(frames=args.frames, explain=args.explain, device=args.device,
                                detector=args.detector)
    settings.validate()
    videos = collect_inputs(args.inputs)
    model = None if args.model is None else str(args.model)
    items = plan_batch(videos, args.out.absolute(), settings_dict(settings), model,
                       reports=not args.no_reports, workers=args.workers)
    printer = BatchPrinter(enabled=not args.quiet)
    job = run_batch(items, args.out.absolute(), workers=args.workers, ray_address=args.ray)
    try:
        while True:
            printer.show(next(job))
    except StopIteration as stop:
        summary: BatchSummary = stop.value
    printer.finish()
    failed = summary.count("failed")
    print(f"batch:   {len(items)} files: {summary.count('done')} analysed, "
          f"{summary.count('skipped')} finished before, {failed} failed "
          f"({summary.elapsed_s:.1f} s)")
    print(f"summary: {summary.csv_path}")
    print(f"index:   {summary.html_path}")
    return 1 if failed else 0


class BatchPrinter:
    """A line per finished file; on a terminal also a live line for the whole batch."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()

    def show(self, p: BatchProgress) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K")
        if p.event is not None and p.item is not None:
            self.stream.write(self._item_line(p) + "\n")
            p.event = None
        if self.live:
            running = ", ".join(f"{n} {f:.0%}" for n, (f, _m) in sorted(p.running.items()))
            self.stream.write(f"[{p.finished}/{p.total}] {p.fraction:5.1%}  {running}"[:160])
        self.stream.flush()

    def _item_line(self, p: BatchProgress) -> str:
        item = p.item
        assert item is not None
        width = len(str(p.total))
        head = f"[{p.finished:>{width}}/{p.total}] {p.event:<7} {item.name}"
        if item.status == "failed":
            return f"{head}: {item.error}"
        pred = item.bundle.results.prediction if item.bundle is not None else None
        verdict = "" if pred is None else f"  {pred.label.upper()}" + (
            "" if pred.p_fake is None else f" p_fake {pred.p_fake:.3f} ({pred.band})")
        took = "" if item.seconds is None else f"  ({item.seconds:.1f} s)"
        note = f"  [{item.error}]" if item.error else ""
        return f"{head}{verdict}{took}{note}"

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.flush()
