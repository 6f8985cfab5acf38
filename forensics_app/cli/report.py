"""`forensics-app report CASE_OR_RESULTS_DIR --out report.pdf`: the PDF evidence report.

Also called by `analyze --report` through `report_from_analysis`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from forensics_app.core.analysis.results import RESULTS_FILE
from forensics_app.core.errors import ForensicsError
from forensics_app.core.options import from_namespace, options_of
from forensics_app.core.report.options import ReportOptions

if TYPE_CHECKING:  # the exporter (reportlab, PyAV, matplotlib) loads when a report is made
    from forensics_app.core.case import Case, Note
    from forensics_app.core.report import ReportOutput

CASE_HELP = """\
With a case folder (made in the GUI: case.json, evidence.json, analyses/<id>[-A<n>]/), the
case id, examiner, notes and audit log come from the case, the evidence is re-hashed against
its intake hashes, and the export is added to the case's audit log; the report is of the
exhibit's latest analysis unless --evidence names one (E001-A002). With a plain results folder
(written by `analyze --out DIR`), --case-id and --examiner are only printed in the report: no
case folder is created. `analyze --out CASE/analyses/<id>` writes into an existing case.

Beside the PDF: NAME.results.json (the results, also embedded in the PDF as an attachment)
and NAME.pdf.sha256 (the PDF's hash, sha256sum format)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the PDF evidence report of an analysis",
                       description="Write the PDF evidence report of an analysis.",
                       epilog=CASE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, metavar="CASE_OR_RESULTS_DIR",
                   help="a case folder or a results folder written by analyze")
    p.add_argument("--out", type=Path, required=True, help="the PDF to write (not beside the "
                   "evidence)")
    p.add_argument("--evidence", default=None, metavar="ID",
                   help="when the case holds several analyses: an evidence id (E001: its "
                        "latest analysis) or one analysis folder's name (E001-A002)")
    for spec in options_of(ReportOptions):  # the one definition, shared with analyze --report
        p.add_argument(spec.flag, **spec.argparse_kwargs())
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    results_folder, case = resolve_source(args.source, args.evidence)
    if case is not None:
        _check_matches(case, args)
    print_output(_export(results_folder, args.out, case, args))
    return 0


def report_from_analysis(results_folder: Path, args: argparse.Namespace) -> ReportOutput:
    """`analyze ... --report PDF`: the report of the analysis just written (in its case when
    it was written into one)."""
    out = _export(results_folder, args.report, None, args)
    print_output(out)
    return out


def _export(results_folder: Path, pdf: Path, case: Case | None,
            args: argparse.Namespace) -> ReportOutput:
    from forensics_app.core.session import Session

    session = Session(output_root=results_folder.parent)  # the GUI's export, headless
    if case is not None:
        session.use_case(case)
    return session.export_report(results_folder, pdf, _notes(args),
                                 from_namespace(ReportOptions, args))


def resolve_source(source: Path, evidence_id: str | None) -> tuple[Path, Case | None]:
    """The results folder to report on, and its case when `source` is a case folder."""
    from forensics_app.core.case import Case, is_case_folder

    if is_case_folder(source):
        case = Case.open(source)
        return _case_analysis(case, evidence_id or _only_analysis(case)), case
    if (source / RESULTS_FILE).is_file():
        return source, None
    raise ForensicsError(f"not a case folder (case.json) or a results folder ({RESULTS_FILE})",
                         source)


def _case_analysis(case: Case, wanted: str) -> Path:
    """`wanted`: an evidence id (its latest analysis) or an analysis folder's name (E001-A002:
    that analysis)."""
    from forensics_app.core.case import ANALYSES_DIR

    ids = {r.evidence_id for r in case.evidence()}
    evidence_id, _, number = wanted.partition("-A")
    if wanted in ids:
        found = case.latest_analysis(wanted)
    elif evidence_id in ids and number.isdigit() and int(number) >= 1:
        found = case.analysis_dir(evidence_id, int(number))  # E001-A001: the first, E001/
    else:
        found = None
    if found is None or not (found / RESULTS_FILE).is_file():
        raise ForensicsError(f"the case has no analysis {wanted} (give an evidence id, E001, "
                             f"or one of its analyses, E001-A002, as in {ANALYSES_DIR}/)",
                             case.folder)
    return found


def _only_analysis(case: Case) -> str:
    analysed = [r.evidence_id for r in case.evidence() if case.latest_analysis(r.evidence_id)]
    if len(analysed) == 1:
        return analysed[0]
    if not analysed:
        from forensics_app.core.case import ANALYSES_DIR

        raise ForensicsError(f"the case has no analysis yet (nothing in {ANALYSES_DIR}/)",
                             case.folder)
    raise ForensicsError(f"the case has {len(analysed)} analyses ({', '.join(analysed)}); "
                         "choose one with --evidence", case.folder)


def _check_matches(case: Case, args: argparse.Namespace) -> None:
    """A case's own id and examiner are printed; a different one on the command line is an
    error rather than silently ignored."""
    for given, own, option in ((args.case_id, case.case_id, "--case-id"),
                               (args.examiner, case.examiner, "--examiner")):
        if given is not None and given != own:
            raise ForensicsError(f"{option} {given!r} differs from the case's {own!r}",
                                 case.folder)


def _notes(args: argparse.Namespace) -> list[Note]:
    return read_notes(args.notes, args.examiner) if getattr(args, "notes", None) else []


def read_notes(path: Path, author: str | None = None) -> list[Note]:
    """Notes from a text file, one per blank-line-separated block, stamped with the file's
    modification time (when they were written, as far as the file can tell)."""
    try:
        text = path.read_text(encoding="utf-8")
        stamp = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except FileNotFoundError as err:
        raise ForensicsError("notes file not found", path) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ForensicsError(f"notes file unreadable ({err})", path) from err
    utc = stamp.isoformat(timespec="seconds")
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    from forensics_app.core.case import Note

    return [Note(utc, block, author) for block in blocks if block]


def print_output(out: ReportOutput) -> None:
    print(f"report:     {out.pdf} ({out.pages} pages, {out.seconds:.1f} s)")
    print(f"sha256:     {out.pdf_sha256} ({out.sha256_file.name})")
    print(f"results:    {out.results_sidecar} (also attached to the PDF)")
    if out.evidence_status != "ok":
        word = "MISSING" if out.evidence_status == "missing" else "HASH MISMATCH"
        print(f"WARNING: evidence {word} at report time: it is not (or no longer) the file "
              "recorded at intake; the report flags this on its first page", file=sys.stderr)
