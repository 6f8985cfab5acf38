"""`forensics-app analyze VIDEO --out DIR`: the headless analysis."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from forensics_app.core.analysis.settings import AnalysisSettings
from forensics_app.core.options import from_namespace, options_of
from forensics_app.core.report.options import ReportOptions

if TYPE_CHECKING:  # the engine (torch, mediapipe) loads only once the arguments are checked
    from forensics_app.core.analysis.job import Progress
    from forensics_app.core.analysis.results import Results


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a video file and write a results folder",
                       description="Analyse VIDEO (never modified) and write results.json, "
                       "attention.npy and relevancy.npz to --out.")
    p.add_argument("video", type=Path)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="output folder (not beside the video); "
                       "CASE/analyses/ID analyses that case's evidence ID, audited in the case")
    where.add_argument("--case", type=Path, metavar="CASE", help="a case folder: the video "
                       "is hashed into it (or found there) and analysed into its next analysis "
                       "folder (CASE/analyses/ID, then ID-A002, …: earlier ones are kept), "
                       "each step in the case's audit log")
    add_settings_options(p)
    p.add_argument("--model", default=None, help="model folder or name (default model)")
    p.add_argument("--quiet", action="store_true", help="print only the verdict")
    add_report_options(p)
    p.set_defaults(run=run)


def add_settings_options(p: argparse.ArgumentParser) -> None:
    """The analysis settings' flags, from their one definition (core/analysis/settings.py)."""
    for spec in options_of(AnalysisSettings):
        if spec.flag:
            p.add_argument(spec.flag, **spec.argparse_kwargs())


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Report options (core/report/options.py); the report is made by forensics_app.cli.report."""
    p.add_argument("--report", type=Path, default=None, help="also write a PDF report here")
    for spec in options_of(ReportOptions):
        p.add_argument(spec.flag, **spec.argparse_kwargs())


def run(args: argparse.Namespace) -> int:
    from forensics_app.cli.preflight import check_analyze

    settings = from_namespace(AnalysisSettings, args)
    check_analyze(args, settings)  # every option and path, before any heavy work
    from forensics_app.core.analysis.job import run_analysis
    from forensics_app.core.session import Session

    # The session keeps the case rules the GUI keeps: hashed into the case first, audited.
    session = Session(output_root=(args.out or args.case).parent, settings=settings)
    video, out = args.video, args.out
    if args.case is not None:
        opening = session.open_case(args.case)  # re-hashes the case's evidence
        for check in opening.mismatches:
            print(f"WARNING:    case evidence {check.record.evidence_id} {check.status.upper()}"
                  f": {check.record.path}", file=sys.stderr)
        session.use_case(opening)
        [(video, out)] = session.plan_analyses([video], session.case)
    else:
        session.attach_results_folder(video, out)
    printer = ProgressPrinter(enabled=not args.quiet)
    # The model loads after the evidence opened: a bad file is reported before a slow load.
    job = run_analysis(video, out, session.job_settings(), args.model, threading.Event())
    try:
        bundle = printer.consume(job)
    except KeyboardInterrupt:
        session.analysis_cancelled(video, out, "interrupted (Ctrl-C)")
        raise
    except Exception as err:
        session.analysis_failed(video, out, str(err))
        raise
    finally:
        job.close()  # interrupted: the job's lock and temporary folder go at once
    session.analysis_finished(video, out, bundle.results)
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
        from forensics_app.core.analysis.job import STAGES

        line = (f"[{p.stage_index + 1}/{len(STAGES)} {p.stage:<8}] {p.message}  "
                f"({p.elapsed_s:5.1f} s)")
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
    from forensics_app.core.analysis.verdict import BAND_MEANINGS

    pred = results.prediction
    model = results.model
    tag = " [UNTRAINED PLACEHOLDER]" if model.placeholder else ""
    for warning in results.warnings:  # before the verdict: it must be read with them
        print(f"WARNING:    {warning}")
    print(f"verdict:    {pred.label.upper()}")
    if pred.p_fake is not None:
        print(f"p_fake:     {pred.p_fake:.3f} (threshold {pred.threshold:.2f})")
    if pred.confidence is not None and pred.capped:
        print(f"confidence: {pred.confidence:.1%} — capped at {pred.band}: "
              f"{'; '.join(pred.capped)}")
    elif pred.confidence is not None and pred.band != "none":
        print(f"confidence: {pred.confidence:.1%} — {pred.band}: {BAND_MEANINGS[pred.band]}")
    print(f"why:        {pred.reason}")
    for ident in results.identities:
        temporal = "n/a" if ident.p_fake_temporal is None else f"{ident.p_fake_temporal:.3f}"
        print(f"identity {ident.track_id}: {len(ident.frames)} frames, p_fake {ident.p_fake:.3f} "
              f"(frames {ident.p_fake_spatial:.3f}, clip {temporal})")
    if results.unusual_frames:
        # "unusual frames: 0" would read as "none": say it is a count of video frame numbers.
        frames = results.unusual_frames
        print(f"unusual:    {len(frames)} frame{'s' if len(frames) != 1 else ''} "
              f"(video frame {', '.join(map(str, frames))})")
    print(f"model:      {model.name} {model.version}{tag}")
    print(f"output:     {folder}")
    print("note:       attention maps show where the model looked, not proof of manipulation")


