"""`export_report`: results folder → PDF + machine-readable results + the PDF's SHA-256.

Written beside the PDF (never beside the evidence):
- `NAME.pdf` with `results.json` embedded as a file attachment (byte for byte);
- `NAME.results.json`, the same bytes as a sidecar for tools that cannot read attachments;
- `NAME.pdf.sha256`, in `sha256sum` format, so the receiver can check the PDF;
- the report's figures as PNG, for investigators who attach figures elsewhere: `summary.png`
  (the 2×2 summary) and `layer_N_all_heads.png` (N = 1 … L).
The CLI (`forensics-app report`, `analyze --report`) and the GUI's Export call this.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from forensics_app import TOOL_NAME, __version__
from forensics_app.core.analysis.results import (
    RESULTS_FILE,
    Results,
    ResultsBundle,
    atomic_write,
    read_results,
)
from forensics_app.core.case import ANALYSES_DIR, Case, Note
from forensics_app.core.errors import OutputError
from forensics_app.core.media.evidence import beside_evidence
from forensics_app.core.report import figures, findings, sections
from forensics_app.core.report.context import (
    ReportContext,
    as_notes,
    attach_images,
    audit_for,
    check_evidence,
    frame_rows,
    new_report_id,
    now_utc,
    reconstructed_audit,
)
from forensics_app.core.report.document import (
    MARGIN,
    RED,
    RULE,
    Kit,
    PageDecorator,
    build_pdf,
    draw_runs,
    paper_size,
    text_width,
)
from forensics_app.core.report.fonts import FontSet, load_fonts
from forensics_app.core.report.text import visual

ATTACHMENT_NAME = RESULTS_FILE


@dataclass
class ReportOutput:
    pdf: Path
    sha256_file: Path
    results_sidecar: Path
    seconds: float
    report_id: str = ""
    pdf_sha256: str = ""
    evidence_status: str = ""  # "ok" | "changed" | "missing"
    pages: int = 0
    figures: list[Path] = field(default_factory=list)  # summary.png, layer_N_all_heads.png


def export_report(results_folder: str | Path, pdf_path: str | Path, case: Case | None = None,
                  paper: str = "a4", notes: list[Note | str] | None = None, *,
                  case_id: str | None = None, examiner: str | None = None,
                  evidence_id: str | None = None) -> ReportOutput:
    """Make the evidence report of one results folder.

    `case`: the open case (found from the folder's place, CASE/analyses/<id>/, when None);
    `notes`: extra notes (strings are stamped now, by the examiner); `case_id`, `examiner`:
    printed when there is no case.
    """
    start = time.perf_counter()
    results_folder, pdf_path = Path(results_folder), Path(pdf_path)
    paper_size(paper)  # an unknown paper fails before any work
    fonts = load_fonts()
    bundle = read_results(results_folder)
    case, evidence_id = _resolve_case(case, results_folder, bundle.results, evidence_id)
    _check_output(pdf_path, bundle.results)
    context = gather(bundle, case, evidence_id, notes, case_id, examiner, fonts)
    pdf = _embed(render(context, paper, fonts), (results_folder / RESULTS_FILE).read_bytes())
    out = _write_outputs(pdf_path, pdf, results_folder / RESULTS_FILE, context.figures)
    out.report_id, out.evidence_status = context.report_id, context.evidence.status
    out.pages = len(PdfReader(io.BytesIO(pdf)).pages)
    if case is not None:
        case.audit("report exported", evidence_id=evidence_id, report_id=context.report_id,
                   pdf=str(out.pdf.resolve()), pdf_sha256=out.pdf_sha256, paper=paper,
                   evidence_status=context.evidence.status)
    out.seconds = round(time.perf_counter() - start, 3)
    return out


def _resolve_case(case: Case | None, folder: Path, results: Results, evidence_id: str | None
                  ) -> tuple[Case | None, str | None]:
    """The case and evidence id of this analysis, if it belongs to one."""
    if case is None:
        found = Case.containing(folder)
        return found if found else (None, None)
    if evidence_id is None:
        evidence_id = case.evidence_of_analysis(folder) or next(
            (r.evidence_id for r in case.evidence() if r.path == results.evidence.path), None)
    return case, evidence_id


def analysis_line(case: Case, evidence_id: str, folder: Path) -> str:
    """Which of the exhibit's analyses `folder` is, in words ("" when not one of them)."""
    dirs = [d.resolve() for d in case.analysis_dirs(evidence_id)]
    if folder.resolve() not in dirs:
        return ""
    n = dirs.index(folder.resolve()) + 1
    return (f"{ANALYSES_DIR}/{folder.name}: analysis {n} of {len(dirs)} of {evidence_id} "
            "in this case")


def _check_output(pdf_path: Path, results: Results) -> None:
    if pdf_path.suffix.lower() != ".pdf":
        raise OutputError("the report file name must end in .pdf", pdf_path)
    if beside_evidence(pdf_path.parent, results.evidence.path):  # symlinks resolved
        raise OutputError("refusing to write the report beside the evidence; choose another "
                          "folder", pdf_path)


def gather(bundle: ResultsBundle, case: Case | None, evidence_id: str | None,
           notes: list[Note | str] | None, case_id: str | None, examiner: str | None,
           fonts: FontSet) -> ReportContext:
    results = bundle.results
    examiner = case.examiner if case else examiner
    status = check_evidence(results, case, evidence_id)
    if case is not None:
        case.audit("evidence verified for report", evidence_id=evidence_id,
                   status=status.status, current_sha256=status.current and status.current.sha256)
        if evidence_id and case.evidence_of_analysis(bundle.folder) == evidence_id \
                and not case.analysis_recorded(evidence_id, bundle.folder):
            case.record_analysis(evidence_id, results, bundle.folder)
    generated = now_utc()
    context = ReportContext(
        bundle=bundle, report_id=new_report_id(generated), generated=generated,
        case_id=case.case_id if case else case_id, examiner=examiner, evidence_id=evidence_id,
        evidence=status,
        notes=merge_notes(case.notes(evidence_id) if case else [], as_notes(notes, examiner)),
        audit=audit_for(case, evidence_id) if case else reconstructed_audit(results),
        audit_source="case" if case else "reconstructed from results.json",
        audit_chain_ok=case.audit_chain_ok() if case else None,
        rows=frame_rows(results),
        figures=figures.figure_files(results, bundle.attention),
        analysis=analysis_line(case, evidence_id, Path(bundle.folder))
        if case is not None and evidence_id else "")
    attach_images(context)
    free_text = [context.case_id or "", examiner or "", results.evidence.file_name,
                 *(n.text for n in context.notes), *(n.author or "" for n in context.notes)]
    context.fonts_missing = set().union(*(fonts.missing(t) for t in free_text))
    return context


def merge_notes(kept: list[Note], extra: list[Note]) -> list[Note]:
    """The case's notes, then the extra ones it does not already hold (a caller may pass the
    case's notes along with unsaved ones)."""
    return kept + [note for note in extra if note not in kept]


def render(context: ReportContext, paper: str, fonts: FontSet) -> bytes:
    kit = Kit(fonts, text_width(paper))
    story = [*sections.summary(context, kit), *sections.evidence(context, kit),
             *sections.method(context, kit), *findings.findings(context, kit),
             *findings.notes(context, kit), *findings.audit(context, kit),
             *findings.limitations(context, kit)]
    r = context.results
    metadata = {
        "title": f"Evidence report {context.report_id}: {r.evidence.file_name}",
        "author": context.examiner or "",
        "subject": f"deepfake analysis of {r.evidence.file_name} (SHA-256 {r.evidence.sha256})",
        "creator": f"{TOOL_NAME} {__version__}",
        "keywords": f"{context.report_id} {r.evidence.sha256}",
    }
    return build_pdf(story, paper, page_decorator(context, fonts, paper), metadata)


def page_decorator(context: ReportContext, fonts: FontSet, paper: str) -> PageDecorator:
    """Header and footer of every page: report id, case, evidence hash, time, page i of n."""
    width, height = paper_size(paper)
    ev_hash = sections.short_hash(context.results.evidence.sha256)
    generated = sections.utc_text(context.generated)
    case = visual(f"Case {context.case_id}") if context.case_id else "No case id"

    def decorate(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        top, bottom = height - MARGIN + 2 * mm, MARGIN
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.4)
        canvas.line(MARGIN, top - 2 * mm, width - MARGIN, top - 2 * mm)
        canvas.line(MARGIN, bottom + 5 * mm, width - MARGIN, bottom + 5 * mm)
        canvas.setFillColorRGB(0.3, 0.3, 0.3)
        draw_runs(canvas, MARGIN, top, f"{TOOL_NAME} evidence report {context.report_id}", 7.5,
                  fonts)
        draw_runs(canvas, width - MARGIN, top, case, 7.5, fonts, align="right")
        draw_runs(canvas, MARGIN, bottom + 1.5 * mm,
                  f"Evidence SHA-256 {ev_hash} · generated {generated}", 7.5, fonts)
        draw_runs(canvas, width - MARGIN, bottom + 1.5 * mm, f"page {page} of {total}", 7.5,
                  fonts, align="right")
        if context.placeholder:  # above the header line, where nothing else is drawn
            canvas.setFillColor(RED)
            draw_runs(canvas, width / 2, top + 4 * mm, "UNTRAINED PLACEHOLDER MODEL — THE "
                      "VERDICT AND SCORES ARE MEANINGLESS", 8, fonts, fonts.bold,
                      align="center")
        canvas.restoreState()

    return decorate


def _embed(pdf: bytes, results_json: bytes) -> bytes:
    """Attach results.json to the PDF (an embedded file any PDF reader can save out)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(ATTACHMENT_NAME, results_json)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _write_outputs(pdf_path: Path, pdf: bytes, results_json: Path,
                   pngs: dict[str, bytes]) -> ReportOutput:
    sidecar = pdf_path.with_suffix(".results.json")
    checksum = pdf_path.with_name(pdf_path.name + ".sha256")
    digest = hashlib.sha256(pdf).hexdigest()
    try:
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(pdf_path, lambda p: p.write_bytes(pdf))
        atomic_write(sidecar, lambda p: p.write_bytes(results_json.read_bytes()))
        atomic_write(checksum, lambda p: p.write_text(f"{digest}  {pdf_path.name}\n",
                                                       encoding="utf-8"))
        for name, png in pngs.items():
            atomic_write(pdf_path.with_name(name), lambda p, png=png: p.write_bytes(png))
    except OSError as err:
        raise OutputError(f"cannot write the report ({err.strerror or err})", pdf_path) from err
    return ReportOutput(pdf_path, checksum, sidecar, 0.0, pdf_sha256=digest,
                        figures=[pdf_path.with_name(name) for name in pngs])
