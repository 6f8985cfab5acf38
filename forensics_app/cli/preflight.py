"""`analyze`'s options and paths, checked before any heavy work (hashing, the engine).

Option mistakes are UsageError (exit 64); the evidence, the output folder, the report and the
notes get their own one-line errors (exit 2, 4, 5) — all before a byte is hashed or a model
loaded. Only PyAV (to read the clip's frame count for --segment and --stream) and, last, torch
(to check --device) are imported here.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from forensics_app.core.errors import ForensicsError, OutputError, UsageError

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_analyze(args: argparse.Namespace, settings) -> None:
    """Everything `analyze` can check up front; raises the first problem found."""
    try:
        settings.validate()
    except UsageError:
        raise
    except ForensicsError as err:
        raise UsageError(str(err)) from err
    if not _DEVICE.fullmatch(settings.device):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, not {settings.device!r}")
    if getattr(args, "report", None) is not None and args.report.suffix.lower() != ".pdf":
        raise UsageError(f"--report must name a .pdf file, not {args.report.name!r}")
    # The paths next (PyAV loads with the media package; no option is wrong by now).
    from forensics_app.core.analysis.results import check_output_folder
    from forensics_app.core.media.evidence import check_evidence_file

    check_evidence_file(args.video)
    if getattr(args, "case", None) is not None:
        check_case_folder(args.case, args.video)
    else:
        check_output_folder(args.out, args.video)
        check_writable_parent(args.out)
    if getattr(args, "report", None) is not None:
        check_report_path(args.report, args.video)
    if getattr(args, "notes", None) is not None:
        check_notes_file(args.notes)
    check_against_clip(args.video, settings)
    _check_device(settings.device)


def check_case_folder(case: Path, video: Path) -> None:
    """`--case`: an existing case folder, its analyses not beside the evidence."""
    from forensics_app.core.case import ANALYSES_DIR, is_case_folder
    from forensics_app.core.media.evidence import beside_evidence

    if not is_case_folder(case):
        raise ForensicsError("not a case folder (no case.json)", case)
    # Only where it lies: analyses/ holds the case's other analyses, the new one gets its own.
    if beside_evidence(case / ANALYSES_DIR, video):
        raise OutputError("refusing to write results beside the evidence (the case lies in or "
                          "under its folder); choose another --case", case)


def check_writable_parent(out: Path) -> None:
    """The nearest existing folder above `out` must be a writable folder (nothing created)."""
    here = Path(os.path.abspath(out)).parent
    while not here.exists():
        here = here.parent
    if not here.is_dir() or not os.access(here, os.W_OK | os.X_OK):
        why = "Not a directory" if not here.is_dir() else "Permission denied"
        raise OutputError(f"output folder is not writable ({why}: {here})", out)


def check_report_path(report: Path, video: Path) -> None:
    from forensics_app.core.media.evidence import beside_evidence

    if beside_evidence(report.parent, video):
        raise OutputError("refusing to write the report beside the evidence; choose another "
                          "folder", report)
    if report.is_dir():
        raise OutputError("--report names a folder, not a file", report)
    check_writable_parent(report)


def check_notes_file(notes: Path) -> None:
    """--notes must be a readable UTF-8 text file (read now, not after the analysis)."""
    try:
        if not notes.is_file():
            raise ForensicsError("notes file not found (or not a regular file)", notes)
        with open(notes, "rb") as handle:
            handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ForensicsError(f"notes file unreadable ({err})", notes) from err


def check_against_clip(video: Path, settings) -> None:
    """--segment and --stream against the clip itself (its header, no decoding of frames
    beyond the first few)."""
    segment, stream = settings.segment, getattr(settings, "stream", 0)
    if segment is None and not stream:
        return
    from forensics_app.core.media.video import VideoSource, video_stream_count

    streams = video_stream_count(video)
    if stream >= streams:
        raise UsageError(f"--stream {stream}: the file has {streams} video stream"
                         f"{'s' if streams != 1 else ''} (numbered from 0)")
    if segment is not None:
        with VideoSource(video, cache_size=0, stream=stream) as source:
            count = source.info.frame_count
        if segment[1] > count:
            raise UsageError(f"--segment {segment[0]}:{segment[1]} goes beyond the clip "
                             f"({count} frames, 0 to {count - 1})")


def _check_device(device: str) -> None:
    if device in ("auto", "cpu"):
        return
    from forensics_app.core.devices import resolve_device

    try:
        resolve_device(device)
    except ForensicsError as err:
        raise UsageError(str(err)) from err
