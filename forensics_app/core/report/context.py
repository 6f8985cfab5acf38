"""Everything one report prints, gathered before any layout: results, evidence re-check, case
metadata, notes and audit trail, pictures. The layout code only reads a `ReportContext`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from forensics_app.core.analysis.results import Results, ResultsBundle
from forensics_app.core.case import Case, Note, analysis_summary, utc_now
from forensics_app.core.errors import EvidenceError, ForensicsError
from forensics_app.core.media import FileHashes, hash_file
from forensics_app.core.report.images import FrameImages, frame_images

# Frames of one triggered indicator that get a picture row; the rest are listed by number.
MAX_ROWS_PER_INDICATOR = 10


@dataclass
class EvidenceStatus:
    """The evidence as recorded at intake against the file as it is now."""

    status: str  # "ok" | "changed" | "missing"
    intake: FileHashes
    intake_source: str  # where the intake hashes come from (case intake or the analysis)
    analysed_sha256: str  # what the analysis hashed
    current: FileHashes | None  # None when the file is missing or unreadable

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class FrameRow:
    """One row of the unusual-frames table."""

    frame: int
    time_s: float
    reasons: list[str]
    values: list[str]
    p_fake: float | None
    images: FrameImages | None = None


@dataclass
class ReportContext:
    bundle: ResultsBundle
    report_id: str
    generated: datetime  # UTC
    case_id: str | None
    examiner: str | None
    evidence_id: str | None
    evidence: EvidenceStatus
    notes: list[Note]
    audit: list[dict[str, Any]]
    audit_source: str  # "case" or "reconstructed from results.json"
    audit_chain_ok: bool | None  # None without a case
    rows: list[FrameRow] = field(default_factory=list)
    images_note: str = ""  # why pictures are missing, if they are
    figures: dict[str, bytes] = field(default_factory=dict)  # PNG by file name (figures.py)
    fonts_missing: set[str] = field(default_factory=set)  # characters no font can draw
    # Which of the exhibit's analyses in the case this report is of ("" outside a case).
    analysis: str = ""

    @property
    def results(self) -> Results:
        return self.bundle.results

    @property
    def placeholder(self) -> bool:
        return self.results.model.placeholder


def new_report_id(now: datetime) -> str:
    return f"FR-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def check_evidence(results: Results, case: Case | None, evidence_id: str | None
                   ) -> EvidenceStatus:
    """Re-hash the analysed file now, against the case intake hashes (or the analysis's)."""
    ev = results.evidence
    intake = FileHashes(ev.sha256, ev.md5, ev.size_bytes)
    source = f"hashed by the analysis, {results.created_utc}"
    if case is not None and evidence_id is not None:
        record = case.record(evidence_id)
        intake = FileHashes(record.sha256, record.md5, record.size_bytes)
        source = f"case intake {record.evidence_id}, {record.added_utc}"
    try:
        current = hash_file(ev.path)
    except EvidenceError:
        current = None
    if current is None:
        status = "missing"
    elif current.sha256 == intake.sha256 == ev.sha256:
        status = "ok"
    else:
        status = "changed"
    return EvidenceStatus(status, intake, source, ev.sha256, current)


def reconstructed_audit(results: Results) -> list[dict[str, Any]]:
    """Without a case there is no audit log: state what results.json itself records."""
    return [{"utc": results.created_utc, "event": "evidence hashed and analysed",
             "file": results.evidence.file_name, **analysis_summary(results)}]


def audit_for(case: Case, evidence_id: str | None) -> list[dict[str, Any]]:
    """The case's audit lines about this evidence or about the case as a whole."""
    return [row for row in case.audit_log()
            if row.get("evidence_id") in (None, evidence_id)]


def as_notes(items: list[Note | str] | None, author: str | None) -> list[Note]:
    """Notes given to the export (GUI notes, --notes file): plain strings are stamped now."""
    return [item if isinstance(item, Note) else Note(utc_now(), str(item), author)
            for item in items or []]


def frame_rows(results: Results) -> list[FrameRow]:
    """Unusual frames, plus the most relevant frames each triggered indicator points at."""
    time_of = dict(zip(results.sampled_frames, results.sampled_times_s, strict=True))
    fps = results.evidence.fps or 1.0
    rows: dict[int, FrameRow] = {}

    def row(frame: int) -> FrameRow:
        if frame not in rows:
            rows[frame] = FrameRow(frame, time_of.get(frame, frame / fps), [], [],
                                   _p_fake(results, frame))
        return rows[frame]

    for frame, reason, value in _unusual_findings(results):
        row(frame).reasons.append(reason)
        row(frame).values.append(value)
    for indicator in results.indicators:
        if indicator.flagged and indicator.name != "unusual_frame_share":
            for frame in _most_relevant(results, indicator.frames):
                row(frame).reasons.append(f"{indicator.name}: {indicator.description}")
                row(frame).values.append(f"{indicator.name} = {indicator.value:.3g}")
    return [rows[f] for f in sorted(rows)]


def _unusual_findings(results: Results) -> list[tuple[int, str, str]]:
    """Why each unusual frame was marked: its range against the range expected at its
    position (r − r̂), in σ of that residual over the clip."""
    ranges = np.asarray(results.attention_range, np.float64)
    if not ranges.size:
        return []
    expected = np.asarray(results.expected_range if results.expected_range is not None
                          else ranges, np.float64)
    residual = ranges - expected
    mean, std = float(residual.mean()), float(residual.std())  # population std, as marked
    position = {f: i for i, f in enumerate(results.attention_frames)}
    relevancy = dict(zip(results.attention_frames, results.frame_relevancy, strict=False))
    findings = []
    for frame in results.unusual_frames:
        i = position[frame]
        z = (residual[i] - mean) / std if std else 0.0
        side = "wider" if residual[i] > mean else "narrower"
        findings.append((frame, f"attention range {abs(z):.1f}σ {side} than expected at its "
                         f"position (r̂ = {expected[i]:.1f}); unusual beyond 2σ",
                         f"r = {ranges[i]:.2f}, r̂ = {expected[i]:.2f} sampled frames "
                         f"(z = {z:+.1f}); relevancy {relevancy.get(frame, 0.0):.2f}"))
    return findings


def _most_relevant(results: Results, frames: list[int]) -> list[int]:
    """At most MAX_ROWS_PER_INDICATOR frames, those that drove the clip score most first."""
    relevancy = dict(zip(results.attention_frames, results.frame_relevancy, strict=False))
    ranked = sorted(frames, key=lambda f: -relevancy.get(f, 0.0))
    return ranked[:MAX_ROWS_PER_INDICATOR]


def _p_fake(results: Results, frame: int) -> float | None:
    track = results.prediction.decided_by_track
    for sampled, faces in zip(results.sampled_frames, results.faces, strict=True):
        if sampled == frame:
            return next((f.p_fake for f in faces if f.track_id == track), None)
    return None


def attach_images(context: ReportContext) -> None:
    """Decode the rows' pictures from the evidence, if it is still the analysed file."""
    if not context.rows:
        return
    if not context.evidence.ok:
        context.images_note = ("pictures not shown: the evidence file is "
                               f"{context.evidence.status} since intake")
        return
    bundle = context.bundle
    track = bundle.results.prediction.decided_by_track
    method = bundle.results.settings.explain

    def face_of(frame: int):
        try:
            return bundle.face_maps.lookup(frame, track, method)
        except KeyError:
            return None

    try:
        pictures = frame_images(Path(bundle.results.evidence.path),
                                [r.frame for r in context.rows], face_of)
    except ForensicsError as err:  # the report is still worth having without pictures
        context.images_note = f"pictures not shown: {err}"
        return
    for row in context.rows:
        row.images = pictures.get(row.frame)


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
