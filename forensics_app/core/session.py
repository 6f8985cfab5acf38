"""The application layer, without Qt: what an examiner's session does with evidence, analyses,
cases, notes and reports. The desktop app drives it (its slow calls run on worker threads);
a script or another front end can drive it the same way.

Rules kept here, not in a window:
- inside a case, an analysis is written to the evidence's next analysis folder
  (CASE/analyses/<evidence id>, then <evidence id>-A002, …: none is replaced), after the
  evidence was hashed into the case; outside one, to a fresh folder under `output_root`;
- every step that touches a case is audited; the case's own lock keeps the audit chain whole
  whichever thread or process writes (`Case.locked`);
- a note keeps the time it was written and the evidence it is about, through saving;
- a cancelled analysis leaves an audit line and no folder behind.

Methods marked *blocking* hash files or write reports: call them off the GUI thread. The
others are quick and change the session's state: call them from one thread (the GUI's).
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from forensics_app.core.analysis.results import RESULTS_FILE, Results, ResultsBundle
from forensics_app.core.analysis.settings import AnalysisSettings
from forensics_app.core.case import Case, EvidenceCheck, EvidenceRecord, Note, utc_now
from forensics_app.core.errors import ForensicsError
from forensics_app.core.media.evidence import evidence_paths
from forensics_app.core.report import ReportOutput, export_report
from forensics_app.core.report.options import ReportOptions


@dataclass
class CaseOpening:
    """A reopened case with the outcome of re-hashing its evidence."""

    case: Case
    checks: list[EvidenceCheck]
    records: list[EvidenceRecord]

    @property
    def mismatches(self) -> list[EvidenceCheck]:
        return [c for c in self.checks if c.status != "ok"]


@dataclass
class SavedCase:
    case: Case
    record: EvidenceRecord | None  # the open video's evidence record (None: no video)
    copied: Path | None  # where its results were copied into the case, if they were


@dataclass
class Session:
    output_root: Path
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    case: Case | None = None
    evidence_id: str | None = None  # the open video's id in the case
    open_video: Path | None = None  # the video on screen, as opened
    pending_notes: list[Note] = field(default_factory=list)  # taken before a case existed
    results_by_video: dict[str, Path] = field(default_factory=dict)  # resolved path → folder
    mismatches: list[EvidenceCheck] = field(default_factory=list)  # of the open case

    # -- analyses --------------------------------------------------------------------------
    def job_settings(self) -> AnalysisSettings:
        """A validated copy of the settings for one job (ForensicsError when invalid)."""
        settings = replace(self.settings)
        settings.validate()
        return settings

    def new_output_dir(self, video: Path) -> Path:
        """A fresh results folder under the output root (analyses outside a case)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = self.output_root / f"{video.stem}-{stamp}"
        n = 1
        while out.exists():
            n += 1
            out = self.output_root / f"{video.stem}-{stamp}-{n}"
        return out

    def plan_analyses(self, videos: list[Path], case: Case | None,
                      cancel: threading.Event | None = None) -> list[tuple[Path, Path]]:
        """*Blocking* inside a case: (video, results folder) of each analysis to queue. Inside
        a case each video is hashed into it first, and the queuing is audited."""
        if case is None:
            return [(video, self.new_output_dir(video)) for video in videos]
        planned = []
        for video in videos:
            out = case.next_analysis_dir(case.add_evidence(video, cancel=cancel).evidence_id)
            case.audit("analysis queued", **_video_fields(video), out=str(out))
            planned.append((video, out))
        return planned

    def analysis_finished(self, video: Path, out_dir: Path, results: Results) -> None:
        """Remember the results; in a case, audit the analysis (settings, model, verdict)."""
        self.results_by_video[str(video.resolve())] = out_dir
        case = self.case
        if case is None:
            return
        evidence_id = case.evidence_of_analysis(out_dir)
        if evidence_id is not None:
            case.record_analysis(evidence_id, results, out_dir)
        else:
            case.audit("analysis finished outside the case", **_video_fields(video),
                       out=str(out_dir), label=results.prediction.label)

    def analysis_cancelled(self, video: Path, out_dir: Path, reason: str) -> None:
        """Remove the unfinished results folder; in a case, audit the cancellation."""
        self._unfinished("analysis cancelled", video, out_dir, reason=reason)

    def analysis_failed(self, video: Path, out_dir: Path, message: str) -> None:
        """Remove what an analysis that failed left; in a case, audit the failure."""
        self._unfinished("analysis failed", video, out_dir, error=message)

    def _unfinished(self, event: str, video: Path, out_dir: Path, **why: str) -> None:
        removed = remove_unfinished(out_dir)
        if self.case is not None:
            self.case.audit(event, **_video_fields(video), out=str(out_dir),
                            evidence_id=self.case.evidence_of_analysis(out_dir),
                            **why, folder_removed=removed)

    def attach_results_folder(self, video: Path, out_dir: Path) -> None:
        """Before analysing `video` into `out_dir`: when `out_dir` is an analysis folder of a
        case (CASE/analyses/<id>[-A<n>]), use that case (the analysis is then audited in
        it), provided its evidence <id> is this very file; ForensicsError otherwise. Any
        other folder leaves the session as it is."""
        out = Path(out_dir).resolve()
        case = Case.of_analysis_folder(out)
        if case is None:
            return
        evidence_id = case.evidence_of_analysis(out)
        record = case.record(evidence_id) if evidence_id is not None else None
        if record is None:
            raise ForensicsError(f"the case has no evidence {out.name.split('-A')[0]}; analyse "
                                 "into the case with --case CASE to add the video", case.folder)
        if Path(record.path) != Path(video).resolve():
            raise ForensicsError(f"the case's evidence {out.name} is {record.path}, not "
                                 f"{Path(video).resolve()}", case.folder)
        self.use_case(case, record.evidence_id)

    def results_refused(self, folder: Path, why: str) -> None:
        """A results folder failed verification when opened: audited in the case it belongs
        to, else in the open case (as a changed exhibit is)."""
        found = Case.containing(folder)
        case = found[0] if found else self.case
        if case is not None:
            case.audit("results refused", evidence_id=found[1] if found else None,
                       folder=str(Path(folder).resolve()), why=why)

    def results_folder_for(self, video: Path) -> Path | None:
        """The results to show with `video`: of its latest analysis in this session, else its
        case's latest."""
        folder = self.results_by_video.get(str(video.resolve()))
        if folder is None and self.case is not None:
            evidence_id = self.evidence_id_of(video)
            folder = self.case.latest_analysis(evidence_id) if evidence_id else None
        return folder if folder is not None and (folder / RESULTS_FILE).exists() else None

    # -- cases -----------------------------------------------------------------------------
    @staticmethod
    def open_case(folder: Path, cancel: threading.Event | None = None) -> CaseOpening:
        """*Blocking*: reopen a case and re-hash its evidence against the intake hashes."""
        case = Case.open(folder)
        return CaseOpening(case, case.verify_evidence(cancel=cancel), case.evidence())

    def use_case(self, opening: CaseOpening | Case, evidence_id: str | None = None) -> None:
        if isinstance(opening, CaseOpening):
            self.case, self.mismatches = opening.case, opening.mismatches
        else:
            if opening is not self.case:  # a new case: nothing of it was found changed
                self.mismatches = []
            self.case = opening
        self.evidence_id = evidence_id

    def show_video(self, video: Path | None) -> str | None:
        """The video on screen changed: its id in the open case (None: no case, or not in
        it yet); the notes about its frames follow it."""
        self.open_video = Path(video) if video is not None else None
        return self.refresh_evidence()

    def refresh_evidence(self) -> str | None:
        """Look the open video up in the case again (it may have been added since: an
        analysis queued in the case hashes it in); its held notes go into the case then."""
        if self.case is None:
            self.evidence_id = None
        elif self.open_video is not None:
            self.evidence_id = self.evidence_id_of(self.open_video)
            if self.evidence_id is not None:
                self.flush_notes(self.case, self.evidence_id)
        return self.evidence_id

    def new_case(self, folder: Path, case_id: str, examiner: str) -> Case:
        """*Blocking* (briefly): create an empty case and work in it; the video on screen
        stays outside it until it is saved or analysed into it."""
        self.close_case()
        self.use_case(Case.create(folder, case_id, examiner))
        self.refresh_evidence()
        return self.case

    def close_case(self) -> None:
        """Stop working in the open case (audited); notes held for a video not in it stay
        held. Nothing of the case is changed."""
        case, self.case, self.evidence_id, self.mismatches = self.case, None, None, []
        if case is not None:  # closed even when the audit line cannot be written
            case.audit("case closed")

    def evidence_id_of(self, video: Path) -> str | None:
        """The open case's id of `video` (None: no case, or not in it)."""
        return _evidence_id_in(self.case, video) if self.case is not None else None

    def save_case(self, folder: Path | None, case_id: str, examiner: str, video: Path | None,
                  bundle: ResultsBundle | None, cancel: threading.Event | None = None
                  ) -> SavedCase:
        """*Blocking*: create the case (unless one is open), hash the open video into it, copy
        its results there and write the notes taken so far (their own time and evidence)."""
        case = self.case or Case.create(folder, case_id, examiner)
        record = copied = None
        if video is not None:
            record = case.add_evidence(video, cancel=cancel)
            if bundle is not None and not _held_by(case, record.evidence_id, bundle):
                target = case.next_analysis_dir(record.evidence_id)
                shutil.copytree(bundle.folder, target)
                case.audit("analysis added to case", evidence_id=record.evidence_id,
                           analysis=target.name, source=str(bundle.folder))
                case.record_analysis(record.evidence_id, bundle.results, target)
                copied = target
        return SavedCase(case, record, copied)

    def flush_notes(self, case: Case, evidence_id: str | None) -> None:
        """Write the notes held back into `case`. A note about a frame goes in with the id
        of the video it was written on; one whose video is not in the case stays held (it is
        never filed under another exhibit). `evidence_id`: the id of a held note that names
        no video (the video open when the case was saved)."""
        held = []
        for note in self.pending_notes:
            about = note.evidence_id
            if about is None and note.frame is not None:
                about = _evidence_id_in(case, Path(note.video)) if note.video else evidence_id
            if note.frame is not None and about is None:
                held.append(note)
                continue
            case.add_note(note.text, author=note.author, frame=note.frame, utc=note.utc,
                          evidence_id=about, video=note.video)
        self.pending_notes = held

    # -- notes -----------------------------------------------------------------------------
    def add_note(self, text: str, frame: int | None = None) -> Note:
        """Into the case at once (audited), else held until its video is in a case. A note
        about a frame keeps the video it was written on, and its id once that is known."""
        video = str(self.open_video) if frame is not None and self.open_video else None
        evidence = self.refresh_evidence() if frame is not None else None
        if self.case is not None and (frame is None or evidence is not None):
            return self.case.add_note(text, frame=frame, evidence_id=evidence, video=video)
        note = Note(utc_now(), text, None, frame, video=video)
        self.pending_notes.append(note)
        return note

    def notes(self) -> list[Note]:
        """The notes to show with the open evidence: its own and the case's, those about a
        frame of no named exhibit (an older case's, to be shown as not attributed), and the
        held ones about this video or none."""
        saved = []
        if self.case is not None and self.open_video is None:
            saved = self.case.notes()  # no video on screen: the whole case, each note labelled
        elif self.case is not None:
            saved = [*self.case.notes(self.evidence_id or ""), *self.case.unattributed_notes()]
        return [*saved, *self.held_notes()]

    def held_notes(self) -> list[Note]:
        """The notes not in a case yet that belong with the open video (or with no video):
        the ones a report of it may print."""
        here = str(self.open_video) if self.open_video else None
        return [n for n in self.pending_notes if n.video in (None, here)]

    # -- reports ---------------------------------------------------------------------------
    def default_report_path(self, bundle: ResultsBundle) -> Path:
        stem = Path(bundle.results.evidence.file_name).stem
        if self.case is not None:
            prefix = f"{self.evidence_id}-" if self.evidence_id else ""
            return self.case.folder / "reports" / f"{prefix}{stem}-report.pdf"
        return Path(bundle.folder) / f"{stem}-report.pdf"

    def export_report(self, folder: Path, pdf_path: Path, notes: list[Note],
                      options: ReportOptions | None = None) -> ReportOutput:
        """*Blocking*: the PDF report (re-hashes the evidence); the case's notes are printed
        by the exporter, `notes` adds those not saved in a case yet. `options`: paper size,
        and the case id and examiner printed when there is no case."""
        options = options or ReportOptions()
        return export_report(folder, pdf_path, case=self.case, notes=notes, paper=options.paper,
                             case_id=options.case_id, examiner=options.examiner)


