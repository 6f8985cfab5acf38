"""`forensics-app analyze VIDEO --out DIR`: the headless analysis."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from forensics_app.core.analysis.job import AnalysisSettings, Progress, run_analysis
from forensics_app.core.analysis.results import EXPLAIN_METHODS, Results
from forensics_app.core.analysis.verdict import BAND_MEANINGS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a video file and write a results folder",
                       description="Analyse VIDEO (never modified) and write results.json, "
                       "attention.npy and relevancy.npz to --out.")
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder (not beside the video)")
    p.add_argument("--frames", type=int, default=100, help="frames to sample, 1-100 (100)")
    p.add_argument("--segment", type=_segment, default=None, metavar="START:END",
                   help="analyse only video frames START (inclusive) to END (exclusive)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (auto)")
    p.add_argument("--explain", choices=EXPLAIN_METHODS, default="relevancy",
                   help="explanation shown by default; all three are stored")
    p.add_argument("--detector", choices=("short", "full"), default="full",
                   help="BlazeFace full-range (default; also finds small faces) or short-range")
    p.add_argument("--model", default=None, help="model folder or name (default model)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quiet", action="store_true", help="print only the verdict")
    add_report_options(p)
    p.set_defaults(run=run)


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Report options; the report itself is made by forensics_app.cli.report when present."""
    p.add_argument("--report", type=Path, default=None, help="also write a PDF report here")
    p.add_argument("--case-id", default=None,
                   help="printed in the report; no case folder is created (an --out of "
                   "CASE/analyses/ID uses that case)")
    p.add_argument("--examiner", default=None, help="printed in the report")
    p.add_argument("--notes", type=Path, default=None,
                   help="text file of examiner notes (blank lines separate notes)")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4")


def _segment(text: str) -> tuple[int, int]:
    try:
        start, end = (int(v) for v in text.split(":"))
    except ValueError as err:
        raise argparse.ArgumentTypeError("use START:END frame indices, e.g. 0:250") from err
    if not 0 <= start < end:
        raise argparse.ArgumentTypeError("need 0 <= START < END")
    return start, end


def run(args: argparse.Namespace) -> int:
    settings = AnalysisSettings(frames=args.frames, segment=args.segment, explain=args.explain,
                                device=args.device, detector=args.detector,
                                batch_size=args.batch_size)
    settings.validate()
    printer = ProgressPrinter(enabled=not args.quiet)
    # The model loads after the evidence opened: a bad file is reported before a slow load.
    job = run_analysis(args.video, args.out, settings, args.model, threading.Event())
    bundle = printer.consume(job)
    print_verdict(bundle.results, bundle.folder)
    if args.report is not None:
        from forensics_app.cli.report import report_from_analysis

        report_from_analysis(bundle.folder, args)
    return 0


class ProgressPrinter:
    """One line per stage in logs; a live line on a terminal."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()
        self.last_stage = None

    def consume(self, job):
        try:
            while True:
                self.show(next(job))
        except StopIteration as stop:
            self.finish()
            return stop.value

    def show(self, p: Progress) -> None:
        if not self.enabled:
            return
        line = f"[{p.stage_index + 1}/6 {p.stage:<8}] {p.message}  ({p.elapsed_s:5.1f} s)"
        if self.live:
            self.stream.write("\r\033[K" + line)
            if p.done >= p.total:
                self.stream.write("\n")
        elif p.done >= p.total and p.stage != self.last_stage:
            self.stream.write(line + "\n")
            self.last_stage = p.stage
        self.stream.flush()

    def finish(self) -> None:
        self.stream.flush()


def print_verdict(results: Results, folder: Path) -> None:
    pred = results.prediction
    model = results.model
    tag = " [UNTRAINED PLACEHOLDER]" if model.get("placeholder") else ""
    print(f"verdict:    {pred.label.upper()}")
    if pred.p_fake is not None:
        print(f"p_fake:     {pred.p_fake:.3f} (threshold {pred.threshold:.2f})")
    if pred.confidence is not None and pred.band != "none":
        print(f"confidence: {pred.confidence:.1%} — {pred.band}: {BAND_MEANINGS[pred.band]}")
    print(f"why:        {pred.reason}")
    for ident in results.identities:
        temporal = "n/a" if ident.p_fake_temporal is None else f"{ident.p_fake_temporal:.3f}"
        print(f"identity {ident.track_id}: {len(ident.frames)} frames, p_fake {ident.p_fake:.3f} "
              f"(frames {ident.p_fake_spatial:.3f}, clip {temporal})")
    if results.unusual_frames:
        print(f"unusual frames: {', '.join(map(str, results.unusual_frames))}")
    print(f"model:      {model['name']} {model['version']}{tag}")
    print(f"output:     {folder}")
    print("note:       attention maps show where the model looked, not proof of manipulation")