def _video_fields(video: Path) -> dict[str, str]:
    """How an audit line names a video: the file (`video`, symlinks resolved) and the path
    it was opened by (`opened_as`), as the evidence record does."""
    resolved, opened_as = evidence_paths(video)
    return {"video": resolved, "opened_as": opened_as}


def _evidence_id_in(case: Case, video: Path) -> str | None:
    for record in case.evidence():
        if Path(record.path).resolve() == video.resolve():
            return record.evidence_id
    return None


def _held_by(case: Case, evidence_id: str, bundle: ResultsBundle) -> bool:
    """Whether the case already holds these results for the evidence: the bundle is one of
    its analysis folders, or a byte copy of one's results.json (saved twice)."""
    source = Path(bundle.folder).resolve()
    sealed = (source / RESULTS_FILE).read_bytes()
    return any(folder.resolve() == source or (folder / RESULTS_FILE).read_bytes() == sealed
               for folder in case.analysis_dirs(evidence_id))


def remove_unfinished(out_dir: Path) -> bool:
    """Remove a results folder an analysis did not finish (no results.json in it); True when
    it was removed. A folder with results, or anything but files, is left alone."""
    if not out_dir.is_dir() or (out_dir / RESULTS_FILE).exists():
        return False
    if any(not p.is_file() for p in out_dir.iterdir()):
        return False
    shutil.rmtree(out_dir, ignore_errors=True)
    return not out_dir.exists()
